"""The one message format on the bus: ``[topic, header, *buffers]``.

* ``topic`` — the routing key SUB sockets filter on by prefix: ``<source>/<stream>``
  for what a node publishes, ``<node>/in`` for inputs addressed to a device.
* ``header`` — msgpack map (short keys keep it small for 64-byte messages)::

      v    schema version (int, currently 1)
      src  source node name          st   stream name
      seq  per-stream counter, +1 per message (gaps = drops)
      td   device time, ns           th   host time (time.time_ns), ns
      b    [[name, dtype, shape, units], ...] one entry per buffer
      m    small msgpack-able extras (prompt text, command args, ids)

* ``buffers`` — raw array bytes, C order. Large arrays go out with
  ``copy=False`` (zero-copy); nothing is ever pickled.

:func:`decode` validates everything and raises :class:`~physres.errors.FrameError`
with a ``kind`` so receivers can count garbage by kind and skip it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from physres.device.spec import dtype_from_wire, dtype_to_wire
from physres.errors import FrameError

__all__ = ["SCHEMA_VERSION", "Message", "decode", "encode", "pack_meta", "topic_of"]

SCHEMA_VERSION = 1
_MAX_DIMS = 32


@dataclass(slots=True)
class Message:
    """A decoded bus message; ``arrays`` are read-only views on the received buffers."""

    source: str
    stream: str
    topic: str = ""
    seq: int = 0
    t_dev: int = 0
    t_host: int = 0
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> np.ndarray:
        """The single array of a one-buffer message (the common case)."""
        if len(self.arrays) != 1:
            raise KeyError(f"{self.topic} carries {len(self.arrays)} arrays; index .arrays by name")
        return next(iter(self.arrays.values()))


_WIRE: dict[np.dtype, Any] = {}


def topic_of(source: str, stream: str) -> bytes:
    return f"{source}/{stream}".encode()


def _default(obj: Any) -> Any:
    """msgpack fallback for NumPy scalars and small arrays in meta (never pickles)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    raise TypeError(f"cannot put {type(obj).__name__} in a bus header; send arrays as buffers")


def pack_meta(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_default, use_bin_type=True)


def encode(
    source: str,
    stream: str,
    seq: int,
    arrays: Mapping[str, np.ndarray] | None = None,
    *,
    t_dev: int = 0,
    t_host: int = 0,
    units: Mapping[str, str] | None = None,
    meta: Mapping[str, Any] | None = None,
    topic: str | None = None,
) -> list[Any]:
    """Frames for ``socket.send_multipart``; arrays stay as buffers (no copy here).

    ``topic`` defaults to ``<source>/<stream>``.
    """
    bufs: list[Any] = []
    specs: list[list[Any]] = []
    units = units or {}
    for name, arr in (arrays or {}).items():
        a = np.asarray(arr)
        if a.dtype.hasobject:
            raise TypeError(f"{source}/{stream}: array {name!r} holds Python objects")
        if not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)
        dt = a.dtype
        wire = _WIRE.get(dt)
        if wire is None:
            wire = _WIRE[dt] = dtype_to_wire(dt)
        specs.append([name, wire, list(a.shape), units.get(name, "")])
        bufs.append(
            a.view(np.uint8).reshape(-1) if a.dtype.fields is None and a.ndim else a.tobytes()
        )
    header = {
        "v": SCHEMA_VERSION,
        "src": source,
        "st": stream,
        "seq": int(seq),
        "td": int(t_dev),
        "th": int(t_host),
        "b": specs,
    }
    if meta:
        header["m"] = dict(meta)
    t = topic_of(source, stream) if topic is None else topic.encode()
    return [t, pack_meta(header), *bufs]


def _buf(frame: Any) -> memoryview | bytes:
    # zmq.Frame (copy=False) exposes .buffer; bytes/memoryview are used as they are
    return frame.buffer if hasattr(frame, "buffer") else frame


_DTYPES: dict[Any, np.dtype] = {}


