#!/usr/bin/env bash
# Install everything the tests need on Debian 12 (run as root or with sudo available):
# system packages (ffprobe, Xvfb, PoCL OpenCL, the GStreamer RTSP server, headless Chromium for the web view,
# nginx with its RTMP module for the RTMP tests), then three venvs:
# .venv (whatever a fresh `pip install .` resolves today, upgraded on every run), .venv-cv50
# (opencv-python 5.0, the last 5.x with the classic engine that honours targets) and .venv-cv4
# (opencv-python 4.14, which still reads Caffe).  Every venv gets ONNX Runtime's CPU build (a
# dependency of the package), so the ORT-vs-cv2.dnn tests run on each OpenCV line.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

APT_PACKAGES=(
  python3-venv ffmpeg xvfb xdotool x11-apps imagemagick iproute2
  pocl-opencl-icd ocl-icd-libopencl1 clinfo
  gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly python3-gi
  chromium
  nginx libnginx-mod-rtmp
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
# The CPU build of torch that lies on this platform's disk; a bare "torch" would pull a CUDA build of several GB.
.venv/bin/pip install -q "torch==2.13.0"
.venv/bin/pip install -q -e ".[test,train,convert,cluster,serve]"  # cluster: Ray, for the two-node tests; serve: aiohttp, aiortc
# A venv kept from an earlier run must still test what pip resolves today.
.venv/bin/pip install -q --upgrade opencv-python av numpy typer onnxruntime

for line in "cv50 opencv-python==5.0.0.93" "cv4 opencv-python==4.14.0.94"; do
  set -- $line
  [ -x ".venv-$1/bin/python" ] || "$PY" -m venv ".venv-$1"
  ".venv-$1/bin/pip" install -q "$2" numpy av typer rich onnx onnxruntime pytest
  ".venv-$1/bin/pip" install -q --no-deps -e .
done

echo "setup-dev: ok"
