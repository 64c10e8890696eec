"""The one message format on the bus: ``[topic, header, *buffers]``.

* ``topic`` — the routing key SUB sockets filter on by prefix: ``<source>/<stream>``
  for what a node publishes, ``<node>/in`` for inputs addressed to a device.
* ``header`` — msgpack map (short keys keep it small for 64-byte messages)::

      v    schema version (int, currently 1)
      src  source node name          st   stream name
      seq  per-stream counter, +1 per message (gaps = drops)
      td   device time, ns           th   host time (time.time_ns), ns
           (all three in 0 .. 2**63-1: what every counter derived from them
           must stay within to be packed again in a heartbeat)
      b    [[name, dtype, shape, units], ...] one entry per buffer
      m    small msgpack-able extras (prompt text, command args, ids)

  physres writes the constant entries (v, src, st, b) first, then seq/td/th
  as fixed-width int64 (then m, if any), so a stream's headers differ only in
  those integers (see "fast layout" below); any valid msgpack map decodes.

* ``buffers`` — raw array bytes, C order. Large arrays go out with
  ``copy=False`` (zero-copy); nothing is ever pickled.

:func:`decode` validates everything and raises :class:`~physres.errors.FrameError`
with a ``kind`` so receivers can count garbage by kind and skip it.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgpack
import numpy as np
import zmq

from physres.bus.dtypes import dtype_from_wire, dtype_to_wire
from physres.errors import FrameError

__all__ = [
    "INT_MAX",
    "MAX_HEADER_BYTES",
    "SCHEMA_VERSION",
    "Message",
    "decode",
    "encode",
    "pack_meta",
    "topic_of",
]

SCHEMA_VERSION = 1
_MAX_DIMS = 32
#: the largest seq or time a header carries, and where every counter saturates
INT_MAX = 2**63 - 1
#: headers are small (names, layout, a little meta); a bigger one is refused before
#: msgpack expands it (an 8 MB header of empty lists costs ~530 MB of Python objects)
MAX_HEADER_BYTES = 1 << 20


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


# ------------------------------------------------------------------ fast layout
# A stream sends the same source, stream name and array layout message after
# message; only seq and the two clocks change. The encoder therefore packs the
# constant part of the header once per layout and appends the three integers
# as fixed-width int64 (``_TAIL``: 37 bytes). The decoder recognises exactly
# that byte form and looks the constant part up in a cache filled only after a
# full validation, so a stream's steady state skips msgpack and re-validation
# (a header with meta only unpacks the meta). Any other valid msgpack header
# (old recordings, other writers) takes the general path, checked field by field.
_TAIL = struct.Struct(">5sq4sq4sq")
# each integer follows its key and the int64 marker: "seq" 0xd3, "td" 0xd3, "th" 0xd3
_K_SEQ, _K_TD, _K_TH = b"\xa3seq\xd3", b"\xa2td\xd3", b"\xa2th\xd3"
_TAIL_LEN = _TAIL.size
_MAP7, _MAP8 = b"\x87", b"\x88"  # fixmap of 7 (no meta) or 8 (with "m") entries
_META_KEY = msgpack.packb("m")
_BYTES_BELOW = 16 * 1024  # smaller arrays are copied into bytes: cheaper than a zmq.Frame
_CACHE_MAX = 4096


class _Slot(NamedTuple):
    """One validated buffer of a layout: how to view its bytes as an array."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    unit: str
    nbytes: int


# encoder: (source, stream, topic, ((name, dtype, shape, unit), ...)) -> (body, topic bytes)
_ENC: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}
# decoder: header bytes before the tail -> (source, stream, slots)
_DEC: dict[bytes, tuple[str, str, tuple[_Slot, ...]]] = {}
# lengths of known bodies seen with meta (an ordered set: a header with meta has no
# fixed-size end to count back from, so decode tries these few lengths)
_META_BODY_LENS: dict[int, None] = {}
_META_LENS_MAX = 64


