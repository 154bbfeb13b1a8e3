"""Zhang et al.'s colorization network (``colorization_deploy_v2.prototxt``) as data.

    >>> [layer.name for layer in ZHANG_LAYERS][:3]
    ['conv1_1', 'conv1_2', 'conv1_2norm']

One table drives every writer (stand-in ONNX, stand-in Caffe) and the Caffe->ONNX converter, so
layer names, channel counts, strides and dilations cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Layer:
    """One layer: conv (+ReLU), deconv (+ReLU), batch norm without affine, or the 1x1 head."""

    name: str
    kind: Literal["conv", "deconv", "bn", "head"]
    channels: int = 0
    kernel: int = 3
    stride: int = 1
    pad: int = 1
    dilation: int = 1


def _block(stage: int, n: int, channels: int, last_stride: int = 1, dilation: int = 1) -> list[Layer]:
    layers = [
        Layer(
            f"conv{stage}_{i}",
            "conv",
            channels,
            stride=last_stride if i == n else 1,
            pad=dilation,
            dilation=dilation,
        )
        for i in range(1, n + 1)
    ]
    return [*layers, Layer(f"conv{stage}_{n}norm", "bn", channels)]


ZHANG_LAYERS: tuple[Layer, ...] = (
    *_block(1, 2, 64, last_stride=2),
    *_block(2, 2, 128, last_stride=2),
    *_block(3, 3, 256, last_stride=2),
    *_block(4, 3, 512),
    *_block(5, 3, 512, dilation=2),
    *_block(6, 3, 512, dilation=2),
    *_block(7, 3, 512),
    Layer("conv8_1", "deconv", 256, kernel=4, stride=2, pad=1),
    Layer("conv8_2", "conv", 256),
    Layer("conv8_3", "conv", 256),
    Layer("conv8_313", "head", 313, kernel=1, pad=0),
)
INPUT_NAME = "data_l"
LOGITS_NAME = "conv8_313"
