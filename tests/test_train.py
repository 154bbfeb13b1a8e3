"""Training: colour maths against OpenCV, export that cv2.dnn agrees with, the ``train`` command."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from stream_colorize.engine import Colorizer
from stream_colorize.imagestats import dhash, hamming
from stream_colorize.models.spec import spec_from_onnx
from tests.support.cli import run_main
from tools.training.dataset import Item, composite, deduplicate, load_npz, pack_npz
from tools.training.sources import carve, licence_for

torch = pytest.importorskip("torch")

from stream_colorize.bins import load_bins  # noqa: E402
from stream_colorize.train.losses import bgr_to_lab, rebalance_weights, soft_encode  # noqa: E402
from stream_colorize.train.model import ArchConfig, ColorNet  # noqa: E402

SMALL = ArchConfig(widths=[8, 8, 16, 16], decoder=[16, 8])
SMALL_CONTEXT = ArchConfig(widths=[8, 8, 16, 16], decoder=[16, 8], global_context=True)


def color_photo(seed: int, size: tuple[int, int] = (96, 128)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8), size[::-1], interpolation=cv2.INTER_CUBIC)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def test_lab_matches_opencv():
    img = np.random.default_rng(0).integers(0, 256, (1, 3, 20, 20), dtype=np.uint8)
    ours = bgr_to_lab(torch.from_numpy(img))[0].permute(1, 2, 0).numpy()
    ref = cv2.cvtColor(img[0].transpose(1, 2, 0).astype(np.float32) / 255, cv2.COLOR_BGR2Lab)
    assert np.abs(ours - ref).max() < 0.5


def test_soft_encoding_and_rebalancing():
    centres = torch.from_numpy(load_bins())
    ab = torch.tensor([[[[0.0, 40.0]], [[0.0, -30.0]]]])  # (1, 2, 1, 2): gray and a colour
    target = soft_encode(ab, centres)
    assert torch.allclose(target.sum(1), torch.ones(1, 1, 2))
    assert (target > 0).sum(1).tolist() == [[[5, 5]]]
    nearest = centres[target[0, :, 0, 1].argmax()]
    assert torch.linalg.norm(nearest - torch.tensor([40.0, -30.0])) < 8
    # Mostly-gray data: rare colours weigh more than gray, and the weights average 1 under the data.
    samples = torch.cat([torch.zeros(2, 900), torch.tensor([[40.0] * 100, [-30.0] * 100])], 1).view(1, 2, 10, 100)
    w = rebalance_weights(samples, centres)
    gray_bin = torch.cdist(torch.zeros(1, 2), centres).argmin()
    color_bin = torch.cdist(torch.tensor([[40.0, -30.0]]), centres).argmin()
    assert w[color_bin] > w[gray_bin]


def test_haze_lowers_contrast_and_saturation_together():
    from stream_colorize.train.loop import add_haze

    gen = torch.Generator().manual_seed(0)
    crops = torch.from_numpy(np.stack([color_photo(i, (64, 64)) for i in range(8)])).permute(0, 3, 1, 2) / 255.0
    assert torch.equal(add_haze(crops, 0.0, gen), crops)
    hazy = add_haze(crops, 1.0, gen)
    before, after = bgr_to_lab(crops), bgr_to_lab(hazy)
    assert (after[:, 0].std((1, 2)) < before[:, 0].std((1, 2))).all()  # less contrast in L
    chroma = lambda lab: lab[:, 1:].norm(dim=1).mean((1, 2))  # noqa: E731
    assert (chroma(after) < chroma(before)).all()  # and paler


def test_log_error_term_weighs_nearly_right_crops_up():
    from stream_colorize.train.losses import color_loss, expected_ab

    centres = torch.from_numpy(load_bins())
    torch.manual_seed(0)
    logits = torch.randn(2, centres.shape[0], 4, 4, requires_grad=True)
    shown = expected_ab(logits, centres, 0.45).detach()
    # Crop 0's truth sits 2 ab units from what is shown, crop 1's sits 30 units away.
    truth = shown.clone()
    truth[0, 0] += 2.0
    truth[1, 0] += 30.0
    base = color_loss(logits, truth, centres, None)
    with_log = color_loss(logits, truth, centres, None, log_weight=1.0, log_temperature=0.45)
    per_crop = torch.tensor([4.0, 900.0])
    assert torch.isclose(with_log - base, torch.log(per_crop + 4.0).mean(), rtol=1e-4)
    (grad,) = torch.autograd.grad(with_log - base, logits)
    # The nearly-right crop pulls harder per unit of error: d log(e + 4) = de / (e + 4).
    assert grad[0].abs().sum() / 2.0 > grad[1].abs().sum() / 30.0


def test_vivid_term_costs_the_chroma_missing_on_vivid_truth_only():
    from stream_colorize.train.losses import color_loss, expected_ab

    centres = torch.from_numpy(load_bins())
    logits = torch.zeros(1, centres.shape[0], 2, 2, requires_grad=True)  # every bin alike: a dull mean
    shown = expected_ab(logits, centres, 1.0).detach()
    truth = torch.zeros(1, 2, 2, 2)
    truth[0, 0, 0, :] = 60.0  # top row vivid red (chroma 60); bottom row gray, which costs nothing
    base = color_loss(logits, truth, centres, None, log_temperature=1.0)
    with_vivid = color_loss(logits, truth, centres, None, log_temperature=1.0, vivid_weight=0.5)
    short = 60.0 - shown[0, :, 0].norm(dim=0)
    assert torch.isclose(with_vivid - base, 0.5 * short.mean() / 10.0, rtol=1e-3)
    (grad,) = torch.autograd.grad(with_vivid - base, logits)
    assert grad[0, :, 1].abs().max() == 0  # gray truth: no pull
    stepped = expected_ab(logits.detach() - 50.0 * grad, centres, 1.0)
    assert (stepped[0, :, 0].norm(dim=0) > shown[0, :, 0].norm(dim=0) + 1.0).all()
    # Above the threshold only: with it raised past the truth's 60, nothing counts.
    above = color_loss(logits, truth, centres, None, log_temperature=1.0, vivid_weight=0.5, vivid_chroma=70.0)
    assert torch.isclose(above, base)


@pytest.mark.parametrize("arch", [SMALL, SMALL_CONTEXT], ids=["plain", "global-context"])
def test_folded_export_matches_torch_and_reloads(tmp_path: Path, arch: ArchConfig):
    from stream_colorize.train.export import export_model

    net = ColorNet(arch)
    with torch.no_grad():  # give BatchNorm non-trivial statistics
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    net.eval()
    x = torch.randn(1, 1, 224, 224) * 30
    with torch.no_grad():
        ref = net(x)
        assert torch.allclose(net.folded()(x), ref, atol=1e-3, rtol=1e-3)
    out = tmp_path / "m.onnx"
    meta = export_model(net, out, temperature=0.4)
    assert meta["cv2_relative_error"] < 1e-3
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["output"] == "logits" and side["arch"] == arch.to_dict()
    assert side["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()  # what `models verify` checks
    ab = Colorizer(spec_from_onnx(out), device="cpu").predict_ab([color_photo(0)])
    assert ab.shape == (1, 2, 56, 56)
    again = ColorNet.from_onnx(out, ArchConfig.from_dict(side["arch"]))
    with torch.no_grad():
        assert torch.allclose(again(x), ref, atol=1e-3, rtol=1e-3)
    assert not list(tmp_path.glob("*partial*"))


def test_job_goes_on_from_an_exported_model(tmp_path: Path, capsys):
    from stream_colorize.train.export import export_model
    from tools.training import job

    start = tmp_path / "start.onnx"
    export_model(ColorNet(SMALL).eval(), start, temperature=0.4)
    pack_npz(tmp_path / "train.npz", [color_photo(s, (64, 64)) for s in range(14)], side=64)
    pack_npz(tmp_path / "eval.npz", [color_photo(s, (64, 80)) for s in (90, 91)], side=64, crops=False)
    args = ["--data", str(tmp_path / "train.npz"), "--eval", str(tmp_path / "eval.npz"), "--out", str(tmp_path / "run"),
            "--init", str(start), "--steps", "2", "--batch", "2", "--crop", "32", "--threads", "1"]  # fmt: skip
    assert job.main(args) == 0
    assert "going on from" in capsys.readouterr().out
    out = tmp_path / "run" / "default.onnx"
    assert json.loads(out.with_suffix(".json").read_text())["arch"] == SMALL.to_dict()
    before = ColorNet.from_onnx(start, SMALL).convs()[-1].weight.flatten()
    after = ColorNet.from_onnx(out, SMALL).convs()[-1].weight.flatten()
    assert not torch.equal(before, after)  # it trained ...
    assert torch.nn.functional.cosine_similarity(before, after, dim=0) > 0.9  # ... from the start model, not afresh


def test_carve_finds_embedded_images_and_dedup():
    blobs = [cv2.imencode(ext, color_photo(i, (200, 240)))[1].tobytes() for i, ext in enumerate([".png", ".jpg"])]
    webp = cv2.imencode(".webp", color_photo(5, (180, 180)))[1].tobytes()
    container = b"qres\0\0junk" + blobs[0] + b"\0" * 7 + blobs[1] + b"pad" + webp + b"tail"
    found = [img.shape[:2] for _, img in carve(container)]
    assert sorted(found) == sorted([(200, 240), (200, 240), (180, 180)])
    a = color_photo(1, (200, 240))
    resized = cv2.resize(a, (120, 100), interpolation=cv2.INTER_AREA)
    assert hamming(dhash(a), dhash(resized)) <= 5
    kept = deduplicate([Item(a, "p", "a", "x"), Item(resized, "p", "b", "x"), Item(color_photo(9), "p", "c", "x")])
    assert [it.path for it in kept] == ["a", "c"]


def test_composite_and_npz_roundtrip(tmp_path: Path):
    cut = np.zeros((50, 40, 4), np.uint8)
    cut[..., 2] = 255
    cut[10:40, 10:30, 3] = 255
    out = composite(cut, color_photo(2, (300, 400)), np.random.default_rng(0))
    assert out.shape == (384, 384, 3)
    assert ((out[..., 2] == 255) & (out[..., 0] == 0)).sum() > 100  # the red stamp is there
    n = pack_npz(tmp_path / "d.npz", [color_photo(1, (100, 300)), color_photo(2)], side=64)
    images = load_npz(tmp_path / "d.npz")
    assert n == len(images) == 4 and images[0].shape == (64, 64, 3)  # the wide photo gives 3 crops


def test_global_context_changes_the_output_with_the_rest_of_the_picture():
    torch.manual_seed(0)
    # Deploy form (no BatchNorm) with weights of trained strength: at init scale, activations fade to ~0.
    net = ColorNet(SMALL_CONTEXT, norm=False).eval()
    with torch.no_grad():
        for conv in net.convs():
            conv.weight.normal_(0, (2.0 / conv.weight[0].numel()) ** 0.5)
    a = torch.randn(1, 1, 448, 448) * 30
    b = a.clone()
    b[..., 320:, 320:] = 40.0  # change one corner only
    with torch.no_grad():
        ya, yb = net(a), net(b)
    # The opposite corner lies far outside the convolutions' reach: only the context branch links them.
    assert (ya[..., :4, :4] - yb[..., :4, :4]).abs().max() > 1e-3
    plain = ColorNet(SMALL, norm=False).eval()
    with torch.no_grad():
        assert torch.allclose(plain(a)[..., :4, :4], plain(b)[..., :4, :4], atol=1e-6)


def test_reviewed_packages_give_their_photos_and_video_frames(tmp_path: Path):
    from tests.support.media import make_clip
    from tools.training.sources import HARVEST_FRAMES_PER_VIDEO, iter_candidates

    demo = tmp_path / "kphotoalbum/usr/share/kphotoalbum/demo"
    demo.mkdir(parents=True)
    cv2.imwrite(str(demo / "beach_2.jpg"), color_photo(1, (200, 240)))
    cv2.imwrite(str(demo / "qt-logo.jpg"), color_photo(2, (200, 240)))  # a logo, not a photo
    make_clip(demo / "movie.avi", seconds=2.0, size=(160, 120), audio=0, gray=False)
    found = list(iter_candidates(tmp_path, ("kphotoalbum",)))
    paths = [c.path for c in found]
    assert "usr/share/kphotoalbum/demo/beach_2.jpg" in paths
    assert not any("qt-logo" in p for p in paths)
    frames = [c for c in found if "#frame" in c.path]
    assert len(frames) == HARVEST_FRAMES_PER_VIDEO
    assert all(c.image.shape == (120, 160, 3) for c in frames)
    assert frames[0].image.tobytes() != frames[-1].image.tobytes()  # spread over the clip, not one frame


def test_licence_lookup(tmp_path: Path):
    doc = tmp_path / "usr/share/doc/pkg"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        "Format: x\n\nFiles: *\nCopyright: a\nLicense: GPL-2+\n\n"
        "Files: puzzles/00_default/heli.pzl\n       other.png\nCopyright: b\nLicense: CC-BY-4.0\n\n"
        "Files: debian/*\nCopyright: c\nLicense: GPL-2+\n"
    )
    assert licence_for(tmp_path, "usr/share/games/jigzo/puzzles/00_default/heli.pzl#12") == "CC-BY-4.0"
    assert licence_for(tmp_path, "usr/share/games/jigzo/puzzles/00_default/bike.pzl") == "GPL-2+"
    assert licence_for(tmp_path, "usr/share/x/other.png") == "CC-BY-4.0"


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for i in range(6):
        cv2.imwrite(str(folder / f"p{i}.jpg"), color_photo(i))
    return folder


def test_train_smoke_from_scratch_then_finetune(tmp_path: Path, photo_dir: Path, capsys):
    out = tmp_path / "m.onnx"
    args = ["train", "--data", str(photo_dir), "--out", str(out), "--init", "none", "--steps", "2"]
    code, stdout, err = run_main([*args, "--batch", "2", "--crop", "64", "--threads", "1"], capsys)
    assert code == 0, err
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert "PSNR" in stdout and "held-out" in stdout
    spec = spec_from_onnx(out)
    assert spec.output == "logits" and spec.extra["arch"]["type"] == "lite0-unet"  # pretrained encoder, new decoder
    frame = cv2.cvtColor(color_photo(7), cv2.COLOR_BGR2GRAY)
    color = Colorizer(spec, device="cpu").colorize([frame])[0]
    assert color.shape == (96, 128, 3)
    # Fine-tune the model just written (it carries its architecture in the sidecar).
    video = tmp_path / "clip.mp4"
    with av.open(str(video), "w") as c:
        s = c.add_stream("libx264", rate=5)
        s.width, s.height, s.pix_fmt = 128, 96, "yuv420p"
        for i in range(4):
            c.mux(s.encode(av.VideoFrame.from_ndarray(color_photo(20 + i), format="bgr24")))
        c.mux(s.encode())
    tuned = tmp_path / "tuned.onnx"
    args = ["train", "--data", str(video), "--out", str(tuned), "--init", str(out), "--steps", "1"]
    code, stdout, err = run_main([*args, "--batch", "2", "--crop", "64", "--threads", "1"], capsys)
    assert code == 0, err
    assert "training on 4 colour images" in stdout
    assert spec_from_onnx(tuned).temperature == spec.temperature


def _gray_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "gray"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"g{i}.png"), cv2.cvtColor(color_photo(i), cv2.COLOR_BGR2GRAY))
    return folder


def _empty_video(tmp_path: Path) -> Path:
    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=5)
        s.width, s.height = 64, 48
        c.start_encoding()  # header only: a video file without a single frame
    return path


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty", "holds no images or videos"),
        ("missing", "not found"),
        ("garbage", "not an image"),
        ("gray", "has colour"),
        ("empty_video", "video"),
        ("exists", "already exists"),
        ("not_onnx", ".onnx"),
    ],
)
def test_train_bad_input(tmp_path: Path, photo_dir: Path, case: str, message: str, capsys):
    out = tmp_path / "model.onnx"
    data = photo_dir
    if case == "empty":
        data = tmp_path / "empty"
        data.mkdir()
    elif case == "missing":
        data = tmp_path / "nope"
    elif case == "garbage":
        data = tmp_path / "bad.jpg"
        data.write_bytes(b"not a jpeg at all")
    elif case == "gray":
        data = _gray_dir(tmp_path)
    elif case == "empty_video":
        data = _empty_video(tmp_path)
    elif case == "exists":
        out.write_bytes(b"keep me")
    elif case == "not_onnx":
        out = tmp_path / "model.txt"
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run_main(["train", "--data", str(data), "--out", str(out), "--steps", "1"], capsys)
    assert code == 1
    assert err.count("error:") == 1 and message in err, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    if case == "exists":
        assert out.read_bytes() == b"keep me"


def test_ctrl_c_ends_training_early_and_keeps_what_was_learned():
    from stream_colorize.train.loop import TrainConfig, train

    def progress(step: int, done: float, loss: float) -> None:
        if step == 3:
            raise KeyboardInterrupt  # as Ctrl-C arrives between two steps

    start = ColorNet(SMALL, norm=False)
    before = start.convs()[0].weight.detach().clone()
    messages: list[str] = []
    cfg = TrainConfig(steps=1000, batch=2, crop=32, threads=1, device="cpu", checkpoint=None)
    net = train([color_photo(s) for s in range(4)], cfg, init=start, progress=progress, log=messages.append)
    assert net.stopped_at == 3 and any("Ctrl-C at step 3" in m for m in messages)
    assert not torch.equal(net.convs()[0].weight, before)  # the three steps are in the returned weights

    quiet = TrainConfig(steps=2, batch=2, crop=32, threads=1, device="cpu", checkpoint=None)
    assert train([color_photo(s) for s in range(4)], quiet, arch=SMALL, log=messages.append).stopped_at is None
