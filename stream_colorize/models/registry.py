"""Named models: what each name is, where its files come from, and the cache folder.

    >>> get_entry("zhang2016").files             # RemoteFile: name, size, SHA-256, mirrors
    >>> cache_dir()                              # $STREAM_COLORIZE_HOME or ~/.cache/stream_colorize
    >>> standin_path("standin-tiny")             # generated on first use

``resolve.resolve_model`` turns a name or a path into a ModelSpec.

Names: ``default`` and ``compact`` (bundled), ``standin``, ``standin-tiny`` and ``standin-hints`` (generated on
first use into the cache: Zhang's architecture / a tiny one / the tiny one with a colour-hint input, random
weights, meaningless colours; need ``onnx``),
``zhang2016`` and ``zhang2016-norebal`` (downloaded with ``stream-colorize models fetch NAME``
into ``cache_dir()/NAME/``; see :mod:`stream_colorize.models.store`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import ModelError

_PACKAGE = Path(__file__).resolve().parent.parent
# Installed: the repo's models/ folder becomes the package stream_colorize._bundled.
# Run from a checkout (or an editable install): it is models/ beside the package.
BUNDLED_DIR = next(
    (d for d in (_PACKAGE / "_bundled", _PACKAGE.parent / "models") if (d / "default.onnx").is_file()),
    _PACKAGE / "_bundled",
)
DEFAULT_MODEL_FILE = BUNDLED_DIR / "default.onnx"
BUNDLED = ("default", "default-v1", "compact")
STANDINS = {"standin": "zhang", "standin-tiny": "tiny", "standin-hints": "tiny-hints"}


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: its name in the cache, exact size, SHA-256 and mirrors (tried in turn)."""

    name: str
    size: int
    sha256: str
    urls: tuple[str, ...]


@dataclass(frozen=True)
class RegistryEntry:
    """A named model: where it comes from and what it is."""

    name: str
    description: str
    source: Literal["bundled", "generated", "download"]
    format: Literal["onnx", "caffe"]
    files: tuple[RemoteFile, ...] = ()
    approx_size: int = 0  # bytes, for listing models whose files are not registered

    @property
    def size(self) -> int:
        """Total bytes of the model's files."""
        return sum(f.size for f in self.files) if self.files else self.approx_size


# Mirrors as public code has listed them over the years (Berkeley's site, Dropbox, GitHub).
_BERKELEY = (
    "https://eecs.berkeley.edu/~rich.zhang/projects/2016_colorization/files/demo_v2/",
    "https://people.eecs.berkeley.edu/~rich.zhang/projects/2016_colorization/files/demo_v2/",
    "http://eecs.berkeley.edu/~rich.zhang/projects/2016_colorization/files/demo_v2/",
)
_GITHUB_RAW = "https://raw.githubusercontent.com/richzhang/colorization/"

PROTOTXT = RemoteFile(
    "colorization_deploy_v2.prototxt",
    9945,
    "d16418cef8df4ccd703a55ae0ef3960861d5010418f77c90d0a47689998a7169",
    (
        _GITHUB_RAW + "caffe/colorization/models/colorization_deploy_v2.prototxt",
        _GITHUB_RAW + "a1642d6ac6fc80fe08885edba34c166da09465f6/colorization/models/colorization_deploy_v2.prototxt",
        _GITHUB_RAW + "master/models/colorization_deploy_v2.prototxt",
    ),
)
PTS_IN_HULL = RemoteFile(
    "pts_in_hull.npy",
    5088,
    "b5dec01315c34f43f1c8c089e84c45ae35d1838d8e77ed0e7ca930f79ffa450e",
    (
        _GITHUB_RAW + "caffe/colorization/resources/pts_in_hull.npy",
        _GITHUB_RAW + "a1642d6ac6fc80fe08885edba34c166da09465f6/colorization/resources/pts_in_hull.npy",
        "https://github.com/richzhang/colorization/raw/master/resources/pts_in_hull.npy",
    ),
)
CAFFEMODEL_V2 = RemoteFile(
    "colorization_release_v2.caffemodel",
    128946764,
    "f5af1e602646328c792e1094f9876fe9cd4c09ac46fa886e5708a1abc89137b1",
    (
        *(base + "colorization_release_v2.caffemodel" for base in _BERKELEY),
        "https://www.dropbox.com/s/dx0qvhhp5hbcx7z/colorization_release_v2.caffemodel?dl=1",
        "https://github.com/spmallick/learnopencv/releases/download/Colorization/colorization_release_v2.caffemodel",
    ),
)
CAFFEMODEL_V2_NOREBAL = RemoteFile(
    "colorization_release_v2_norebal.caffemodel",
    128946454,
    "6ab42a7fa853eb7ca822b9a0a2997a08a29c819c985c3e70b460c6be9c8b2159",
    tuple(base + "colorization_release_v2_norebal.caffemodel" for base in _BERKELEY),
)