def _body(source: str, stream: str, specs: list[list[Any]]) -> bytes:
    """The constant entries of a header (v, src, st, b), packed in a fixed order."""
    pack = msgpack.packb
    entries = ("v", SCHEMA_VERSION, "src", source, "st", stream, "b", specs)
    return b"".join(pack(x, use_bin_type=True) for x in entries)


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_MAX:  # a stream of ever-changing layouts: start over
        cache.clear()
        if cache is _DEC:
            _META_BODY_LENS.clear()
    cache[key] = value


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
    """Frames for ``socket.send_multipart``; large arrays stay as buffers (no copy here).

    ``topic`` defaults to ``<source>/<stream>``.
    """
    bufs: list[Any] = []
    sig: list[tuple[Any, ...]] = []
    for name, arr in (arrays or {}).items():
        a = arr if type(arr) is np.ndarray else np.asarray(arr)
        dt = a.dtype
        if dt.hasobject:
            raise TypeError(f"{source}/{stream}: array {name!r} holds Python objects")
        if not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)
        sig.append((name, dt, a.shape, units.get(name, "") if units else ""))
        if a.nbytes < _BYTES_BELOW or dt.fields is not None or not a.ndim:
            bufs.append(a.tobytes())
        else:
            bufs.append(a.reshape(-1).view(np.uint8))
    key = (source, stream, topic, *sig)
    cached = _ENC.get(key)
    if cached is None:
        specs = [[n, _wire(dt), list(shape), u] for n, dt, shape, u in sig]
        t = topic_of(source, stream) if topic is None else topic.encode()
        cached = (_body(source, stream, specs), t)
        _remember(_ENC, key, cached)
    body, t = cached
    if seq < 0 or t_dev < 0 or t_host < 0:
        raise ValueError(f"{source}/{stream}: seq/t_dev/t_host must be >= 0")
    try:
        tail = _TAIL.pack(_K_SEQ, seq, _K_TD, t_dev, _K_TH, t_host)
    except struct.error as e:  # beyond int64: no receiver would accept it
        raise ValueError(f"{source}/{stream}: seq/t_dev/t_host must be <= 2**63-1 ({e})") from e
    if meta:
        header = b"".join((_MAP8, body, tail, _META_KEY, pack_meta(dict(meta))))
    else:
        header = _MAP7 + body + tail
    return [t, header, *bufs]


_WIRE: dict[np.dtype, Any] = {}


def _wire(dt: np.dtype) -> Any:
    wire = _WIRE.get(dt)
    if wire is None:
        wire = _WIRE[dt] = dtype_to_wire(dt)
    return wire


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


_Frame = zmq.Frame


def _never_crash(fn: Callable[..., Message]) -> Callable[..., Message]:
    """Any other exception while decoding untrusted bytes is a FrameError too: a case the
    checks missed is still garbage to count and skip, never the end of a node."""

    @functools.wraps(fn)
    def checked(*args: Any) -> Message:
        try:
            return fn(*args)
        except FrameError:
            raise
        except Exception as e:
            raise FrameError(f"undecodable message: {type(e).__name__}: {e}", kind="header") from e

    return checked


@_never_crash
def decode(frames: Sequence[Any]) -> Message:
    """Validate and decode a multipart; raise FrameError(kind=...) on anything wrong.

    This is the hot path of every subscriber. A header in the encoder's own
    byte form whose constant part was validated before is decoded from a cache
    (exact bytes as the key, so nothing unvalidated can match); everything else
    is unpacked and checked field by field.
    """
    n = len(frames)
    if n < 2:
        raise FrameError(f"message has {n} part(s); expected topic, header, buffers", kind="parts")
    h = frames[1]
    if type(h) is not bytes:
        h = bytes(h.buffer if type(h) is _Frame else h)
    meta: dict[str, Any] = {}
    if h and h[0] == 0x87:  # no meta: the tail ends the header
        cut = len(h) - _TAIL_LEN
        known = _DEC.get(h[1:cut]) if cut > 0 else None
    elif h and h[0] == 0x88:  # meta after the tail: find the body among known lengths
        known, cut = _known_with_meta(h)
    else:
        known = None
    if known is None:
        return _decode_general(frames, h)
    k1, seq, k2, td, k3, th = _TAIL.unpack_from(h, cut)
    if k1 != _K_SEQ or k2 != _K_TD or k3 != _K_TH:
        return _decode_general(frames, h)
    if (seq | td | th) < 0:  # int64 by construction: only the signs to check
        _out_of_range(seq, td, th)
    if h[0] == 0x88:
        meta = _meta_after(h, cut + _TAIL_LEN)
        if meta is None:
            return _decode_general(frames, h)  # says exactly what is wrong
    src, st, slots = known
    if len(slots) != n - 2:
        raise FrameError(
            f"{src}/{st}: header lists {len(slots)} buffer(s), message has {n - 2}", kind="parts"
        )
    arrays, units = _arrays(src, st, slots, frames)
    return Message(src, st, _topic(frames[0]), seq, td, th, arrays, units, meta)


def _out_of_range(seq: int, td: int, th: int) -> None:
    raise FrameError(f"header seq={seq} td={td} th={th}: each must be in 0..2**63-1", kind="range")


def _known_with_meta(h: bytes) -> tuple[Any, int]:
    """(layout, offset of the tail) for a header with meta, if its body is a known one."""
    for n in tuple(_META_BODY_LENS):  # a snapshot: other threads may learn meanwhile
        known = _DEC.get(h[1 : 1 + n])
        if known is not None and len(h) > 1 + n + _TAIL_LEN + len(_META_KEY):
            return known, 1 + n
    return None, 0