def _dtype(wire: Any) -> np.dtype:
    """Cached :func:`dtype_from_wire`: a stream sends the same dtype every message."""
    key = wire if isinstance(wire, str) else repr(wire)
    dt = _DTYPES.get(key)
    if dt is None:
        dt = dtype_from_wire(wire)
        if len(_DTYPES) < 1024:
            _DTYPES[key] = dt
    return dt


def decode(frames: Sequence[Any]) -> Message:
    """Validate and decode a multipart; raise FrameError(kind=...) on anything wrong.

    This is the hot path of every subscriber: checks use exact type tests and
    dtypes are cached, so a 64-byte message decodes in a few microseconds.
    """
    n = len(frames)
    if n < 2:
        raise FrameError(f"message has {n} part(s); expected topic, header, buffers", kind="parts")
    try:
        header = msgpack.unpackb(_buf(frames[1]), raw=False)
    except Exception as e:  # msgpack raises several unrelated types
        raise FrameError(f"header is not msgpack: {e}", kind="header") from e
    if type(header) is not dict:
        raise FrameError(f"header is a {type(header).__name__}, expected a map", kind="header")
    if header.get("v") != SCHEMA_VERSION:
        raise FrameError(
            f"schema version {header.get('v')!r}; this physres reads {SCHEMA_VERSION}",
            kind="version",
        )
    try:
        src, st, seq = header["src"], header["st"], header["seq"]
        td, th, specs = header["td"], header["th"], header["b"]
    except KeyError as e:
        raise FrameError(f"header lacks key {e.args[0]!r}", kind="header") from e
    if type(src) is not str or type(st) is not str or type(specs) is not list:
        raise FrameError("header src/st must be strings and b a list", kind="header")
    if type(seq) is not int or type(td) is not int or type(th) is not int:
        raise FrameError("header seq/td/th must be integers", kind="header")
    t = frames[0]
    try:
        topic = (t if type(t) is bytes else bytes(_buf(t))).decode()
    except UnicodeDecodeError as e:
        raise FrameError(f"topic is not UTF-8: {e}", kind="topic") from e
    if len(specs) != n - 2:
        raise FrameError(
            f"{src}/{st}: header lists {len(specs)} buffer(s), message has {n - 2}", kind="parts"
        )
    arrays: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    for i, spec in enumerate(specs):
        arr, name, unit = _decode_buffer(src, st, spec, _buf(frames[i + 2]))
        arrays[name] = arr
        if unit:
            units[name] = unit
    meta = header.get("m")
    if meta is None:
        meta = {}
    elif type(meta) is not dict:
        raise FrameError(f"{src}/{st}: meta is not a map", kind="header")
    return Message(src, st, topic, seq, td, th, arrays, units, meta)


def _decode_buffer(src: str, st: str, spec: Any, buf: Any) -> tuple[np.ndarray, str, str]:
    if type(spec) is not list or len(spec) != 4:
        raise FrameError(
            f"{src}/{st}: buffer spec {spec!r} is not [name, dtype, shape, units]", kind="header"
        )
    name, dt_wire, shape, unit = spec
    if type(name) is not str or type(unit) is not str:
        raise FrameError(f"{src}/{st}: buffer name/units must be strings", kind="header")
    try:
        dt = _dtype(dt_wire)
    except ValueError as e:
        raise FrameError(f"{src}/{st}.{name}: {e}", kind="dtype") from e
    if type(shape) is not list or len(shape) > _MAX_DIMS:
        raise FrameError(f"{src}/{st}.{name}: bad shape {shape!r}", kind="header")
    count = 1
    for d in shape:
        if type(d) is not int or d < 0:
            raise FrameError(f"{src}/{st}.{name}: bad shape {shape!r}", kind="header")
        count *= d
    expected = count * dt.itemsize
    size = buf.nbytes if type(buf) is memoryview else len(buf)
    if size != expected:
        raise FrameError(
            f"{src}/{st}.{name}: buffer has {size} bytes, dtype {dt} × shape {tuple(shape)} "
            f"needs {expected}",
            kind="size",
        )
    arr = np.frombuffer(buf, dtype=dt)
    return (arr.reshape(shape) if len(shape) != 1 else arr), name, unit
