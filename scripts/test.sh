#!/usr/bin/env bash
# The whole test run: lint, the suite on opencv-python 5.x, then the engine and Caffe tests on 4.x.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
echo "--- opencv-python 4.x (Caffe importer) ---"
.venv-cv4/bin/python -m pytest -q -p no:cacheprovider tests/test_engine.py tests/test_caffe.py tests/test_convert.py tests/test_models_cli.py
