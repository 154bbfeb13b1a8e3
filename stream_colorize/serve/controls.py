"""What a viewer may ask of a live session over HTTP: a fixed set of typed values, nothing else.

    >>> parse_control({"action": "temperature", "value": 0.3})   # Control(Action.TEMPERATURE, value=0.3)
    >>> parse_control({"action": "quit"})                         # BadControl: not offered on the web

Each action takes one JSON value of one type in one range (a switch takes true/false, a slider a
finite number); no string from a request goes further than this module, so a control cannot name
a file, a URL or a command.  Quitting and saving snapshots on the server's disk are left out: a
viewer watches and steers the picture, the person who started the session ends it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import TEMPERATURE_RANGE
from ..io.live_outputs import Action, Control
from ..live import MAX_SMOOTH
from ..live_stats import MAX_SKIP


class BadControl(ValueError):
    """A request body that is not one of the offered controls (the message says which are)."""


@dataclass(frozen=True)
class Knob:
    """One offered control: a switch (``on``) or a number in [low, high] (``value``)."""

    action: Action
    kind: str  # "switch" or "number"
    low: float = 0.0
    high: float = 0.0
    integer: bool = False


KNOBS: dict[str, Knob] = {
    "pause": Knob(Action.PAUSE, "switch"),
    "side": Knob(Action.SIDE_BY_SIDE, "switch"),
    "smooth": Knob(Action.SMOOTHING, "number", 0.0, MAX_SMOOTH),
    "skip": Knob(Action.SKIP, "number", 0, MAX_SKIP, integer=True),  # 0: automatic
    "temperature": Knob(Action.TEMPERATURE, "number", *TEMPERATURE_RANGE),
}
MAX_BODY = 1024  # bytes: a control is a few dozen


def parse_control(body: object) -> Control:
    """``{"action": NAME, "on": bool}`` or ``{"action": NAME, "value": number}`` as a Control;
    BadControl for anything else (an unknown action or key, a wrong type, a number out of range)."""
    if not isinstance(body, dict):
        raise BadControl('send a JSON object such as {"action": "side", "on": true}')
    name = body.get("action")
    knob = KNOBS.get(name) if isinstance(name, str) else None
    if knob is None:
        raise BadControl(f"unknown action; the actions are {', '.join(KNOBS)}")
    wanted = "on" if knob.kind == "switch" else "value"
    extra = set(body) - {"action", wanted}
    if extra or wanted not in body:
        raise BadControl(f"{name} takes exactly one key besides action: {wanted}")
    given = body[wanted]
    if knob.kind == "switch":
        if not isinstance(given, bool):
            raise BadControl(f"{name}: on must be true or false")
        return Control(knob.action, on=given)
    if isinstance(given, bool) or not isinstance(given, (int, float)) or not math.isfinite(given):
        raise BadControl(f"{name}: value must be a number")
    if knob.integer and given != int(given):
        raise BadControl(f"{name}: value must be a whole number")
    if not knob.low <= given <= knob.high:
        raise BadControl(f"{name}: value must be from {knob.low:g} to {knob.high:g}")
    return Control(knob.action, value=float(given))
