"""The request/reply convention every physres board speaks, free of any message set.

Each board's messages live with its driver (the bucket's in
``physres.drivers.bucket.protocol``); what they share is fixed here and in
``firmware/PROTOCOL.md`` (*Common layer*):

* requests have types ``0x01..0x7F``; the reply to ``T`` has type ``T | REPLY_FLAG``;
* types ``EVENT_MIN..0xFF`` are unsolicited events (board → host);
* every reply payload starts with a status byte, 0 = OK; a non-zero status is
  followed by one detail byte. A board names its codes in an ``IntEnum``;
* every board answers HELLO with its protocol and firmware versions first
  (:class:`BoardHello`), STATUS with the link's counters first (:class:`LinkStatus`),
  PING with its time and SET_WATCHDOG with the timeout now in force:
  :class:`ReplyParsers` reads these for any board's message and code tables.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from physres.errors import DeviceError

__all__ = [
    "COMMON_CODES",
    "EVENT_MIN",
    "FLAG_WATCHDOG_TRIPPED",
    "LINK_STATUS",
    "REPLY_FLAG",
    "BoardHello",
    "LinkStatus",
    "ReplyError",
    "ReplyParsers",
    "expect_ok",
    "is_event",
    "need_len",
    "status_codes",
    "status_flag",
    "watchdog_payload",
]

REPLY_FLAG = 0x80
EVENT_MIN = 0xC0
#: STATUS flag bit 0 on every board: the link watchdog tripped
FLAG_WATCHDOG_TRIPPED = 0x01
#: the status codes every board answers with (``firmware/common/reply.h``); a board's
#: own codes follow them
COMMON_CODES = {"OK": 0, "UNKNOWN_TYPE": 1, "BAD_LENGTH": 2, "OUT_OF_RANGE": 3}
#: the fields every STATUS reply starts with (after the status byte): uptime_us,
#: frames_ok, frames_bad, wd_trips, flags
LINK_STATUS = "<IIIHB"


def is_event(type_: int) -> bool:
    """An unsolicited board → host frame (not the reply to any request)."""
    return type_ >= EVENT_MIN


class ReplyError(DeviceError):
    """The board answered a request with a non-zero status."""

    def __init__(
        self, where: str, msg: IntEnum, code: int, detail: int, codes: type[IntEnum] | None = None
    ) -> None:
        self.code = code
        self.detail = detail
        try:
            name = codes(code).name if codes is not None else f"status {code}"
        except ValueError:
            name = f"unknown error {code}"
        super().__init__(f"{where}: {msg.name} refused by the board: {name} (detail {detail})")


def expect_ok(msg: IntEnum, payload: bytes, where: str, codes: type[IntEnum]) -> bytes:
    """The reply body after an OK status byte; :class:`ReplyError` otherwise."""
    if not payload:
        raise DeviceError(f"{where}: empty {msg.name} reply (no status byte)")
    if payload[0] != 0:
        raise ReplyError(where, msg, payload[0], payload[1] if len(payload) > 1 else 0, codes)
    return payload[1:]


def need_len(msg: IntEnum, body: bytes, n: int, where: str, *, at_least: bool = False) -> None:
    """Refuse a reply body of the wrong length, naming the message and both lengths."""
    if len(body) < n if at_least else len(body) != n:
        raise DeviceError(
            f"{where}: {msg.name} reply has {len(body)} bytes after the status, expected "
            f"{'at least ' if at_least else ''}{n}"
        )


def status_codes(module: str, **own: int) -> type[IntEnum]:
    """A board's ``ErrorCode`` (the first byte of every reply): :data:`COMMON_CODES`,
    then the board's own, which may reuse neither a common name nor a common value."""
    clash = sorted(k for k, v in own.items() if k in COMMON_CODES or v in COMMON_CODES.values())
    if clash:
        raise ValueError(f"{module}: status codes {clash} clash with the common ones")
    return IntEnum("ErrorCode", {**COMMON_CODES, **own}, module=module)  # type: ignore[return-value]


def watchdog_payload(ms: int) -> bytes:
    """SET_WATCHDOG's payload: the timeout in ms (u16)."""
    return struct.pack("<H", ms)


@dataclass(frozen=True)
class BoardHello:
    """What every HELLO reply starts with; a board's ``Hello`` adds its own fields."""

    proto_version: int
    fw_version: tuple[int, int, int]

    @property
    def fw_version_str(self) -> str:
        return ".".join(map(str, self.fw_version))


def status_flag(bit: int, doc: str) -> property:
    """A bit of a STATUS reply's ``flags`` as a read-only bool attribute."""
    return property(lambda self: bool(self.flags & bit), doc=doc)


@dataclass(frozen=True)
class LinkStatus:
    """What every STATUS reply starts with; a board's ``Status`` adds its own fields."""

    uptime_us: int
    frames_ok: int
    frames_bad: int
    wd_trips: int
    flags: int
    watchdog_tripped = status_flag(FLAG_WATCHDOG_TRIPPED, "the link watchdog tripped")


class ReplyParsers:
    """The common layer's reply parsers for one board: its message types, its status
    codes (so a refusal names the board's code) and the default ``where`` of its errors.
    A board's protocol module exposes the bound methods as its own functions."""

    def __init__(self, msgs: type[IntEnum], codes: type[IntEnum], where: str) -> None:
        self.msgs = msgs
        self.codes = codes
        self.where = where

    def expect_ok(self, msg: IntEnum, payload: bytes, where: str | None = None) -> bytes:
        """The reply body after an OK status byte; :class:`ReplyError` naming the code otherwise."""
        return expect_ok(msg, payload, where or self.where, self.codes)

    def parse_time(self, msg: IntEnum, payload: bytes, where: str | None = None) -> int:
        """A reply that is the board time (µs, u32) when it handled ``msg`` (PING and the like)."""
        body = self.expect_ok(msg, payload, where)
        need_len(msg, body, 4, where or self.where)
        return int(struct.unpack("<I", body)[0])

    def parse_watchdog(self, payload: bytes, where: str | None = None) -> int:
        """SET_WATCHDOG reply: the timeout now in force (ms)."""
        msg = self.msgs["SET_WATCHDOG"]
        body = self.expect_ok(msg, payload, where)
        need_len(msg, body, 2, where or self.where)
        return int(struct.unpack("<H", body)[0])
