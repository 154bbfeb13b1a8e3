"""The other streams of an output: audio, subtitles and data carried over beside the colour video.

    >>> plan = plan_copies(source.copy_streams, container, path, options, pictures_only=False)
    >>> copies = CopiedStreams(container, plan)  # plan: [(stream, "copy" | "transcode:aac" | "text:subrip")]
    >>> copies.open()                            # the output streams, made from the input's, after the video
    >>> copies.write(packet)                     # muxed; a damaged one is dropped and counted
    >>> copies.flush()                           # the audio encoders' tails

The plan copies every stream the output format holds; audio is transcoded for ``--audio-codec``
or, where the container cannot hold it, to the container's own audio codec; plain-text subtitles
are rewrapped for a container that takes another text codec; anything else the container cannot
hold is refused with the option that gets past it (audio, subtitles) or left out with a note
(data).  Picture-only outputs (GIF, image sequences) leave every other stream out.
Packets are muxed as they came, except that timestamps jumping back by more than a second (two
recordings joined) continue after the previous packet.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import av

from ..config import EncodeSettings
from ..errors import MediaError, UsageError
from .encoders import OWN_AUDIO, TS_SUBTITLES, check_audio_encoder, container_codecs
from .info import describe_stream

log = logging.getLogger("stream_colorize")

SKIP_METADATA = {"duration", "encoder", "handler_name", "vendor_id"}  # rewritten by the muxer
TEXT_SUBTITLES = ("mov_text", "subrip", "srt", "webvtt", "text")

Plan = list[tuple[av.stream.Stream, str]]


def plan_copies(
    streams: list[av.stream.Stream],
    container: av.container.OutputContainer,
    suffix: str,
    options: EncodeSettings,
    pictures_only: bool,
) -> Plan:
    """Decide per stream: 'copy', 'transcode:<encoder>' or 'text:<codec>'; raise naming a stream
    the output (of file suffix ``suffix``) can't hold."""
    plan = []
    left_out: list[str] = []
    supported = container_codecs(container)
    fmt = suffix.lstrip(".") or container.format.name
    for s in streams:
        if pictures_only:
            left_out.append(s.type)
            continue
        if s.type == "subtitle" and not options.subtitles:
            continue
        if s.type == "audio" and options.audio_codec == "none":
            continue
        if s.type == "audio" and options.audio_codec != "copy":
            check_audio_encoder(options.audio_codec)
            plan.append((s, f"transcode:{options.audio_codec}"))
            if supported is not None and options.audio_codec not in supported:
                raise UsageError(f"{fmt} files cannot hold {options.audio_codec} audio; pick another --audio-codec")
            continue
        name = s.codec_context.name if s.codec_context is not None else None
        if s.type == "subtitle" and container.format.name == "mpegts" and name not in TS_SUBTITLES:
            # The TS muxer takes any subtitle and writes it as an unnamed data stream, its
            # language lost: refuse as for a container whose list says so.
            raise MediaError(
                f"{describe_stream(s)}: {fmt} files cannot hold {name or 'these'} subtitles (only DVB bitmaps); "
                "pass --no-subtitles to leave subtitles out, or write .mkv"
            )
        if name is not None and (supported is None or name in supported):
            plan.append((s, "copy"))
            continue
        why = f"{fmt} files cannot hold {name or 'this data'}"
        if s.type == "audio":
            encoder = _own_audio_encoder(container, supported)
            if encoder is not None:
                # "copy" is the default, so this is what a newcomer writing .webm from an .mp4
                # gets: the container's own audio codec instead of an error.
                log.warning("%s: %s; transcoded to %s (--audio-codec picks another encoder)",
                            describe_stream(s), why, encoder)  # fmt: skip
                plan.append((s, f"transcode:{encoder}"))
                continue
            suggested = "libopus" if fmt == "webm" else "aac"
            raise MediaError(
                f"{describe_stream(s)}: {why}; pass --audio-codec {suggested} (or another) to transcode, or write .mkv"
            )
        target = _text_subtitle_target(name, supported)
        if s.type == "subtitle" and target is not None:
            plan.append((s, f"text:{target}"))  # same text, rewrapped for this container
            continue
        if s.type == "subtitle":
            other = "" if suffix.lower() == ".mkv" else ", or write .mkv"
            raise MediaError(f"{describe_stream(s)}: {why}; pass --no-subtitles to leave subtitles out{other}")
        log.warning("%s left out: %s", describe_stream(s), why)
    if left_out:
        kinds = " and ".join(sorted({"sound" if k == "audio" else k for k in left_out}))
        log.warning("%s left out: %s output holds pictures only", kinds, suffix or "this")
    return plan


def _own_audio_encoder(container: av.container.OutputContainer, supported: set[str] | None) -> str | None:
    """The encoder of the container's own audio codec (Opus for WebM), or None when this build
    has no usable one (missing, experimental, or not what the container takes)."""
    try:
        codec = av.Codec(OWN_AUDIO.get(container.format.name, container.default_audio_codec), "w")
    except (av.FFmpegError, ValueError, TypeError):
        return None
    if codec.type != "audio" or codec.experimental:
        return None
    if supported is not None and codec.name not in supported and codec.canonical_name not in supported:
        return None
    return codec.name


def _encoder_rate(codec: str, source: av.audio.stream.AudioStream) -> int:
    """The source's sample rate, or the nearest one the encoder supports (libopus: 48 kHz...)."""
    rate = source.codec_context.sample_rate
    try:
        supported = av.Codec(codec, "w").audio_rates
    except (av.FFmpegError, ValueError) as exc:
        raise MediaError(f"unknown audio encoder {codec!r} for --audio-codec") from exc
    if supported and rate not in supported:
        rate = min(supported, key=lambda r: (abs(r - rate), -r))
    return rate