REGISTRY: dict[str, RegistryEntry] = {
    entry.name: entry
    for entry in (
        RegistryEntry(
            "default",
            "bundled: v2, EfficientNet-Lite0 encoder + 313-bin decoder, takes colour hints, less false colour",
            "bundled",
            "onnx",
            approx_size=0,
        ),
        RegistryEntry(
            "default-v1",
            "bundled: the first pretrained-encoder model (no hint input, warmer guesses on dull scenes)",
            "bundled",
            "onnx",
            approx_size=0,
        ),
        RegistryEntry(
            "compact",
            "bundled: the earlier small model trained from scratch; fastest on weak machines, weaker colours",
            "bundled",
            "onnx",
            approx_size=0,
        ),
        RegistryEntry(
            "standin",
            "Zhang's architecture with random weights: real cost, meaningless colours (tests, benchmarks)",
            "generated",
            "onnx",
            approx_size=128_968_389,
        ),
        RegistryEntry(
            "standin-tiny",
            "tiny network with random weights, ~1 ms a frame (tests)",
            "generated",
            "onnx",
            approx_size=60_000,
        ),
        RegistryEntry(
            "standin-hints",
            "the tiny stand-in with a colour-hint input that it obeys (tests of --hint)",
            "generated",
            "onnx",
            approx_size=64_000,
        ),
        RegistryEntry(
            "zhang2016",
            "Zhang et al. ECCV 2016, class-rebalanced (vivid colours); Caffe, converted to ONNX on OpenCV 5",
            "download",
            "caffe",
            (PROTOTXT, CAFFEMODEL_V2, PTS_IN_HULL),
        ),
        RegistryEntry(
            "zhang2016-norebal",
            "Zhang et al. ECCV 2016 without rebalancing (muted, safer colours); Caffe",
            "download",
            "caffe",
            (PROTOTXT, CAFFEMODEL_V2_NOREBAL, PTS_IN_HULL),
        ),
    )
}


def cache_dir() -> Path:
    """Where models live: $STREAM_COLORIZE_HOME, else $XDG_CACHE_HOME/stream_colorize, else ~/.cache/..."""
    home = os.environ.get("STREAM_COLORIZE_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "stream_colorize"


def get_entry(name: str) -> RegistryEntry:
    """The registry entry for ``name``; ModelError naming the known ones if there is none."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(known_names())}") from None


def standin_path(name: str) -> Path:
    """Path of a generated stand-in model, generating it on first use."""
    path = cache_dir() / "standin" / f"{STANDINS[name]}.onnx"
    if not path.is_file():
        try:
            from .standin import write_standin_onnx
        except ImportError as exc:  # pragma: no cover - depends on extras
            raise ModelError("generating stand-in models needs the 'onnx' package: pip install onnx") from exc
        write_standin_onnx(path, arch=STANDINS[name])
    return path


def known_names() -> list[str]:
    """Every model name the registry knows."""
    return list(REGISTRY)
