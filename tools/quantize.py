"""Make and judge an int8 copy of a bundled model: static QDQ quantization, calibrated on held-out
crops of training-source photos, compared with the float model on the reserved photos.

    $ python -m tools.quantize --train-ext work/ext --eval-ext work/ext --wheels work/wheels/*.whl
    $ python -m tools.quantize ... --exclude stem,head --method percentile --write   # keep the winner

Calibration: square crops (random position and scale) of photos from the training packages
(``tools/training/sources.py``, unpacked under ``--train-ext``), turned gray and fed as the
network sees them.  Any photo within the duplicate distance of a reserved photo is dropped first:
the reserved photos (OpenCV's samples, the images in scikit-image, scikit-learn and matplotlib)
are for judging only.

Judging: ``evaluate_images`` on the reserved photos (PSNR, hue agreement...) for the float and
the int8 model through ONNX Runtime, and ms a frame of each (batch 1, one and two threads,
interleaved).  The bar for ``--precision auto`` to pick int8: PSNR within 0.1 dB and hue
agreement within 0.01 of the float model's, and faster.  ``--write`` saves the int8 model beside
the float one and records its checksum, figures and the bar's verdict in the float model's sidecar
(``int8``); without it nothing in models/ changes.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stream_colorize.backends.precision import HUE_BAR, PSNR_BAR  # noqa: E402
from stream_colorize.engine import Colorizer  # noqa: E402
from stream_colorize.evaluate import evaluate_images  # noqa: E402
from stream_colorize.hints import HINT_ROLE, hint_tensor, truth_hints  # noqa: E402
from stream_colorize.imagestats import colorfulness, dhash, fit_within, hamming  # noqa: E402
from stream_colorize.lab import network_input  # noqa: E402
from stream_colorize.models.spec import ModelSpec, spec_from_onnx  # noqa: E402
from tools.training.dataset import DUPLICATE_BITS, STORE_SIDE, Item, deduplicate, select_training  # noqa: E402
from tools.training.sources import iter_eval_images  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# Node groups that may stay in float (names in the bundled Lite0 graph).
EXCLUDES = {
    "stem": ["/encoder/stem/conv/Conv"],  # the first convolution, on the L itself
    "block0": ["/encoder/blocks.0/depthwise/conv/Conv", "/encoder/blocks.0/project/conv/Conv"],
    "head": ["/decoder/head/Conv"],  # the 313-bin logits
    "hints": ["/decoder/hint_embed/Conv"],  # a hint model's embedding of the a, b, mask planes
}
PREFIXES = {"decoder": "/decoder/"}  # groups of every node under a module: the decoder we trained


def excluded_nodes(model: Path, groups: list[str]) -> list[str]:
    """The graph's node names that ``groups`` (keys of ``EXCLUDES`` or ``PREFIXES``) keep in float."""
    names = [n for group in groups if group in EXCLUDES for n in EXCLUDES[group]]
    prefixes = tuple(PREFIXES[g] for g in groups if g in PREFIXES)
    if prefixes:
        import onnx

        names += [node.name for node in onnx.load(str(model)).graph.node if node.name.startswith(prefixes)]
    return names


def reserved_photos(ext: Path, wheels: list[Path]) -> list[np.ndarray]:
    """The reserved evaluation photos as the dataset build keeps them (colourful, deduplicated, <= 512 px)."""
    items = [
        Item(c.image, c.package, c.path, "", "reserved")
        for c in iter_eval_images(ext, wheels)
        if colorfulness(c.image) >= 12.0
    ]
    return [fit_within(it.image, STORE_SIDE) for it in deduplicate(items)]