class CopiedStreams:
    """The planned streams in one output container: made from the input's, then fed its packets."""

    def __init__(self, container: av.container.OutputContainer, plan: Plan) -> None:
        self.container = container
        self.plan = plan
        self.dropped = 0  # packets the muxer refused as damaged
        # Output streams by input index: copies, re-wrapped text and audio encoders alike (PyAV's
        # stubs give each kind its own class; these are used through what they share).
        self._out: dict[int, Any] = {}
        self._transcoded: dict[int, Any] = {}  # input streams whose packets are decoded and encoded
        self._rewrap: dict[int, tuple[str, str]] = {}  # text subtitles: (their codec, ours)
        self._timeline = Timeline()

    def open(self) -> None:
        """Add an output stream per planned stream (after the video: it keeps index 0)."""
        for s, how in self.plan:
            out: Any
            if how.startswith("transcode:"):
                audio = cast(av.audio.stream.AudioStream, s)  # only audio is transcoded
                encoder = how.removeprefix("transcode:")
                out = self.container.add_stream(encoder, rate=_encoder_rate(encoder, audio))
                out.layout = audio.codec_context.layout
            elif how.startswith("text:"):
                out = self.container.add_mux_stream(how[5:], time_base=s.time_base)
                self._rewrap[s.index] = (s.codec_context.name, how[5:])
            else:
                out = self.container.add_stream_from_template(s)
            for key, value in s.metadata.items():
                if key.lower() not in SKIP_METADATA and not key.upper().startswith("DURATION"):
                    out.metadata[key] = value
            out.disposition = s.disposition
            self._out[s.index] = out
        self._transcoded = {s.index: s for s, how in self.plan if how.startswith("transcode:")}

    def write(self, packet: av.Packet) -> None:
        """Mux a packet of an input stream (one the plan left out is ignored)."""
        out = self._out.get(packet.stream.index)
        if out is None:
            return
        if packet.stream.index in self._transcoded:
            for frame in packet.decode():
                frame.pts = None
                self._mux_encoded(out.encode(frame))
            return
        if packet.stream.index in self._rewrap:
            rewrapped = _rewrap_text(packet, *self._rewrap[packet.stream.index])
            if rewrapped is None:
                return
            packet = rewrapped
        self._timeline.continue_after_jumps(packet)
        packet.stream = out
        try:
            self.container.mux(packet)
        except (av.error.InvalidDataError, av.error.ArgumentError) as exc:
            # A damaged packet of a copied stream (an old off-air capture: a cut or garbled
            # ADTS header, a timestamp going backwards): drop it and keep the rest.
            self.dropped += 1
            log.debug("dropped a damaged %s packet: %s", packet.stream.type, exc)

    def flush(self) -> None:
        """Mux what the audio decoders and encoders still hold."""
        for index, src in self._transcoded.items():
            out = self._out[index]
            for frame in src.decode(None):
                frame.pts = None
                self._mux_encoded(out.encode(frame))
            self._mux_encoded(out.encode(None))

    def _mux_encoded(self, packets: list[av.Packet]) -> None:
        for enc in packets:
            # FLAC's encoder ends with an empty packet that only carries its final header as side
            # data, stamped with no valid time: muxers refuse it ("Invalid argument" at the very
            # end), and the stream is whole without it.
            if enc.size:
                self.container.mux(enc)


class Timeline:
    """Per copied stream, the shift that keeps its timestamps going forward."""

    def __init__(self) -> None:
        self._shifts: dict[int, int] = {}  # per input stream: added to timestamps after a jump back
        self._last_dts: dict[int, int] = {}

    def continue_after_jumps(self, packet: av.Packet) -> None:
        """Timestamps that jump back by more than a second (two recordings joined) continue
        after the previous packet instead, so the rest of the stream is kept in order."""
        index = packet.stream.index
        if packet.dts is None or not packet.time_base:
            return
        shift = self._shifts.get(index, 0)
        last = self._last_dts.get(index)
        dts = packet.dts + shift
        if last is not None and dts < last and (last - dts) * packet.time_base > 1:
            step = packet.duration or 1
            shift += last + step - dts
            self._shifts[index] = shift
            dts = packet.dts + shift
            log.warning("%s: timestamps jump back (joined recordings?); continued after the previous part",
                        describe_stream(packet.stream))  # fmt: skip
        if shift:
            packet.dts = dts
            if packet.pts is not None:
                packet.pts += shift
        self._last_dts[index] = dts if last is None else max(last, dts)


def _text_subtitle_target(codec: str | None, supported: set[str] | None) -> str | None:
    """A plain-text subtitle codec this container holds, for a plain-text subtitle stream."""
    if codec not in TEXT_SUBTITLES or supported is None:
        return None
    return next((c for c in ("subrip", "mov_text", "webvtt") if c in supported), None)


def _rewrap_text(packet: av.Packet, source: str, target: str) -> av.Packet | None:
    """The same subtitle text in another plain-text codec's packet layout (timing unchanged);
    None for an empty cue (mov_text's gap fillers)."""
    data = bytes(packet)
    if source == "mov_text":  # 16-bit big-endian length, the text, then optional style boxes
        data = data[2 : 2 + int.from_bytes(data[:2], "big")]
    if not data:
        return None
    if target == "mov_text":
        data = len(data).to_bytes(2, "big") + data
    out = av.Packet(data)
    out.pts, out.dts, out.duration, out.time_base = packet.pts, packet.dts, packet.duration, packet.time_base
    out.stream = packet.stream
    return out
