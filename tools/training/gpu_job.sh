#!/usr/bin/env bash
# One GPU training run of the bundled model, from the repo root, with the image's python3.
#   OUT=/some/folder tools/training/gpu_job.sh [MINUTES] [extra job.py options...]
# Needs work/data/train.npz and work/data/eval.npz (carry them along); nothing is downloaded.
# Writes $OUT/default.onnx, default.json, checkpoint.pt, report.json, grid.jpg, log.txt.
set -uo pipefail
cd "$(dirname "$0")/../.."
MINUTES="${1:-5.5}"
shift || true
OUT="${OUT:-work/gpu_out}"
mkdir -p "$OUT"
for f in work/data/train.npz work/data/eval.npz; do
    [ -f "$f" ] || { echo "gpu_job: missing $f (carry work/data/train.npz and work/data/eval.npz)"; exit 2; }
done
python3 -c "import torch, cv2, onnx; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'cv2', cv2.__version__)" || exit 3
python3 -c "import tools.training.job" || { echo "gpu_job: the package does not import here"; exit 3; }
python3 -u -m tools.training.job --data work/data/train.npz --eval work/data/eval.npz --out "$OUT" \
    --minutes "$MINUTES" --device auto --batch 96 --threads 8 "$@" 2>&1 | tee "$OUT/log.txt"
status=${PIPESTATUS[0]}
ls -la "$OUT"
exit "$status"