def calibration_crops(ext: Path, reserved: list[np.ndarray], count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` colour square crops of training-source photos, none near a reserved photo."""
    photos, _ = select_training(ext, log=lambda *_: None)
    banned = [dhash(p) for p in reserved]
    kept = [it.image for it in deduplicate(photos) if all(hamming(dhash(it.image), h) > DUPLICATE_BITS for h in banned)]
    if not kept:
        raise SystemExit(f"no training photos under {ext}")
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(count):
        image = kept[i % len(kept)]
        height, width = image.shape[:2]
        side = int(min(height, width) * rng.uniform(0.35, 1.0))
        y, x = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
        crop = cv2.resize(image[y : y + side, x : x + side], (224, 224), interpolation=cv2.INTER_AREA)
        crops.append(crop)
    print(f"calibration: {count} crops of {len(kept)} training-source photos")
    return crops


class _Reader:
    """ONNX Runtime's CalibrationDataReader: the gray crop as the network's L; for a model with a
    hint input, half the crops also carry 10-50 truth points, so the hint path's ranges are seen."""

    def __init__(self, spec: ModelSpec, crops: list[np.ndarray]) -> None:
        hint = next((i for i in spec.inputs if i.role == HINT_ROLE), None)
        rng = np.random.default_rng(1)
        feeds = []
        for k, crop in enumerate(crops):
            feed = {spec.l_input.name: network_input([cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)], 224)}
            if hint is not None:
                side = 224 // hint.stride
                points = int(rng.integers(10, 51)) if k % 2 else 0
                feed[hint.name] = hint_tensor(truth_hints(crop, points, rng), crop.shape[:2], side)[None]
            feeds.append(feed)
        self.feeds = iter(feeds)

    def get_next(self) -> dict | None:
        return next(self.feeds, None)


def quantize(model: Path, out: Path, crops: list[np.ndarray], exclude: list[str], method: str) -> None:
    """Static QDQ quantization: int8 weights per channel, uint8 activations, ``exclude`` left in float."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        quant_pre_process(str(model), str(prepared), skip_symbolic_shape=False)
        quantize_static(
            str(prepared),
            str(out),
            _Reader(spec_from_onnx(model), crops),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded_nodes(model, exclude),
            calibrate_method={"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                              "entropy": CalibrationMethod.Entropy}[method],  # fmt: skip
            extra_options={"CalibMovingAverage": method == "minmax"},
        )


def _spec(model: Path, weights: Path) -> ModelSpec:
    """``model``'s spec (its sidecar: temperature, bins) with the weights of ``weights``."""
    return dataclasses.replace(spec_from_onnx(model), path=weights)


def ms_per_frame(spec: ModelSpec, threads: int, reps: int = 20) -> float:
    """Median ms of one network forward through ONNX Runtime (batch 1) at ``threads``."""
    engine = Colorizer(spec, device="cpu", backend="onnxruntime", threads=threads, precision="fp32")
    blob = network_input([np.full((224, 224), 120, np.uint8)], 224)
    engine.forward(blob)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        engine.forward(blob)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def judge(model: Path, int8: Path, photos: list[np.ndarray]) -> dict:
    """Reserved-photo metrics of both models and their speed, with the bar's verdict."""
    specs = {"fp32": _spec(model, model), "int8": _spec(model, int8)}
    reports = {
        name: evaluate_images(Colorizer(spec, device="cpu", backend="onnxruntime", precision="fp32"), photos)
        for name, spec in specs.items()
    }
    speed: dict[str, list[float]] = {"fp32": [], "int8": []}
    for _ in range(3):  # interleaved: load from other processes falls on both
        for name, spec in specs.items():
            speed[name].append(ms_per_frame(spec, threads=1))
    fp32_ms, int8_ms = min(speed["fp32"]), min(speed["int8"])
    psnr_loss = reports["fp32"]["psnr"] - reports["int8"]["psnr"]
    hue_loss = reports["fp32"]["hue_agreement"] - reports["int8"]["hue_agreement"]
    verdict = psnr_loss <= PSNR_BAR and hue_loss <= HUE_BAR and int8_ms < fp32_ms
    for name, report in reports.items():
        print(f"{name}: PSNR {report['psnr']:.3f} dB (gray {report['psnr_gray']:.3f}), hue agreement "
              f"{report['hue_agreement']:.4f}, colourfulness ratio {report['colourfulness_ratio']:.3f}, "
              f"{min(speed[name]):.1f} ms a frame (1 thread, best of 3 medians)")  # fmt: skip
    print(f"int8 - fp32: PSNR {-psnr_loss:+.3f} dB, hue {-hue_loss:+.4f}, speed x{fp32_ms / int8_ms:.2f}: "
          f"{'meets' if verdict else 'misses'} the bar (PSNR within {PSNR_BAR} dB, hue within {HUE_BAR}, faster)")
    return {
        "psnr_fp32": reports["fp32"]["psnr"],
        "psnr": reports["int8"]["psnr"],
        "hue_agreement_fp32": reports["fp32"]["hue_agreement"],
        "hue_agreement": reports["int8"]["hue_agreement"],
        "ms_fp32": fp32_ms,
        "ms": int8_ms,
        "images": len(photos),
        "meets_bar": verdict,
    }


def main(argv: list[str] | None = None) -> int:
    """Quantize, judge, and with --write keep the result."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=REPO / "models" / "default.onnx")
    p.add_argument("--train-ext", type=Path, required=True, help="unpacked training packages (one folder each)")
    p.add_argument("--eval-ext", type=Path, required=True, help="folder holding the unpacked opencv-doc")
    p.add_argument("--wheels", type=Path, nargs="*", default=[], help="scikit-image, scikit-learn, matplotlib wheels")
    p.add_argument("--crops", type=int, default=160)
    groups = ", ".join([*EXCLUDES, *PREFIXES])
    p.add_argument("--exclude", default="stem,head", help=f"node groups kept in float: {groups}")
    p.add_argument("--method", default="minmax", choices=("minmax", "percentile", "entropy"))
    p.add_argument("--out", type=Path, help="where the int8 model goes (default: MODEL-int8.onnx, with --write)")
    p.add_argument("--write", action="store_true", help="keep the int8 model and record it in the sidecar")
    args = p.parse_args(argv)
    photos = reserved_photos(args.eval_ext, args.wheels)
    print(f"reserved photos: {len(photos)}")
    crops = calibration_crops(args.train_ext, photos, args.crops)
    exclude = [g for g in args.exclude.split(",") if g]
    with tempfile.TemporaryDirectory() as folder:
        beside = args.model.with_name(args.model.stem + "-int8.onnx")
        out = args.out or (beside if args.write else Path(folder) / "q.onnx")
        quantize(args.model, out, crops, exclude, args.method)
        print(f"{out}: {out.stat().st_size / 1e6:.1f} MB (float {args.model.stat().st_size / 1e6:.1f} MB)")
        figures = judge(args.model, out, photos)
        if args.write:
            sidecar = args.model.with_suffix(".json")
            meta = json.loads(sidecar.read_text())
            meta["int8"] = {
                "file": out.name,
                "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
                "recipe": {"format": "QDQ", "per_channel": True, "weights": "int8", "activations": "uint8",
                           "float_nodes": exclude, "calibration": f"{args.crops} crops, {args.method}"},  # fmt: skip
                **figures,
            }
            sidecar.write_text(json.dumps(meta, indent=2) + "\n")
            print(f"recorded in {sidecar}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
