"""Bus messages in Foxglove's well-known schemas, through ``foxglove-sdk``.

A physres recording keeps every message byte for byte (encoding
``physres/v1``), which replays exactly but which Foxglove cannot decode. This
module speaks what Foxglove shows, chosen by the same rule table as the
dashboard's panels (:func:`physres.dashboard.panels.choose_panel`):

* camera frames (``image``/``robot`` panels) → ``foxglove.RawImage``
  (``rgb8``/``mono8``), one per frame;
* tool poses (a 4-value stream in ``m, m, m, rad``: x, y, z, yaw in the
  table frame, tool pointing down) → ``foxglove.FrameTransform`` from
  ``table`` to ``<node>/tool``;
* events with a channel field (spikes, address events) → ``foxglove.Event``,
  one per event, with the channel in its metadata;
* text → ``foxglove.Log``;
* everything numeric (signals, states, scores, predictions) → a plottable
  JSON series (schema ``physres.Series``): one message per sample, each array
  a list of numbers (``/esn/state.state[3]`` in Foxglove's Plot panel). A bus
  message of many samples is block-averaged to at most ``MAX_ROWS`` of them.

:class:`FoxgloveSink` writes to any foxglove ``Context``: an MCAP file
(``physres export foxglove``) or the SDK's WebSocket server
(``physres dashboard --foxglove``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import foxglove
import numpy as np
from foxglove import messages as fm
from foxglove.channels import EventChannel, FrameTransformChannel, LogChannel, RawImageChannel

from physres.bus.codec import Message
from physres.dashboard.panels import Panel, choose_panel, describe_message

__all__ = ["MAX_ROWS", "SERIES_SCHEMA", "FoxgloveSink", "LiveBridge", "schema_for"]

#: most samples of one bus message written as series messages (the rest block-averaged)
MAX_ROWS = 100
#: most events of one bus message written as Event messages
MAX_EVENTS = 10_000
POSE_UNITS = "m, m, m, rad"

SERIES_SCHEMA = {
    "title": "physres.Series",
    "description": "one sample of a physres stream: each array's values at that sample",
    "type": "object",
    "properties": {
        "timestamp": {
            "type": "object",
            "properties": {"sec": {"type": "integer"}, "nsec": {"type": "integer"}},
            "required": ["sec", "nsec"],
        },
        "seq": {"type": "integer"},
        "sample": {"type": "integer"},
    },
    "required": ["timestamp", "seq", "sample"],
    "additionalProperties": {"type": "array", "items": {"type": ["number", "null"]}},
}


def _stamp(ns: int) -> fm.Timestamp:
    ns = max(0, int(ns))
    return fm.Timestamp(sec=ns // 1_000_000_000, nsec=ns % 1_000_000_000)


def _is_pose(panel: Panel) -> bool:
    shape = panel.spec.get("shape")
    return panel.spec.get("units") == POSE_UNITS and list(shape or []) == [4]


#: the Foxglove schema of each panel; every other panel's stream is a plottable series
_SCHEMAS = {
    "image": "foxglove.RawImage",
    "robot": "foxglove.RawImage",
    "raster": "foxglove.Event",
    "text": "foxglove.Log",
}


def schema_for(panel: Panel) -> str:
    """Which Foxglove schema a panel's stream is written in."""
    if _is_pose(panel):
        return "foxglove.FrameTransform"
    return _SCHEMAS.get(panel.kind, "physres.Series")


def _yaw_down_quaternion(yaw: float) -> fm.Quaternion:
    """Rotation of a tool pointing straight down (roll π) turned by ``yaw`` about the vertical."""
    h = yaw / 2
    return fm.Quaternion(x=math.cos(h), y=math.sin(h), z=0.0, w=0.0)


