"""The Protocol Buffers wire format, read and written by hand (no ``protobuf`` dependency).

    >>> msg = MessageWriter().string(1, "conv1").packed_floats(5, np.ones(3, np.float32))
    >>> data = msg.to_bytes()
    >>> [(f.number, f.wire) for f in iter_fields(data)]   # [(1, 2), (5, 2)]

Only what a schema of our own needs: varints (wire type 0), fixed64 (1), length-delimited
fields (2: strings, bytes, sub-messages, packed repeated values) and fixed32 (5).  Reading works
on a ``memoryview`` so the floats of a 129 MB caffemodel are viewed, not copied.  Any damage
(a truncated file, a length that runs past the end, an unknown wire type) raises ``WireError``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5
_MAX_VARINT_BYTES = 10
_FLOAT = np.dtype("<f4")
_DOUBLE = np.dtype("<f8")


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message (truncated or corrupt)."""


# -- reading ---------------------------------------------------------------------------------


def decode_varint(buf: memoryview | bytes, pos: int) -> tuple[int, int]:
    """Read one varint at ``pos``; return (unsigned value, position after it)."""
    result = 0
    shift = 0
    end = len(buf)
    for i in range(_MAX_VARINT_BYTES):
        if pos + i >= end:
            raise WireError(f"truncated varint at byte {pos}")
        byte = buf[pos + i]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos + i + 1
        shift += 7
    raise WireError(f"varint longer than {_MAX_VARINT_BYTES} bytes at byte {pos}")


