"""ONNX export that cv2.dnn loads, checked against torch, written atomically with its sidecar.

    >>> export_model(net, Path("out/model.onnx"), temperature=0.38, meta={"description": "..."})
    >>> t = choose_temperature(Path("out/model.onnx"), val_photos)   # best PSNR at enough colour

The sidecar (``model.json``) tells the engine the output is 313 logits over our bins and which
annealing temperature to use, and records the architecture so ``--init`` can fine-tune it.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

from ..bins import annealed_mean, load_bins
from ..engine import Colorizer
from ..errors import ModelError
from ..evaluate import evaluate_pairs, to_gray
from ..hints import HINT_ROLE
from ..io.outputs import atomic_output, write_atomic
from ..lab import merge_ab, network_input
from ..models.fetch import sha256_of
from ..models.spec import spec_from_onnx
from .model import ColorNet

INPUT_SIZE = 224
TOLERANCE = 1e-3
TEMPERATURES = (0.25, 0.32, 0.38, 0.45, 0.55, 0.7, 0.85, 1.0)
MIN_COLOR_RATIO = 0.85
HINT_INPUT = "hints"  # the graph name of a hint input (its sidecar role is hints.HINT_ROLE)
HINT_STRIDE = 4  # hints come at the decoder's output grid, 1/4 of the input


def _hint_channels(net: torch.nn.Module) -> int:
    arch = getattr(net, "arch", None)
    return int(getattr(arch, "hints", 0) or 0)


def _hint_probe(channels: int) -> np.ndarray:
    """A few hinted cells (a, b, mask), the rest empty."""
    side = INPUT_SIZE // HINT_STRIDE
    probe = np.zeros((1, channels, side, side), np.float32)
    for k, (y, x) in enumerate(((5, 7), (30, 40), (50, 12), (20, 20))):
        probe[0, :2, y, x] = (40.0 - 25 * k, 30.0 * (k % 2) - 10)
        probe[0, 2, y, x] = 1.0
    return probe


def _check_against_cv2(path: Path, net: ColorNet) -> float:
    """Largest |cv2.dnn - torch| relative to torch's largest |logit|, on a structured probe."""
    ramp = np.linspace(-50.0, 50.0, INPUT_SIZE, dtype=np.float32)
    probe = (ramp[None, :] * np.cos(ramp[:, None] / 15.0)).reshape(1, 1, INPUT_SIZE, INPUT_SIZE)
    channels = _hint_channels(net)
    hints = _hint_probe(channels) if channels else None
    with torch.no_grad():
        ref = (net(torch.from_numpy(probe), torch.from_numpy(hints)) if hints is not None
               else net(torch.from_numpy(probe))).numpy()  # fmt: skip
    dnn = cv2.dnn.readNetFromONNX(str(path))
    dnn.setInput(probe, "data_l")
    if hints is not None:
        dnn.setInput(hints, HINT_INPUT)
    out = dnn.forward()
    if out.shape != ref.shape:
        raise ModelError(f"cv2.dnn output shape {out.shape} differs from torch's {ref.shape}")
    return float(np.abs(out - ref).max() / max(1e-6, np.abs(ref).max()))


