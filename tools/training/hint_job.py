"""Fine-tune a trained Lite0 colorizer into one with a hint input, less false colour, and measure it.

    $ python3 -m tools.training.hint_job --init models/default.onnx --data work/data/train.npz \\
          --eval work/data/eval.npz --cache work/cache_v4.pt --out work/hints1 --minutes 30

The decoder grows a hint input whose new weights start at zero (``LiteColorNet.with_hints``), so
training starts from the model's own colours; it then trains on cached encoder features with
simulated hints (``train.hint_sim``) and the neutral-chroma penalty (``train.losses``).  Writes
``default.onnx`` + ``default.json`` and ``report.json`` into ``--out``: automatic and guided (10
and 50 truth points) figures on the reserved photos, which are only measured, never used to choose.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from stream_colorize.engine import Colorizer
from stream_colorize.evaluate import evaluate_pairs, format_report, to_gray
from stream_colorize.lab import merge_ab
from stream_colorize.models.resolve import resolve_model
from stream_colorize.models.spec import spec_from_onnx
from stream_colorize.train.export import choose_temperature, export_model, kept_from_start, set_sidecar
from stream_colorize.train.lite_model import LiteArch, LiteColorNet
from stream_colorize.train.lite_train import DecoderConfig, FeatureCache, cache_views, train_decoder, truth_hint_planes
from stream_colorize.train.loop import split_validation
from stream_colorize.train.losses import VIVID_CHROMA
from tools.training.dataset import load_npz

DESCRIPTION = (
    "stream_colorize Lite0 model v2: ImageNet-pretrained EfficientNet-Lite0 encoder (Apache-2.0) and a U-Net "
    "decoder to 313 ab bins with a colour-hint input, trained on photos and footage from Debian packages"
)


def guided_report(colorizer: Colorizer, photos: list[np.ndarray], points: int, seed: int = 0) -> dict:
    """Figures with ``points`` random truth points per photo revealed (a fixed draw)."""
    rng = np.random.default_rng(seed)
    results = []
    for photo in photos:
        gray = to_gray(photo)
        planes = truth_hint_planes(photo, points, rng)
        ab = colorizer.predict_ab([gray], {"hints": planes})[0]
        results.append(merge_ab(gray, ab))
    return evaluate_pairs(results, photos)


def _with_extras(cache: FeatureCache, net: LiteColorNet, args: argparse.Namespace, cfg: DecoderConfig) -> FeatureCache:
    """The cache with each ``--extra`` set's views appended (each crop its ``--extra-views`` times)."""
    views = args.extra_views or [8]
    caches = args.extra_cache or []
    extras: list[FeatureCache] = []
    for k, path in enumerate(args.extra):
        count = views[min(k, len(views) - 1)]
        saved = caches[k] if k < len(caches) else None
        if saved is not None and saved.is_file():
            extra = FeatureCache.load(saved)
        else:
            # seed + 1 for the first set keeps the single-extra runs of the model card reproducible
            set_cfg = dataclasses.replace(cfg, views=count, seed=cfg.seed + 1 + k)
            extra = cache_views(net.encoder, load_npz(path), set_cfg)
            if saved is not None:
                extra.save(saved)
        print(f"{len(extra)} extra views from {path} beside {len(cache)}", flush=True)
        extras.append(extra)
    # one concatenation: each copies the whole cache (GiBs)
    sets = [cache, *extras]
    taps = [torch.cat(level) for level in zip(*(c.taps for c in sets), strict=True)]
    return FeatureCache(taps, torch.cat([c.ab for c in sets]))


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the figures; returns the exit status."""
    p = argparse.ArgumentParser(prog="python3 -m tools.training.hint_job")
    p.add_argument("--init", type=Path, required=True, help="trained Lite0 model: .onnx + sidecar, or a bundled name")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--eval", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--cache", type=Path, required=True, help="feature cache: reused if there, else written")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--neutral-weight", type=float, default=1.0)
    p.add_argument("--vivid-weight", type=float, default=0.0, help="cost of chroma short of a vivid truth's")
    p.add_argument("--vivid-chroma", type=float, default=VIVID_CHROMA, help="truth chroma where it counts")
    p.add_argument("--rebalance", type=float, default=0.5)
    p.add_argument("--reg-weight", type=float, default=1.0, help="Huber on the mean ab (pulls unsure colour to gray)")
    p.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        help="a further set trained on whole (none held out), e.g. work/data/dull.npz; repeatable",
    )
    p.add_argument(
        "--extra-views",
        type=int,
        action="append",
        help="views cached per crop of the matching --extra (default 8; the last one given serves the rest)",
    )
    p.add_argument(
        "--extra-cache", type=Path, action="append", help="the matching --extra set's feature cache: reused or written"
    )
    p.add_argument("--seed", type=int, default=0, help="order, augmentation and simulated hints of the run")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--validate-seconds", type=float, default=300.0)
    args = p.parse_args(argv)

    t0 = time.monotonic()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    init = resolve_model(str(args.init)).path  # a file, or a bundled name such as default-v1
    old = json.loads(init.with_suffix(".json").read_text())
    base = LiteColorNet.from_onnx(init, LiteArch.from_dict(old["arch"]))
    net = base if base.arch.hints else base.with_hints(dropout=0.1)  # a hint model trains on
    net.freeze_encoder()
    cfg = DecoderConfig(
        views=4, minutes=args.minutes, steps=args.steps, lr=args.lr, rebalance_lambda=args.rebalance,
        reg_weight=args.reg_weight, neutral_weight=args.neutral_weight, vivid_weight=args.vivid_weight,
        vivid_chroma=args.vivid_chroma, validate_seconds=args.validate_seconds,
        val_temperature=float(old.get("temperature", 0.55)), seed=args.seed,
    )  # fmt: skip
    train_set, val_set = split_validation(load_npz(args.data))
    reserved = load_npz(args.eval)
    print(f"{len(train_set)} training crops, {len(val_set)} held out, {len(reserved)} reserved photos", flush=True)
    if args.cache.is_file():
        cache = FeatureCache.load(args.cache)
    else:
        cache = cache_views(net.encoder, train_set, cfg)
        cache.save(args.cache)
    if args.extra:
        cache = _with_extras(cache, net, args, cfg)
    net = train_decoder(net, cache, cfg, val_photos=val_set)
    model = args.out / "default.onnx"
    meta = {"training": {**cfg.to_dict(), "threads": args.threads, "init": str(args.init)}, **kept_from_start(old, net)}
    if args.extra:
        meta["training"].update(extra=[str(p) for p in args.extra], extra_views=args.extra_views or [8])
    export_model(net, model, temperature=cfg.val_temperature, meta=meta)
    temperature, val_report = choose_temperature(model, val_set, min_ratio=0.8)
    colorizer = Colorizer(spec_from_onnx(model), device="cpu", temperature=temperature)
    automatic = evaluate_pairs([colorizer.colorize(to_gray(img)) for img in reserved], reserved)
    guided = {n: guided_report(colorizer, reserved, n) for n in (10, 50)}
    set_sidecar(model, temperature=temperature, metrics_reserved=automatic, metrics_validation=val_report,
                description=DESCRIPTION)  # fmt: skip
    summary = {
        "temperature": temperature,
        "reserved": automatic,
        "guided": {str(n): {**r, "gain_over_automatic": r["psnr"] - automatic["psnr"]} for n, r in guided.items()},
        "seconds": time.monotonic() - t0,
    }
    (args.out / "report.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"chosen temperature {temperature}")
    print("reserved photos, automatic:\n" + format_report(automatic))
    for n, r in guided.items():
        print(f"with {n} truth points: PSNR {r['psnr']:.2f} dB ({r['psnr'] - automatic['psnr']:+.2f} over automatic)")
    print(f"total {time.monotonic() - t0:.0f} s; files in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
