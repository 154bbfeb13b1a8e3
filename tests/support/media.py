"""Generated media for tests and benchmarks: real files made with PyAV from lavfi sources.

    >>> from tests.media import make_clip, probe
    >>> clip = make_clip(tmp_path / "in.mkv", seconds=1, audio=2, subtitles=True)
    >>> probe(clip)["streams"][0]["codec_type"]        # ffprobe, as an independent check

Every generator writes a real file through FFmpeg's muxers: ``testsrc2`` pictures (gray by
default, as a black-and-white film would be), ``sine`` tones, subtitle packets written by hand.
Awkward cases have their own switches or helpers: variable frame rate, rotation, odd sizes,
10-bit, no audio, several audio tracks with language tags, truncated and corrupted files,
audio-only files and still images.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

# Audio codec a container takes (and copies back) without fuss.
AUDIO_CODEC = {
    ".mp4": "aac",
    ".m4a": "aac",
    ".mov": "aac",
    ".mkv": "aac",
    ".ts": "aac",
    ".webm": "libopus",
    ".avi": "libmp3lame",
}
VIDEO_CODEC = {".webm": "libvpx-vp9"}
SUBTITLE_CODEC = {".mp4": "mov_text", ".mov": "mov_text", ".mkv": "subrip", ".webm": "webvtt"}
LANGUAGES = ("eng", "fra", "deu", "spa")


def _video_frames(width: int, height: int, rate: Fraction, count: int, gray: bool) -> Iterable[av.VideoFrame]:
    graph = f"testsrc2=size={width}x{height}:rate={rate}"
    if gray:
        graph += ",hue=s=0"
    with av.open(graph, format="lavfi") as src:
        for i, frame in enumerate(src.decode(video=0)):
            if i >= count:
                break
            yield frame


def _audio_frames(seconds: float, frequency: int, sample_rate: int) -> Iterable[av.AudioFrame]:
    graph = f"sine=frequency={frequency}:sample_rate={sample_rate}:duration={seconds}"
    with av.open(graph, format="lavfi") as src:
        yield from src.decode(audio=0)


def _subtitle_payload(codec: str, text: str) -> bytes:
    data = text.encode()
    if codec == "mov_text":  # 16-bit big-endian length, then the text
        return len(data).to_bytes(2, "big") + data
    return data


def make_clip(
    path: Path,
    *,
    seconds: float = 1.0,
    size: tuple[int, int] = (160, 120),
    rate: int | Fraction = 25,
    audio: int = 1,
    subtitles: bool = False,
    vfr: bool = False,
    rotation: int = 0,
    gray: bool = True,
    pix_fmt: str | None = None,
    video_codec: str | None = None,
    gop: int | None = None,
) -> Path:
    """Write a test clip and return its path.

    ``audio`` is the number of sine tracks (0 for none; each has its own tone and a language
    tag from LANGUAGES, the first is the default). ``vfr`` gives irregular frame durations in a
    1/1000 time base. ``rotation`` writes a display matrix (degrees counter-clockwise).
    ``pix_fmt`` defaults to yuv420p, or yuv444p when a side is odd.  ``gop`` sets the keyframe
    interval (libx264: at most that many frames between keyframes).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    width, height = size
    rate = Fraction(rate)
    count = max(1, round(seconds * rate))
    codec = video_codec or VIDEO_CODEC.get(suffix, "libx264")
    fmt = pix_fmt or ("yuv444p" if width % 2 or height % 2 else "yuv420p")
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, fmt
        if codec == "libx264":
            video.options = {"preset": "ultrafast", "crf": "23"}
        if gop:
            video.options = {**video.options, "g": str(gop)}
        if vfr:
            video.codec_context.time_base = Fraction(1, 1000)
            video.time_base = Fraction(1, 1000)
        if rotation:
            video.set_display_rotation(rotation)
        audio_streams = []
        for k in range(audio):
            stream = out.add_stream(AUDIO_CODEC.get(suffix, "aac"), rate=48000)
            stream.layout = "mono"
            stream.metadata["language"] = LANGUAGES[k % len(LANGUAGES)]
            stream.metadata["title"] = f"tone {k}"
            audio_streams.append(stream)
        sub_stream = None
        if subtitles:
            sub_codec = SUBTITLE_CODEC.get(suffix)
            if sub_codec is None:
                raise ValueError(f"no subtitle codec known for {suffix}")
            sub_stream = out.add_mux_stream(sub_codec, time_base=Fraction(1, 1000))
            sub_stream.metadata["language"] = "eng"

        pts_ms = 0
        durations = [30, 50, 20, 70, 40]  # ms, for VFR
        for i, frame in enumerate(_video_frames(width, height, rate, count, gray)):
            frame = frame.reformat(format=fmt)
            if gop:
                frame.pict_type = 0  # lavfi marks every frame I, which libx264 would obey
            if vfr:
                frame.pts, frame.time_base = pts_ms, Fraction(1, 1000)
                pts_ms += durations[i % len(durations)]
            else:
                frame.pts, frame.time_base = i, 1 / rate
            out.mux(video.encode(frame))
        out.mux(video.encode())

        length = pts_ms / 1000 if vfr else count / rate
        for k, stream in enumerate(audio_streams):
            for frame in _audio_frames(float(length), 440 + 220 * k, 48000):
                frame.pts = None
                out.mux(stream.encode(frame))
            out.mux(stream.encode())

        if sub_stream is not None:
            for n, start in enumerate(range(0, int(length * 1000), 400)):
                packet = av.Packet(_subtitle_payload(sub_codec, f"line {n}"))
                packet.stream = sub_stream
                packet.pts = packet.dts = start
                packet.duration = 300
                packet.time_base = Fraction(1, 1000)
                out.mux(packet)
    return path


