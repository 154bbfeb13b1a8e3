"""HLS into a folder: ``video IN web/index.m3u8`` (VOD) and ``live --output web/index.m3u8 --serve``.

Real subprocesses; what they write is decoded back with PyAV (frames, colour, sound), and the
live playlist and its segments are fetched over HTTP from the session's own server.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from stream_colorize.errors import UsageError
from stream_colorize.io.commit import Outcome
from stream_colorize.io.hls import plan_hls, segment_pattern
from stream_colorize.io.stream_targets import is_hls_output, stream_target
from tests.support.browser import Chromium, chromium_path
from tests.support.cli import run_main
from tests.support.live import free_port
from tests.support.media import chroma, make_clip
from tests.support.web import get

REPO = Path(__file__).resolve().parents[1]
TOKEN = "hls-test-token-0123456789"
GRAY = "lavfi:testsrc2=size=320x240:rate=25,format=gray"
SEGMENT = re.compile(r"index-[0-9a-f]{6}-[0-9]{5}\.ts")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of gray 160x120 video at 25 fps with AAC audio."""
    return make_clip(tmp_path_factory.mktemp("hls") / "clip.mp4", seconds=3.0, size=(160, 120), audio=1)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "stream_colorize", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def decode(source: str | Path) -> tuple[list[np.ndarray], int]:
    """(video frames as BGR, audio frames) of a playlist or a stream file."""
    frames, audio = [], 0
    with av.open(str(source)) as container:
        for packet in container.demux():
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    frames.append(frame.to_ndarray(format="bgr24"))
                else:
                    audio += 1
    return frames, audio


def listed(playlist: str) -> list[str]:
    """The segment addresses a playlist lists."""
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


# -- video: a VOD playlist ------------------------------------------------------------------


def test_hls_names() -> None:
    assert is_hls_output("web/index.m3u8") and is_hls_output(Path("a/B.M3U8")) and is_hls_output(b"x.m3u8")
    assert not any(map(is_hls_output, ["out.mp4", "http://host/live.m3u8", "m3u8", None]))
    with pytest.raises(UsageError, match="an HLS playlist is written by live --output and video's OUT, not here"):
        stream_target("web/index.m3u8")  # e.g. a camera's outputs in serve's config
    pattern = segment_pattern("index")
    assert pattern.fullmatch("index-0a1b2c-00012.ts")
    assert not any(map(pattern.fullmatch, ["index.m3u8", "../index-0a1b2c-00012.ts", "index-0a1b2c-00012.ts.tmp",
                                           "other-0a1b2c-00012.ts", "index-ZZZZZZ-00012.ts"]))  # fmt: skip


