"""``serve CONFIG.toml``: the file that names the cameras, the shared model and where to listen.

    [server]
    listen = "127.0.0.1:8080"        # [HOST:]PORT; off the loopback it needs token or token_file
    token_file = "/etc/stream-colorize/token"
    max_viewers = 10                 # per camera

    [model]                          # a preset's [model] table: model (or name), backend, threads, ...
    model = "default"

    [temporal]                       # a preset's [temporal] table: every camera's defaults
    smooth = 0.6

    [cameras.door]
    source = "rtsp://cam-door.lan/stream"
    outputs = ["rtsp://nvr.lan:8554/door-colour"]   # as live --output
    skip = "auto"                    # and any other [temporal] key, for this camera
    retries = 5                      # reconnection attempts after a drop (as live --retries)

    >>> config = load_serve_config(Path("cameras.toml"))    # UsageError naming the file, table and key

Every value is checked before anything starts, by the same rules as the flags and presets
(``config.Settings``, ``address``, ``io.devices.parse_source``, ``io.stream_targets``); an unknown
key anywhere is an error that names it and its table.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import SECTIONS, Settings, TemporalSettings
from ..errors import UsageError
from ..io.devices import SourceSpec, parse_source
from ..io.stream_targets import StreamTarget, stream_target
from .address import Listen, check_token, parse_listen, read_token_file

DEFAULT_LISTEN = "127.0.0.1:8080"
SERVER_KEYS = ("listen", "token", "token_file", "max_viewers", "batch_cameras")
CAMERA_KEYS = ("source", "outputs", "side_by_side", "rtsp_transport", "timeout", "read_timeout", "retries",
               "restart_after") + SECTIONS["temporal"]  # fmt: skip
TOP_KEYS = ("server", "model", "temporal", "cameras")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # goes into URLs and metric labels as it is


@dataclass(frozen=True)
class CameraConfig:
    """One ``[cameras.NAME]`` table, checked."""

    name: str
    spec: SourceSpec
    outputs: tuple[StreamTarget, ...] = ()
    temporal: TemporalSettings = TemporalSettings(skip=None)  # skip None: automatic, as live
    side_by_side: bool = False
    open_timeout: float = 10.0
    read_timeout: float = 5.0
    retries: int = 5
    restart_after: float = 10.0  # seconds between giving up on the source and trying it again


@dataclass(frozen=True)
class ServeConfig:
    """The whole file, checked."""

    path: Path
    listen: Listen
    token: str | None
    max_viewers: int
    settings: Settings  # [model] and [temporal]
    cameras: dict[str, CameraConfig] = field(default_factory=dict)
    batch_cameras: bool | None = None  # one forward for several cameras' frames (None: the measured default)


class _Table:
    """One TOML table being read: hands out its keys by type and complains naming the table."""

    def __init__(self, path: Path, name: str, data: object, known: tuple[str, ...]) -> None:
        self.path, self.name = path, name
        if not isinstance(data, dict):
            raise self.error(f"[{name}] must be a table")
        unknown = [key for key in data if key not in known]
        if unknown:
            raise self.error(f"unknown key {unknown[0]!r} in [{name}] (known: {', '.join(known)})")
        self.data: dict[str, Any] = data

    def error(self, message: str) -> UsageError:
        return UsageError(f"{self.path}: {message}")

    def get(self, key: str, kinds: type | tuple[type, ...], want: str, default: Any = None) -> Any:
        """The value of ``key`` (``default`` when absent); UsageError unless one of ``kinds``."""
        if key not in self.data:
            return default
        value = self.data[key]
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            raise self.error(f"{key} in [{self.name}] must be {want}, not {value!r}")
        return value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None


def _settings(path: Path, data: dict[str, Any]) -> Settings:
    """[model] and [temporal] as a preset has them (``name`` is taken for ``model`` too)."""
    flat: dict[str, Any] = {}
    for group in ("model", "temporal"):
        known = SECTIONS[group] + (("name",) if group == "model" else ())
        table = _Table(path, group, data.get(group, {}), known)
        for key, value in table.data.items():
            key = "model" if key == "name" else key
            if key in flat:
                raise table.error("[model] names the model twice (name and model): keep one")
            flat[key] = value
    if flat.get("skip") == "auto":
        flat["skip"] = None
    try:
        return Settings(temporal=TemporalSettings(skip=None)).override(**flat)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None


def _camera(path: Path, name: str, data: object, base: TemporalSettings) -> CameraConfig:
    where = f"cameras.{name}"
    if not _NAME.match(name):
        raise UsageError(f"{path}: camera name {name!r}: use letters, digits, - and _ (it goes into URLs)")
    table = _Table(path, where, data, CAMERA_KEYS)
    source = table.get("source", str, "a string")
    if source is None or not source.strip():
        raise table.error(f"[{where}] needs a source (a URL, a device, a file or lavfi:...)")
    transport = table.get("rtsp_transport", str, "tcp or udp", "tcp")
    if transport not in ("tcp", "udp"):
        raise table.error(f"rtsp_transport in [{where}] must be tcp or udp, not {transport!r}")
    outputs = table.get("outputs", list, "a list of URLs", [])
    if not all(isinstance(url, str) for url in outputs):
        raise table.error(f"outputs in [{where}] must be a list of URLs (as --output takes)")
    changes = {key: table.data[key] for key in SECTIONS["temporal"] if key in table.data}
    if changes.get("skip") == "auto":
        changes["skip"] = None
    try:
        spec = parse_source(source, rtsp_transport=transport)
        if spec.kind == "file" and spec.call.file != "pipe:0" and not Path(spec.call.file).exists():
            raise UsageError(f"source {source!r}: no such file")
        if spec.call.file == "pipe:0":
            raise UsageError("standard input cannot be a camera's source")
        targets = tuple(stream_target(url) for url in outputs)
        temporal = dataclasses.replace(base, **changes)
        camera = CameraConfig(
            name, spec, targets, temporal,
            side_by_side=table.get("side_by_side", bool, "true or false", False),
            open_timeout=float(table.get("timeout", (int, float), "a number", 10.0)),
            read_timeout=float(table.get("read_timeout", (int, float), "a number", 5.0)),
            retries=table.get("retries", int, "a whole number", 5),
            restart_after=float(table.get("restart_after", (int, float), "a number", 10.0)),
        )  # fmt: skip
    except UsageError as exc:
        raise UsageError(f"{path}: [{where}]: {exc}") from None
    for key in ("open_timeout", "read_timeout"):
        if not 0.5 <= getattr(camera, key) <= 3600:
            raise table.error(f"{key.replace('open_', '')} in [{where}] must be 0.5 to 3600 seconds")
    if camera.retries < 0 or camera.restart_after < 0:
        raise table.error(f"retries and restart_after in [{where}] must not be negative")
    return camera


def load_serve_config(path: Path) -> ServeConfig:
    """Read and check ``path``; UsageError (one line, naming the file) for anything wrong in it."""
    data = _read_toml(path)
    _Table(path, "the top level", data, TOP_KEYS)
    server = _Table(path, "server", data.get("server", {}), SERVER_KEYS)
    try:
        listen = parse_listen(server.get("listen", str, "[HOST:]PORT as a string", DEFAULT_LISTEN))
    except UsageError as exc:
        raise server.error(f"listen in [server]: {str(exc).removeprefix('--serve').strip(' :')}") from None
    token, token_file = server.get("token", str, "a string"), server.get("token_file", str, "a path")
    if token is not None and token_file is not None:
        raise server.error("give token or token_file in [server], not both")
    try:
        if token_file is not None:
            token = read_token_file(path.parent / Path(token_file).expanduser())
        elif token is not None:
            token = check_token(token)
    except UsageError as exc:
        raise server.error(str(exc)) from None
    if token is None and not listen.loopback:
        raise server.error(
            f"listen = {listen.host}:{listen.port} can be reached from other machines: set token_file (or token) "
            "in [server] (viewers then open the page with ?token=...), or listen on 127.0.0.1"
        )
    max_viewers = server.get("max_viewers", int, "a whole number", 10)
    if not 1 <= max_viewers <= 1000:
        raise server.error("max_viewers in [server] must be 1 to 1000")
    settings = _settings(path, data)
    cameras_table = data.get("cameras")
    if not isinstance(cameras_table, dict) or not cameras_table:
        raise UsageError(f"{path}: no cameras: add a [cameras.NAME] table with a source for each")
    cameras = {name: _camera(path, name, table, settings.temporal) for name, table in cameras_table.items()}
    batch = server.get("batch_cameras", bool, "true or false")
    return ServeConfig(path, listen, token, max_viewers, settings, cameras, batch)
