#!/usr/bin/env bash
# The whole test run: lint (ruff), types (mypy on the package), the full suite on what a fresh `pip install .` resolves today (.venv),
# then the engine, backend (ONNX Runtime vs cv2.dnn), model and Caffe tests on the pinned OpenCV
# lines 5.0 (.venv-cv50, classic engine with targets) and 4.14 (.venv-cv4, Caffe importer).  Every part runs even when an
# earlier one fails; the exit status is non-zero if any part failed.
set -uo pipefail
cd "$(dirname "$0")/.."
LINE_TESTS=(tests/test_engine.py tests/test_backends.py tests/test_caffe.py tests/test_convert.py tests/test_models_cli.py)
failed=()

part() {  # part NAME COMMAND...
  local name=$1
  shift
  echo "--- $name ---"
  "$@" || failed+=("$name")
}

part "ruff" .venv/bin/ruff check .
part "mypy" .venv/bin/mypy
part "suite, $(.venv/bin/python -c 'import cv2; print("opencv-python", cv2.__version__)')" \
  .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
part "opencv-python 5.0 (classic engine)" .venv-cv50/bin/python -m pytest -q -p no:cacheprovider "${LINE_TESTS[@]}"
part "opencv-python 4.14 (Caffe importer)" .venv-cv4/bin/python -m pytest -q -p no:cacheprovider "${LINE_TESTS[@]}"

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED parts: ${failed[*]}"
  exit 1
fi
echo "all parts passed"
