"""The web view of a live session (optional extra ``serve``: aiohttp).

``address`` (where to listen, the token rule) and ``controls`` (what a viewer may send) need no
extra; ``output.ServeOutput`` (the live output), ``server`` and ``hub`` need aiohttp, loaded by
``load_serve_output`` with a one-line hint when it is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from .output import ServeOutput

INSTALL_HINT = 'pip install "stream-colorize[serve]"'


def load_serve_output() -> type[ServeOutput]:
    """The ``ServeOutput`` class; UsageError naming the extra when aiohttp is not installed."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise UsageError(f"--serve needs aiohttp: {INSTALL_HINT}") from None
    from .output import ServeOutput

    return ServeOutput