def to_signed64(value: int) -> int:
    """Reinterpret an unsigned 64-bit varint as int64/int32 (negative numbers use 10 bytes)."""
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass(frozen=True)
class Field:
    """One decoded field: its number, wire type and raw value.

    ``value`` is an int for VARINT, a memoryview of the payload for LEN, and a memoryview of the
    4 or 8 little-endian bytes for FIXED32 / FIXED64.
    """

    number: int
    wire: int
    value: int | memoryview

    @property
    def payload(self) -> memoryview:
        """The bytes of a LEN, FIXED32 or FIXED64 field."""
        if isinstance(self.value, int):
            raise WireError(f"field {self.number}: a varint where bytes were expected")
        return self.value

    @property
    def varint(self) -> int:
        """The integer of a VARINT field."""
        if not isinstance(self.value, int):
            raise WireError(f"field {self.number}: bytes where a varint was expected")
        return self.value

    def as_str(self) -> str:
        """The payload of a string field."""
        self._expect(LEN)
        try:
            return bytes(self.payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WireError(f"field {self.number}: invalid UTF-8 string") from exc

    def as_float(self) -> float:
        """A single ``float`` field (fixed32)."""
        self._expect(FIXED32)
        return struct.unpack("<f", self.payload)[0]

    def as_int(self) -> int:
        """A varint field as a signed 64-bit integer."""
        self._expect(VARINT)
        return to_signed64(self.varint)

    def _expect(self, wire: int) -> None:
        if self.wire != wire:
            raise WireError(f"field {self.number}: wire type {self.wire}, expected {wire}")


def iter_fields(buf: bytes | bytearray | memoryview) -> Iterator[Field]:
    """Walk the top-level fields of one message, in file order."""
    view = buf if isinstance(buf, memoryview) else memoryview(buf)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    pos, end = 0, len(view)
    while pos < end:
        key, pos = decode_varint(view, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError(f"field number 0 at byte {pos}")
        if wire == VARINT:
            value, pos = decode_varint(view, pos)
            yield Field(number, wire, value)
            continue
        if wire == LEN:
            size, pos = decode_varint(view, pos)
            stop = pos + size
        elif wire == FIXED32:
            stop = pos + 4
        elif wire == FIXED64:
            stop = pos + 8
        else:
            raise WireError(f"field {number}: unsupported wire type {wire} at byte {pos}")
        if stop > end:
            raise WireError(f"field {number} runs past the end of its message ({stop - end} bytes missing)")
        yield Field(number, wire, view[pos:stop])
        pos = stop


def unpack_floats(fields: Iterable[Field]) -> np.ndarray:
    """Collect a ``repeated float`` field: packed chunks (LEN) and/or single fixed32 values."""
    chunks = []
    for f in fields:
        if f.wire == LEN:
            if len(f.payload) % 4:
                raise WireError(f"field {f.number}: packed floats of {len(f.payload)} bytes (not a multiple of 4)")
            chunks.append(np.frombuffer(f.payload, _FLOAT))
        elif f.wire == FIXED32:
            chunks.append(np.frombuffer(f.payload, _FLOAT))
        else:
            raise WireError(f"field {f.number}: wire type {f.wire} cannot hold floats")
    if not chunks:
        return np.zeros(0, np.float32)
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


def unpack_doubles(fields: Iterable[Field]) -> np.ndarray:
    """Collect a ``repeated double`` field: packed chunks (LEN) and/or single fixed64 values."""
    chunks = []
    for f in fields:
        if f.wire not in (LEN, FIXED64) or len(f.payload) % 8:
            raise WireError(f"field {f.number}: malformed doubles")
        chunks.append(np.frombuffer(f.payload, _DOUBLE))
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float64)


def unpack_varints(fields: Iterable[Field]) -> list[int]:
    """Collect a ``repeated`` integer field: packed chunks (LEN) and/or single varints (signed)."""
    values: list[int] = []
    for f in fields:
        if f.wire == VARINT:
            values.append(to_signed64(f.varint))
        elif f.wire == LEN:
            pos = 0
            while pos < len(f.payload):
                value, pos = decode_varint(f.payload, pos)
                values.append(to_signed64(value))
        else:
            raise WireError(f"field {f.number}: wire type {f.wire} cannot hold integers")
    return values


# -- writing ---------------------------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    """Encode an integer as a varint (negative numbers as 64-bit two's complement, 10 bytes)."""
    if value < 0:
        value += 1 << 64
    if not 0 <= value < 1 << 64:
        raise ValueError(f"{value} does not fit in 64 bits")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return encode_varint((number << 3) | wire)


class MessageWriter:
    """Builds one message from parts without copying large payloads until it is written.

    Methods return ``self`` so calls chain; ``message()`` nests another writer.
    """

    def __init__(self) -> None:
        self._parts: list[bytes | memoryview] = []
        self.size = 0

    def _add(self, *parts: bytes | memoryview) -> MessageWriter:
        for part in parts:
            self._parts.append(part)
            self.size += len(part)
        return self

    def varint(self, number: int, value: int) -> MessageWriter:
        """An integer or bool field (int32/int64/uint32/uint64/bool/enum)."""
        return self._add(_key(number, VARINT), encode_varint(int(value)))

    def fixed_float(self, number: int, value: float) -> MessageWriter:
        """A single ``float`` field (fixed32)."""
        return self._add(_key(number, FIXED32), struct.pack("<f", value))

    def raw_bytes(self, number: int, data: bytes | memoryview) -> MessageWriter:
        """A length-delimited field holding raw bytes."""
        return self._add(_key(number, LEN), encode_varint(len(data)), data)

    def string(self, number: int, text: str) -> MessageWriter:
        """A string field (UTF-8)."""
        return self.raw_bytes(number, text.encode("utf-8"))

    def message(self, number: int, sub: MessageWriter) -> MessageWriter:
        """A nested message field."""
        self._add(_key(number, LEN), encode_varint(sub.size))
        self._parts.extend(sub._parts)
        self.size += sub.size
        return self

    def packed_floats(self, number: int, values: np.ndarray) -> MessageWriter:
        """A packed ``repeated float`` field (little-endian float32)."""
        data = np.ascontiguousarray(values, dtype=_FLOAT).reshape(-1)
        return self.raw_bytes(number, data.tobytes())

    def packed_varints(self, number: int, values: Iterable[int]) -> MessageWriter:
        """A packed ``repeated`` integer field."""
        return self.raw_bytes(number, b"".join(encode_varint(int(v)) for v in values))

    def field(self, field: Field) -> MessageWriter:
        """A field as ``iter_fields`` read it, copied unchanged (its payload is not copied until written)."""
        if field.wire == VARINT:
            return self.varint(field.number, field.varint)
        if field.wire == LEN:
            return self.raw_bytes(field.number, field.payload)
        return self._add(_key(field.number, field.wire), field.payload)

    def to_bytes(self) -> bytes:
        """The serialized message."""
        return b"".join(self._parts)

    def write_to(self, stream: BinaryIO) -> int:
        """Write the serialized message to a binary stream; return the byte count."""
        for part in self._parts:
            stream.write(part)
        return self.size
