#!/usr/bin/env bash
# Studio's one entry point for developers and CI.
#   ./dev.sh app          set up .venv (first time) and start the app on the built-in demo data; on Linux with a
#                         display, first install the X11 libraries Qt needs (apt-get, when root or sudo may)
#   ./dev.sh setup        only set up .venv and the system libraries (those a display needs too)
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

apt_install() {
  # apt_install WHAT PKG...: install Debian / Ubuntu packages when apt-get is there and root (or sudo without a
  # password) may run it; otherwise, or when it fails, say what to install. Never fails the setup.
  local what=$1; shift
  local cmd="apt-get install -y $*"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$what: install the packages that provide them with your package manager (Debian / Ubuntu: sudo $cmd)" >&2
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "$what: run  sudo $cmd" >&2
      return 0
    fi
  fi
  echo "installing $what (apt-get): $*"
  if ! { ${sudo[@]+"${sudo[@]}"} apt-get update -qq && ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }; then
    echo "apt-get could not install them; run  sudo $cmd" >&2
  fi
  return 0
}

qt_system_libs() {
  # PySide6 wheels need a few system libraries that minimal Linux images lack (enough for offscreen rendering).
  if "$VENV/bin/python" -c 'import os; os.environ.setdefault("QT_QPA_PLATFORM","offscreen"); from PySide6 import QtWidgets' 2>/dev/null; then
    return 0
  fi
  apt_install "the system libraries Qt needs" libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0
}

display_libs() {
  # On a real X display Qt's xcb platform plugin needs more (libxcb-cursor0 and the other xcb libraries); the list
  # is studio.core.environment.DISPLAY_LIBRARIES, which `studio doctor` checks too.
  [ "$(uname -s)" = Linux ] || return 0
  local missing
  missing=$("$VENV/bin/python" -c 'from studio.core.environment import missing_display_packages as m; print(" ".join(m()))' 2>/dev/null) || return 0
  if [ -n "$missing" ]; then
    # shellcheck disable=SC2086
    apt_install "the X11 libraries the app needs on a display" $missing
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
    # optional extras, each only where its wheels install: OpenVINO (the openvino export format and runtime)
    "$VENV/bin/python" -m pip install -q -e ".[openvino]" \
      || echo "OpenVINO did not install here: the openvino export format stays unavailable (studio doctor says so)" >&2
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
    [ "${QT_QPA_PLATFORM:-}" = offscreen ] || display_libs
    exec "$VENV/bin/studio" gui "$@"
    ;;
  setup)
    setup
    display_libs
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
    echo "usage: ./dev.sh [app|setup|test|test-slow|bench NAME]" >&2; exit 2 ;;
esac
