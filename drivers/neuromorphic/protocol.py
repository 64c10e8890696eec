"""Message set and payload codecs of the neuromorphic bridge (protocol version 1).

The board's own numbers live here, beside its driver; framing, CRC, sequence
numbers and the request/reply convention are :mod:`physres.wire`'s. The numbers
mirror ``firmware/neuro_bridge/proto.h`` (a unit test parses that header and
compares); the layout is specified in ``firmware/PROTOCOL.md`` ("Neuromorphic
bridge"). All multi-byte fields are little-endian. A neuron's address on the
wire is ``core * 256 + neuron``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from physres.errors import DeviceError
from physres.neuro.tables import SYN_DTYPE, row_crc
from physres.wire import messages as wire
from physres.wire.messages import REPLY_FLAG, ReplyError, watchdog_payload

__all__ = [
    "BIAS_PER_FRAME",
    "COARSE_MAX",
    "CRC_PER_FRAME",
    "FLAG_CHIP_LOST",
    "FLAG_WATCHDOG_TRIPPED",
    "IN_PER_FRAME",
    "MAX_PAYLOAD",
    "NEURONS_PER_CORE_MAX",
    "OUT_PER_FRAME",
    "PROTO_VERSION",
    "REPLY_FLAG",
    "SYN_DTYPE",
    "SYN_PER_FRAME",
    "Accepted",
    "ChipModelId",
    "ErrorCode",
    "Hello",
    "Msg",
    "ReplyError",
    "Spikes",
    "Status",
    "address",
    "events_payload",
    "expect_ok",
    "parse_accepted",
    "parse_biases",
    "parse_count",
    "parse_hello",
    "parse_row_crc",
    "parse_spikes",
    "parse_status",
    "parse_synapses",
    "parse_time",
    "parse_watchdog",
    "read_biases_payload",
    "read_synapses_payload",
    "replies",
    "row_crc",
    "row_crc_payload",
    "split_address",
    "watchdog_payload",
    "write_biases_payload",
    "write_synapses_payload",
]

PROTO_VERSION = 1
MAX_PAYLOAD = 120
NEURONS_PER_CORE_MAX = 256
IN_PER_FRAME = 23
OUT_PER_FRAME = 28
SYN_PER_FRAME = 28
BIAS_PER_FRAME = 32
CRC_PER_FRAME = 56
COARSE_MAX = 7
FLAG_WATCHDOG_TRIPPED = 0x01
FLAG_CHIP_LOST = 0x02
_STATUS = wire.LINK_STATUS + "HHHHIIIIIIHHH"
_HELLO = "<BBBBHHHHHHBBHHBBBBBB"


class Msg(IntEnum):
    """Message types: requests (host → board); a reply is ``type | REPLY_FLAG``."""

    HELLO = 0x01
    PING = 0x02
    STATUS = 0x03
    SET_WATCHDOG = 0x04
    WRITE_BIASES = 0x05
    READ_BIASES = 0x06
    WRITE_SYNAPSES = 0x07
    READ_SYNAPSES = 0x08
    ROW_CRC = 0x09
    EVENTS_IN = 0x0A
    CLEAR = 0x0B
    #: unsolicited (board → host): a batch of output spikes
    EVT_SPIKES = wire.EVENT_MIN


#: first byte of every reply payload: the common codes (OK, UNKNOWN_TYPE, BAD_LENGTH,
#: OUT_OF_RANGE), then the bridge's own
ErrorCode = wire.status_codes(__name__, BAD_VERSION=4, OUT_OF_ORDER=5, CHIP=6)


class ChipModelId(IntEnum):
    """What the chip behind the board says it is (HELLO)."""

    NONE = 0
    DYNAPSE = 1
    BRAINSCALES2 = 2


@dataclass(frozen=True)
class Hello(wire.BoardHello):
    """HELLO reply: the board, its limits and the chip behind it."""

    tick_us: int
    watchdog_ms: int
    watchdog_min_ms: int
    watchdog_max_ms: int
    in_fifo: int
    out_fifo: int
    chip: ChipModelId
    n_cores: int
    neurons_per_core: int
    slots: int
    n_syn: int
    max_weight: int
    n_bias: int
    in_per_frame: int
    out_per_frame: int
    syn_per_frame: int


@dataclass(frozen=True)
class Status(wire.LinkStatus):
    """STATUS reply: link and event counters (PROTOCOL.md lists what each counts)."""

    watchdog_ms: int
    tx_dropped: int
    in_queued: int
    in_free: int
    in_total: int
    #: input events dropped: the board's input FIFO was full
    in_overflow: int
    #: input events that arrived after their time (the host fell behind the board clock)
    in_underflow: int
    #: queued input events the watchdog threw away when the host went quiet
    in_flushed: int
    out_total: int
    #: output events dropped on the board: the link could not carry the chip's rate
    out_overflow: int
    out_queued: int
    chip_errors: int
    chip_lost = wire.status_flag(FLAG_CHIP_LOST, "the chip is gone: every chip request fails")


@dataclass(frozen=True)
class Accepted:
    """EVENTS_IN reply: how many of the batch were queued, room left, board time."""

    accepted: int
    free: int
    t_us: int


@dataclass(frozen=True)
class Spikes:
    """EVT_SPIKES: output events (board µs, address) and the board's drop count (u16)."""

    t_us: np.ndarray
    addr: np.ndarray
    overflow16: int


def address(core: int | np.ndarray, neuron: int | np.ndarray) -> int | np.ndarray:
    """The wire address of (core, neuron)."""
    return core * NEURONS_PER_CORE_MAX + neuron