def test_video_to_hls_writes_a_vod_playlist_that_decodes_back(clip: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    web = tmp_path / "web"
    web.mkdir()
    run = subprocess.run(cli("video", str(clip), str(web / "index.m3u8"), "-m", str(tiny_onnx), "-q"),
                         capture_output=True, text=True, timeout=120, env=env())  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "75 frames in" in run.stderr and f"-> {web / 'index.m3u8'}" in run.stderr
    text = (web / "index.m3u8").read_text()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
    segments = listed(text)
    assert len(segments) >= 2 and all(SEGMENT.fullmatch(s) for s in segments)
    durations = [float(d) for d in re.findall(r"#EXTINF:([0-9.]+),", text)]
    assert max(durations) <= 2.1 and abs(sum(durations) - 3.0) < 0.1  # 2 s segments: a keyframe each
    assert sorted(p.name for p in web.iterdir()) == sorted(["index.m3u8", *segments])  # no hidden part left
    frames, audio = decode(web / "index.m3u8")
    assert len(frames) == 75 and frames[0].shape == (120, 160, 3)
    assert np.mean([chroma(f) for f in frames[5:]]) > 5  # colour from a gray film
    assert audio > 0  # the sound went along


def test_hls_output_rules(clip: Path, tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    web = tmp_path / "web"
    web.mkdir()
    playlist = web / "index.m3u8"
    model = ["-m", str(tiny_onnx), "-q"]
    assert run_main(["video", str(clip), str(playlist), *model], capsys)[0] == 0
    first = playlist.read_text()
    (web / "notes.txt").write_text("mine")
    (web / "index-other.ts").write_text("not the muxer's")

    code, _, err = run_main(["video", str(clip), str(playlist), *model], capsys)  # no -y: refused, nothing touched
    assert code != 0 and err.strip().splitlines() == [
        f"stream-colorize: error: output {playlist} already exists; pass -y/--overwrite to replace it"
    ]
    assert playlist.read_text() == first and all((web / s).exists() for s in listed(first))

    assert run_main(["video", str(clip), str(playlist), "-y", *model], capsys)[0] == 0
    second = playlist.read_text()
    assert listed(second) != listed(first)  # a new run's names: the old list was never written over
    assert not any((web / s).exists() for s in listed(first))  # the old segments went with the old list
    assert (web / "notes.txt").read_text() == "mine" and (web / "index-other.ts").exists()  # others' files stay
    assert len(decode(playlist)[0]) == 75

    missing = tmp_path / "missing" / "index.m3u8"
    code, _, err = run_main(["video", str(clip), str(missing), *model], capsys)
    assert code != 0 and err.strip() == f"stream-colorize: error: output folder {missing.parent} does not exist"
    folder = tmp_path / "d.m3u8"
    folder.mkdir()
    code, _, err = run_main(["video", str(clip), str(folder), *model], capsys)
    assert code != 0 and err.strip().splitlines() == [
        f"stream-colorize: error: output {folder} is a folder; name the playlist, e.g. {folder / 'index.m3u8'}"
    ]
    code, _, err = run_main(["video", str(tmp_path), str(web / "all.m3u8"), *model], capsys)
    assert code != 0 and "a folder of videos cannot go to one playlist" in err and len(err.strip().splitlines()) == 1


def test_ctrl_c_keeps_a_partial_playlist(tiny_onnx: Path, tmp_path: Path) -> None:
    film = make_clip(tmp_path / "long.mp4", seconds=40.0, size=(160, 120), audio=0)
    web = tmp_path / "web"
    web.mkdir()
    process = subprocess.Popen(cli("video", str(film), str(web / "index.m3u8"), "-m", str(tiny_onnx), "-q"),
                               stderr=subprocess.PIPE, text=True, env=env())  # fmt: skip
    ends = time.monotonic() + 60
    while not any(SEGMENT.fullmatch(p.name) for p in web.iterdir()) and time.monotonic() < ends:
        time.sleep(0.05)  # a first segment is out: the run is under way
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    done = int(re.search(r"sent (\d+) frames to (\S+)", err).group(1))  # type: ignore[union-attr]
    assert f"to {web / 'index.partial.m3u8'}" in err and 0 < done < 1000
    assert not (web / "index.m3u8").exists()
    text = (web / "index.partial.m3u8").read_text()
    assert text.rstrip().endswith("#EXT-X-ENDLIST")
    assert sorted(p.name for p in web.iterdir()) == sorted(["index.partial.m3u8", *listed(text)])
    assert len(decode(web / "index.partial.m3u8")[0]) == done


def test_a_failed_run_removes_its_segments_and_keeps_the_old_playlist(tmp_path: Path) -> None:
    playlist = tmp_path / "index.m3u8"
    playlist.write_text("#EXTM3U\nindex-aaaaaa-00000.ts\n")
    (tmp_path / "index-aaaaaa-00000.ts").write_bytes(b"old")
    run = plan_hls(playlist, live=False, overwrite=True).begin()
    Path(run.url).write_text("#EXTM3U\n")  # what the muxer had written by then
    for n in range(2):
        (tmp_path / f"index-{run.run}-{n:05d}.ts").write_bytes(b"new")
    run.finish(Outcome.FAILED)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index-aaaaaa-00000.ts", "index.m3u8"]
    assert playlist.read_text() == "#EXTM3U\nindex-aaaaaa-00000.ts\n"


def test_a_finished_run_replaces_the_old_playlist_then_removes_what_it_listed(tmp_path: Path) -> None:
    (tmp_path / "index.m3u8").write_text("#EXTM3U\nindex-aaaaaa-00000.ts\n")
    (tmp_path / "index.partial.m3u8").write_text("#EXTM3U\nindex-bbbbbb-00000.ts\n")  # an earlier Ctrl-C's
    for name in ["index-aaaaaa-00000.ts", "index-bbbbbb-00000.ts", "index-cccccc-00000.ts", "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    run = plan_hls(tmp_path / "index.m3u8", live=False, overwrite=True).begin()
    mine = f"index-{run.run}-00000.ts"
    (tmp_path / mine).write_bytes(b"new")
    Path(run.url).write_text(f"#EXTM3U\n{mine}\n#EXT-X-ENDLIST\n")
    run.finish(Outcome.DONE)
    # the unlisted index-cccccc and notes.txt are not ours to remove: only what the old lists named
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["index.m3u8", mine, "index-cccccc-00000.ts",
                                                                 "notes.txt"])  # fmt: skip
    assert listed((tmp_path / "index.m3u8").read_text()) == [mine]


# -- live: written while it runs, served by --serve -----------------------------------------


def wait_for_segments(port: int, count: int, timeout: float = 40.0) -> str:
    """The live playlist once it lists ``count`` segments (fetched with the token in the query)."""
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        try:
            code, _, body = get(port, f"/hls/index.m3u8?token={TOKEN}")
        except OSError:
            code, body = 0, b""
        if code == 200 and len(listed(body.decode())) >= count:
            return body.decode()
        time.sleep(0.3)
    raise AssertionError(f"no playlist with {count} segments within {timeout} s")


def test_live_hls_is_served_with_the_token_and_nothing_else(tiny_onnx: Path, tmp_path: Path) -> None:
    web, port = tmp_path / "web", free_port()
    web.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve me")
    (web / "notes.txt").write_text("not the muxer's")
    os.symlink(secret, web / "index-abcdef-99999.ts")  # a segment's name, but a link out of the folder
    process = subprocess.Popen(cli("live", GRAY, "--headless", "--duration", "30", "-m", str(tiny_onnx),
                                   "--serve", f"127.0.0.1:{port}", "--token", TOKEN,
                                   "--output", str(web / "index.m3u8")),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env())  # fmt: skip
    try:
        text = wait_for_segments(port, 3)
        assert "#EXT-X-ENDLIST" not in text and "#EXT-X-TARGETDURATION:1" in text
        addresses = listed(text)
        assert all(a.endswith(f"?token={TOKEN}") and SEGMENT.fullmatch(a.split("?")[0]) for a in addresses)
        status = get(port, "/api/status", {"Authorization": f"Bearer {TOKEN}"})
        assert status[0] == 200 and b'"hls": "/hls/index.m3u8"' in status[2]
        # a player that sends the header gets the playlist as written
        code, headers, body = get(port, "/hls/index.m3u8", {"Authorization": f"Bearer {TOKEN}"})
        assert code == 200 and headers["content-type"].startswith("application/vnd.apple.mpegurl")
        assert "token" not in body.decode()
        data = b""
        for address in addresses:
            code, headers, body = get(port, "/hls/" + address)
            assert code == 200 and headers["content-type"] == "video/mp2t", address
            data += body
        (tmp_path / "fetched.ts").write_bytes(data)
        frames, _ = decode(tmp_path / "fetched.ts")
        assert len(frames) >= 50 and frames[0].shape == (240, 320, 3)  # three 1 s segments at 25 fps
        assert np.mean([chroma(f) for f in frames[-10:]]) > 5
        # no token, a wrong one: 401, for the playlist and for a segment
        first = addresses[0].split("?")[0]
        for path in ["/hls/index.m3u8", f"/hls/{first}", "/hls/index.m3u8?token=wrong-token-0123456789"]:
            assert get(port, path)[0] == 401, path
        # only the muxer's names, from the folder itself: no path, no other file, no link
        for path in ["/hls/..%2Fsecret.txt", "/hls/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "/hls/../secret.txt",
                     "/hls/notes.txt", "/hls/index-abcdef-99999.ts", "/hls/.index.m3u8.tmp"]:  # fmt: skip
            code, _, body = get(port, path + ("&" if "?" in path else "?") + f"token={TOKEN}")
            assert code == 404 and b"do not serve" not in body and b"muxer" not in body, path
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert "Traceback" not in err
    assert sorted(p.name for p in web.iterdir() if SEGMENT.fullmatch(p.name))  # the last window stays playable


def test_live_hls_output_refuses_an_existing_playlist(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    playlist = tmp_path / "index.m3u8"
    playlist.write_text("#EXTM3U\n")
    code, _, err = run_main(["live", GRAY, "--headless", "--duration", "1", "-m", "standin-tiny",
                             "--output", str(playlist)], capsys)  # fmt: skip
    assert code != 0 and err.strip().splitlines() == [
        f"stream-colorize: error: output {playlist} already exists; pass -y/--overwrite to replace it"
    ]
    assert playlist.read_text() == "#EXTM3U\n"
    other = tmp_path / "other.m3u8"
    code, _, err = run_main(["live", GRAY, "--headless", "--duration", "1", "-m", "standin-tiny",
                             "--output", str(other), "--output", str(other)], capsys)  # fmt: skip
    assert code != 0 and err.strip() == f"stream-colorize: error: --output {other} is given twice"


@pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed")
def test_the_page_plays_hls_in_chromium(tiny_onnx: Path, tmp_path: Path) -> None:
    web, port = tmp_path / "web", free_port()
    web.mkdir()
    process = subprocess.Popen(cli("live", GRAY, "--headless", "--duration", "40", "-m", str(tiny_onnx),
                                   "--serve", f"127.0.0.1:{port}", "--token", TOKEN,
                                   "--output", str(web / "index.m3u8")),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())  # fmt: skip
    try:
        wait_for_segments(port, 2)
        with Chromium(tmp_path / "profile") as browser:
            tab = browser.open(f"http://127.0.0.1:{port}/?token={TOKEN}&mode=hls")
            browser.wait(tab, "!document.getElementById('hls').hidden")  # the server said it has HLS
            assert browser.evaluate(tab, "document.body.dataset.mode") == "hls"
            assert browser.evaluate(tab, "document.getElementById('rtc').canPlayType('application/vnd.apple.mpegurl')")
            browser.wait(tab, "document.getElementById('rtc').currentTime > 1", timeout=30)  # playing, not stuck
            shown = browser.canvas_of(tab, "#rtc")
            assert shown.shape == (240, 320, 3) and chroma(shown) > 5
            assert browser.evaluate(tab, "location.search") == ""  # the token left the address bar
    finally:
        process.terminate()
        process.wait(30)
