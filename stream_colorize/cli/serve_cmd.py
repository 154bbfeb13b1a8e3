"""``stream-colorize serve CONFIG.toml``: several cameras, one shared model, one web page.

$ stream-colorize serve cameras.toml        # see docs/SERVE.md and serve/config.py for the file

It runs until SIGTERM or Ctrl-C (exit status 143 or 130, as every command), whatever the cameras
do: a camera whose source is lost is shown as down and tried again, never the end of the others.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import typer

from ..errors import UsageError
from .console import say


def _note(line: str) -> None:
    say(f"stream-colorize: {line}")


def run_serve(config_path: Path) -> None:
    """Check the file, load the model, listen, start every camera; return only by an exception
    (KeyboardInterrupt for a signal), having stopped everything."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        from ..serve import INSTALL_HINT

        raise UsageError(f"serve needs aiohttp: {INSTALL_HINT}") from None
    from ..build import build_engine
    from ..serve.address import Listen
    from ..serve.cameras import Camera
    from ..serve.cameras_server import CamerasServer
    from ..serve.config import load_serve_config
    from ..serve.shared_model import DEFAULT_BATCH_CAMERAS, SharedModel

    config = load_serve_config(config_path)
    together = DEFAULT_BATCH_CAMERAS if config.batch_cameras is None else config.batch_cameras
    batch = len(config.cameras) if together else 1
    engine = build_engine(dataclasses.replace(config.settings.model, batch=max(batch, config.settings.model.batch)))
    shared = SharedModel(engine, batch).start()
    cameras = {name: Camera(camera, shared, config.max_viewers, _note) for name, camera in config.cameras.items()}
    server = CamerasServer(config.listen, cameras, shared, config.token)
    try:
        server.start()  # UsageError for an address in use, before any camera connects
        hint = " (open it with ?token=...)" if config.token is not None else ""
        names = ", ".join(cameras)
        how = "frames batched across cameras" if batch > 1 else "one frame a forward"
        _note(f"serving {Listen(server.listen.host, server.port).url()}{hint}: {len(cameras)} camera(s) ({names}), "
              f"model {engine.spec.name}, {how}")  # fmt: skip
        for camera in cameras.values():
            camera.start()
        while True:
            time.sleep(0.5)
    finally:
        for camera in cameras.values():
            camera.request_stop()  # every session ends at once; each stop() below then waits for its own
        for camera in cameras.values():
            camera.stop()
        server.stop()
        shared.stop()


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to ``app``."""

    @app.command()
    def serve(
        config: Path = typer.Argument(..., metavar="CONFIG.toml", help="The cameras, the model and where to listen."),
    ) -> None:
        """Serve several cameras in colour on one page, with one shared model (runs until SIGTERM or Ctrl-C)."""
        run_serve(config)
