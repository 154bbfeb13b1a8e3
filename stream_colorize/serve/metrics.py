"""The session's figures for ``/api/status`` (JSON) and ``/metrics`` (Prometheus text format 0.0.4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..io.live_outputs import LiveStatus


@dataclass
class ServeCounters:
    """What the web side counts (written from its event loop, read from anywhere)."""

    viewers: int = 0  # MJPEG viewers and WebRTC peers
    peers: int = 0  # of which WebRTC peers
    peers_total: int = 0  # WebRTC peers let in so far
    max_viewers: int = 10
    viewers_total: int = 0  # viewers let in so far
    refused: int = 0  # 503s for the viewer cap
    unauthorized: int = 0  # 401s
    served: int = 0  # JPEG parts written to viewers
    served_latency: list[float] = field(default_factory=list)  # capture to part written, seconds (last 600)

    def served_one(self, latency: float) -> None:
        """Count a part written to a viewer."""
        self.served += 1
        self.served_latency.append(latency)
        if len(self.served_latency) > 1200:
            del self.served_latency[:600]


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50 and p95 of ``values`` (0 when empty)."""
    if not values:
        return {"p50": 0.0, "p95": 0.0}
    data = np.asarray(values[-600:])
    return {"p50": float(np.percentile(data, 50)), "p95": float(np.percentile(data, 95))}


def status_json(status: LiveStatus | None, counters: ServeCounters, encode_s: Sequence[float]) -> dict:
    """The body of ``/api/status``."""
    served = percentiles(counters.served_latency)
    body: dict = {
        "viewers": counters.viewers,
        "max_viewers": counters.max_viewers,
        "viewers_total": counters.viewers_total,
        "webrtc_peers": counters.peers,
        "webrtc_peers_total": counters.peers_total,
        "viewers_refused": counters.refused,
        "served_frames": counters.served,
        "serve_latency_ms": {k: round(v * 1000, 1) for k, v in served.items()},
        "jpeg_ms": round(float(np.mean(encode_s)) * 1000, 2) if len(encode_s) else 0.0,
    }
    if status is None:
        return {"state": "starting", **body}
    return {
        "state": "paused" if status.paused else status.source,
        "fps": round(status.fps, 2),
        "model_ms": round(status.model_s * 1000, 2),
        "latency_ms": round(status.latency_s * 1000, 2),
        "skip": status.skip,
        "smoothing": round(status.smoothing, 3),
        "temperature": round(status.temperature, 4),
        "paused": status.paused,
        "side_by_side": status.side_by_side,
        "shown": status.shown,
        "dropped": status.dropped,
        "source": status.source,
        "elapsed_s": round(status.elapsed, 2),
        **body,
    }


Sample = tuple[str, str, str, float]  # name (after stream_colorize_), type, help, value


def metric_samples(status: LiveStatus | None, counters: ServeCounters) -> list[Sample]:
    """Every figure of one session (or camera) as ``(name, type, help, value)``."""
    samples: list[Sample] = []
    if status is not None:
        samples += [
            ("fps", "gauge", "Frames shown per second over the last seconds.", status.fps),
            ("model_seconds", "gauge", "One model forward (moving average).", status.model_s),
            ("latency_seconds", "gauge", "Capture to display, mean of the last frames.", status.latency_s),
            ("frames_shown_total", "counter", "Frames shown since the start.", status.shown),
            ("frames_dropped_total", "counter", "Frames the colour stage dropped.", status.dropped),
            ("source_up", "gauge", "1 while the source plays.", status.source == "playing"),
            ("paused", "gauge", "1 while paused.", status.paused),
            ("smoothing", "gauge", "The ab smoother's strength (0: off).", status.smoothing),
            ("temperature", "gauge", "The model's annealing temperature.", status.temperature),
        ]
    samples += [
        ("viewers", "gauge", "Viewers now (/stream.mjpg and WebRTC).", counters.viewers),
        ("webrtc_peers", "gauge", "WebRTC viewers now.", counters.peers),
        ("viewers_max", "gauge", "The viewer cap.", counters.max_viewers),
        ("viewers_total", "counter", "Viewers let in since the start.", counters.viewers_total),
        ("viewers_refused_total", "counter", "Viewers refused at the cap (503).", counters.refused),
        ("unauthorized_total", "counter", "Requests refused for a missing or wrong token.", counters.unauthorized),
        ("served_frames_total", "counter", "JPEG frames written to viewers.", counters.served),
    ]
    return samples


def _labels(labels: dict[str, str], **more: str) -> str:
    """``{name="value",...}`` (empty without labels), the values escaped as the format asks."""
    every = {**labels, **more}
    if not every:
        return ""
    escaped = {k: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for k, v in every.items()}
    return "{" + ",".join(f'{k}="{v}"' for k, v in escaped.items()) + "}"


def render_metrics(rows: Sequence[tuple[dict[str, str], list[Sample], Sequence[float]]]) -> str:
    """Prometheus text for one or more labelled sets of samples and their serve latencies: each
    metric's HELP and TYPE once, then a line per set."""
    lines: list[str] = []
    names: dict[str, tuple[str, str]] = {}
    values: dict[str, list[str]] = {}
    for labels, samples, _ in rows:
        for name, kind, help_text, value in samples:
            names.setdefault(name, (kind, help_text))
            values.setdefault(name, []).append(f"stream_colorize_{name}{_labels(labels)} {value:.6g}")
    for name, (kind, help_text) in names.items():
        lines.append(f"# HELP stream_colorize_{name} {help_text}")
        lines.append(f"# TYPE stream_colorize_{name} {kind}")
        lines += values[name]
    lines.append("# HELP stream_colorize_serve_latency_seconds Capture to frame written to a viewer (last 600).")
    lines.append("# TYPE stream_colorize_serve_latency_seconds gauge")
    for labels, _, latencies in rows:
        served = percentiles(latencies)
        for quantile, key in (("0.5", "p50"), ("0.95", "p95")):
            lines.append(f"stream_colorize_serve_latency_seconds{_labels(labels, quantile=quantile)} {served[key]:.6g}")
    return "\n".join(lines) + "\n"


def prometheus_text(status: LiveStatus | None, counters: ServeCounters) -> str:
    """The body of ``/metrics``."""
    return render_metrics([({}, metric_samples(status, counters), counters.served_latency)])
