"""Reading Caffe's text ``.prototxt`` (protobuf text format) without protobuf: blocks as dicts.

    >>> blocks = read_prototxt(Path("colorization_deploy_v2.prototxt"))   # one dict per layer
    >>> first(blocks[0], "type"), first(blocks[0], "convolution_param", {})

Each block is ``{field: [values...]}`` (a field may repeat); nested blocks are dicts again.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import ModelError

_TOKEN = re.compile(
    r"""\s+|\#[^\n]*|(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<punct>[{}:\[\],;<>])|(?P<word>[^\s{}:\[\],;<>\#"']+)"""
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ModelError(f"prototxt: unexpected character {text[pos]!r} at offset {pos}")
        pos = m.end()
        kind = m.lastgroup
        if kind:
            out.append((kind, m.group(kind)))
    return out


def _scalar(kind: str, token: str) -> object:
    if kind == "str":
        return token[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    low = token.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(token)
        except ValueError:
            pass
    return token  # an enum name


def parse_prototxt(text: str) -> dict[str, list]:
    """Parse protobuf text format into nested dicts; every key maps to a list of its values."""
    tokens = _tokens(text)
    pos = 0

    def block(closing: str | None) -> dict[str, list]:
        nonlocal pos
        obj: dict[str, list] = {}
        while True:
            if pos >= len(tokens):
                if closing:
                    raise ModelError("prototxt: a block is not closed")
                return obj
            kind, tok = tokens[pos]
            pos += 1
            if closing and tok == closing and kind == "punct":
                return obj
            if kind != "word":
                raise ModelError(f"prototxt: expected a field name, found {tok!r}")
            if pos < len(tokens) and tokens[pos][1] == ":":
                pos += 1
            if pos >= len(tokens):
                raise ModelError(f"prototxt: field {tok!r} has no value")
            vkind, value = tokens[pos]
            pos += 1
            if value in ("{", "<"):
                parsed: object = block("}" if value == "{" else ">")
            elif value == "[":
                items = []
                while pos < len(tokens) and tokens[pos][1] != "]":
                    if tokens[pos][1] != ",":
                        items.append(_scalar(*tokens[pos]))
                    pos += 1
                pos += 1
                obj.setdefault(tok, []).extend(items)
                continue
            elif vkind == "punct":
                raise ModelError(f"prototxt: field {tok!r} has no value")
            else:
                parsed = _scalar(vkind, value)
            obj.setdefault(tok, []).append(parsed)
            if pos < len(tokens) and tokens[pos][1] in (",", ";"):
                pos += 1

    return block(None)


def read_prototxt(path: Path) -> list[dict[str, list]]:
    """The layers of a deploy .prototxt (``layer`` or legacy ``layers`` blocks), in order."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    try:
        net = parse_prototxt(text)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from exc
    return net.get("layer", []) + net.get("layers", [])


def first(block: dict[str, list], key: str, default: Any = None) -> Any:
    """The first value of ``key`` in a parsed prototxt block, or ``default``."""
    values = block.get(key)
    return values[0] if values else default
