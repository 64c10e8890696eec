"""Server-side downsampling: what each panel keeps of its stream, and what it sends.

A 64-channel 25 kHz stream or 30 fps video must never flood a browser, so
every panel holds a small summary (the latest frame shrunk, a ring of
block-averaged points, a window of events) that ``feed`` updates in the bus
thread, and the page gets at most ``max_hz`` snapshots of it (latest wins: a
snapshot is the panel's whole present state, so skipped ones lose nothing
the next one does not show).

Snapshots travel as binary WebSocket messages (:func:`pack`): a JSON header
and raw little-endian arrays, each 8-byte aligned so the page views them as
typed arrays without copying. Frames are raw pixels, never base64 in JSON.
"""

from __future__ import annotations

import json
import math
import struct
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

import cv2
import numpy as np

from physres.bus.codec import Message
from physres.dashboard.panels import Panel

__all__ = ["REDUCERS", "Reducer", "make_reducer", "pack", "unpack"]

_LEN = struct.Struct("<I")


def pack(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> bytes:
    """``u32 header length | JSON header (space-padded) | arrays, each 8-byte aligned``."""
    parts, layout, off = [], [], 0
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        raw = a.tobytes()
        layout.append([name, a.dtype.str.lstrip("<|="), list(a.shape), off, len(raw)])
        pad = -len(raw) % 8
        parts.append(raw + b"\0" * pad)
        off += len(raw) + pad
    head = json.dumps({**header, "arrays": layout}, separators=(",", ":")).encode()
    head += b" " * (-(len(head) + _LEN.size) % 8)
    return _LEN.pack(len(head)) + head + b"".join(parts)


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The inverse of :func:`pack` (tests and tools read what the page reads)."""
    (n,) = _LEN.unpack_from(data, 0)
    header = json.loads(data[4 : 4 + n])
    base = 4 + n
    arrays = {
        name: np.frombuffer(data, dtype=np.dtype(dt), count=math.prod(shape), offset=base + off)
        .reshape(shape)
        .copy()
        for name, dt, shape, off, _nbytes in header.pop("arrays")
    }
    return header, arrays


def _rows(a: np.ndarray) -> np.ndarray:
    """A chunk as (T, channels) float64: one row per sample."""
    a = np.asarray(a)
    if a.ndim == 0:
        a = a.reshape(1)
    return a.reshape(a.shape[0], -1).astype(np.float64, copy=False)


def _block_mean(x: np.ndarray, k: int, axis: int = 0) -> np.ndarray:
    """Mean of consecutive blocks of ``k`` along ``axis`` (the last block may be shorter)."""
    if k <= 1:
        return x
    n = x.shape[axis]
    starts = np.arange(0, n, k)
    sums = np.add.reduceat(x, starts, axis=axis)
    counts = np.diff(np.append(starts, n)).astype(np.float64)
    shape = [1] * x.ndim
    shape[axis] = len(counts)
    return sums / counts.reshape(shape)


class Reducer:
    """A panel's summary of its stream: ``feed`` in the bus thread, ``snapshot`` to send."""

    #: most snapshots per second sent to one page
    max_hz: ClassVar[float] = 15.0

    def __init__(self, panel: Panel) -> None:
        self.panel = panel
        self.spec = panel.spec
        #: bumped by every feed: a page that has seen this version needs nothing
        self.version = 0
        #: host time (ns, the publisher's clock) of the newest message folded in
        self.t_host = 0
        self.messages = 0

    def feed(self, msg: Message) -> None:
        self._feed(msg)
        self.version += 1
        self.messages += 1
        self.t_host = msg.t_host

    def _feed(self, msg: Message) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define _feed(msg)")

    def snapshot(self) -> bytes:
        header, arrays = self._snapshot()
        return pack(
            {
                "type": "panel",
                "id": self.panel.topic,
                "kind": self.panel.kind,
                "v": self.version,
                "t_host": self.t_host,
                "messages": self.messages,
                **header,
            },
            arrays,
        )

    def _snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        raise NotImplementedError(f"{type(self).__name__} must define _snapshot()")


class ImageReducer(Reducer):
    """The latest frame, shrunk to at most ``max_side`` pixels a side, as 8-bit pixels."""

    max_hz = 20.0
    max_side = 240

    def __init__(self, panel: Panel) -> None:
        super().__init__(panel)
        self.frame: np.ndarray | None = None

    def _feed(self, msg: Message) -> None:
        a = next(iter(msg.arrays.values()), None)
        if a is None or a.ndim < 3 or len(a) == 0:
            return
        f = np.asarray(a[-1])
        if f.ndim == 3 and f.shape[2] == 1:
            f = f[:, :, 0]
        h, w = f.shape[:2]
        scale = self.max_side / max(h, w)
        if scale < 1:
            f = cv2.resize(
                f,
                (max(1, round(w * scale)), max(1, round(h * scale))),
                interpolation=cv2.INTER_AREA,
            )
        if f.dtype != np.uint8:
            lo, hi = float(np.min(f)), float(np.max(f))
            f = ((f - lo) * (255.0 / (hi - lo or 1.0))).clip(0, 255).astype(np.uint8)
        self.frame = f

    def _snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, ({} if self.frame is None else {"frame": self.frame})


class RobotReducer(ImageReducer):
    """The robot's camera plus the actions it was sent last and the prompt it follows."""

    def __init__(self, panel: Panel) -> None:
        super().__init__(panel)
        self.actions: dict[str, list[float]] = {}
        self.prompt: dict[str, Any] = {}

    def note_actions(self, msg: Message) -> None:
        """What the arm was actually sent (its ``sent`` topic): the last row of each input."""
        for name, a in msg.arrays.items():
            rows = _rows(a)
            if len(rows):
                self.actions[name] = [round(float(v), 4) for v in rows[-1][:16]]
        self.version += 1

    def note_prompt(self, prompt: Mapping[str, Any]) -> None:
        self.prompt = dict(prompt)
        self.version += 1

    def _snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        header, arrays = super()._snapshot()
        return {**header, "actions": self.actions, "prompt": self.prompt}, arrays


class TraceReducer(Reducer):
    """A ring of block-averaged points per channel (the first ``max_channels`` shown)."""

    points = 600
    max_channels = 8
    #: points per second per channel kept of a fast stream (a 25 kHz one is averaged 250:1)
    points_per_s = 100.0

    def __init__(self, panel: Panel) -> None:
        super().__init__(panel)
        rate = self.spec.get("rate_hz")
        self.rate = float(rate) if isinstance(rate, (int, float)) and rate > 0 else None
        self.block = max(1, math.ceil(self.rate / self.points_per_s)) if self.rate else 1
        self.x: deque[float] = deque(maxlen=self.points)
        self.y: deque[np.ndarray] = deque(maxlen=self.points)
        self.channels = 0
        self.samples = 0

    def _feed(self, msg: Message) -> None:
        a = next(iter(msg.arrays.values()), None)
        if a is None or a.dtype.names or len(np.shape(a)) == 0 or len(a) == 0:
            return
        rows = _rows(a)
        self.channels = rows.shape[1]
        rows = rows[:, : self.max_channels]
        block = self.block if self.rate else max(1, math.ceil(len(rows) / 50))
        means = _block_mean(rows, block)
        idx = self.samples + np.arange(len(means)) * block
        x = idx / self.rate if self.rate else idx.astype(np.float64)
        self.samples += len(rows)
        self.x.extend(x.tolist())
        self.y.extend(means)

    def _snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        if not self.y:
            return {"channels": self.channels}, {}
        y = np.stack(list(self.y)).T.astype(np.float32)
        return (
            {
                "channels": self.channels,
                "shown": int(y.shape[0]),
                "x_unit": "s" if self.rate else "sample",
            },
            {"x": np.asarray(self.x, dtype=np.float64), "y": y},
        )


class HeatmapReducer(Reducer):
    """The last ``rows`` state vectors, at most ``max_cols`` wide (neighbours averaged)."""

    rows = 120
    max_cols = 128
    #: most rows one message adds (a stepped simulator's 1,000-step chunk: 8 block means)
    rows_per_message = 8

    def __init__(self, panel: Panel) -> None:
        super().__init__(panel)
        self.ring: deque[np.ndarray] = deque(maxlen=self.rows)
        self.width = 0

    def _feed(self, msg: Message) -> None:
        a = next(iter(msg.arrays.values()), None)
        if a is None or a.dtype.names or np.ndim(a) == 0 or len(a) == 0:
            return
        rows = _rows(a)
        self.width = rows.shape[1]
        if rows.shape[1] > self.max_cols:
            rows = _block_mean(rows, math.ceil(rows.shape[1] / self.max_cols), axis=1)
        rows = _block_mean(rows, math.ceil(len(rows) / self.rows_per_message))
        self.ring.extend(rows.astype(np.float32))

    def _snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        if not self.ring:
            return {"width": self.width}, {}
        z = np.stack(list(self.ring))
        finite = z[np.isfinite(z)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        return {"width": self.width, "lo": lo, "hi": hi}, {"z": z}


class RasterReducer(Reducer):
    """Events of the last ``window_s`` (at most ``max_events``) and each channel's rate."""

    window_s = 2.0
    max_events = 4000
    max_channels = 1024

    def __init__(self, panel: Panel) -> None:
        super().__init__(panel)
        self.field = str(self.spec.get("channel_field") or "channel")
        self.t: deque[float] = deque()
        self.ch: deque[int] = deque()
        self.n_channels = 0

    def _times(self, ev: np.ndarray, msg: Message) -> np.ndarray:
        names = ev.dtype.names or ()
        tf = next((n for n in names if n.lower() in ("t_ns", "time_ns", "t")), None)
        if tf is None:  # no time field: the message's device time for all of them
            return np.full(len(ev), msg.t_dev / 1e9)
        t = ev[tf].astype(np.float64)
        return t / 1e9 if tf.endswith("ns") else t

    def _feed(self, msg: Message) -> None:
        ev = next(iter(msg.arrays.values()), None)
        if ev is None or not ev.dtype.names or self.field not in ev.dtype.names:
            return
        ev = ev.reshape(-1)
        ch = ev[self.field].astype(np.int64)
        keep = (ch >= 0) & (ch < self.max_channels)
        t = self._times(ev, msg)[keep]
        ch = ch[keep]
        if ch.size:
            self.n_channels = max(self.n_channels, int(ch.max()) + 1)
        self.t.extend(t.tolist())
        self.ch.extend(ch.tolist())
        now = max(self.t) if self.t else 0.0
        while self.t and (self.t[0] < now - self.window_s or len(self.t) > self.max_events):
            self.t.popleft()
            self.ch.popleft()

    def _snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        t = np.asarray(self.t, dtype=np.float64)
        ch = np.asarray(self.ch, dtype=np.int32)
        span = max(float(t.max() - t.min()), 1e-3) if t.size > 1 else self.window_s
        rates = np.bincount(ch, minlength=self.n_channels).astype(np.float32) / span
        t0 = float(t.max()) if t.size else 0.0
        return (
            {"channels": self.n_channels, "window_s": self.window_s},
            {"t": (t - t0).astype(np.float32), "ch": ch, "rates": rates},
        )


class ReadoutReducer(Reducer):
    """Prediction against target (first output) and the running NRMSE over every pair seen."""

    points = 600

    def __init__(self, panel: Panel) -> None:
        super().__init__(panel)
        self.pred: deque[float] = deque(maxlen=self.points)
        self.target: deque[float] = deque(maxlen=self.points)
        self.n = 0
        self._sse = 0.0
        self._sum = 0.0
        self._sumsq = 0.0
        self.score: float | None = None
        self.metric = "nrmse"

    def _feed(self, msg: Message) -> None:
        p = msg.arrays.get("prediction")
        y = msg.arrays.get("target")
        if p is None or y is None:
            return
        p, y = _rows(p)[:, 0], _rows(y)[:, 0]
        n = min(len(p), len(y))
        p, y = p[:n], y[:n]
        ok = np.isfinite(p) & np.isfinite(y)
        p, y = p[ok], y[ok]
        self.pred.extend(p.tolist())
        self.target.extend(y.tolist())
        self.n += len(y)
        self._sse += float(np.sum((y - p) ** 2))
        self._sum += float(np.sum(y))
        self._sumsq += float(np.sum(y * y))
        if isinstance(msg.meta.get("score"), (int, float)):
            self.score = float(msg.meta["score"])
            self.metric = str(msg.meta.get("metric", "score"))[:40]
        elif self.n > 1:
            var = self._sumsq / self.n - (self._sum / self.n) ** 2
            self.score = math.sqrt(self._sse / self.n / var) if var > 0 else None

    def _snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return (
            {"score": self.score, "metric": self.metric, "pairs": self.n},
            {
                "prediction": np.asarray(self.pred, dtype=np.float32),
                "target": np.asarray(self.target, dtype=np.float32),
            },
        )


class TextReducer(Reducer):
    """The last few texts (a message's ``text`` meta, or a byte array of UTF-8)."""

    max_hz = 5.0
    keep = 20

    def __init__(self, panel: Panel) -> None:
        super().__init__(panel)
        self.lines: deque[str] = deque(maxlen=self.keep)

    def _feed(self, msg: Message) -> None:
        text = msg.meta.get("text")
        if text is None and msg.arrays:
            a = next(iter(msg.arrays.values()))
            if a.dtype == np.uint8:
                text = a.tobytes().decode("utf-8", "replace")
        if text is not None:
            self.lines.append(str(text)[:500])

    def _snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"lines": list(self.lines)}, {}


class ValueReducer(Reducer):
    """Whatever else: the latest value, shortened, and how many messages came."""

    max_hz = 5.0

    def __init__(self, panel: Panel) -> None:
        super().__init__(panel)
        self.text = ""

    def _feed(self, msg: Message) -> None:
        bits = [
            f"{k}: {np.array2string(np.asarray(v)[-1:], threshold=20)}"
            for k, v in msg.arrays.items()
            if np.ndim(v)
        ]
        if msg.meta:
            bits.append(json.dumps(msg.meta, default=str)[:300])
        self.text = "\n".join(bits)[:1000]

    def _snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"text": self.text}, {}


REDUCERS: dict[str, type[Reducer]] = {
    "readout": ReadoutReducer,
    "robot": RobotReducer,
    "image": ImageReducer,
    "raster": RasterReducer,
    "text": TextReducer,
    "heatmap": HeatmapReducer,
    "traces": TraceReducer,
    "value": ValueReducer,
}


def make_reducer(panel: Panel) -> Reducer:
    return REDUCERS[panel.kind](panel)