def make_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """An audio-only file (no video stream)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(AUDIO_CODEC.get(Path(path).suffix.lower(), "aac"), rate=48000)
        stream.layout = "mono"
        for frame in _audio_frames(seconds, 440, 48000):
            frame.pts = None
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return Path(path)


def make_image(path: Path, size: tuple[int, int] = (160, 120)) -> Path:
    """A gray still image (PNG/JPEG by suffix)."""
    frame = next(iter(_video_frames(size[0], size[1], Fraction(25), 1, gray=True)))
    cv2.imwrite(str(path), frame.to_ndarray(format="bgr24"))
    return Path(path)


def truncate(src: Path, dst: Path, fraction: float = 0.6) -> Path:
    """Copy the first ``fraction`` of ``src``'s bytes to ``dst`` (a file cut off mid-write)."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


def corrupt(src: Path, dst: Path, at: float = 0.5, length: int = 2000, seed: int = 0) -> Path:
    """Copy ``src`` to ``dst`` with ``length`` random bytes overwritten at ``at`` of its size."""
    data = bytearray(Path(src).read_bytes())
    start = int(len(data) * at)
    rng = np.random.default_rng(seed)
    data[start : start + length] = rng.integers(0, 256, min(length, len(data) - start), np.uint8).tobytes()
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


# -- reading back ------------------------------------------------------------------------------


def video_pts(path: Path) -> list[int]:
    """Presentation timestamps of every decoded video frame, in the stream's time base."""
    with av.open(str(path)) as container:
        return [frame.pts for frame in container.decode(video=0)]


def video_frames(path: Path, limit: int | None = None, fmt: str = "bgr24") -> list[np.ndarray]:
    """Decoded video frames as arrays."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format=fmt))
            if limit is not None and len(frames) >= limit:
                break
    return frames


def packet_hashes(path: Path, kind: str = "audio") -> list[list[tuple[int | None, str]]]:
    """For each stream of ``kind`` (in order): the (pts, sha1) of each of its packets."""
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == kind]
        if not streams:
            return []
        found: dict[int, list] = {s.index: [] for s in streams}
        for packet in container.demux(streams):
            if packet.size == 0 or packet.dts is None:
                continue
            found[packet.stream.index].append((packet.pts, hashlib.sha1(bytes(packet)).hexdigest()))
        return [found[s.index] for s in streams]


def chroma(frame_bgr: np.ndarray) -> float:
    """Mean chroma (distance of a, b from neutral in 8-bit Lab) of a BGR frame."""
    lab = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2Lab).astype(np.float32)
    return float(np.hypot(lab[:, :, 1] - 128, lab[:, :, 2] - 128).mean())


def probe(path: Path) -> dict:
    """ffprobe's JSON view of a file's streams and format (an independent reader)."""
    if shutil.which("ffprobe") is None:
        raise RuntimeError("ffprobe is not installed")
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def probe_frame_count(path: Path) -> int:
    """Number of video frames ffprobe decodes."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    return int(out.stdout.split()[0].split(",")[0])
