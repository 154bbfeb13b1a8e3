"""Training the Lite0 colorizer's decoder on cached encoder features (cheap on a CPU).

    >>> net = LiteColorNet.pretrained()
    >>> cache = cache_views(net.encoder, photos, DecoderConfig(views=12))   # encoder runs once per view
    >>> train_decoder(net, cache, DecoderConfig(minutes=20), val_photos=val)

With the encoder frozen its features depend only on the input, so each augmented view (random
scaled crop, mirror, optional haze) is passed through it once and kept in half precision; the
decoder then trains on the cached maps at a fraction of a full forward's cost.  Hue jitter acts
on the target ab only, so it needs no new features.  The checkpoint kept is the one with the
best PSNR gain on held-out photos among those keeping enough colour (the figure a viewer judges),
not the lowest loss.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from ..bins import annealed_mean, load_bins
from ..evaluate import evaluate_pairs, to_gray
from ..io.outputs import atomic_output
from ..lab import frame_ab, limit_to_gamut, merge_ab, network_input
from .backbone import LiteEncoder
from .hint_sim import HintPlan, simulate_hints
from .lite_model import LiteColorNet
from .loop import add_haze, stack_squares
from .losses import VIVID_CHROMA, bgr_to_lab, color_loss, rebalance_weights

INPUT_SIZE = 224


@dataclass
class DecoderConfig:
    """Knobs of one decoder training run."""

    views: int = 12
    minutes: float = 20.0
    steps: int | None = None
    batch: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    reg_weight: float = 1.0
    rebalance_lambda: float = 0.5
    min_scale: float = 0.5
    hue_degrees: float = 6.0
    haze: float = 0.1
    dropout: float = 0.1
    seed: int = 0
    window: int = 4  # training windows of window x window cells at 1/32 (4: 128 px), None-like 0 = whole view
    validate_seconds: float = 120.0
    val_temperature: float = 0.45
    min_color_ratio: float = 0.7
    neutral_weight: float = 0.0  # see losses.color_loss: chroma painted on near-gray truth
    vivid_weight: float = 0.0  # see losses.color_loss: chroma missing on vivid truth
    vivid_chroma: float = VIVID_CHROMA  # truth chroma from which the vivid term counts
    val_hint_points: int = 10  # a hint model is also checked with this many truth points per photo
    hint_lr_scale: float = 10.0  # the hint path's weights (new, started at zero) learn this much faster
    hint_plan: HintPlan = field(default_factory=HintPlan)

    def to_dict(self) -> dict:
        """JSON-friendly copy."""
        return asdict(self)


@dataclass
class FeatureCache:
    """Encoder taps (float16, one tensor per tap) and target ab at 1/4 (float16) for every cached view."""

    taps: list[torch.Tensor]
    ab: torch.Tensor

    def __len__(self) -> int:
        return self.ab.shape[0]

    def batch(
        self, idx: torch.Tensor, window: int = 0, gen: torch.Generator | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Float32 taps and ab of the views ``idx``; with ``window``, one random window of that many
        1/32 cells, cut at the same place from every scale (a crop that costs no new features)."""
        cells = self.taps[3].shape[-1]
        if not window or window >= cells:
            return [t[idx].float() for t in self.taps], self.ab[idx].float()
        y, x = (int(v) for v in torch.randint(0, cells - window + 1, (2,), generator=gen))

        def cut(t: torch.Tensor) -> torch.Tensor:
            k = t.shape[-1] // cells
            return t[idx, :, y * k : (y + window) * k, x * k : (x + window) * k].float()

        return [cut(t) for t in self.taps], cut(self.ab)

    def save(self, path: Path) -> None:
        """Keep the cache on disk (written atomically) for later runs on the same views."""
        with atomic_output(path) as tmp:
            torch.save({"taps": self.taps, "ab": self.ab}, tmp)

    @classmethod
    def load(cls, path: Path) -> FeatureCache:
        """A cache written by ``save``."""
        data = torch.load(path, weights_only=True)
        return cls(data["taps"], data["ab"])


