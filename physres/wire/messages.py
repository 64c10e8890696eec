"""The request/reply convention every physres board speaks, free of any message set.

Each board's messages live with its driver (the bucket's in
``physres.drivers.bucket.protocol``); what they share is fixed here and in
``firmware/PROTOCOL.md`` (*Common layer*):

* requests have types ``0x01..0x7F``; the reply to ``T`` has type ``T | REPLY_FLAG``;
* types ``EVENT_MIN..0xFF`` are unsolicited events (board → host);
* every reply payload starts with a status byte, 0 = OK; a non-zero status is
  followed by one detail byte. A board names its codes in an ``IntEnum``.
"""

from __future__ import annotations

from enum import IntEnum

from physres.errors import DeviceError

__all__ = ["EVENT_MIN", "REPLY_FLAG", "ReplyError", "expect_ok", "is_event", "need_len"]

REPLY_FLAG = 0x80
EVENT_MIN = 0xC0


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
