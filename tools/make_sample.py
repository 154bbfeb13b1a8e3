"""Make the bundled black-and-white sample clip from public-domain and CC0 photos in the scikit-image wheel.

Usage::

    python tools/make_sample.py                    # fetch the wheel with pip, write stream_colorize/data/sample.mp4
    python tools/make_sample.py --wheel PATH       # use an already downloaded scikit_image-0.26.0-*.whl
    python tools/make_sample.py --photos DIR       # use a folder that holds the four photos (e.g. skimage/data)
    python tools/make_sample.py --verify stream_colorize/data/sample.mp4   # only check an existing clip

Four photographs from ``skimage/data/`` of the scikit-image 0.26.0 wheel (public domain and CC0, see
stream_colorize/data/SAMPLE.md) are converted to gray and animated as slow pans and zooms ("Ken Burns"),
joined by two cross-fades and one hard cut, over a sound track synthesised here (a four-chord arpeggio,
chord changes on the scene changes). These photos belong to the model's reserved evaluation set, which
training excludes by perceptual hash, so the demo shows the model on pictures it never saw. The wheel is
read with zipfile (no install); the photos are checked against pinned SHA-256 sums and libx264 runs on
one thread, so the same FFmpeg/x264 build gives the same bytes. The clip is written to a temporary file
beside the output, checked (decodes, gray, durations), then renamed into place.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "stream_colorize" / "data" / "sample.mp4"
DEFAULT_WORK = REPO / "work" / "sample"
REQUIREMENT = "scikit-image==0.26.0"
WHEEL_GLOB = "scikit_image-0.26.0-*.whl"
# Ask pip for one fixed build of the wheel whatever the host (the file is only read, never installed), so every
# machine downloads the same file. What the clip relies on are the photos' pinned sums below, not the wheel's.
PIP_TARGET = (
    "--only-binary=:all:", "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11", "--implementation", "cp",
)  # fmt: skip
DATA_DIR = "skimage/data/"

WIDTH, HEIGHT, FPS = 640, 360, 25
SECONDS = 8
N_FRAMES = SECONDS * FPS
AUDIO_RATE = 48000
CRF = 23
MAX_BYTES = 2_000_000

# File name (in skimage/data/) -> SHA-256 of the photo as shipped in the scikit-image 0.26.0 wheel.
PHOTOS = {
    "astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    "coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    "rocket.jpg": "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
}


@dataclass(frozen=True)
class Shot:
    """One photo on screen from frame ``start`` (inclusive) to ``end`` (exclusive).

    ``a`` and ``b`` are the first and last view, each ``(cx, cy, w)``: centre as fractions of the
    photo's width and height, and the view's width as a fraction of the photo's width (its height
    follows from the 16:9 frame). Overlapping shots cross-fade; touching shots cut.
    """

    photo: str
    start: int
    end: int
    a: tuple[float, float, float]
    b: tuple[float, float, float]


# Scene changes at 2 s (fade), 4 s (cut) and 6 s (fade), where the music changes chord. The photos are
# small (451 to 640 pixels wide), so every view keeps at least 369 photo pixels across: at most 1.75x upscaling.
SHOTS = (
    Shot("astronaut.png", 0, 55, (0.50, 0.30, 1.00), (0.44, 0.23, 0.72)),
    Shot("chelsea.png", 45, 100, (0.43, 0.55, 0.86), (0.57, 0.55, 0.86)),
    Shot("coffee.png", 100, 155, (0.48, 0.37, 0.80), (0.50, 0.46, 1.00)),
    Shot("rocket.jpg", 145, 200, (0.50, 0.45, 0.60), (0.50, 0.55, 1.00)),
)


def sha256_bytes(data: bytes) -> str:
    """Return the hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    return sha256_bytes(path.read_bytes())


def checked(photos: dict[str, bytes], where: Path) -> dict[str, bytes]:
    """Return ``photos`` if every one of PHOTOS is there with its pinned sum; otherwise exit with one line."""
    missing = [name for name in PHOTOS if name not in photos]
    if missing:
        sys.exit(f"error: {where} lacks {', '.join(missing)}")
    wrong = [name for name, digest in PHOTOS.items() if sha256_bytes(photos[name]) != digest]
    if wrong:
        names = ", ".join(wrong)
        sys.exit(f"error: {names} in {where} do not match the pinned SHA-256 sums (not scikit-image 0.26.0?)")
    return photos


