"""Average the decoder weights of trained runs of one model (a "model soup") and export the result.

    $ python -m tools.training.soup work/w2/default.onnx work/w3/default.onnx --out work/v2/default.onnx \\
          --data work/data/train.npz --hint-spread '{"reach": 0.8, "lightness": 10, "half": 0.2, "colour": 12}'

Runs continued from the same model for the same time land close together, and one run's figures
move by tenths with its seed (see the model card); their average keeps what they share.  The
networks are rebuilt from the ONNX files (BatchNorm folded, so averaging is per weight), averaged
with equal weights, exported with the cv2.dnn check, the temperature chosen on the held-out crops
as ``hint_job`` does, and the given ``hint_spread`` written into the sidecar.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from stream_colorize.train.export import choose_temperature, export_model, kept_from_start, set_sidecar
from stream_colorize.train.lite_model import LiteArch, LiteColorNet
from stream_colorize.train.loop import split_validation
from tools.training.dataset import load_npz
from tools.training.hint_job import DESCRIPTION


def average(models: list[Path]) -> tuple[LiteColorNet, dict]:
    """The equal-weight average of ``models`` (same architecture) and the first one's sidecar."""
    first = json.loads(models[0].with_suffix(".json").read_text())
    arch = LiteArch.from_dict(first["arch"])
    nets = [LiteColorNet.from_onnx(m, arch) for m in models]
    states = [n.state_dict() for n in nets]
    mean = {k: (sum(s[k].double() for s in states) / len(states)).to(v.dtype) if v.is_floating_point() else v
            for k, v in states[0].items()}  # fmt: skip
    nets[0].load_state_dict(mean)
    return nets[0], first


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, average, export; returns the exit status."""
    p = argparse.ArgumentParser(prog="python3 -m tools.training.soup")
    p.add_argument("models", type=Path, nargs="+", help="two or more .onnx runs of one model, each with its sidecar")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="the training .npz whose held-out crops choose T")
    p.add_argument("--hint-spread", type=json.loads, default=None, help="hint_spread JSON (default: the first run's)")
    args = p.parse_args(argv)
    if len(args.models) < 2:
        p.error("give two or more models")
    torch.set_num_threads(1)
    net, first = average(args.models)
    training = {**first.get("training", {}), "soup": [str(m) for m in args.models]}
    export_model(net, args.out, temperature=float(first.get("temperature", 1.0)), meta={"training": training})
    _, val = split_validation(load_npz(args.data))
    temperature, report = choose_temperature(args.out, val, min_ratio=0.7)
    extra = {"hint_spread": args.hint_spread} if args.hint_spread else kept_from_start(first, net)
    set_sidecar(args.out, temperature=temperature, metrics_validation=report, description=DESCRIPTION, **extra)
    print(f"averaged {len(args.models)} models into {args.out} (temperature {temperature})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
