#!/usr/bin/env bash
# Studio's one entry point for developers and CI.
#   ./dev.sh app          set up .venv (first time) and start the app on the built-in demo data
#   ./dev.sh test         set up .venv and run the default test suite (what CI runs)
#   ./dev.sh test-slow    the heavy tests (marked slow)
#   ./dev.sh bench NAME   run bench/NAME.py
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"

find_python() {
  for p in python3.13 python3.12 python3.11 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  echo "Studio needs Python 3.11 or newer; none found on PATH." >&2
  return 1
}

qt_system_libs() {
  # PySide6 wheels need a few system libraries that minimal Linux images lack.
  if "$VENV/bin/python" -c 'import os; os.environ.setdefault("QT_QPA_PLATFORM","offscreen"); from PySide6 import QtWidgets' 2>/dev/null; then
    return 0
  fi
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing the system libraries Qt needs (apt-get)..."
    apt-get update -qq && apt-get install -y -qq libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0 >/dev/null
  else
    echo "Qt cannot load; install libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 with your package manager." >&2
  fi
}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV ..."
    "$(find_python)" -m venv "$VENV"
  fi
  local stamp="$VENV/.studio-installed" want
  want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing Studio and its dependencies into $VENV (first time: a few minutes, torch is large) ..."
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[test]"
    echo "$want" > "$stamp"
  fi
  qt_system_libs
}

cmd=${1:-app}
shift || true
case "$cmd" in
  app)
    setup
    if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ "${QT_QPA_PLATFORM:-}" != "offscreen" ]; then
      echo "no display found: rendering every page of the app on the demo data into ./screenshots instead"
      QT_QPA_PLATFORM=offscreen exec "$VENV/bin/studio" gui --screenshot screenshots "$@"
    fi
    exec "$VENV/bin/studio" gui "$@"
    ;;
  test)
    setup
    export QT_QPA_PLATFORM=offscreen
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  test-slow)
    setup
    export QT_QPA_PLATFORM=offscreen
    exec "$VENV/bin/python" -m pytest -m slow "$@"
    ;;
  bench)
    setup
    name=${1:?usage: ./dev.sh bench NAME [ARGS]}; shift
    exec "$VENV/bin/python" "bench/$name.py" "$@"
    ;;
  *)
    echo "usage: ./dev.sh [app|test|test-slow|bench NAME]" >&2; exit 2 ;;
esac