def read_wheel(wheel: Path) -> dict[str, bytes]:
    """Read the four photos from ``skimage/data/`` inside ``wheel`` (a zip file; nothing is installed)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = set(archive.namelist())
            photos = {name: archive.read(DATA_DIR + name) for name in PHOTOS if DATA_DIR + name in members}
    except (OSError, zipfile.BadZipFile) as exc:
        sys.exit(f"error: cannot read wheel {wheel}: {exc}")
    return checked(photos, wheel)


def read_folder(folder: Path) -> dict[str, bytes]:
    """Read the four photos from a folder (an unpacked or installed ``skimage/data``)."""
    photos = {name: (folder / name).read_bytes() for name in PHOTOS if (folder / name).is_file()}
    return checked(photos, folder)


def fetch_wheel(work: Path) -> Path:
    """Return a scikit-image 0.26.0 wheel in ``work``, downloading it with pip (no dependencies) if absent."""
    wheels = sorted(work.glob(WHEEL_GLOB))
    if wheels:
        return wheels[0]
    work.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", *PIP_TARGET, REQUIREMENT, "-d", str(work)]
    got = subprocess.run(command, capture_output=True, text=True)
    if got.returncode != 0:
        last = (got.stderr.strip().splitlines() or ["no message"])[-1]
        sys.exit(f"error: pip download {REQUIREMENT} failed ({last}); download the wheel and pass --wheel PATH")
    wheels = sorted(work.glob(WHEEL_GLOB))
    if not wheels:
        sys.exit(f"error: pip download {REQUIREMENT} left no {WHEEL_GLOB} in {work}")
    return wheels[0]


def smoothstep(t: float) -> float:
    """Ease in and out: 0 -> 0, 1 -> 1, zero slope at both ends."""
    t = min(max(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


class ShotRenderer:
    """Renders the frames of one shot from a gray copy of its photo."""

    def __init__(self, shot: Shot, photos: dict[str, bytes]) -> None:
        gray = cv2.imdecode(np.frombuffer(photos[shot.photo], dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            sys.exit(f"error: cannot decode {shot.photo}")
        # Render at twice the output size, then area-downscale: smooth sub-pixel motion without aliasing.
        # Scale the photo so the widest view spans exactly the 2x canvas; narrower views are upsampled.
        widest = max(shot.a[2], shot.b[2])
        scale = 2 * WIDTH / (widest * gray.shape[1])
        size = (round(gray.shape[1] * scale), round(gray.shape[0] * scale))
        self.image = cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        self.shot = shot

    def frame(self, index: int) -> np.ndarray:
        """Return frame ``index`` (absolute) of this shot as float32 gray, HEIGHT x WIDTH."""
        shot = self.shot
        t = smoothstep((index - shot.start) / max(shot.end - shot.start - 1, 1))
        cx, cy, w = (p + (q - p) * t for p, q in zip(shot.a, shot.b))
        ih, iw = self.image.shape
        view_w = min(w * iw, iw, ih * WIDTH / HEIGHT)
        view_h = view_w * HEIGHT / WIDTH
        left = min(max(cx * iw - view_w / 2, 0.0), iw - view_w)
        top = min(max(cy * ih - view_h / 2, 0.0), ih - view_h)
        s = view_w / (2 * WIDTH)
        # Destination pixel centre (x + 0.5) maps to source position left + (x + 0.5) * s, in pixel-centre terms.
        m = np.array([[s, 0, left + 0.5 * s - 0.5], [0, s, top + 0.5 * s - 0.5]], dtype=np.float64)
        big = cv2.warpAffine(
            self.image,
            m,
            (2 * WIDTH, 2 * HEIGHT),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        )
        return cv2.resize(big, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)


def render_frames(photos: dict[str, bytes]) -> Iterator[np.ndarray]:
    """Yield the clip's N_FRAMES gray uint8 frames (HEIGHT x WIDTH), cross-fading overlapping shots."""
    renderers = [ShotRenderer(shot, photos) for shot in SHOTS]
    for i in range(N_FRAMES):
        live = [r for r in renderers if r.shot.start <= i < r.shot.end]
        if not live:
            raise RuntimeError(f"no shot covers frame {i}")
        out = live[0].frame(i)
        for r in live[1:]:
            prev = live[0].shot
            # Linear fade across the overlap, centred so each frame of the overlap is a distinct mix.
            k = (i - r.shot.start + 0.5) / (prev.end - r.shot.start)
            out = out * (1.0 - k) + r.frame(i) * k
        yield np.clip(np.rint(out), 0, 255).astype(np.uint8)