def _meta_after(h: bytes, at: int) -> dict[str, Any] | None:
    """The meta map that must fill the header after the tail; None if it does not."""
    if h[at : at + len(_META_KEY)] != _META_KEY or len(h) > MAX_HEADER_BYTES:
        return None  # the general path says what is wrong
    try:
        # as the entry of a one-entry map, so msgpack's nesting limit counts the levels
        # exactly as in the whole header; trailing bytes raise
        meta = msgpack.unpackb(b"\x81" + h[at:], raw=False)["m"]
    except Exception:
        return None
    return meta if type(meta) is dict else None


def _topic(t: Any) -> str:
    try:
        return (t if type(t) is bytes else bytes(t.buffer if type(t) is _Frame else t)).decode()
    except UnicodeDecodeError as e:
        raise FrameError(f"topic is not UTF-8: {e}", kind="topic") from e


def _arrays(
    src: str, st: str, slots: tuple[_Slot, ...], frames: Sequence[Any]
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Views on the buffers after the header, one per slot (sizes checked)."""
    arrays: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    i = 2
    for slot in slots:
        arrays[slot.name] = _view(src, st, slot, frames[i])
        if slot.unit:
            units[slot.name] = slot.unit
        i += 1
    return arrays, units


def _view(src: str, st: str, slot: _Slot, frame: Any) -> np.ndarray:
    buf = frame.buffer if type(frame) is _Frame else frame
    size = buf.nbytes if type(buf) is memoryview else len(buf)
    if size != slot.nbytes:
        raise FrameError(
            f"{src}/{st}.{slot.name}: buffer has {size} bytes, dtype {slot.dtype} × shape "
            f"{slot.shape} needs {slot.nbytes}",
            kind="size",
        )
    arr = np.frombuffer(buf, dtype=slot.dtype)
    return arr.reshape(slot.shape) if len(slot.shape) != 1 else arr


def _decode_general(frames: Sequence[Any], h: bytes) -> Message:
    n = len(frames)
    if len(h) > MAX_HEADER_BYTES:  # before msgpack expands it
        raise FrameError(
            f"header of {len(h)} bytes is over the limit of {MAX_HEADER_BYTES}", kind="size"
        )
    try:
        header = msgpack.unpackb(h, raw=False)
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
    if not (0 <= seq <= INT_MAX and 0 <= td <= INT_MAX and 0 <= th <= INT_MAX):
        _out_of_range(seq, td, th)
    topic = _topic(frames[0])
    if len(specs) != n - 2:
        raise FrameError(
            f"{src}/{st}: header lists {len(specs)} buffer(s), message has {n - 2}", kind="parts"
        )
    slots = tuple([_slot(src, st, spec) for spec in specs])
    meta = header.get("m")
    if meta is None:
        meta = {}
    elif type(meta) is not dict:
        raise FrameError(f"{src}/{st}: meta is not a map", kind="header")
    arrays, units = _arrays(src, st, slots, frames)
    if len(header) == (8 if "m" in header else 7) and h[0] in (0x87, 0x88):
        _learn(h, src, st, specs, slots, (seq, td, th))
    return Message(src, st, topic, seq, td, th, arrays, units, meta)


def _learn(
    h: bytes, src: str, st: str, specs: list[Any], slots: tuple[_Slot, ...], ints: tuple
) -> None:
    """Remember a validated layout if its header is byte for byte what encode() writes
    (with meta: the same body and tail, then the meta entry, checked in decode)."""
    # cheap checks first: headers in other layouts (old recordings, other writers)
    # come through here on every message and must not pay for packing a body
    at = h.find(_K_SEQ)
    if at < 1:
        return
    try:
        tail = _TAIL.pack(_K_SEQ, ints[0], _K_TD, ints[1], _K_TH, ints[2])
    except struct.error:  # integers beyond int64: not the fixed form
        return
    if h[at : at + _TAIL_LEN] != tail:
        return
    body = _body(src, st, specs)
    end = at + _TAIL_LEN
    if h[1:at] != body:
        return
    if h[0] == 0x87 and len(h) == end:
        _remember(_DEC, body, (src, st, slots))
    elif h[0] == 0x88 and h[end : end + len(_META_KEY)] == _META_KEY:
        if len(body) not in _META_BODY_LENS and len(_META_BODY_LENS) >= _META_LENS_MAX:
            return  # decode tries every length: keep that list short
        _remember(_DEC, body, (src, st, slots))
        _META_BODY_LENS[len(body)] = None


def _slot(src: str, st: str, spec: Any) -> _Slot:
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
    return _Slot(name, dt, tuple(shape), unit, count * dt.itemsize)
