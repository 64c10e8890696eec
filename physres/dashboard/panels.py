"""Which panel shows a stream: one rule table from the stream's own description.

A stream is described by what its node advertises in heartbeats (``dtype``,
``shape``, ``units``, ``rate_hz``, ``carries``; see
:class:`physres.device.StreamSpec`) or, for topics nobody declared (a
recording, ``<device>/sent``), by what its first message shows
(:func:`describe_message`). The rules below map that description to a panel
kind; the first rule that matches wins. A new substrate that describes its
streams gets its panels without dashboard code: add a row here only for a
new *kind of data*, never for a new device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from physres.bus.codec import Message
from physres.bus.dtypes import dtype_from_wire, dtype_to_wire

__all__ = [
    "PANEL_KINDS",
    "RULES",
    "Panel",
    "Rule",
    "choose_panel",
    "describe_message",
]

#: every panel the page knows how to draw
PANEL_KINDS = ("readout", "robot", "image", "raster", "text", "heatmap", "traces", "value")

#: names an event stream's channel field may have (electrode, neuron, address)
_CHANNEL_FIELDS = ("channel", "ch", "neuron", "address", "addr", "electrode", "unit")
#: states wider than this are a heat-map (a reservoir); narrower ones are traces (joints)
HEATMAP_MIN_WIDTH = 16
#: signals wider than this are a heat-map too (a 64-electrode array is traces, 1,024 features not)
TRACES_MAX_WIDTH = 256


@dataclass(frozen=True)
class Panel:
    """One panel on the page: which topic, how it is drawn, and why (the rule's name)."""

    topic: str
    kind: str
    rule: str
    title: str
    spec: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.topic,
            "kind": self.kind,
            "rule": self.rule,
            "title": self.title,
            "spec": dict(self.spec),
        }


@dataclass(frozen=True)
class Rule:
    """``when(description, node)`` true → the stream gets panel ``kind``."""

    name: str
    kind: str
    when: Callable[[Mapping[str, Any], Mapping[str, Any]], bool]


def _dtype(d: Mapping[str, Any]) -> np.dtype | None:
    try:
        return dtype_from_wire(d.get("dtype", "<f8"))
    except ValueError:
        return None


def _shape(d: Mapping[str, Any]) -> tuple[int | None, ...]:
    s = d.get("shape", ())
    if not isinstance(s, (list, tuple)):
        return ()
    return tuple(x if isinstance(x, int) and not isinstance(x, bool) else None for x in s)


def _numeric(d: Mapping[str, Any]) -> bool:
    dt = _dtype(d)
    return dt is not None and dt.kind in "biuf"


def _is_image_shape(shape: tuple[int | None, ...]) -> bool:
    if len(shape) == 2:
        return all(isinstance(x, int) and x >= 8 for x in shape)
    if len(shape) == 3:
        return all(isinstance(x, int) and x >= 8 for x in shape[:2]) and shape[2] in (1, 3, 4)
    return False


def _is_frame(d: Mapping[str, Any], _n: Mapping[str, Any]) -> bool:
    return d.get("carries") == "frame" and _numeric(d) and _is_image_shape(_shape(d))


def _channel_field(dt: np.dtype | None) -> str | None:
    if dt is None or not dt.names:
        return None
    return next((f for f in dt.names if f.lower() in _CHANNEL_FIELDS), None)


def _width(d: Mapping[str, Any]) -> int:
    return math.prod(x or 0 for x in _shape(d)) if _shape(d) else 1


def _node_has(node: Mapping[str, Any], command: str) -> bool:
    cmds = node.get("commands")
    return isinstance(cmds, list) and command in cmds


def _arrays(d: Mapping[str, Any]) -> Sequence[str]:
    a = d.get("arrays")
    return [str(x) for x in a] if isinstance(a, (list, tuple)) else ()


RULES: tuple[Rule, ...] = (
    Rule(
        "prediction and target arrays",
        "readout",
        lambda d, n: {"prediction", "target"} <= set(_arrays(d)),
    ),
    Rule(
        "camera frame of a node with an e-stop (a robot)",
        "robot",
        lambda d, n: _is_frame(d, n) and _node_has(n, "estop"),
    ),
    Rule("camera frame", "image", _is_frame),
    Rule(
        "events with a channel field",
        "raster",
        lambda d, n: d.get("carries") == "events" and _channel_field(_dtype(d)) is not None,
    ),
    Rule("text", "text", lambda d, n: d.get("carries") == "text"),
    Rule(
        f"state of {HEATMAP_MIN_WIDTH} or more values",
        "heatmap",
        lambda d, n: d.get("carries") == "state" and _numeric(d) and _width(d) >= HEATMAP_MIN_WIDTH,
    ),
    Rule(
        f"a vector of more than {TRACES_MAX_WIDTH} values (image features)",
        "heatmap",
        lambda d, n: _numeric(d) and len(_shape(d)) == 1 and _width(d) > TRACES_MAX_WIDTH,
    ),
    Rule(
        "scalar or one value per channel",
        "traces",
        lambda d, n: _numeric(d) and len(_shape(d)) <= 1,
    ),
    Rule("numeric grid", "heatmap", lambda d, n: _numeric(d) and len(_shape(d)) == 2),
    Rule("anything else: the latest value", "value", lambda d, n: True),
)


def choose_panel(
    topic: str, description: Mapping[str, Any], node: Mapping[str, Any] | None = None
) -> Panel:
    """The panel for ``topic`` from its stream description and its node's listing row."""
    node = node or {}
    for rule in RULES:
        if rule.when(description, node):
            break
    spec = {
        k: description.get(k)
        for k in ("dtype", "shape", "units", "rate_hz", "carries", "arrays")
        if description.get(k) is not None
    }
    if rule.kind == "raster":
        spec["channel_field"] = _channel_field(_dtype(description))
    units = description.get("units") or ""
    title = f"{topic} [{units}]" if units else topic
    return Panel(topic=topic, kind=rule.kind, rule=rule.name, title=title, spec=spec)


def _looks_like_image(a: np.ndarray) -> bool:
    """A chunk (T, H, W[, C]) of 8-bit pixels: how a frame looks without a description."""
    return a.dtype == np.uint8 and _is_image_shape(tuple(int(x) for x in a.shape[1:]))


def describe_message(msg: Message) -> dict[str, Any]:
    """A stream description from one message, for topics no node declared.

    Shapes are per sample (the leading time axis dropped), as in a StreamSpec.
    ``carries`` is inferred: 8-bit images are frames, structured arrays with a
    channel field are events, a message's ``text`` meta is text.
    """
    arrays = msg.arrays
    if not arrays:
        return {"carries": "text", "arrays": []} if "text" in msg.meta else {"arrays": []}
    first = next(iter(arrays.values()))
    d: dict[str, Any] = {
        "dtype": dtype_to_wire(first.dtype),
        "shape": list(first.shape[1:]) if first.ndim else [],
        "units": next(iter(msg.units.values()), "") if msg.units else "",
        "arrays": list(arrays),
    }
    if _looks_like_image(first):
        d["carries"] = "frame"
    elif _channel_field(first.dtype) is not None:
        d["carries"] = "events"
        d["shape"] = [None]
    else:
        d["carries"] = "continuous"
    return d
