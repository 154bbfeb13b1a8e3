"""Glass-to-glass latency of the web view in a real browser, WebRTC against MJPEG, and what viewers cost.

    $ python bench/serve_latency.py                      # 720p, the bundled model at skip 4, 15 s a phase
    $ python bench/serve_latency.py --model standin-tiny --seconds 8 --size 640x360

The source is ``lavfi:testsrc2`` in gray with a barcode drawn on its top rows: frame n's number
in 16 blocks of 32x32 pixels (white = 1) and its complement in 16 more, so a block misread after
compression shows as a mismatch and is thrown away.  Colourization keeps the lightness, so the
code survives.  A live session serves the page on 127.0.0.1 in this process; an extra live
output keeps each shown frame's capture time (``time.monotonic()`` when the source decoded it).

Debian's headless Chromium opens the real page (``/?mode=webrtc`` or ``/?mode=mjpeg``) in one
window per viewer; a script added to each page draws the playing element's top rows onto a
canvas at every animation frame and notes when a new code first shows up there (the frame's
``requestAnimationFrame`` time, on the browser's wall clock).  Latency = that time - the frame's
capture time (both converted to the wall clock of this machine).  Phases, one session: no
viewer, then 1 and 5 viewers of each kind; for each the server's CPU (this process: the live
pipeline, the encoders, the web server) and the browser's CPU, in cores (CPU seconds per wall
second), and the frames each viewer saw per second.  The machine's other load moves the cores this process
gets, so CPU is also given per frame: ms a shown frame, and what serving adds (the CPU above the
no-viewer phase's per-frame cost) per frame a viewer received.  Figures only; no assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stream_colorize.config import TemporalSettings  # noqa: E402
from stream_colorize.engine import Colorizer  # noqa: E402
from stream_colorize.io.devices import parse_source  # noqa: E402
from stream_colorize.io.live_outputs import Action, Control, LiveStatus, Shown  # noqa: E402
from stream_colorize.live import LiveOptions, run_live  # noqa: E402
from stream_colorize.models.resolve import resolve_model  # noqa: E402
from stream_colorize.serve.address import Listen  # noqa: E402
from stream_colorize.serve.output import ServeOutput  # noqa: E402
from tests.support.browser import Chromium  # noqa: E402

BLOCK = 32  # pixels a side of one bit
BITS = 16

# In each page: decode the code at every animation frame; keep [code, wall-clock ms] when it changes.
STAMPER = f"""(() => {{
  const B = {BLOCK}, N = {BITS};
  window.__stamps = []; window.__bad = 0;
  const c = document.createElement("canvas"); c.width = 2 * N * B; c.height = B;
  const g = c.getContext("2d", {{willReadFrequently: true}});
  let last = -1;
  function tick(now) {{
    const el = document.getElementById(document.body.dataset.mode === "webrtc" ? "rtc" : "view");
    const w = el.videoWidth || el.naturalWidth;
    if (w >= 2 * N * B) {{
      g.drawImage(el, 0, 0, 2 * N * B, B, 0, 0, 2 * N * B, B);
      const d = g.getImageData(0, B >> 1, 2 * N * B, 1).data;
      let v = 0, inv = 0;
      for (let b = 0; b < N; b++) {{
        if (d[(b * B + (B >> 1)) * 4 + 1] > 128) v |= 1 << b;
        if (d[((N + b) * B + (B >> 1)) * 4 + 1] <= 128) inv |= 1 << b;
      }}
      if (v !== inv) window.__bad++;
      else if (v !== last) {{ last = v; window.__stamps.push([v, performance.timeOrigin + now]); }}
    }}
    requestAnimationFrame(tick);
  }}
  requestAnimationFrame(tick);
  return true;
}})()"""


def barcode_source(size: str, fps: int) -> str:
    """A gray lavfi source whose frame n carries n (and its complement) as blocks on its top rows."""
    boxes = [f"drawbox=x=0:y=0:w={2 * BITS * BLOCK}:h={BLOCK}:color=black:t=fill"]
    for half, parity in ((0, 1), (BITS, 0)):
        for b in range(BITS):
            boxes.append(f"drawbox=x={(half + b) * BLOCK}:y=0:w={BLOCK}:h={BLOCK}:color=white:t=fill"
                         f":enable='eq(mod(floor(n/{1 << b}),2),{parity})'")  # fmt: skip
    return f"lavfi:testsrc2=size={size}:rate={fps},format=gray," + ",".join(boxes)


class Recorder:
    """A live output that keeps each shown frame's capture time by its index."""

    poll_s = 0.05

    def __init__(self) -> None:
        self.captured: dict[int, float] = {}
        self.status: LiveStatus | None = None
        self.quit = threading.Event()

    def show(self, shown: Shown | None, status: LiveStatus) -> None:
        self.status = status
        if shown is not None:
            self.captured[shown.frame.index % (1 << BITS)] = shown.frame.captured

    def events(self) -> list[Control]:
        return [Control(Action.QUIT)] if self.quit.is_set() else []

    def close(self, ok: bool) -> None:
        pass


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) of the live processes in a process group."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def phase(browser: Chromium, url: str, mode: str, viewers: int, seconds: float, recorder: Recorder,
          offset: float) -> dict:  # fmt: skip
    """Open ``viewers`` windows on the page in ``mode``, measure for ``seconds``, close them."""
    tabs = [browser.open(f"{url}?mode={mode}") for _ in range(viewers)]
    element = "rtc" if mode == "webrtc" else "view"
    for tab in tabs:
        browser.wait(tab, f"document.body.dataset.mode === '{mode}' && "
                          f"(document.getElementById('{element}').videoWidth || "
                          f"document.getElementById('{element}').naturalWidth) > 0", timeout=30)  # fmt: skip
    time.sleep(2.0)  # past the first frames and the encoders' ramp-up
    for tab in tabs:
        browser.evaluate(tab, STAMPER)
    shown0, cpu0, browser0, began = recorder.status.shown, time.process_time(), group_cpu(browser.proc.pid), \
        time.monotonic()  # fmt: skip
    time.sleep(seconds)
    wall = time.monotonic() - began
    cpu, browser_cpu = (time.process_time() - cpu0) / wall, (group_cpu(browser.proc.pid) - browser0) / wall
    shown = (recorder.status.shown - shown0) / wall
    latencies: list[float] = []
    seen, bad, unknown = [], 0, 0
    for tab in tabs:
        stamps = browser.evaluate(tab, "window.__stamps")
        bad += browser.evaluate(tab, "window.__bad")
        seen.append(len(stamps) / wall)
        for code, shown_ms in stamps:
            captured = recorder.captured.get(code)
            if captured is None:
                unknown += 1
                continue
            latencies.append(shown_ms / 1000 - (captured + offset))
        browser.close_tab(tab)
    lat = np.asarray(latencies) * 1000
    return {
        "mode": mode, "viewers": viewers, "server_cores": cpu, "browser_cores": browser_cpu, "shown_fps": shown,
        "viewer_fps": statistics.mean(seen) if seen else 0.0, "frames": len(latencies), "misread": bad,
        "unknown": unknown, "p50": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
        "p95": float(np.percentile(lat, 95)) if len(lat) else float("nan"),
        "pipeline_ms": recorder.status.latency_s * 1000,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--model", default="default")
    parser.add_argument("--skip", type=int, default=4, help="fixed, so the model's share does not move between phases")
    parser.add_argument("--seconds", type=float, default=15.0, help="per phase")
    parser.add_argument("--viewers", default="1,5")
    args = parser.parse_args()
    counts = [int(v) for v in args.viewers.split(",")]
    source = barcode_source(args.size, args.fps)
    spec = resolve_model(args.model)
    view = ServeOutput(Listen("127.0.0.1", 0), max_viewers=max(counts) + 2).start()
    recorder = Recorder()
    engine = Colorizer(spec, device="cpu")
    options = LiveOptions(temporal=TemporalSettings(skip=args.skip), headless=True, duration=3600)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            run_live(parse_source(source), engine, options, outputs=[view, recorder])
        except BaseException as exc:  # noqa: BLE001 - printed below
            failure.append(exc)

    thread = threading.Thread(target=run, name="bench-live", daemon=True)
    thread.start()
    offset = time.time() - time.monotonic()  # monotonic -> wall clock, as the browser's times are
    print(f"source {args.size} at {args.fps} fps, model {args.model} at skip {args.skip}, {os.cpu_count()} cores; "
          f"{args.seconds:g} s a phase", flush=True)  # fmt: skip
    results = []
    try:
        deadline = time.monotonic() + 120
        while recorder.status is None or recorder.status.model_s == 0:
            assert not failure and time.monotonic() < deadline, failure or "the session did not start"
            time.sleep(0.1)
        time.sleep(3)
        with tempfile.TemporaryDirectory() as profile, Chromium(Path(profile), size=(1400, 900)) as browser:
            url = view.url
            began, cpu0 = time.monotonic(), time.process_time()
            shown0 = recorder.status.shown
            time.sleep(args.seconds)
            wall = time.monotonic() - began
            idle = (time.process_time() - cpu0) / wall
            fps = (recorder.status.shown - shown0) / wall
            pipeline = recorder.status.latency_s * 1000
            print(f"no viewer: server {idle:.2f} cores, {fps:.1f} fps shown, "
                  f"pipeline latency (capture to shown) {pipeline:.0f} ms", flush=True)  # fmt: skip
            idle_ms = idle / fps * 1000  # server CPU ms a shown frame without viewers
            for viewers in counts:
                for mode in ("webrtc", "mjpeg"):
                    got = phase(browser, url, mode, viewers, args.seconds, recorder, offset)
                    # On a shared machine the cores this process gets move with the others' load: CPU per
                    # frame moves far less.  What serving adds: above idle's per-frame cost, per frame a
                    # viewer received.
                    got["cpu_ms_per_shown"] = got["server_cores"] / max(got["shown_fps"], 1e-3) * 1000
                    delivered = viewers * got["viewer_fps"]
                    got["serve_cpu_ms_per_delivered"] = (
                        (got["server_cores"] - idle_ms / 1000 * got["shown_fps"]) / max(delivered, 1e-3) * 1000
                    )
                    results.append(got)
                    print(f"{mode:6} x{viewers}: glass-to-glass p50 {got['p50']:.0f} ms, p95 {got['p95']:.0f} ms "
                          f"({got['frames']} frames; pipeline {got['pipeline_ms']:.0f} ms) | server "
                          f"{got['server_cores']:.2f} cores, {got['cpu_ms_per_shown']:.1f} CPU ms a shown frame "
                          f"(idle {idle_ms:.1f}), serving {got['serve_cpu_ms_per_delivered']:.1f} CPU ms a frame "
                          f"delivered, "
                          f"browser {got['browser_cores']:.2f} | {got['shown_fps']:.1f} fps shown, each viewer "
                          f"{got['viewer_fps']:.1f} fps | misread {got['misread']}, unknown {got['unknown']}",
                          flush=True)  # fmt: skip
    finally:
        recorder.quit.set()
        thread.join(30)
        view.close(True)
    by = {(r["mode"], r["viewers"]): r for r in results}
    for viewers in counts:
        rtc, mjpeg = by.get(("webrtc", viewers)), by.get(("mjpeg", viewers))
        if rtc and mjpeg:
            print(f"x{viewers}: WebRTC/MJPEG latency p50 {rtc['p50'] / mjpeg['p50']:.2f}, "
                  f"p95 {rtc['p95'] / mjpeg['p95']:.2f}; serving CPU ms a frame delivered: "
                  f"WebRTC {rtc['serve_cpu_ms_per_delivered']:.1f}, "
                  f"MJPEG {mjpeg['serve_cpu_ms_per_delivered']:.1f}")  # fmt: skip
    print(json.dumps({"idle_server_cores": idle, "phases": results}))


if __name__ == "__main__":
    main()
