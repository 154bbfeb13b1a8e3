"""One complete training run from packed data: train, export, pick T, evaluate on the reserved set.

    $ python3 -m tools.training.job --data work/data/train.npz --eval work/data/eval.npz \\
          --out work/run1 --minutes 1 --device cpu --threads 1
    $ OUT=/tmp/out tools/training/gpu_job.sh          # the same on a GPU, 6 minutes

Writes into ``--out``: ``default.onnx`` + ``default.json`` (the model), ``checkpoint.pt``,
``report.json`` (all figures) and ``grid.jpg`` (gray | ours | truth on reserved photos).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from stream_colorize.engine import Colorizer
from stream_colorize.evaluate import evaluate_images, format_report, to_gray
from stream_colorize.models.spec import spec_from_onnx
from stream_colorize.train.export import choose_temperature, export_model, set_sidecar
from stream_colorize.train.loop import TrainConfig, resolve_device, split_validation, train
from stream_colorize.train.model import ArchConfig, ColorNet
from tools.training.dataset import load_npz


def comparison_grid(colorizer: Colorizer, photos: list[np.ndarray], rows: int = 6, height: int = 200) -> np.ndarray:
    """Rows of gray | ours | truth for the first ``rows`` photos, each scaled to ``height``."""
    out = []
    for img in photos[:rows]:
        gray = to_gray(img)
        ours = colorizer.colorize([gray])[0]
        scale = height / img.shape[0]
        size = (max(1, round(img.shape[1] * scale)), height)
        cells = [cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), ours, img]
        out.append(np.hstack([cv2.resize(c, size, interpolation=cv2.INTER_AREA) for c in cells]))
    width = max(r.shape[1] for r in out)
    return np.vstack(
        [cv2.copyMakeBorder(r, 0, 4, 0, width - r.shape[1], cv2.BORDER_CONSTANT, value=(255, 255, 255)) for r in out]
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the figures; returns the exit status."""
    p = argparse.ArgumentParser(prog="python3 -m tools.training.job")
    p.add_argument("--data", type=Path, required=True, help="packed training set (.npz from dataset build)")
    p.add_argument("--eval", type=Path, required=True, help="packed reserved evaluation set (.npz)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--minutes", type=float, default=6.0)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--crop", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--reg-weight", type=float, default=3.0)
    p.add_argument("--rebalance", type=float, default=0.5, help="Zhang's lambda; 1 disables rebalancing")
    p.add_argument("--haze", type=float, default=0.0, help="share of crops veiled in gray haze")
    p.add_argument("--log-weight", type=float, default=0.0, help="weight of the per-crop log-error term")
    p.add_argument("--init", type=Path, default=None, help="checkpoint.pt or model .onnx to go on from")
    p.add_argument("--global-context", action="store_true", help="add the whole-image context branch")
    p.add_argument("--name", default="default")
    args = p.parse_args(argv)

    t0 = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(args.device)
    gpu = dev.type == "cuda"
    print(f"device {dev}" + (f" ({torch.cuda.get_device_name(0)})" if gpu else ""), flush=True)
    cfg = TrainConfig(
        minutes=args.minutes,
        steps=args.steps,
        device=str(dev),
        threads=args.threads or (None if gpu else 1),
        batch=args.batch or (64 if gpu else 12),
        crop=args.crop or (224 if gpu else 128),
        lr=args.lr or (3e-3 if gpu else 2e-3),
        reg_weight=args.reg_weight,
        rebalance_lambda=args.rebalance,
        log_weight=args.log_weight,
        haze=args.haze,
        checkpoint=args.out / "checkpoint.pt",
    )
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
        cv2.setNumThreads(cfg.threads)
    images = load_npz(args.data)
    reserved = load_npz(args.eval)
    train_set, val_set = split_validation(images)
    print(f"{len(train_set)} training crops, {len(val_set)} validation, {len(reserved)} reserved photos", flush=True)

    last_print = [0.0]

    def progress(step: int, done: float, loss: float) -> None:
        now = time.monotonic()
        if now - last_print[0] > 15:
            last_print[0] = now
            print(f"  step {step}  {done * 100:5.1f}%  loss {loss:.3f}", flush=True)

    arch = ArchConfig(global_context=args.global_context)
    init = None
    if args.init and args.init.suffix.lower() == ".onnx":
        # A model made by this project (its sidecar names the architecture); BatchNorm is folded away.
        arch = ArchConfig.from_dict(spec_from_onnx(args.init).extra["arch"])
        init = ColorNet.from_onnx(args.init, arch)
        print(f"going on from {args.init} (deploy weights, no BatchNorm)", flush=True)
    elif args.init:
        saved = torch.load(args.init, map_location="cpu")
        arch = ArchConfig.from_dict(saved["arch"])
        init = ColorNet(arch, dropout=cfg.dropout)
        init.load_state_dict(saved["state"])
        print(f"going on from {args.init} (step {saved['step']})", flush=True)
    net = train(train_set, cfg, init=init, arch=arch, progress=progress, val_images=val_set)
    model = args.out / f"{args.name}.onnx"
    for stale in (model, model.with_suffix(".json")):
        stale.unlink(missing_ok=True)
    export_model(net, model, temperature=0.38, meta={"training": cfg.to_dict()})
    temperature, val_report = choose_temperature(model, val_set)
    colorizer = Colorizer(spec_from_onnx(model), device="cpu", temperature=temperature)
    report = evaluate_images(colorizer, reserved)
    set_sidecar(
        model,
        temperature=temperature,
        metrics_reserved=report,
        metrics_validation=val_report,
        description="stream_colorize compact model: 313-bin classification, trained on photos from Debian packages",
    )
    picks = reserved[:: max(1, len(reserved) // 6)][:6]
    cv2.imwrite(str(args.out / "grid.jpg"), comparison_grid(colorizer, picks), [cv2.IMWRITE_JPEG_QUALITY, 88])
    summary = {
        "temperature": temperature,
        "reserved": report,
        "validation": val_report,
        "seconds": time.monotonic() - t0,
    }
    (args.out / "report.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"chosen temperature {temperature}")
    print("reserved photos:\n" + format_report(report))
    ok = report["psnr_gain"] >= 1.0 and report["colourfulness_ratio"] >= 0.8
    print(f"bar (PSNR >= gray + 1 dB, colourfulness >= 80%): {'met' if ok else 'NOT met'}")
    print(f"total {time.monotonic() - t0:.0f} s; files in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