def _views(data: torch.Tensor, idx: torch.Tensor, cfg: DecoderConfig, gen: torch.Generator) -> torch.Tensor:
    """Random scaled, shifted, mirrored INPUT_SIZE crops of data[idx] as float 0..1 BGR."""
    b = idx.shape[0]
    scale = cfg.min_scale + (1 - cfg.min_scale) * torch.rand(b, generator=gen)
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = scale * flip
    theta[:, 1, 1] = scale
    theta[:, 0, 2] = (1 - scale) * (2 * torch.rand(b, generator=gen) - 1)
    theta[:, 1, 2] = (1 - scale) * (2 * torch.rand(b, generator=gen) - 1)
    grid = F.affine_grid(theta, [b, 3, INPUT_SIZE, INPUT_SIZE], align_corners=False)
    src = data[idx].float() / 255.0
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


@torch.no_grad()
def cache_views(
    encoder: LiteEncoder, images: list[np.ndarray], cfg: DecoderConfig, log: Callable[[str], None] = print
) -> FeatureCache:
    """Run the frozen encoder once over ``cfg.views`` augmented views of every image."""
    gen = torch.Generator().manual_seed(cfg.seed)
    side = round(INPUT_SIZE / cfg.min_scale * 0.75)
    data = stack_squares(images, max(INPUT_SIZE + 8, side))
    encoder = encoder.eval()
    order = torch.arange(len(images)).repeat(cfg.views)
    taps: list[list[torch.Tensor]] = []
    abs_: list[torch.Tensor] = []
    start = time.monotonic()
    chunk = 32
    for k in range(0, order.shape[0], chunk):
        idx = order[k : k + chunk]
        views = _views(data, idx, cfg, gen)
        if cfg.haze > 0:
            views = add_haze(views, cfg.haze, gen)
        lab = bgr_to_lab(views)
        feats = encoder(lab[:, :1] - 50.0)
        taps.append([f.half() for f in feats])
        abs_.append(F.avg_pool2d(lab[:, 1:], 4).half())
        if k // chunk % 20 == 0:
            rate = (k + idx.shape[0]) / max(1e-6, time.monotonic() - start)
            log(f"  cached {k + idx.shape[0]}/{order.shape[0]} views ({rate:.0f}/s)")
    cache = FeatureCache([torch.cat(parts) for parts in zip(*taps)], torch.cat(abs_))
    size = sum(t.numel() * 2 for t in cache.taps) / 2**30
    log(f"cached {len(cache)} views in {time.monotonic() - start:.0f} s ({size:.1f} GiB)")
    return cache


def _hue_jitter(ab: torch.Tensor, degrees: float, gen: torch.Generator) -> torch.Tensor:
    angle = (2 * torch.rand(ab.shape[0], generator=gen) - 1) * math.radians(degrees)
    c, s = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    return torch.stack([c * ab[:, 0] - s * ab[:, 1], s * ab[:, 0] + c * ab[:, 1]], 1)


def truth_hint_planes(photo: np.ndarray, points: int, rng: np.random.Generator, side: int = 56) -> np.ndarray:
    """(1, 3, side, side) planes revealing the truth ab at ``points`` random cells of the model's grid."""
    ab = frame_ab(photo, side)
    planes = np.zeros((1, 3, side, side), np.float32)
    for _ in range(points):
        y, x = (int(v) for v in rng.integers(0, side, 2))
        planes[0, :2, y, x] = ab[:, y, x]
        planes[0, 2, y, x] = 1.0
    return planes


@torch.no_grad()
def photo_report(net: LiteColorNet, photos: list[np.ndarray], temperature: float, hint_points: int = 0) -> dict:
    """What the engine would show for each photo's gray version (annealed mean, gamut limit, merge), scored;
    with ``hint_points``, given that many truth points per photo (a fixed draw)."""
    net = net.eval()
    centres = load_bins()
    rng = np.random.default_rng(0)
    results = []
    for photo in photos:
        gray = to_gray(photo)
        blob = network_input([gray], INPUT_SIZE)
        hints = torch.from_numpy(truth_hint_planes(photo, hint_points, rng)) if hint_points else None
        ab = annealed_mean(net(torch.from_numpy(blob), hints).numpy(), centres, temperature)[0]
        h, w = ab.shape[1:]
        light = cv2.resize(blob[0, 0], (w, h), interpolation=cv2.INTER_AREA) + np.float32(50)
        results.append(merge_ab(gray, limit_to_gamut(ab, light)))
    return evaluate_pairs(results, photos)


