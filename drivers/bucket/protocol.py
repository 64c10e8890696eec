"""Message set and payload codecs of the bucket motor board (protocol version 2).

The board's own numbers live here, beside its driver; framing, CRC, sequence
numbers and the request/reply convention are :mod:`physres.wire`'s. The numbers
mirror ``firmware/bucket/proto.h`` (a unit test parses that header and
compares); the layout is specified in ``firmware/PROTOCOL.md``. All multi-byte
fields are little-endian. Every reply's payload starts with a status byte
(:class:`ErrorCode`); a non-zero status is followed by one detail byte.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from physres.drivers.bucket.limits import DUTY_FULL_SCALE
from physres.errors import DeviceError
from physres.wire import messages as wire
from physres.wire.messages import REPLY_FLAG, ReplyError, watchdog_payload

__all__ = [
    "DUTY_FULL_SCALE",
    "FLAG_STOPPED",
    "FLAG_WATCHDOG_TRIPPED",
    "PROTO_VERSION",
    "REPLY_FLAG",
    "Applied",
    "ErrorCode",
    "Hello",
    "Msg",
    "ReplyError",
    "Status",
    "StrobeEvent",
    "duties_payload",
    "expect_ok",
    "parse_applied",
    "parse_hello",
    "parse_queue",
    "parse_status",
    "parse_strobe",
    "parse_time",
    "parse_watchdog",
    "replies",
    "schedule_payload",
    "watchdog_payload",
]

PROTO_VERSION = 2
FLAG_WATCHDOG_TRIPPED = 0x01
FLAG_STOPPED = 0x02
#: STATUS fields before the per-motor duties (proto.h STATUS_FIXED counts the status byte too)
_STATUS_FIXED = wire.LINK_STATUS + "BHHH"


class Msg(IntEnum):
    """Message types: requests (host → board); a reply is ``type | REPLY_FLAG``."""

    HELLO = 0x01
    SET_DUTY = 0x02
    SCHEDULE = 0x03
    STOP = 0x04
    STATUS = 0x05
    SET_WATCHDOG = 0x06
    PING = 0x07
    #: unsolicited (board → host): a scheduled vector was applied
    EVT_STROBE = wire.EVENT_MIN


#: first byte of every reply payload: the common codes (OK, UNKNOWN_TYPE, BAD_LENGTH,
#: OUT_OF_RANGE), then the board's own
ErrorCode = wire.status_codes(__name__, QUEUE_FULL=4, BAD_VERSION=5)


@dataclass(frozen=True)
class Hello(wire.BoardHello):
    """HELLO reply: who the board is and the limits it enforces itself."""

    n_motors: int
    sched_depth: int
    duty_full_scale: int
    slew_per_tick: int
    tick_us: int
    watchdog_ms: int
    watchdog_min_ms: int
    watchdog_max_ms: int
    duty_max: tuple[int, ...]


@dataclass(frozen=True)
class Applied:
    """SET_DUTY reply: when the vector took effect and its strobe number."""

    t_us: int
    strobe_seq: int


@dataclass(frozen=True)
class StrobeEvent:
    """EVT_STROBE: a scheduled vector was applied at ``t_us`` (device clock)."""

    t_us: int
    strobe_seq: int
    level: int
    duty: tuple[int, ...]


@dataclass(frozen=True)
class Status(wire.LinkStatus):
    """STATUS reply: uptime, frame counters, watchdog trips, outputs now."""

    queue_len: int
    strobe_seq: int
    watchdog_ms: int
    #: reply/event frames the board's UART queue had no room for (u16, wraps): a
    #: host that stops reading loses frames, the board never waits for it
    tx_dropped: int
    duty: tuple[int, ...]
    stopped = wire.status_flag(FLAG_STOPPED, "STOP was the last thing applied")


#: the common layer's replies, read with the board's codes
replies = wire.ReplyParsers(Msg, ErrorCode, "board")
expect_ok = replies.expect_ok
#: STOP/PING reply: the device time (µs) when it was handled
parse_time = replies.parse_time
parse_watchdog = replies.parse_watchdog


def duties_payload(duty: Sequence[int]) -> bytes:
    """SET_DUTY payload: one ``u16`` per motor (0..65535 = 0..100 %)."""
    return struct.pack(f"<{len(duty)}H", *duty)


def schedule_payload(t_us: int, duty: Sequence[int]) -> bytes:
    """SCHEDULE payload: device time (``u32`` µs, wraps) then the duties."""
    return struct.pack("<I", t_us & 0xFFFFFFFF) + duties_payload(duty)


def parse_hello(payload: bytes, where: str = "board") -> Hello:
    body = expect_ok(Msg.HELLO, payload, where)
    wire.need_len(Msg.HELLO, body, 18, where, at_least=True)
    proto, ma, mi, pa, n, depth = body[:6]
    full, slew, tick, wd, wd_min, wd_max = struct.unpack_from("<6H", body, 6)
    wire.need_len(Msg.HELLO, body, 18 + 2 * n, where)
    duty_max = struct.unpack_from(f"<{n}H", body, 18)
    return Hello(proto, (ma, mi, pa), n, depth, full, slew, tick, wd, wd_min, wd_max, duty_max)


def parse_applied(payload: bytes, where: str = "board") -> Applied:
    body = expect_ok(Msg.SET_DUTY, payload, where)
    wire.need_len(Msg.SET_DUTY, body, 6, where)
    t_us, seq = struct.unpack("<IH", body)
    return Applied(t_us, seq)


def parse_queue(payload: bytes, where: str = "board") -> int:
    """SCHEDULE reply: how many vectors are now queued."""
    body = expect_ok(Msg.SCHEDULE, payload, where)
    wire.need_len(Msg.SCHEDULE, body, 1, where)
    return body[0]


def parse_status(payload: bytes, where: str = "board") -> Status:
    body = expect_ok(Msg.STATUS, payload, where)
    fixed = struct.calcsize(_STATUS_FIXED)
    wire.need_len(Msg.STATUS, body, fixed, where, at_least=True)
    up, ok, bad, trips, flags, qlen, sseq, wd, dropped = struct.unpack_from(_STATUS_FIXED, body)
    n = (len(body) - fixed) // 2
    wire.need_len(Msg.STATUS, body, fixed + 2 * n, where)
    duty = struct.unpack_from(f"<{n}H", body, fixed)
    return Status(up, ok, bad, trips, flags, qlen, sseq, wd, dropped, duty)


def parse_strobe(payload: bytes, where: str = "board") -> StrobeEvent:
    if len(payload) < 7 or (len(payload) - 7) % 2:
        raise DeviceError(f"{where}: EVT_STROBE payload of {len(payload)} bytes is malformed")
    t_us, seq, level = struct.unpack_from("<IHB", payload)
    duty = struct.unpack_from(f"<{(len(payload) - 7) // 2}H", payload, 7)
    return StrobeEvent(t_us, seq, level, duty)
