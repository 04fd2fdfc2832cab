#!/usr/bin/env bash
# Download the few wheels a GPU machine without a package registry lacks to run Studio from the source tree
# (bench/gpu_check.py, see docs/gpu.md): what studio imports beyond the machine's own torch, torchvision, numpy,
# OpenCV, onnx, onnxruntime, PyYAML, scipy, matplotlib, Pillow, psutil, sympy, ml-dtypes, packaging and colorama.
#   tools/gpu_wheels.sh [DEST] [PYTHON_VERSION]      (default .gpu_wheels, 3.12: the lent machines' Python)
# The list and its versions: tools/gpu_wheels.txt. DEST is git-ignored; carry it to the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-.gpu_wheels}
PYV=${2:-3.12}
PY=${PYTHON:-.venv/bin/python}
mapfile -t WHEELS < <(grep -v "^#" tools/gpu_wheels.txt | grep .)
mkdir -p "$DEST"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PYV" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$DEST" "${WHEELS[@]}"
ls "$DEST"/*.whl | wc -l | xargs echo "wheels:"
du -sh "$DEST"