def train_decoder(
    net: LiteColorNet,
    cache: FeatureCache,
    cfg: DecoderConfig,
    val_photos: list[np.ndarray] | None = None,
    log: Callable[[str], None] = print,
) -> LiteColorNet:
    """Train ``net.decoder`` on cached views; return ``net`` holding the best validated decoder.

    Ctrl-C after the first step stops early and keeps what was learned.
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    centres = torch.from_numpy(load_bins())
    sample = cache.ab[torch.randint(0, len(cache), (min(512, len(cache)),), generator=gen)].float()
    weights = rebalance_weights(sample, centres, cfg.rebalance_lambda) if cfg.rebalance_lambda < 1 else None
    decoder = net.decoder.train()
    named = list(decoder.named_parameters())
    groups = [
        {"params": [p for n, p in named if "hint" not in n], "scale": 1.0},
        {"params": [p for n, p in named if "hint" in n], "scale": cfg.hint_lr_scale},
    ]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr, weight_decay=cfg.weight_decay)
    best: tuple[tuple[int, float], dict] | None = None
    start = last_val = time.monotonic()
    step = 0
    ema = float("nan")

    def validate() -> None:
        nonlocal best
        if not val_photos:
            return
        report = photo_report(net, val_photos, cfg.val_temperature)
        guided = 0.0
        if net.arch.hints and cfg.val_hint_points:
            guided = photo_report(net, val_photos, cfg.val_temperature, cfg.val_hint_points)["psnr"] - report["psnr"]
        decoder.train()
        ok = report["colourfulness_ratio"] >= cfg.min_color_ratio
        # a hint model must both colour on its own and follow hints: a third of the guided gain counts
        score = report["psnr_gain"] + guided / 3
        key = (int(ok), score if ok else report["colourfulness_ratio"])
        mark = ""
        if best is None or key > best[0]:
            best = (key, copy.deepcopy(decoder.state_dict()))
            mark = " (best)"
        log(f"  step {step}: held-out PSNR gain {report['psnr_gain']:+.2f} dB, "
            f"colour ratio {report['colourfulness_ratio']:.2f}, "
            f"{cfg.val_hint_points} hints {guided:+.2f} dB{mark}")  # fmt: skip

    while True:
        done = max(
            step / cfg.steps if cfg.steps else 0.0,
            (time.monotonic() - start) / (cfg.minutes * 60) if cfg.minutes else 0.0,
        )
        if done >= 1.0:
            break
        try:
            lr = cfg.lr * (min(1.0, done / 0.03) if done < 0.03 else 0.5 * (1 + math.cos(math.pi * done)))
            for group in opt.param_groups:
                group["lr"] = lr * group["scale"]
            idx = torch.randint(0, len(cache), (cfg.batch,), generator=gen)
            taps, ab = cache.batch(idx, cfg.window, gen)
            if cfg.hue_degrees > 0:
                ab = _hue_jitter(ab, cfg.hue_degrees, gen)
            hints = simulate_hints(ab, cfg.hint_plan, gen) if net.arch.hints else None
            loss = color_loss(decoder(taps, hints), ab, centres, weights, cfg.reg_weight,
                              log_temperature=cfg.val_temperature, neutral_weight=cfg.neutral_weight,
                              vivid_weight=cfg.vivid_weight, vivid_chroma=cfg.vivid_chroma)  # fmt: skip
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(decoder.parameters(), 5.0)
            opt.step()
            step += 1
            value = float(loss.detach())
            ema = value if math.isnan(ema) else 0.97 * ema + 0.03 * value
            if step % 25 == 0:
                rate = step * cfg.batch / (time.monotonic() - start)
                log(f"  step {step} {done * 100:5.1f}% loss {ema:.3f} ({rate:.1f} views/s)")
            if time.monotonic() - last_val > cfg.validate_seconds:
                validate()
                last_val = time.monotonic()
        except KeyboardInterrupt:
            if step == 0:
                raise
            log(f"stopped by Ctrl-C at step {step}: keeping what was learned")
            break
    validate()
    if best is not None:
        decoder.load_state_dict(best[1])
    log(f"trained {step} steps in {time.monotonic() - start:.0f} s")
    return net.eval()
