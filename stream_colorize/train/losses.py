"""Colour maths in torch for training: BGR -> Lab, soft-encoding onto the 313 bins, rebalancing.

    >>> lab = bgr_to_lab(batch_u8)                     # (N, 3, H, W) uint8 BGR -> float Lab
    >>> target = soft_encode(ab, centres)              # (N, 313, h, w) soft labels
    >>> w = rebalance_weights(ab_samples, centres)     # (313,) class weights, mean 1 under the data
    >>> loss = colour_loss(logits, ab, centres, w)

The Lab conversion follows OpenCV's for float input (sRGB companding, D65), so the network
trains on exactly what ``stream_colorize.lab`` feeds it at inference.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

_RGB_TO_XYZ = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])


def bgr_to_lab(bgr: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) BGR (uint8, or float in 0..1) -> float Lab (L 0..100, a/b about -110..110)."""
    x = bgr.float() / 255.0 if bgr.dtype == torch.uint8 else bgr.float()
    rgb = x.flip(1)
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = torch.einsum("ij,njhw->nihw", _RGB_TO_XYZ.to(x.device), lin) / _WHITE.to(x.device).view(1, 3, 1, 1)
    t = 0.008856
    f = torch.where(xyz > t, xyz.clamp_min(1e-12) ** (1 / 3), 7.787 * xyz + 16.0 / 116.0)
    big_l = torch.where(xyz[:, 1:2] > t, 116.0 * f[:, 1:2] - 16.0, 903.3 * xyz[:, 1:2])
    a = 500.0 * (f[:, 0:1] - f[:, 1:2])
    b = 200.0 * (f[:, 1:2] - f[:, 2:3])
    return torch.cat([big_l, a, b], 1)


def soft_encode(ab: torch.Tensor, centres: torch.Tensor, k: int = 5, sigma: float = 5.0) -> torch.Tensor:
    """(N, 2, h, w) ab -> (N, Q, h, w): Gaussian weights on the k nearest bins (Zhang et al.)."""
    n, _, h, w = ab.shape
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    d2 = torch.cdist(flat, centres) ** 2
    near_d2, near_idx = d2.topk(k, dim=1, largest=False)
    weights = torch.softmax(-near_d2 / (2 * sigma * sigma), dim=1)
    target = torch.zeros(flat.shape[0], centres.shape[0], device=ab.device, dtype=ab.dtype)
    target.scatter_(1, near_idx, weights)
    return target.view(n, h, w, -1).permute(0, 3, 1, 2)


def rebalance_weights(ab: torch.Tensor, centres: torch.Tensor, lam: float = 0.5, sigma: float = 5.0) -> torch.Tensor:
    """Class weights from the empirical bin distribution of ``ab`` samples (N, 2, ...).

    w ~ 1 / ((1 - lam) * p_smoothed + lam / Q), normalised so that sum(p * w) = 1.
    """
    flat = ab.transpose(0, 1).reshape(2, -1).t()
    nearest = torch.cdist(flat, centres).argmin(1)
    p = torch.bincount(nearest, minlength=centres.shape[0]).float()
    p = p / p.sum()
    d2 = torch.cdist(centres, centres) ** 2
    kernel = torch.exp(-d2 / (2 * sigma * sigma))
    p_smooth = kernel @ p
    p_smooth = p_smooth / p_smooth.sum()
    w = 1.0 / ((1 - lam) * p_smooth + lam / centres.shape[0])
    return w / (p_smooth * w).sum()


NEUTRAL_CHROMA = 6.0  # Lab chroma below which a truth colour counts as gray (the false-colour metric's)
VIVID_CHROMA = 20.0  # Lab chroma above which a truth colour counts as vivid


def expected_ab(logits: torch.Tensor, centres: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Annealed mean of the bin distribution: (N, Q, h, w) -> (N, 2, h, w)."""
    prob = torch.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("nqhw,qc->nchw", prob, centres)


def color_loss(
    logits: torch.Tensor,
    ab: torch.Tensor,
    centres: torch.Tensor,
    class_weights: torch.Tensor | None,
    reg_weight: float = 0.0,
    log_weight: float = 0.0,
    log_temperature: float = 0.45,
    neutral_weight: float = 0.0,
    vivid_weight: float = 0.0,
    vivid_chroma: float = VIVID_CHROMA,
) -> torch.Tensor:
    """Rebalanced soft cross-entropy over the bins, plus ``reg_weight`` x Huber on the mean ab (/ 10),
    plus ``log_weight`` x the mean over crops of log(squared ab error of the decoded colour + 4).

    The log term is per-crop PSNR in disguise: its gradient is scaled by 1 / error, so a crop whose
    truth is nearly gray, where a bold guess costs many dB, weighs as much as a colourful one.  It
    acts on the annealed mean at ``log_temperature``, the colour a viewer will see.

    ``neutral_weight`` x the chroma that colour has beyond ``NEUTRAL_CHROMA`` where the truth is
    near-neutral (mean over those cells, / 10): the false colour (gray pavement painted beige)
    that the cross-entropy alone, happy with a plausible warm guess, lets through.

    ``vivid_weight`` x the chroma that colour falls short of the truth's where the truth is vivid
    (beyond ``vivid_chroma``; mean over those cells, / 10): its mirror, against the dull mean of a
    distribution spread over several hues.
    """
    target = soft_encode(ab, centres)
    logp = F.log_softmax(logits.float(), dim=1)
    ce = -(target * logp).sum(1)
    if class_weights is not None:
        nearest = target.argmax(1)
        ce = ce * class_weights[nearest]
    loss = ce.mean()
    if reg_weight > 0:
        mean_ab = expected_ab(logits, centres)
        loss = loss + reg_weight * F.smooth_l1_loss(mean_ab / 10.0, ab / 10.0)
    if log_weight <= 0 and neutral_weight <= 0 and vivid_weight <= 0:
        return loss
    shown = expected_ab(logits, centres, log_temperature)  # the colour a viewer will see
    if log_weight > 0:
        per_crop = ((shown - ab) ** 2).sum(1).mean((1, 2))
        loss = loss + log_weight * torch.log(per_crop + 4.0).mean()
    shown_chroma = torch.sqrt((shown**2).sum(1) + 1e-6)
    if neutral_weight > 0:
        neutral = ((ab**2).sum(1) < NEUTRAL_CHROMA**2).float()
        excess = F.relu(shown_chroma - NEUTRAL_CHROMA)
        loss = loss + neutral_weight * (excess * neutral).sum() / neutral.sum().clamp(min=1.0) / 10.0
    if vivid_weight > 0:
        truth_chroma = torch.sqrt((ab**2).sum(1) + 1e-6)
        vivid = (truth_chroma > vivid_chroma).float()
        short = F.relu(truth_chroma - shown_chroma)
        loss = loss + vivid_weight * (short * vivid).sum() / vivid.sum().clamp(min=1.0) / 10.0
    return loss
