"""The training loop: whole dataset on the device, augmentation on the device, a time or step budget.

    >>> cfg = TrainConfig(minutes=1, device="cpu", crop=128)
    >>> net = train(images, cfg)                     # images: list of BGR uint8 photos
    >>> net = train(images, cfg, init=ColorNet.from_onnx("models/default.onnx", arch))  # fine-tune

Each step draws a batch of random crops (scale, position, mirror) with a small hue rotation of
ab, all with ``grid_sample`` on the device, so no DataLoader or worker processes are needed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from ..bins import load_bins
from ..io.outputs import atomic_output
from .hint_sim import HintPlan, simulate_hints
from .losses import bgr_to_lab, color_loss, rebalance_weights
from .model import ArchConfig, ColorNet

Progress = Callable[[int, float, float], None]  # (step, fraction done, loss)


@dataclass
class TrainConfig:
    """Knobs of one training run; a run stops at whichever of ``steps`` / ``minutes`` comes first."""

    steps: int | None = None
    minutes: float | None = None
    batch: int = 16
    crop: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    reg_weight: float = 3.0
    rebalance_lambda: float = 0.5
    log_weight: float = 0.0
    min_scale: float = 0.45
    hue_degrees: float = 8.0
    haze: float = 0.0
    dropout: float = 0.1
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    amp: bool = True
    checkpoint: Path | None = None
    checkpoint_seconds: float = 60.0
    validate_seconds: float = 30.0

    def to_dict(self) -> dict:
        """JSON-friendly copy."""
        out = asdict(self)
        out["checkpoint"] = str(self.checkpoint) if self.checkpoint else None
        return out


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; anything else as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def stack_squares(images: list[np.ndarray], side: int) -> torch.Tensor:
    """Centre-crop each image to a square, resize to ``side``: (N, 3, side, side) uint8 tensor."""
    out = np.empty((len(images), side, side, 3), np.uint8)
    for i, img in enumerate(images):
        h, w = img.shape[:2]
        s = min(h, w)
        y, x = (h - s) // 2, (w - s) // 2
        out[i] = cv2.resize(img[y : y + s, x : x + s], (side, side), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def random_views(data: torch.Tensor, idx: torch.Tensor, crop: int, min_scale: float, gen: torch.Generator):
    """Random scaled, shifted, mirrored crops of data[idx] as float 0..1 BGR, (B, 3, crop, crop)."""
    b = idx.shape[0]
    dev = data.device
    scale = min_scale + (1 - min_scale) * torch.rand(b, generator=gen, device=dev)
    flip = torch.where(torch.rand(b, generator=gen, device=dev) < 0.5, -1.0, 1.0)
    tx = (1 - scale) * (2 * torch.rand(b, generator=gen, device=dev) - 1)
    ty = (1 - scale) * (2 * torch.rand(b, generator=gen, device=dev) - 1)
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0] = scale * flip
    theta[:, 0, 2] = tx
    theta[:, 1, 1] = scale
    theta[:, 1, 2] = ty
    src = data[idx].float() / 255.0
    grid = F.affine_grid(theta, [b, 3, crop, crop], align_corners=False)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def add_haze(bgr: torch.Tensor, share: float, gen: torch.Generator) -> torch.Tensor:
    """Veil a random ``share`` of the crops in gray light: x * t + airlight * (1 - t).

    Haze, fog, flare and faded prints lower contrast and saturation together; seeing that, the
    network can learn to keep washed-out scenes pale instead of painting them at full strength.
    """
    b = bgr.shape[0]
    dev = bgr.device
    hit = torch.rand(b, generator=gen, device=dev) < share
    t = torch.where(hit, 0.35 + 0.6 * torch.rand(b, generator=gen, device=dev), torch.ones(b, device=dev))
    airlight = 0.5 + 0.45 * torch.rand(b, generator=gen, device=dev)
    return bgr * t.view(-1, 1, 1, 1) + (airlight * (1 - t)).view(-1, 1, 1, 1)


def make_batch(data, idx, cfg: TrainConfig, gen) -> tuple[torch.Tensor, torch.Tensor]:
    """Network input (L - 50 at crop size) and target ab (at crop / 4) for a batch of indices."""
    views = random_views(data, idx, cfg.crop, cfg.min_scale, gen)
    if cfg.haze > 0:
        views = add_haze(views, cfg.haze, gen)
    lab = bgr_to_lab(views)
    ab = F.avg_pool2d(lab[:, 1:], 4)
    if cfg.hue_degrees > 0:
        angle = (2 * torch.rand(idx.shape[0], generator=gen, device=data.device) - 1) * math.radians(cfg.hue_degrees)
        c, s = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
        ab = torch.stack([c * ab[:, 0] - s * ab[:, 1], s * ab[:, 0] + c * ab[:, 1]], 1)
    return lab[:, :1] - 50.0, ab


def _lr_factor(progress: float, warmup: float = 0.03) -> float:
    if progress < warmup:
        return progress / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup)))) * 0.97 + 0.03


def save_checkpoint(path: Path, net: ColorNet, step: int, cfg: TrainConfig) -> None:
    """Atomically save weights, architecture and config."""
    with atomic_output(path) as tmp:
        torch.save({"state": net.state_dict(), "arch": net.arch.to_dict(), "step": step, "cfg": cfg.to_dict()}, tmp)


def train(
    images: list[np.ndarray],
    cfg: TrainConfig,
    init: ColorNet | None = None,
    arch: ArchConfig | None = None,
    progress: Progress | None = None,
    log: Callable[[str], None] = print,
    val_images: list[np.ndarray] | None = None,
) -> ColorNet:
    """Train (or fine-tune ``init``) on BGR uint8 photos; return the network in eval mode.

    With ``val_images``, the loss on their centre crops is measured every ``validate_seconds``
    and the weights with the lowest validation loss are returned (a guard against overfitting).
    Ctrl-C after the first step ends training early and still returns what was learned; the
    returned network's ``stopped_at`` is then the step count, else None.
    """
    if cfg.steps is None and cfg.minutes is None:
        raise ValueError("give steps or minutes")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    dev = resolve_device(cfg.device)
    side = max(cfg.crop + 8, round(cfg.crop / cfg.min_scale * 0.75))
    data = stack_squares(images, side).to(dev)
    centres = torch.from_numpy(load_bins()).to(dev)
    gen = torch.Generator(device=dev)
    gen.manual_seed(cfg.seed)
    net = init if init is not None else ColorNet(arch, dropout=cfg.dropout)
    net = net.to(dev).train()
    takes_hints = bool(getattr(getattr(net, "arch", None), "hints", 0))
    hint_gen = torch.Generator().manual_seed(cfg.seed + 2)
    if dev.type == "cuda":
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stub lacks it
        torch.backends.cudnn.benchmark = True
    with torch.no_grad():
        sample_idx = torch.randint(0, data.shape[0], (min(256, 4 * data.shape[0]),), generator=gen, device=dev)
        _, sample_ab = make_batch(data, sample_idx, cfg, gen)
        weights = rebalance_weights(sample_ab, centres, cfg.rebalance_lambda) if cfg.rebalance_lambda < 1 else None
    val = None
    if val_images:
        val_lab = bgr_to_lab(stack_squares(val_images, cfg.crop).to(dev))
        val = (val_lab[:, :1] - 50.0, F.avg_pool2d(val_lab[:, 1:], 4))
    best_val = float("inf")
    best_state: dict | None = None
    last_val = time.monotonic()

    def validate() -> None:
        nonlocal best_val, best_state
        assert val is not None  # only called with a validation set
        net.eval()
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
            losses = [
                float(
                    color_loss(
                        net(val[0][i : i + 32]).float(),
                        val[1][i : i + 32],
                        centres,
                        weights,
                        cfg.reg_weight,
                        cfg.log_weight,
                    )
                )
                * val[0][i : i + 32].shape[0]
                for i in range(0, val[0].shape[0], 32)
            ]
        net.train()
        value = sum(losses) / val[0].shape[0]
        mark = ""
        if value < best_val:
            best_val, mark = value, " (best)"
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        log(f"  step {step}: validation loss {value:.3f}{mark}")

    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    use_amp = cfg.amp and dev.type == "cuda"
    start = time.monotonic()
    last_ckpt = start
    step = 0
    ema_loss = float("nan")
    stopped_at: int | None = None
    while True:
        elapsed = time.monotonic() - start
        frac_steps = step / cfg.steps if cfg.steps else 0.0
        frac_time = elapsed / (cfg.minutes * 60) if cfg.minutes else 0.0
        done = max(frac_steps, frac_time)
        if done >= 1.0:
            break
        try:
            for group in opt.param_groups:
                group["lr"] = cfg.lr * _lr_factor(done)
            idx = torch.randint(0, data.shape[0], (cfg.batch,), generator=gen, device=dev)
            with torch.no_grad():
                l_in, ab = make_batch(data, idx, cfg, gen)
                # a model with a hint input learns to follow hints and to do without (train.hint_sim)
                hints = simulate_hints(ab.cpu(), HintPlan(), hint_gen).to(dev) if takes_hints else None
            if dev.type == "cuda":
                l_in = l_in.contiguous(memory_format=torch.channels_last)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = net(l_in) if hints is None else net(l_in, hints)
            loss = color_loss(logits.float(), ab, centres, weights, cfg.reg_weight, cfg.log_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            step += 1
            value = float(loss.detach()) if step % 10 == 1 or dev.type == "cpu" else ema_loss
            ema_loss = value if math.isnan(ema_loss) else 0.95 * ema_loss + 0.05 * value
            if progress is not None:
                progress(step, min(1.0, done), ema_loss)
            if val is not None and time.monotonic() - last_val > cfg.validate_seconds:
                validate()
                last_val = time.monotonic()
            if cfg.checkpoint and time.monotonic() - last_ckpt > cfg.checkpoint_seconds:
                save_checkpoint(cfg.checkpoint, net, step, cfg)
                last_ckpt = time.monotonic()
        except KeyboardInterrupt:
            if step == 0:
                raise
            stopped_at = step
            log(f"stopped by Ctrl-C at step {step}: keeping what was learned")
            break
    if val is not None:
        validate()
        if best_state is not None:
            net.load_state_dict(best_state)
            log(f"keeping the weights with the lowest validation loss ({best_val:.3f})")
    if cfg.checkpoint:
        save_checkpoint(cfg.checkpoint, net, step, cfg)
    rate = step * cfg.batch / max(1e-6, time.monotonic() - start)
    log(f"trained {step} steps ({rate:.0f} crops/s, {time.monotonic() - start:.0f} s), loss {ema_loss:.3f}")
    net = net.eval().cpu().float().to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    net.stopped_at = stopped_at
    return net


def split_validation(images: list[np.ndarray], share: float = 0.08, seed: int = 0):
    """Hold out a share of the training crops to choose the temperature on."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    n_val = max(1, int(len(images) * share))
    return [images[i] for i in order[n_val:]], [images[i] for i in order[:n_val]]
