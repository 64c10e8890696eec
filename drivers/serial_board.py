"""What every driver of a physres board on a serial link does the same way.

The bucket's motor board and the neuromorphic bridge both speak the common layer
of ``firmware/PROTOCOL.md``: HELLO until the board answers, a link watchdog the
host keeps fed, STATUS counters. :class:`SerialBoard` is that part of their
drivers, written once:

* **connect**: in mock mode, start the host build of the board's own firmware on
  a pty (``_start_firmware``) and talk to it as to the hardware; open the
  :class:`~physres.wire.SerialLink`; say HELLO until the board (and whatever
  ``_not_ready`` asks for behind it) answers; check the board (``_check_board``);
  set its watchdog when ``params.watchdog_ms`` asks; prepare the session
  (``_start_session``); start the keepalive;
* **keepalive**: a thread polls STATUS every ``status_s`` (``_poll_status``) and
  PINGs whenever the link was quiet for ``keepalive_s`` (``_ping``), so the
  board's watchdog never trips in a healthy run; a lost port stops it and
  latches the fault;
* **close**: stop the keepalive, send the board's ``goodbye`` request (STOP,
  CLEAR: leave it safe) unless the link failed, close the port, end the mock's
  firmware. A failed connect closes the same way.

The board's own messages, its parameters and its streams stay in its driver.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from abc import abstractmethod
from enum import IntEnum
from typing import Any, ClassVar

from physres.device import Device
from physres.errors import ConfigError, DeviceError, DeviceTimeout, RuleError
from physres.wire.framing import Packet
from physres.wire.link import LinkLost, SerialLink
from physres.wire.messages import BoardHello, LinkStatus, ReplyError, ReplyParsers, watchdog_payload

__all__ = ["SerialBoard", "check_keepalive"]


def check_keepalive(keepalive_s: float, watchdog_ms: int | None, consequence: str) -> None:
    """Two keepalives must fit in one watchdog period, or a healthy run trips it
    (a ``Params`` validator; ``consequence`` says what the trip would do)."""
    if keepalive_s and watchdog_ms and keepalive_s * 1000 * 2 > watchdog_ms:
        raise RuleError(
            "keepalive_s",
            f"keepalive_s={keepalive_s} is more than half of watchdog_ms={watchdog_ms}; "
            f"{consequence} in a healthy run",
        )


class SerialBoard(Device):
    """A :class:`Device` whose hardware is a physres board on a serial link.

    A subclass names its protocol (``msgs``, ``proto_version``, ``replies``,
    ``_parse_hello``), the request that leaves the board safe (``goodbye``), and
    fills the hooks below. Its ``Params`` has the fields ``port``, ``baudrate``,
    ``timeout_s``, ``retries``, ``handshake_timeout_s``, ``keepalive_s``,
    ``status_s`` and ``watchdog_ms``.
    """

    mock_transport = True
    #: the board's message types (HELLO, PING, STATUS, SET_WATCHDOG among them)
    msgs: ClassVar[type[IntEnum]]
    #: the protocol version this driver speaks (HELLO's payload)
    proto_version: ClassVar[int]
    #: the common layer's reply parsers bound to the board's codes
    replies: ClassVar[ReplyParsers]
    #: sent (one retry) before the port closes, unless the link failed: leaves the board safe
    goodbye: ClassVar[IntEnum]
    #: one HELLO attempt waits at most this long (the handshake retries until its timeout)
    hello_attempt_s: ClassVar[float] = 0.25
    #: what the handshake's timeout asks the user to check
    hello_hint: ClassVar[str] = "the firmware flashed"

    def __init__(self, name: str, *, mock: bool = False, **params: Any) -> None:
        super().__init__(name, mock=mock, **params)
        self._link: SerialLink | None = None
        self._port: str | None = self.params.port  # in use (mock mode: the firmware's pty)
        self._mock_board: Any = None  # mock mode: the running FirmwareProcess
        self.hello: Any = None
        self._keepalive: threading.Thread | None = None
        self._stop_keepalive = threading.Event()
        self._keepalive_paused = threading.Event()
        self._last_request = 0.0

    # ---------------------------------------------------------------- hooks
    @abstractmethod
    def _parse_hello(self, reply: bytes) -> BoardHello:
        """The board's HELLO reply, decoded (its protocol module's ``parse_hello``)."""

    @abstractmethod
    def _start_firmware(self) -> Any:
        """Mock mode: start the host build of the board's firmware; return the process."""

    def _not_ready(self, hello: Any) -> str | None:
        """Why a board that answered HELLO is not ready yet (None: it is)."""
        return None

    def _check_board(self, hello: Any) -> None:
        """Refuse a board that does not fit the parameters (a :class:`ConfigError`)."""

    def _start_session(self) -> None:
        """What connect does once the watchdog is set (STOP, a clock sync, an upload)."""

    def _on_event(self, packet: Packet) -> None:
        """An unsolicited frame from the board (the link's reader thread). Default: none."""

    @abstractmethod
    def _poll_status(self) -> LinkStatus:
        """Ask STATUS and keep what the status streams need; returns the reply."""

    def _ping(self) -> None:
        """The keepalive's PING (a subclass may also read the board's time from it)."""
        self.replies.parse_time(self.msgs["PING"], self._request(self.msgs["PING"]), self._where)

    # ------------------------------------------------------------ lifecycle
    def _connect(self) -> None:
        if self.mock:
            fw = self._start_firmware()
            self._mock_board = fw
            weakref.finalize(self, fw.stop)  # a mock dropped without disconnect() ends it too
            self._port = fw.port
        elif not self.params.port:
            raise ConfigError(
                f"device {self.name!r} ({self.kind}) needs params.port, a pyserial URL such as "
                "/dev/ttyACM0 or a pty path (or mock: true)"
            )
        try:
            self._open(str(self._port))
        except BaseException:
            self._close()
            raise

    def _disconnect(self) -> None:
        self._close()

    def _open(self, port: str) -> None:
        """Open the link, handshake, check, set the watchdog, start the session and keepalive."""
        p = self.params
        self._fault = None
        self.hello = None
        self._link = SerialLink(
            port,
            baudrate=p.baudrate,
            timeout_s=p.timeout_s,
            retries=p.retries,
            owner=f"{self.kind} {self.name!r}",
            on_event=self._on_event,
        ).open()
        self.hello = self._handshake()
        self._check_board(self.hello)
        if p.watchdog_ms is not None:
            self._set_watchdog(p.watchdog_ms)
        self._start_session()
        self._stop_keepalive.clear()
        self._keepalive_paused.clear()
        if p.keepalive_s or p.status_s:
            self._keepalive = threading.Thread(
                target=self._keepalive_loop, daemon=True, name=f"keepalive {self.name}"
            )
            self._keepalive.start()

    def _close(self) -> None:
        """Keepalive off, the goodbye request (if the board answered and the link holds),
        port closed, the mock's firmware ended; safe after a failed connect."""
        self._stop_keepalive.set()
        if self._keepalive is not None:
            self._keepalive.join(timeout=2)
            self._keepalive = None
        link, self._link = self._link, None
        try:
            if link is not None:
                if self._fault is None and self.hello is not None:
                    with contextlib.suppress(DeviceError):
                        link.request(self.goodbye, retries=1)
                link.close()
        finally:
            fw, self._mock_board = self._mock_board, None
            if fw is not None:
                fw.stop()

    def _handshake(self) -> Any:
        """HELLO until the board answers ready, or :class:`DeviceTimeout` naming why not."""
        assert self._link is not None
        limit = self.params.handshake_timeout_s
        deadline = time.monotonic() + limit
        while True:
            try:
                reply = self._link.request(
                    self.msgs["HELLO"],
                    bytes([self.proto_version]),
                    retries=0,
                    timeout_s=min(self.hello_attempt_s, limit),
                )
            except LinkLost:
                raise
            except DeviceTimeout as e:
                why = str(e)
            else:
                hello = self._parse_hello(reply)
                why = self._not_ready(hello)
                if why is None:
                    return hello
                time.sleep(0.1)
            if time.monotonic() >= deadline:
                raise DeviceTimeout(
                    f"{self._where}: no answer to HELLO for {limit} s: {why}; is "
                    f"{self.hello_hint} and the baud rate {self.params.baudrate}?"
                )

    def _set_watchdog(self, ms: int) -> None:
        msg = self.msgs["SET_WATCHDOG"]
        try:
            self.replies.parse_watchdog(self._request(msg, watchdog_payload(ms)), self._where)
        except ReplyError as e:
            h = self.hello
            raise ConfigError(
                f"device {self.name!r}: params.watchdog_ms={ms} is outside the "
                f"board's {h.watchdog_min_ms}..{h.watchdog_max_ms} ms"
            ) from e

    # ------------------------------------------------------------- requests
    @property
    def _where(self) -> str:
        return f"{self.kind} {self.name!r} on {self._port!r}"

    @property
    def link(self) -> SerialLink | None:
        """The serial link (counters: garbage, resends, stale, bytes_in/out)."""
        return self._link

    def _request(self, msg: IntEnum, payload: bytes = b"") -> bytes:
        """One request; a lost port latches the fault and every later request refuses."""
        if self._fault:
            raise LinkLost(f"{self._fault}; {msg.name} not sent")
        if self._link is None:
            raise LinkLost(f"{self._where}: the link is closed; {msg.name} not sent")
        try:
            out = self._link.request(msg, payload)
        except LinkLost as e:
            self._fault = self._link.fault or str(e)
            raise
        self._last_request = time.monotonic()
        return out

    def _check_link(self) -> None:
        if self._fault:
            raise LinkLost(self._fault)

    # ------------------------------------------------------------ keepalive
    def pause_keepalive(self) -> None:
        """Stop keepalives (the host "goes quiet"; the board's watchdog will act)."""
        self._keepalive_paused.set()

    def resume_keepalive(self) -> None:
        self._keepalive_paused.clear()

    def _keepalive_loop(self) -> None:
        """STATUS every ``status_s``, PING when the link is quiet; stop on a lost port."""
        p = self.params
        tick = min(x for x in (p.keepalive_s, p.status_s) if x) / 2
        last_status = time.monotonic()
        while not self._stop_keepalive.wait(tick):
            if self._keepalive_paused.is_set():
                continue
            now = time.monotonic()
            try:
                if p.status_s and now - last_status >= p.status_s:
                    last_status = now
                    self._poll_status()
                elif p.keepalive_s and now - self._last_request >= p.keepalive_s:
                    self._ping()
            except DeviceError as e:
                if isinstance(e, LinkLost) or self._fault:
                    link = self._link
                    self._fault = self._fault or (link.fault if link else None) or str(e)
                    return
                # a timeout: the next call decides; keep trying while the port exists
