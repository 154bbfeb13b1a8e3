"""Simulated colour hints for training, drawn from the truth (Zhang et al. 2017's recipe, extended).

    >>> hints = simulate_hints(ab, HintPlan(), gen)     # ab (N, 2, h, w) truth -> (N, 3, h, w) a, b, mask

Per sample, one of three kinds:

- **none** (``HintPlan.none``): all zeros, so the network keeps colouring on its own;
- **points**: a geometric number of points (mean ``points_mean``), each the mean truth ab of a
  small square patch (1-3 cells) placed at a uniformly random spot, as a user's clicks;
- **dense**: a few smooth random regions covering 20-80 % of the picture, carrying the truth
  with noise and small holes, as a reference photo propagated along the motion gives.

Everything is in the grid of the decoder's output (1/4 of the input), the hint input's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass
class HintPlan:
    """How often each kind of hint appears and how it looks."""

    none: float = 0.3  # share of samples with no hints at all
    dense: float = 0.2  # share with dense regions (the rest get points)
    points_mean: float = 12.0  # mean of the geometric number of points (at least 1)
    max_patch: int = 3  # a point's patch side in cells, 1..max_patch
    dense_noise: float = 4.0  # ab noise (Lab units) on dense hints
    hole_rate: float = 0.1  # cells dropped from dense regions


def _points(ab: torch.Tensor, plan: HintPlan, gen: torch.Generator) -> torch.Tensor:
    _, h, w = ab.shape
    out = torch.zeros(3, h, w)
    p = 1.0 / max(1.0, plan.points_mean)
    count = 1 + int(torch.log(torch.rand(1, generator=gen)).item() / torch.log(torch.tensor(1.0 - p)).item())
    count = min(count, h * w // 2)
    for _ in range(count):
        side = int(torch.randint(1, plan.max_patch + 1, (1,), generator=gen))
        y = int(torch.randint(0, h - side + 1, (1,), generator=gen))
        x = int(torch.randint(0, w - side + 1, (1,), generator=gen))
        mean = ab[:, y : y + side, x : x + side].mean((1, 2))
        out[0:2, y : y + side, x : x + side] = mean[:, None, None]
        out[2, y : y + side, x : x + side] = 1.0
    return out


def _dense(ab: torch.Tensor, plan: HintPlan, gen: torch.Generator) -> torch.Tensor:
    _, h, w = ab.shape
    coarse = torch.rand(1, 1, max(2, h // 8), max(2, w // 8), generator=gen)
    field = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)[0, 0]
    cover = 0.2 + 0.6 * float(torch.rand(1, generator=gen))
    mask = (field <= torch.quantile(field.flatten(), cover)).float()
    mask *= (torch.rand(h, w, generator=gen) >= plan.hole_rate).float()
    noisy = ab + plan.dense_noise * torch.randn(ab.shape, generator=gen)
    return torch.cat([noisy * mask, mask[None]], 0)


def simulate_hints(ab: torch.Tensor, plan: HintPlan, gen: torch.Generator) -> torch.Tensor:
    """(N, 3, h, w) hint planes drawn from truth ``ab`` (N, 2, h, w): a, b where hinted, 0 elsewhere, mask."""
    out = torch.zeros(ab.shape[0], 3, *ab.shape[2:])
    for i in range(ab.shape[0]):
        draw = float(torch.rand(1, generator=gen))
        if draw < plan.none:
            continue
        out[i] = _dense(ab[i], plan, gen) if draw < plan.none + plan.dense else _points(ab[i], plan, gen)
    return out