def export_model(net: ColorNet, out: Path, temperature: float, meta: dict | None = None) -> dict:
    """Write ``out`` (.onnx) and ``out.with_suffix('.json')``; return the sidecar dict.

    Both go through temporary names; the ONNX is renamed last, so a model file never exists
    without its description.  Raises ModelError if cv2.dnn disagrees with torch beyond 1e-3.
    """
    deploy = net.folded() if any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) else net.eval()
    deploy = deploy.cpu().float().eval()
    # The ONNX is claimed last (the inner context exits first): a model never appears without its sidecar.
    with atomic_output(out) as tmp_onnx, atomic_output(out.with_suffix(".json")) as tmp_json:
        dummy = torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE)
        channels = _hint_channels(net)
        args: tuple = (dummy,)
        names = ["data_l"]
        inputs: list[dict] = []
        if channels:
            args = (dummy, torch.zeros(1, channels, INPUT_SIZE // HINT_STRIDE, INPUT_SIZE // HINT_STRIDE))
            names.append(HINT_INPUT)
            inputs = [{"name": "data_l", "role": "l"},
                      {"name": HINT_INPUT, "role": HINT_ROLE, "channels": channels, "stride": HINT_STRIDE}]  # fmt: skip
        with warnings.catch_warnings():
            # The exporter's notes on constant folding and tracing are about torch's internals, not
            # the user's model; the export is checked against cv2.dnn just below.
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(
                deploy,
                args,
                str(tmp_onnx),
                dynamo=False,
                opset_version=17,
                input_names=names,
                output_names=["logits"],
            )
        rel = _check_against_cv2(tmp_onnx, deploy)
        if rel > TOLERANCE:
            raise ModelError(f"exported model disagrees with torch in cv2.dnn (relative error {rel:.2e})")
        sidecar = {
            "name": out.stem,
            "input_size": INPUT_SIZE,
            "output": "logits",
            "bins": "ours",
            "temperature": round(float(temperature), 3),
            "arch": net.arch.to_dict(),
            **({"inputs": inputs} if inputs else {}),
            "cv2_relative_error": rel,
            **(meta or {}),
            "sha256": sha256_of(tmp_onnx),  # `stream-colorize models verify` checks the file against it
        }
        tmp_json.write_text(json.dumps(sidecar, indent=2) + "\n")
    return sidecar


def kept_from_start(start_sidecar: dict, net: torch.nn.Module) -> dict:
    """The sidecar keys a model trained on from another keeps: a hint model's ``hint_spread``.

    It is a decode rule of the model family, so hints on the tuned model reach as far as on its start.
    """
    spread = start_sidecar.get("hint_spread")
    return {"hint_spread": spread} if isinstance(spread, dict) and _hint_channels(net) else {}


def set_sidecar(path: Path, **values) -> dict:
    """Update keys of a model's sidecar in place (atomically)."""
    side = path.with_suffix(".json")
    data = json.loads(side.read_text())
    data.update(values)
    write_atomic(side, json.dumps(data, indent=2) + "\n")
    return data


def choose_temperature(
    path: Path, photos: list[np.ndarray], min_ratio: float = MIN_COLOR_RATIO, log=print
) -> tuple[float, dict]:
    """The annealing temperature with the best PSNR among those keeping colourfulness >= min_ratio.

    Evaluated on held-out training photos (never the reserved evaluation set); the network runs
    once per photo and each temperature only re-decodes its logits.  If no temperature reaches
    the ratio, the most colourful one wins.
    """
    colorizer = Colorizer(spec_from_onnx(path), device="cpu", backend="opencv")  # its net gives the logits
    grays = [to_gray(p) for p in photos]
    logits = []
    for gray in grays:
        feeds = colorizer.feeds(network_input([gray], INPUT_SIZE))  # other inputs at their fill: no hints
        for name, value in feeds.items():
            colorizer.net.setInput(value, name)
        logits.append(colorizer.net.forward())
    centres = load_bins()
    best: tuple[float, dict] | None = None
    fallback: tuple[float, dict] | None = None
    for t in TEMPERATURES:
        results = [merge_ab(g, annealed_mean(z, centres, t)[0]) for g, z in zip(grays, logits)]
        report = evaluate_pairs(results, photos)
        log(f"  T={t:.2f}: PSNR {report['psnr']:.2f} (gray {report['psnr_gray']:.2f}), "
            f"colour ratio {report['colourfulness_ratio']:.2f}")  # fmt: skip
        if report["colourfulness_ratio"] >= min_ratio and (best is None or report["psnr"] > best[1]["psnr"]):
            best = (t, report)
        if fallback is None or report["colourfulness_ratio"] > fallback[1]["colourfulness_ratio"]:
            fallback = (t, report)
    return best or fallback  # type: ignore[return-value]
