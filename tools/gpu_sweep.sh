#!/usr/bin/env bash
# Several training configurations side by side on one GPU (the image's python3 with torch), each
# with a wall-clock budget; copies the best one's model, sidecar and grid into $OUT, plus all logs.
#   OUT=/out MINUTES=4.4 bash tools/gpu_sweep.sh
# Needs work/data/train.npz and work/data/eval.npz (python -m tools.training.dataset build work/data).
# "Best" is judged on the reserved photos' PSNR gain + 3 x colourfulness ratio, so report it as such.
set -u
cd "$(dirname "$0")/.."
M=${MINUTES:-4.4}
W=${WORK:-/tmp/sweep}
mkdir -p "$W" "$OUT"
run() {
  local name=$1; shift; mkdir -p "$W/$name"
  python3 -u -m tools.training.job --data work/data/train.npz --eval work/data/eval.npz \
     --out "$W/$name" --minutes "$M" --device cuda --batch 96 --threads 4 "$@" > "$W/$name/log.txt" 2>&1
  echo "== $name $* exit $?"; grep -E "PSNR|colourfulness" "$W/$name/log.txt" | tail -2
}
run D --reg-weight 1 --rebalance 0.75 &
run E --reg-weight 0.5 --rebalance 0.9 &
run F --reg-weight 1 --rebalance 1.0 &
run G --reg-weight 0.3 --rebalance 0.75 &
wait
best=$(python3 - "$W" <<'PY'
import pathlib, re, sys
best, score = None, -1e9
for d in sorted(pathlib.Path(sys.argv[1]).iterdir()):
    text = (d / "log.txt").read_text()
    gain, ratio = re.findall(r"gain ([-0-9.]+) dB", text), re.findall(r"ratio ([0-9.]+)\)", text)
    if gain and ratio and (d / "default.onnx").exists() and float(gain[-1]) + 3 * float(ratio[-1]) > score:
        best, score = d.name, float(gain[-1]) + 3 * float(ratio[-1])
print(best)
PY
)
echo "best: $best"
cp "$W/$best/default.onnx" "$W/$best/default.json" "$W/$best/grid.jpg" "$OUT/"
# The device tool returns few files: pack the logs into one.
tar czf "$OUT/logs.tgz" -C "$W" $(cd "$W" && ls -d */log.txt */report.json 2>/dev/null)
