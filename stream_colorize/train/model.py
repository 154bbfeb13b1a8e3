"""The compact colorization network (torch): an encoder-decoder, L in, 313 ab-bin logits out.

    >>> net = ColorNet(ArchConfig())                  # ~1.9 M parameters, 1.4 GMAC at 224x224
    >>> logits = net(l_minus_50)                       # (N, 1, 224, 224) -> (N, 313, 56, 56)
    >>> net = ColorNet.from_onnx("models/default.onnx", ArchConfig())   # for fine-tuning

Output at a quarter of the input resolution, like Zhang et al.'s: colour varies slowly, and the
merge step brings back full-resolution detail from the frame's own L.  ``norm=False`` builds the
deploy form (BatchNorm folded into the convolutions), which is what an exported ONNX holds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..bins import NUM_BINS


@dataclass
class ArchConfig:
    """Widths of the network; stored in the model's sidecar so it can be rebuilt for fine-tuning."""

    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 192])
    decoder: list[int] = field(default_factory=lambda: [128, 64])
    outputs: int = NUM_BINS
    # Add a whole-image summary (global mean of the deepest features, two 1x1 convolutions) to every
    # position, so that the colour of a region can depend on what the whole picture looks like.
    global_context: bool = False

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ArchConfig:
        """Inverse of to_dict (unknown keys ignored)."""
        return cls(**{k: v for k, v in data.items() if k in ("widths", "decoder", "outputs", "global_context")})


def _block(cin: int, cout: int, norm: bool, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    conv = nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=not norm)
    layers: list[nn.Module] = [conv]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ColorNet(nn.Module):
    """U-Net-like encoder (4 stride-2 stages) and decoder (back to 1/4 resolution)."""

    def __init__(self, arch: ArchConfig | None = None, norm: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.arch = arch or ArchConfig()
        w = self.arch.widths
        d = self.arch.decoder
        self.enc1 = nn.Sequential(_block(1, w[0], norm, 2), _block(w[0], w[0], norm))
        self.enc2 = nn.Sequential(_block(w[0], w[1], norm, 2), _block(w[1], w[1], norm))
        self.enc3 = nn.Sequential(_block(w[1], w[2], norm, 2), _block(w[2], w[2], norm))
        self.enc4 = nn.Sequential(
            _block(w[2], w[3], norm, 2), _block(w[3], w[3], norm, dilation=2), _block(w[3], w[3], norm, dilation=4)
        )
        # Registered here so that module order matches graph order (``convs`` / ``from_onnx`` rely on it).
        self.context = (
            nn.Sequential(nn.Conv2d(w[3], w[3], 1), nn.ReLU(inplace=True), nn.Conv2d(w[3], w[3], 1))
            if self.arch.global_context
            else None
        )
        self.dec3 = nn.Sequential(_block(w[3] + w[2], d[0], norm), _block(d[0], d[0], norm))
        self.dec2 = nn.Sequential(_block(d[0] + w[1], d[1], norm), _block(d[1], d[1], norm))
        self.drop = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Conv2d(d[1], self.arch.outputs, 1)

    def forward(self, l_centered: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) L - 50 -> (N, outputs, H/4, W/4) logits."""
        x = l_centered * 0.02
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        if self.context is not None:
            # expand_as: OpenCV 5 fuses the add into the convolution only for same-shape operands.
            e4 = F.relu(e4 + self.context(e4.mean((2, 3), keepdim=True)).expand_as(e4))
        up3 = F.interpolate(e4, scale_factor=2.0, mode="bilinear", align_corners=False)
        d3 = self.dec3(torch.cat([up3, e3], 1))
        up2 = F.interpolate(d3, scale_factor=2.0, mode="bilinear", align_corners=False)
        d2 = self.dec2(torch.cat([up2, e2], 1))
        return self.head(self.drop(d2))

    def convs(self) -> list[nn.Conv2d]:
        """Convolutions in graph order (the order an ONNX export lists them)."""
        return [m for m in self.modules() if isinstance(m, nn.Conv2d)]

    def folded(self) -> ColorNet:
        """A deploy copy with every BatchNorm folded into the convolution before it."""
        out = ColorNet(self.arch, norm=False)
        src = [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
        pairs = []
        for i, m in enumerate(src):
            if isinstance(m, nn.Conv2d):
                after = src[i + 1] if i + 1 < len(src) else None
                pairs.append((m, after if isinstance(after, nn.BatchNorm2d) else None))
        with torch.no_grad():
            for (conv, bn), dst in zip(pairs, out.convs()):
                weight = conv.weight.detach().float()
                bias = conv.bias.detach().float() if conv.bias is not None else torch.zeros(weight.shape[0])
                if bn is not None:
                    weight, bias = fold_batchnorm(weight, bias, bn)
                dst.weight.copy_(weight)
                conv_bias(dst).copy_(bias)
        return out.eval()

    @classmethod
    def from_onnx(cls, path: str | Path, arch: ArchConfig) -> ColorNet:
        """Rebuild the deploy network from an exported ONNX file (Conv weights in node order)."""
        net = cls(arch, norm=False)
        copy_onnx_convs(path, net.convs())
        return net


def conv_bias(conv: nn.Conv2d) -> torch.Tensor:
    """The bias of a convolution built with one."""
    assert conv.bias is not None  # every convolution here has a bias
    return conv.bias


def fold_batchnorm(weight: torch.Tensor, bias: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A convolution's weight and bias with the BatchNorm that follows it folded in (its running statistics)."""
    assert bn.running_mean is not None and bn.running_var is not None  # tracked: the default
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return weight * scale.view(-1, 1, 1, 1), (bias - bn.running_mean) * scale + bn.bias


def copy_onnx_convs(path: str | Path, targets: list[nn.Conv2d]) -> None:
    """Load an exported ONNX file's Conv weights, in node order, into ``targets``; ValueError when they do not fit."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:  # the exporter shares equal tensors (e.g. all-zero biases) through Identity
        if node.op_type == "Identity" and node.input[0] in inits:
            inits[node.output[0]] = inits[node.input[0]]
    nodes = [n for n in graph.node if n.op_type == "Conv"]
    if len(nodes) != len(targets):
        raise ValueError(f"{path}: {len(nodes)} convolutions, expected {len(targets)} for this architecture")
    with torch.no_grad():
        for node, conv in zip(nodes, targets):
            weight = torch.from_numpy(inits[node.input[1]].copy())
            if weight.shape != conv.weight.shape:
                raise ValueError(f"{path}: weight shape {tuple(weight.shape)} != {tuple(conv.weight.shape)}")
            conv.weight.copy_(weight)
            if len(node.input) > 2 and node.input[2]:
                conv_bias(conv).copy_(torch.from_numpy(inits[node.input[2]].copy()))
            elif conv.bias is not None:
                conv.bias.zero_()
