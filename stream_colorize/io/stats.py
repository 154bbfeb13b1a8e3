"""What a reader saw of its input: frames kept, packets lost, damage, an early end.

``SourceStats`` is filled in while a reader decodes (``source.MediaSource``, ``decoder.PacketStream``)
and read afterwards for the run's summary.  Damage is counted, never fatal: an undecodable packet
is skipped, a frame the decoder concealed is kept, and a file that stops before its header's
duration is noticed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass
class SourceStats:
    """What the source saw: frames decoded, packets skipped as corrupt, an early end."""

    frames: int = 0
    corrupt: int = 0  # video packets that gave no frame (undecodable, skipped)
    damaged: int = 0  # frames decoded from damaged data (kept, concealed by the decoder)
    truncated: bool = False
    last_time: float | None = None
    note: str = ""
    first_time: float | None = None  # of the first frame kept
    limit_reached: bool = False  # stopped by ``duration`` or ``end``, not by the input ending
    before_start: int = 0  # frames decoded only to reach ``-ss`` (from the key frame before it)

    @property
    def seconds(self) -> float:
        """Seconds of video kept (first to last frame kept, plus one frame's time if known)."""
        if self.first_time is None or self.last_time is None or self.frames == 0:
            return 0.0
        span = self.last_time - self.first_time
        return span + span / max(self.frames - 1, 1) if self.frames > 1 else 0.0

    def stopped_early(self, note: str) -> None:
        """The input could not be read to its end: keep what was decoded and say why."""
        self.truncated = True
        self.note = note

    def kept(self, t: float | None) -> None:
        """One more frame kept, shown at ``t`` seconds (None: unknown)."""
        self.frames += 1
        if t is not None:
            self.first_time = t if self.first_time is None else self.first_time
            self.last_time = t

    def finish(self, packets: int, duration: float | None, rate: Fraction | None, start: float) -> None:
        """After reading to the end: ``packets`` video packets were read from a video that says it
        lasts ``duration`` seconds from ``start``.  The decoder drops frames it cannot rebuild
        without raising, so packets without a frame count as corrupt; a last frame well before
        the end means the input is cut short."""
        self.corrupt = max(self.corrupt, packets - self.frames - self.before_start)
        if self.truncated or duration is None or self.last_time is None:
            return
        frame_time = float(1 / rate) if rate else 0.1
        if self.last_time - start + 3 * frame_time < duration * 0.98:
            self.stopped_early(
                f"the input ends early: video decoded up to {self.last_time - start:.2f} s of {duration:.2f} s"
            )
