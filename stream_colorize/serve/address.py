"""Where the web view listens, and whether it needs a token: checked before anything starts.

    >>> parse_listen("8080")                        # Listen("127.0.0.1", 8080): loopback unless told
    >>> parse_listen("0.0.0.0:8080").loopback       # False: check_exposure wants a token for it
    >>> check_exposure(parse_listen("[::]:8080"), token=None)   # UsageError naming --token

The rule is simple on purpose: a server reachable from other machines answers only requests that
carry the token; one on the loopback (127.0.0.0/8, ::1, ``localhost``) may go without.  A host
name other than ``localhost`` counts as reachable, whatever it resolves to today.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

DEFAULT_HOST = "127.0.0.1"
MIN_TOKEN = 8  # characters: shorter ones are guessable by a script on the network
_HOST = re.compile(r"^[A-Za-z0-9.-]+$")


@dataclass(frozen=True)
class Listen:
    """A host and port to listen on."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        """True when only this machine can reach the address."""
        return is_loopback(self.host)

    def url(self, path: str = "/") -> str:
        """``http://host:port/path`` (an IPv6 host in brackets; 0.0.0.0 and :: stay as given)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; False for any other address or name."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_listen(text: str) -> Listen:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT`` as a ``Listen`` (host 127.0.0.1 when left out).

    Port 0 asks the system for a free one.  UsageError for anything else."""
    text = text.strip()
    host, port = DEFAULT_HOST, text
    if text.startswith("["):
        closing = text.find("]")
        if closing < 0 or text[closing + 1 : closing + 2] != ":":
            raise UsageError(f"--serve takes [HOST:]PORT, e.g. 8080, 0.0.0.0:8080 or [::1]:8080, not {text!r}")
        host, port = text[1:closing], text[closing + 2 :]
        _check_ip(host, text)
    elif ":" in text:
        host, _, port = text.rpartition(":")
        if ":" in host:
            raise UsageError(f"--serve: put an IPv6 address in brackets, e.g. [{host}]:{port}")
        if not _HOST.match(host):
            raise UsageError(f"--serve: {host!r} is not a host name or address")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--serve takes [HOST:]PORT with a port from 0 to 65535, not {text!r}")
    return Listen(host, int(port))


def _check_ip(host: str, text: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise UsageError(f"--serve: {host!r} in {text!r} is not an IPv6 address") from None


def check_token(token: str) -> str:
    """The token as given, or UsageError when it is too short or holds spaces or control characters
    (it travels in a header and a URL).  The message never repeats it."""
    if len(token) < MIN_TOKEN:
        raise UsageError(f"the token must be at least {MIN_TOKEN} characters long")
    if any(ch.isspace() or not ch.isprintable() for ch in token):
        raise UsageError("the token must not hold spaces or control characters")
    return token


def read_token_file(path: Path) -> str:
    """The token in ``path`` (its first line, trimmed); UsageError when unreadable or bad."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the token file {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    lines = text.strip().splitlines()
    if not lines:
        raise UsageError(f"the token file {path} is empty")
    return check_token(lines[0].strip())


def check_exposure(listen: Listen, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token."""
    if token is None and not listen.loopback:
        raise UsageError(
            f"--serve {listen.host}:{listen.port} can be reached from other machines: give --token or "
            "--token-file (viewers then open the page with ?token=...), or listen on 127.0.0.1"
        )