class FoxgloveSink:
    """Writes bus messages to one foxglove ``Context`` (an MCAP file or a live server)."""

    def __init__(self, context: foxglove.Context) -> None:
        self.context = context
        self.channels: dict[str, tuple[Panel, Any]] = {}
        self.written = 0

    def _channel(self, msg: Message, description: Mapping[str, Any] | None) -> tuple[Panel, Any]:
        found = self.channels.get(msg.topic)
        if found is not None:
            return found
        panel = choose_panel(msg.topic, description or describe_message(msg))
        topic = "/" + msg.topic
        kind = schema_for(panel)
        ctx = self.context
        if kind == "foxglove.RawImage":
            ch: Any = RawImageChannel(topic, context=ctx)
        elif kind == "foxglove.FrameTransform":
            ch = FrameTransformChannel(topic, context=ctx)
        elif kind == "foxglove.Event":
            ch = EventChannel(topic, context=ctx)
        elif kind == "foxglove.Log":
            ch = LogChannel(topic, context=ctx)
        else:
            ch = foxglove.Channel(
                topic,
                schema=foxglove.Schema(
                    name="physres.Series",
                    encoding="jsonschema",
                    data=json.dumps(SERIES_SCHEMA).encode(),
                ),
                message_encoding="json",
                context=ctx,
            )
        self.channels[msg.topic] = (panel, ch)
        return panel, ch

    def log(
        self,
        msg: Message,
        log_time_ns: int | None = None,
        description: Mapping[str, Any] | None = None,
    ) -> None:
        """Write one bus message (at ``log_time_ns``, default its host time)."""
        panel, ch = self._channel(msg, description)
        t = msg.t_host if log_time_ns is None else log_time_ns
        kind = schema_for(panel)
        if kind == "foxglove.Log":
            text = msg.meta.get("text")
            if text is not None:
                ch.log(
                    fm.Log(
                        timestamp=_stamp(t),
                        level=fm.LogLevel.Info,
                        message=str(text),
                        name=msg.source,
                    ),
                    log_time=t,
                )
                self.written += 1
            return
        if not msg.arrays:
            return
        a = next(iter(msg.arrays.values()))
        if kind == "foxglove.RawImage":
            self._images(ch, msg.topic, np.asarray(a), t)
        elif kind == "foxglove.FrameTransform":
            self._poses(ch, msg.source, np.asarray(a, dtype=np.float64).reshape(-1, 4), t)
        elif kind == "foxglove.Event":
            self._events(ch, msg, np.asarray(a).reshape(-1), panel.spec.get("channel_field"), t)
        else:
            self._series(ch, msg, t)

    def _images(self, ch: Any, topic: str, frames: np.ndarray, t: int) -> None:
        for f in frames:
            if f.ndim == 3 and f.shape[2] == 1:
                f = f[:, :, 0]
            if f.dtype != np.uint8:
                lo, hi = float(f.min()), float(f.max())
                f = ((f - lo) * (255.0 / (hi - lo or 1.0))).clip(0, 255).astype(np.uint8)
            h, w = f.shape[:2]
            enc = "mono8" if f.ndim == 2 else ("rgb8" if f.shape[2] == 3 else "rgba8")
            ch.log(
                fm.RawImage(
                    timestamp=_stamp(t),
                    frame_id=topic,
                    width=w,
                    height=h,
                    encoding=enc,
                    step=f.strides[0] if f.flags.c_contiguous else w * (f.size // (w * h)),
                    data=np.ascontiguousarray(f).tobytes(),
                ),
                log_time=t,
            )
            self.written += 1

    def _poses(self, ch: Any, source: str, poses: np.ndarray, t: int) -> None:
        for x, y, z, yaw in poses[-MAX_ROWS:]:
            ch.log(
                fm.FrameTransform(
                    timestamp=_stamp(t),
                    parent_frame_id="table",
                    child_frame_id=f"{source}/tool",
                    translation=fm.Vector3(x=float(x), y=float(y), z=float(z)),
                    rotation=_yaw_down_quaternion(float(yaw)),
                ),
                log_time=t,
            )
            self.written += 1

    def _events(self, ch: Any, msg: Message, ev: np.ndarray, field: Any, t: int) -> None:
        names = ev.dtype.names or ()
        tf = next((n for n in names if n.lower() in ("t_ns", "time_ns")), None)
        for e in ev[:MAX_EVENTS]:
            when = int(e[tf]) if tf else msg.t_dev
            meta = [fm.KeyValuePair(key=n, value=str(e[n].item())) for n in names if n != tf]
            meta.append(fm.KeyValuePair(key="source", value=msg.topic))
            ch.log(
                fm.Event(start_time=_stamp(when), end_time=_stamp(when), metadata=meta), log_time=t
            )
            self.written += 1

    def _series(self, ch: Any, msg: Message, t: int) -> None:
        rows: dict[str, np.ndarray] = {}
        for name, a in msg.arrays.items():
            a = np.asarray(a)
            if a.dtype.names or a.dtype.kind not in "biuf":
                continue
            rows[name] = a.reshape(len(a), -1).astype(np.float64) if a.ndim else a.reshape(1, 1)
        if not rows:
            return
        n = min(len(r) for r in rows.values())
        k = max(1, math.ceil(n / MAX_ROWS))
        for i, start in enumerate(range(0, n, k)):
            out: dict[str, Any] = {"timestamp": {"sec": t // 10**9, "nsec": t % 10**9}}
            out.update(seq=int(msg.seq), sample=start)
            for name, r in rows.items():
                vals = r[start : start + k].mean(axis=0)
                out[name] = [float(v) if math.isfinite(v) else None for v in vals]
            ch.log(out, log_time=t + i)
            self.written += 1


class LiveBridge:
    """The SDK's WebSocket server on 127.0.0.1: the live bus, watched in the Foxglove app."""

    def __init__(self, port: int = 8765, host: str = "127.0.0.1") -> None:
        self.context = foxglove.Context()
        self.server = foxglove.start_server(
            name="physres", host=host, port=port, context=self.context
        )
        self.port = self.server.port
        self.sink = FoxgloveSink(self.context)

    def log(self, msg: Message) -> None:
        self.sink.log(msg)

    def close(self) -> None:
        self.server.stop()
