"""Presets: TOML files of settings, by name (``configs/``) or path; ``load_settings`` reads one.

    >>> settings = load_settings("film")                      # configs/film.toml
    >>> settings = load_settings("mine.toml").override(skip=2)  # flags on top of a preset

A preset is a TOML file with up to four tables, ``[model]``, ``[temporal]``, ``[encode]`` and
``[input]`` (``SECTIONS`` says which key belongs where; a key in the wrong table, an unknown key
and a wrong type are errors).  Keys at the top level, as older presets have them, are read too.
Presets shipped with the project live in ``configs/``; a name without a suffix (``film``,
``fast``) looks there.  ``video`` reads every key; ``live``, ``image`` and ``eval`` read the
groups they have a use for.  Presets written before ``smooth`` became a strength still read:
``smooth = true`` is the default strength, ``false`` is 0, ``smooth_strength = S`` is ``smooth = S``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import fields
from pathlib import Path

from .config import GROUPS, SECTIONS, TIME_KEYS, Settings, flat_key
from .errors import UsageError
from .smoothers import DEFAULT_SMOOTH
from .timespec import parse_time

# A checkout has configs/ beside the package; an installed copy has it as stream_colorize/_configs.
PRESET_DIRS = (Path(__file__).resolve().parent.parent / "configs", Path(__file__).resolve().parent / "_configs")


def _key_types() -> dict[str, tuple[type, ...]]:
    kinds: dict[str, tuple[type, ...]] = {}
    for kind in GROUPS.values():
        for f in fields(kind):
            text = str(f.type)
            if text.startswith("float"):
                kinds[flat_key(f.name)] = (float, int)
            elif text.startswith("int"):
                kinds[flat_key(f.name)] = (int,)
            elif text.startswith("bool"):
                kinds[flat_key(f.name)] = (bool,)
            else:
                kinds[flat_key(f.name)] = (str,)
    return kinds


def find_preset(name_or_path: str | Path) -> Path:
    """The TOML file for a path or a preset name (looked up in configs/)."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if path.suffix == "" and path.parent == Path("."):
        for folder in PRESET_DIRS:
            candidate = folder / f"{path.name}.toml"
            if candidate.is_file():
                return candidate
    known = sorted({p.stem for d in PRESET_DIRS if d.is_dir() for p in d.glob("*.toml")})
    hint = f" (presets: {', '.join(known)})" if known else ""
    raise UsageError(f"config file not found: {name_or_path}{hint}")


def read_preset(name_or_path: str | Path) -> dict[str, object]:
    """Read and type-check a preset; return its values by field name."""
    path = find_preset(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config {path} is not valid TOML: {exc}") from exc
    kinds = _key_types()
    data = _flatten(data, path)
    _read_old_smoothing(data)
    for key, value in data.items():
        if key in TIME_KEYS and isinstance(value, str):  # "00:10:00", as -ss takes it
            value = data[key] = parse_time(value, f"config {path}: {key}")
        if key not in kinds:
            raise UsageError(f"config {path}: unknown key {key!r} (known: {', '.join(sorted(kinds))})")
        ok = isinstance(value, kinds[key]) and not (isinstance(value, bool) and kinds[key] != (bool,))
        if not ok:
            raise UsageError(f"config {path}: {key} must be {kinds[key][0].__name__}, not {type(value).__name__}")
        if kinds[key] == (float, int):
            assert isinstance(value, (int, float))  # checked just above
            data[key] = float(value)
    try:
        Settings().override(**data)  # the ranges, with the file named: a bad value is the preset's fault
    except UsageError as exc:
        raise UsageError(f"config {path}: {exc}") from None
    return data


def _flatten(data: dict[str, object], path: Path) -> dict[str, object]:
    """The sections' keys and the top-level keys as one table, each key checked against its section."""
    flat: dict[str, object] = {}
    for key, value in data.items():
        if key not in SECTIONS or not isinstance(value, dict):  # a top-level key (``model = "x"`` too)
            if key in flat:
                raise UsageError(f"config {path}: {key} is set twice")
            flat[key] = value
            continue
        for name, item in value.items():
            if name not in SECTIONS[key]:
                home = next((s for s, keys in SECTIONS.items() if name in keys), None)
                where = f"it belongs in [{home}]" if home else f"[{key}] takes {', '.join(SECTIONS[key])}"
                raise UsageError(f"config {path}: {name!r} is not a [{key}] setting; {where}")
            if name in flat:
                raise UsageError(f"config {path}: {name} is set twice")
            flat[name] = item
    return flat


def _read_old_smoothing(data: dict[str, object]) -> None:
    """Presets from before ``smooth`` was a strength: ``smooth = true|false`` and ``smooth_strength``."""
    strength = data.pop("smooth_strength", None)
    switch = data.get("smooth")
    if isinstance(switch, bool):
        data["smooth"] = (strength if strength is not None else DEFAULT_SMOOTH) if switch else 0.0
    elif strength is not None and switch is None:
        data["smooth"] = strength


def as_settings(value: object) -> Settings:
    """A ``Settings`` as given, a preset's name or path loaded (``load_settings``), None as the
    defaults; UsageError for anything else."""
    if value is None:
        return Settings()
    if isinstance(value, Settings):
        return value
    if isinstance(value, (str, bytes, os.PathLike)):
        return load_settings(os.fsdecode(os.fspath(value)))
    raise UsageError(f"settings must be a Settings, a preset name or a preset path, not {type(value).__name__}")


def load_settings(config: str | Path | None = None) -> Settings:
    """Defaults, with a preset file's values on top when one is given."""
    if config is None:
        return Settings()
    return Settings().override(**read_preset(config))
