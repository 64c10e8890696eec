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
from physres.wire.messages import EVENT_MIN, REPLY_FLAG, ReplyError, need_len
from physres.wire.messages import expect_ok as _expect_ok

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
    "schedule_payload",
    "watchdog_payload",
]

PROTO_VERSION = 2
FLAG_WATCHDOG_TRIPPED = 0x01
FLAG_STOPPED = 0x02
#: STATUS fields before the per-motor duties (proto.h STATUS_FIXED counts the status byte too)
_STATUS_FIXED = "<IIIHBBHHH"


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
    EVT_STROBE = EVENT_MIN


class ErrorCode(IntEnum):
    """First byte of every reply payload."""

    OK = 0
    UNKNOWN_TYPE = 1
    BAD_LENGTH = 2
    OUT_OF_RANGE = 3
    QUEUE_FULL = 4
    BAD_VERSION = 5


@dataclass(frozen=True)
class Hello:
    """HELLO reply: who the board is and the limits it enforces itself."""

    proto_version: int
    fw_version: tuple[int, int, int]
    n_motors: int
    sched_depth: int
    duty_full_scale: int
    slew_per_tick: int
    tick_us: int
    watchdog_ms: int
    watchdog_min_ms: int
    watchdog_max_ms: int
    duty_max: tuple[int, ...]

    @property
    def fw_version_str(self) -> str:
        return ".".join(map(str, self.fw_version))


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
class Status:
    """STATUS reply: uptime, frame counters, watchdog trips, outputs now."""

    uptime_us: int
    frames_ok: int
    frames_bad: int
    wd_trips: int
    flags: int
    queue_len: int
    strobe_seq: int
    watchdog_ms: int
    #: reply/event frames the board's UART queue had no room for (u16, wraps): a
    #: host that stops reading loses frames, the board never waits for it
    tx_dropped: int
    duty: tuple[int, ...]

    @property
    def watchdog_tripped(self) -> bool:
        return bool(self.flags & FLAG_WATCHDOG_TRIPPED)

    @property
    def stopped(self) -> bool:
        return bool(self.flags & FLAG_STOPPED)


def expect_ok(msg: Msg, payload: bytes, where: str = "board") -> bytes:
    """The reply body after an OK status byte; :class:`ReplyError` naming the code otherwise."""
    return _expect_ok(msg, payload, where, ErrorCode)


def duties_payload(duty: Sequence[int]) -> bytes:
    """SET_DUTY payload: one ``u16`` per motor (0..65535 = 0..100 %)."""
    return struct.pack(f"<{len(duty)}H", *duty)


def schedule_payload(t_us: int, duty: Sequence[int]) -> bytes:
    """SCHEDULE payload: device time (``u32`` µs, wraps) then the duties."""
    return struct.pack("<I", t_us & 0xFFFFFFFF) + duties_payload(duty)


def watchdog_payload(ms: int) -> bytes:
    return struct.pack("<H", ms)


def parse_hello(payload: bytes, where: str = "board") -> Hello:
    body = expect_ok(Msg.HELLO, payload, where)
    need_len(Msg.HELLO, body, 18, where, at_least=True)
    proto, ma, mi, pa, n, depth = body[:6]
    full, slew, tick, wd, wd_min, wd_max = struct.unpack_from("<6H", body, 6)
    need_len(Msg.HELLO, body, 18 + 2 * n, where)
    duty_max = struct.unpack_from(f"<{n}H", body, 18)
    return Hello(proto, (ma, mi, pa), n, depth, full, slew, tick, wd, wd_min, wd_max, duty_max)


def parse_applied(payload: bytes, where: str = "board") -> Applied:
    body = expect_ok(Msg.SET_DUTY, payload, where)
    need_len(Msg.SET_DUTY, body, 6, where)
    t_us, seq = struct.unpack("<IH", body)
    return Applied(t_us, seq)


def parse_queue(payload: bytes, where: str = "board") -> int:
    """SCHEDULE reply: how many vectors are now queued."""
    body = expect_ok(Msg.SCHEDULE, payload, where)
    need_len(Msg.SCHEDULE, body, 1, where)
    return body[0]


def parse_watchdog(payload: bytes, where: str = "board") -> int:
    """SET_WATCHDOG reply: the timeout now in force (ms)."""
    body = expect_ok(Msg.SET_WATCHDOG, payload, where)
    need_len(Msg.SET_WATCHDOG, body, 2, where)
    return int(struct.unpack("<H", body)[0])


def parse_time(msg: Msg, payload: bytes, where: str = "board") -> int:
    """STOP/PING reply: the device time (µs) when it was handled."""
    body = expect_ok(msg, payload, where)
    need_len(msg, body, 4, where)
    return int(struct.unpack("<I", body)[0])


def parse_status(payload: bytes, where: str = "board") -> Status:
    body = expect_ok(Msg.STATUS, payload, where)
    fixed = struct.calcsize(_STATUS_FIXED)
    need_len(Msg.STATUS, body, fixed, where, at_least=True)
    up, ok, bad, trips, flags, qlen, sseq, wd, dropped = struct.unpack_from(_STATUS_FIXED, body)
    n = (len(body) - fixed) // 2
    need_len(Msg.STATUS, body, fixed + 2 * n, where)
    duty = struct.unpack_from(f"<{n}H", body, fixed)
    return Status(up, ok, bad, trips, flags, qlen, sseq, wd, dropped, duty)


def parse_strobe(payload: bytes, where: str = "board") -> StrobeEvent:
    if len(payload) < 7 or (len(payload) - 7) % 2:
        raise DeviceError(f"{where}: EVT_STROBE payload of {len(payload)} bytes is malformed")
    t_us, seq, level = struct.unpack_from("<IHB", payload)
    duty = struct.unpack_from(f"<{(len(payload) - 7) // 2}H", payload, 7)
    return StrobeEvent(t_us, seq, level, duty)