def split_address(addr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(core, neuron) of wire addresses."""
    a = np.asarray(addr)
    return a // NEURONS_PER_CORE_MAX, a % NEURONS_PER_CORE_MAX


#: the common layer's replies, read with the bridge's codes
replies = wire.ReplyParsers(Msg, ErrorCode, "bridge")
expect_ok = replies.expect_ok
#: PING/CLEAR reply: the board time (µs) when it was handled
parse_time = replies.parse_time
parse_watchdog = replies.parse_watchdog


def write_biases_payload(core: int, first: int, codes: np.ndarray) -> bytes:
    """WRITE_BIASES: core, first index, then (coarse, fine) pairs ``(n, 2)``."""
    c = np.asarray(codes, dtype=np.uint8).reshape(-1, 2)
    return bytes((core, first)) + c.tobytes()


def read_biases_payload(core: int, first: int, n: int) -> bytes:
    return bytes((core, first, n))


def write_synapses_payload(target: int, first: int, entries: np.ndarray) -> bytes:
    """WRITE_SYNAPSES: target address u16, first slot, then :data:`SYN_DTYPE` entries."""
    return struct.pack("<HB", target, first) + np.asarray(entries, dtype=SYN_DTYPE).tobytes()


def read_synapses_payload(target: int, first: int, n: int) -> bytes:
    return struct.pack("<HBB", target, first, n)


def row_crc_payload(first: int, n: int) -> bytes:
    return struct.pack("<HB", first, n)


def events_payload(t0_us: int, dt_us: np.ndarray, addr: np.ndarray, syn: np.ndarray) -> bytes:
    """EVENTS_IN: ``t0`` (u32 board µs, wraps) then (dt u16, addr u16, syn u8) per event."""
    rec = np.empty(len(dt_us), dtype=[("dt", "<u2"), ("addr", "<u2"), ("syn", "u1")])
    rec["dt"], rec["addr"], rec["syn"] = dt_us, addr, syn
    return struct.pack("<I", t0_us & 0xFFFFFFFF) + rec.tobytes()


def parse_hello(payload: bytes, where: str = "bridge") -> Hello:
    body = expect_ok(Msg.HELLO, payload, where)
    wire.need_len(Msg.HELLO, body, struct.calcsize(_HELLO), where)
    f = struct.unpack(_HELLO, body)
    try:
        chip = ChipModelId(f[10])
    except ValueError as e:
        raise DeviceError(f"{where}: HELLO names an unknown chip model {f[10]}") from e
    return Hello(f[0], (f[1], f[2], f[3]), *f[4:10], chip, *f[11:])


def parse_status(payload: bytes, where: str = "bridge") -> Status:
    body = expect_ok(Msg.STATUS, payload, where)
    wire.need_len(Msg.STATUS, body, struct.calcsize(_STATUS), where)
    return Status(*struct.unpack(_STATUS, body)[:-1])


def parse_count(msg: Msg, payload: bytes, where: str = "bridge") -> int:
    """WRITE_BIASES/WRITE_SYNAPSES reply: how many entries went to the chip."""
    body = expect_ok(msg, payload, where)
    wire.need_len(msg, body, 1, where)
    return body[0]


def parse_accepted(payload: bytes, where: str = "bridge") -> Accepted:
    body = expect_ok(Msg.EVENTS_IN, payload, where)
    wire.need_len(Msg.EVENTS_IN, body, 7, where)
    return Accepted(*struct.unpack("<BHI", body))


def parse_biases(payload: bytes, where: str = "bridge") -> tuple[int, int, np.ndarray]:
    """READ_BIASES reply: (core, first, codes ``(n, 2)`` of coarse, fine)."""
    body = expect_ok(Msg.READ_BIASES, payload, where)
    wire.need_len(Msg.READ_BIASES, body, 3, where, at_least=True)
    core, first, n = body[:3]
    wire.need_len(Msg.READ_BIASES, body, 3 + 2 * n, where)
    return core, first, np.frombuffer(body[3:], dtype=np.uint8).reshape(n, 2)


def parse_synapses(payload: bytes, where: str = "bridge") -> tuple[int, int, np.ndarray]:
    """READ_SYNAPSES reply: (target, first slot, :data:`SYN_DTYPE` entries)."""
    body = expect_ok(Msg.READ_SYNAPSES, payload, where)
    wire.need_len(Msg.READ_SYNAPSES, body, 4, where, at_least=True)
    target, first, n = struct.unpack_from("<HBB", body)
    wire.need_len(Msg.READ_SYNAPSES, body, 4 + 4 * n, where)
    return target, first, np.frombuffer(body[4:], dtype=SYN_DTYPE).copy()


def parse_row_crc(payload: bytes, where: str = "bridge") -> tuple[int, np.ndarray]:
    """ROW_CRC reply: (first target, one u16 CRC per row)."""
    body = expect_ok(Msg.ROW_CRC, payload, where)
    wire.need_len(Msg.ROW_CRC, body, 3, where, at_least=True)
    first, n = struct.unpack_from("<HB", body)
    wire.need_len(Msg.ROW_CRC, body, 3 + 2 * n, where)
    return first, np.frombuffer(body[3:], dtype="<u2").copy()


def parse_spikes(payload: bytes, where: str = "bridge") -> Spikes:
    """EVT_SPIKES payload (no status byte): t0 u32, overflow u16, (dt u16, addr u16) each."""
    if len(payload) < 6 or (len(payload) - 6) % 4:
        raise DeviceError(f"{where}: EVT_SPIKES payload of {len(payload)} bytes is malformed")
    t0, overflow = struct.unpack_from("<IH", payload)
    ev = np.frombuffer(payload, dtype=[("dt", "<u2"), ("addr", "<u2")], offset=6)
    t = (t0 + ev["dt"].astype(np.int64)) & 0xFFFFFFFF
    return Spikes(t, ev["addr"].astype(np.int64), overflow)
