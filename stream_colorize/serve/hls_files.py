"""``/hls/NAME``: the HLS output of ``live --output NAME.m3u8`` handed to browsers that need it.

    >>> response = await hls_response(plan, "index.m3u8", token="s3cret")   # plan: io.hls.HlsPlan

Only the playlist's own name and the segment names ``io/hls.py`` gives are served (``plan.serves``):
no path, no ``..``, no other file of the folder, no symbolic link (the file is opened with
``O_NOFOLLOW`` and must be a regular file).  The route sits behind the server's token rule like
every other; a player such as Safari's fetches the segments by the addresses the playlist gives,
without the page's Authorization header, so a playlist asked for with ``?token=`` names its
segments with the same ``?token=``.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from ..io.hls import HlsPlan

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
MAX_FILE = 64 * 1024 * 1024  # a segment of a second or two is far below this


def _read(path: Path) -> bytes | None:
    """The file's bytes, or None when it is missing, not a regular file or a link."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE:
            return None
        return file.read()


def with_token(playlist: bytes, token: str) -> bytes:
    """The playlist with ``?token=`` on each segment's address (the lines that are not tags)."""
    suffix = "?token=" + quote(token, safe="")
    lines = playlist.decode("utf-8", "replace").splitlines()
    out = [line + suffix if line.strip() and not line.startswith("#") else line for line in lines]
    return ("\n".join(out) + "\n").encode()


async def hls_response(plan: HlsPlan, name: str, token: str | None) -> web.Response:
    """The playlist or segment ``name`` (404 for anything else); ``token``: the one the request
    carried in its query, to pass on to the segments."""
    if not plan.serves(name):
        return web.json_response({"error": "no such file"}, status=404)
    data = await asyncio.get_running_loop().run_in_executor(None, _read, plan.folder / name)
    if data is None:
        why = "no playlist yet (the first segment is still being made)" if name == plan.playlist.name else "gone"
        return web.json_response({"error": why}, status=404)
    if name == plan.playlist.name:
        body = with_token(data, token) if token else data
        return web.Response(body=body, content_type=PLAYLIST_TYPE)
    return web.Response(body=data, content_type=SEGMENT_TYPE)