def yuv420_gray(gray: np.ndarray) -> av.VideoFrame:
    """Pack a full-range gray frame as limited-range yuv420p with neutral chroma (U = V = 128)."""
    h, w = gray.shape
    planes = np.full((h * 3 // 2, w), 128, dtype=np.uint8)
    planes[:h] = np.rint(16.0 + gray.astype(np.float32) * (219.0 / 255.0)).astype(np.uint8)
    frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    frame.color_range = 1  # MPEG / limited
    return frame


def note_hz(semitones_from_a4: int) -> float:
    """Equal-tempered frequency, A4 = 440 Hz."""
    return 440.0 * 2.0 ** (semitones_from_a4 / 12.0)


def synth_audio() -> np.ndarray:
    """Return SECONDS of stereo float32 audio, shape (2, n): a soft pad plus a plucked arpeggio.

    Four bars of two seconds, chords C, Am, F, G (semitones from A4 below), so the chord changes fall
    on the picture's scene changes.
    """
    n = SECONDS * AUDIO_RATE
    t = np.arange(n) / AUDIO_RATE
    chords = [(-9, -5, -2), (-12, -9, -5), (-16, -12, -9), (-14, -10, -7)]  # C4 E4 G4 | A3 C4 E4 | F3 A3 C4 | G3 B3 D4
    bar = 2.0
    pad = np.zeros(n)
    lead = np.zeros(n)
    for k, chord in enumerate(chords):
        t0 = k * bar
        local = t - t0
        inside = (local >= 0) & (local < bar)
        # Raised-cosine edges, 0.15 s, so bars join without clicks.
        edge = np.clip(np.minimum(local, bar - local) / 0.15, 0.0, 1.0)
        env = np.where(inside, 0.5 - 0.5 * np.cos(np.pi * edge), 0.0)
        for semis in chord:
            f = note_hz(semis - 12)
            pad += env * (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t))
        # Eighth notes at 120 bpm over the chord, an octave up: 1 2 3 2 3 2 1 2 ... pattern of 8.
        pattern = [0, 1, 2, 1, 2, 1, 0, 1]
        for j, idx in enumerate(pattern):
            start = t0 + j * 0.25
            f = note_hz(chord[idx] + 12)
            m = (t >= start) & (t < start + 0.6)
            u = t[m] - start
            pluck = (1.0 - np.exp(-u / 0.004)) * np.exp(-u / 0.18)
            lead[m] += pluck * (np.sin(2 * np.pi * f * u) + 0.25 * np.sin(6 * np.pi * f * u))
    pad /= np.abs(pad).max()
    lead /= np.abs(lead).max()
    left = 0.35 * pad + 0.65 * lead * 0.8
    right = 0.35 * pad + 0.65 * lead * 0.5
    stereo = np.stack([left, right])
    fade = np.minimum(np.clip(t / 0.05, 0, 1), np.clip((SECONDS - t) / 0.5, 0, 1))
    stereo *= fade
    stereo *= 0.5 / np.abs(stereo).max()  # peak at -6 dBFS
    return stereo.astype(np.float32)


def encode(photos: dict[str, bytes], path: Path) -> None:
    """Write the clip to ``path`` (MP4: H.264 yuv420p CRF 23 + AAC stereo 48 kHz)."""
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.codec_context.time_base = Fraction(1, FPS)
        video.codec_context.gop_size = 2 * FPS
        video.codec_context.thread_count = 1  # x264 output depends on its thread count; one thread reproduces
        video.codec_context.color_range = 1
        video.codec_context.color_primaries = 1  # BT.709 tags; chroma is neutral so the matrix is moot
        video.codec_context.color_trc = 1
        video.codec_context.colorspace = 1
        video.options = {"crf": str(CRF), "preset": "medium"}
        audio = out.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        audio.bit_rate = 96_000

        for i, gray in enumerate(render_frames(photos)):
            frame = yuv420_gray(gray)
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))

        samples = synth_audio()
        chunk = 1024
        for s in range(0, samples.shape[1], chunk):
            part = np.ascontiguousarray(samples[:, s : s + chunk])
            frame = av.AudioFrame.from_ndarray(part, format="fltp", layout="stereo")
            frame.sample_rate = AUDIO_RATE
            frame.pts = s
            frame.time_base = Fraction(1, AUDIO_RATE)
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))


