"""GIF frames through a palette made for the film, as ``ffmpeg -vf palettegen,paletteuse`` does.

    >>> gif = PaletteFrames(max_bytes=QUEUE_BYTES)
    >>> for vf in pictures:
    ...     for out in gif.add(vf):        # pal8 frames, once the palette is known
    ...         encode(out)
    >>> for out in gif.finish():           # the frames still held
    ...     encode(out)

GIF holds 256 colours a frame.  Without a palette of its own, every picture is dithered to the
fixed 3-3-2 RGB cube: 21 dB PSNR against the colour pictures, and the dither noise defeats GIF's
LZW compression.  Here the frames are held until ``max_bytes`` of them are in hand (a short clip:
all of them), ``palettegen`` picks 256 colours from those, and ``paletteuse`` maps every frame to
them with a fine ordered dither, changed rectangles only.  Measured on 4 s clips: the bundled
sample (slow pans, every pixel changes) 11.6 -> 10.3 MB and 21 -> 36 dB; a 768x576 test pattern
25.7 -> 7.3 MB and 21 -> 31 dB.  A film longer than the budget gets the palette of its start.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import cast

import av

# Ordered (Bayer) dithering stays put from frame to frame, so still areas code as "unchanged";
# scale 5 is the finest pattern.  Error diffusion (paletteuse's default) crawls and costs bytes.
PALETTE_USE = "dither=bayer:bayer_scale=5:diff_mode=rectangle"


class PaletteFrames:
    """Turn video frames into ``pal8`` frames that share one palette made from the first
    ``max_bytes`` of pictures (at least one frame)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._held: list[av.VideoFrame] = []
        self._held_bytes = 0
        self._graph: av.filter.Graph | None = None
        self._source: av.filter.context.FilterContext | None = None

    def add(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        """Take one frame (with pts and time base); return the pal8 frames ready to encode."""
        if self._graph is not None:
            return self._map(frame)
        self._held.append(frame)
        self._held_bytes += frame.width * frame.height * 3
        if self._held_bytes < self.max_bytes:
            return []
        return self._release()

    def finish(self) -> list[av.VideoFrame]:
        """The frames still held or in the filter, mapped; call once, after the last ``add``."""
        out = self._release() if self._graph is None and self._held else []
        if self._graph is not None:
            out += self._map(None)
        return out

    def _release(self) -> list[av.VideoFrame]:
        held, self._held, self._held_bytes = self._held, [], 0
        self._start(_palette(held), held[0])
        out: list[av.VideoFrame] = []
        for frame in held:
            out += self._map(frame)
        return out

    def _start(self, palette: av.VideoFrame, first: av.VideoFrame) -> None:
        graph = av.filter.Graph()
        time_base = first.time_base or Fraction(1, 25)
        source = graph.add_buffer(width=first.width, height=first.height, format=first.format,
                                  time_base=time_base)  # fmt: skip
        colors = graph.add_buffer(width=palette.width, height=palette.height, format=palette.format,
                                   time_base=time_base)  # fmt: skip
        use = graph.add("paletteuse", PALETTE_USE)
        source.link_to(use, 0, 0)
        colors.link_to(use, 0, 1)
        use.link_to(graph.add("buffersink"))
        graph.configure()
        palette.pts = first.pts or 0
        colors.push(palette)
        colors.push(None)  # paletteuse keeps the last palette for every later frame
        self._graph, self._source = graph, source

    def _map(self, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        assert self._graph is not None and self._source is not None  # set up by _start
        self._source.push(frame)
        return list(_drain(self._graph))


def _palette(frames: list[av.VideoFrame]) -> av.VideoFrame:
    """The 16x16 palette picture ``palettegen`` makes from ``frames`` (all colours counted)."""
    first = frames[0]
    graph = av.filter.Graph()
    source = graph.add_buffer(width=first.width, height=first.height, format=first.format,
                              time_base=first.time_base or Fraction(1, 25))  # fmt: skip
    gen = graph.add("palettegen")
    source.link_to(gen)
    gen.link_to(graph.add("buffersink"))
    graph.configure()
    for frame in frames:
        source.push(frame)
    source.push(None)
    return cast(av.VideoFrame, graph.pull())


def _drain(graph: av.filter.Graph) -> Iterator[av.VideoFrame]:
    while True:
        try:
            yield cast(av.VideoFrame, graph.pull())
        except (av.error.BlockingIOError, av.error.EOFError):
            return