def verify(path: Path) -> dict[str, object]:
    """Decode ``path`` and check it is the sample we promise; return a summary or exit with one line."""

    def fail(msg: str) -> None:
        sys.exit(f"error: {path}: {msg}")

    size = path.stat().st_size
    if size > MAX_BYTES:
        fail(f"{size} bytes, over the {MAX_BYTES} byte budget")
    with av.open(str(path)) as media:
        if len(media.streams.video) != 1 or len(media.streams.audio) != 1:
            fail("expected one video and one audio stream")
        vs, au = media.streams.video[0], media.streams.audio[0]
        if vs.codec_context.name != "h264" or vs.codec_context.pix_fmt != "yuv420p":
            fail(f"video is {vs.codec_context.name} {vs.codec_context.pix_fmt}, expected h264 yuv420p")
        if (vs.codec_context.width, vs.codec_context.height) != (WIDTH, HEIGHT):
            fail("wrong frame size")
        if au.codec_context.name != "aac":
            fail(f"audio is {au.codec_context.name}, expected aac")
        frames, chroma_dev, luma_means = 0, 0, []
        for frame in media.decode(vs):
            planes = frame.to_ndarray(format="yuv420p")
            chroma = planes[HEIGHT:].astype(np.int16)
            chroma_dev = max(chroma_dev, int(np.abs(chroma - 128).max()))
            luma_means.append(float(planes[:HEIGHT].mean()))
            frames += 1
        media.seek(0)
        audio_samples = sum(f.samples for f in media.decode(au))
    if frames != N_FRAMES:
        fail(f"{frames} video frames, expected {N_FRAMES}")
    if chroma_dev > 2:
        fail(f"chroma strays {chroma_dev} from 128: not gray")
    video_s = frames / FPS
    audio_s = audio_samples / AUDIO_RATE
    if abs(audio_s - video_s) > 0.1:
        fail(f"audio lasts {audio_s:.3f} s, video {video_s:.3f} s")
    if min(luma_means) < 30 or max(luma_means) > 220:
        fail("a frame is nearly black or white")
    if shutil.which("ffprobe"):
        probe = subprocess.run(["ffprobe", "-v", "error", str(path)], capture_output=True, text=True)
        if probe.returncode != 0 or probe.stderr.strip():
            fail(f"ffprobe complains: {probe.stderr.strip().splitlines()[:1]}")
    return {
        "bytes": size,
        "frames": frames,
        "video_s": video_s,
        "audio_s": round(audio_s, 3),
        "max_chroma_dev": chroma_dev,
        "sha256": sha256(path),
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: build (or only verify) the sample clip."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the clip")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="download folder for the wheel (git-ignored)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--wheel", type=Path, help=f"an already downloaded {WHEEL_GLOB}")
    source.add_argument("--photos", type=Path, metavar="DIR", help="a folder that already holds the four photos")
    parser.add_argument("--verify", type=Path, metavar="CLIP", help="only check an existing clip")
    args = parser.parse_args(argv)

    if args.verify:
        if not args.verify.is_file():
            sys.exit(f"error: {args.verify} does not exist")
        print(verify(args.verify))
        return

    if args.photos:
        photos = read_folder(args.photos)
    elif args.wheel:
        if not args.wheel.is_file():
            sys.exit(f"error: {args.wheel} does not exist")
        photos = read_wheel(args.wheel)
    else:
        photos = read_wheel(fetch_wheel(args.work))
    if not args.output.parent.is_dir():
        sys.exit(f"error: folder {args.output.parent} does not exist")

    fd, tmp_name = tempfile.mkstemp(prefix=f".{args.output.name}.", suffix=".partial", dir=args.output.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        encode(photos, tmp)
        summary = verify(tmp)
        tmp.chmod(0o644)  # mkstemp creates 0600; the clip ships as package data
        os.replace(tmp, args.output)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"wrote {args.output}: {summary}")


if __name__ == "__main__":
    main()
