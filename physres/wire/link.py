"""A request/reply serial link over any pyserial URL, with retries and resync.

The transport is chosen by an address (``/dev/ttyACM0``, a pty path,
``spy:///dev/pts/4`` to log traffic, ``socket://host:port``) through
``serial.serial_for_url``. A reader thread feeds bytes into the
:class:`~physres.wire.framing.PacketProtocol`; :meth:`SerialLink.request`
sends one frame and waits for the reply with the same sequence number.

Retries: when no valid reply arrives within ``timeout_s``, or a corrupted frame
arrives while waiting (the reply was damaged), the *same* frame (same seq) is
sent again; the firmware recognises a repeat and resends its cached reply
instead of acting twice. Garbage only costs the frames it hits: COBS
resynchronises at the next ``0x00``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from enum import IntEnum

import serial

from physres.errors import DeviceError, DeviceTimeout
from physres.wire.framing import Packet, PacketProtocol, encode_packet
from physres.wire.messages import REPLY_FLAG, is_event

__all__ = ["LinkLost", "SerialLink"]


class LinkLost(DeviceError):
    """The serial port went away (unplugged, pty closed, process killed)."""


class SerialLink(PacketProtocol):
    """Framed request/reply over one serial port; thread-safe ``request``."""

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 38400,
        timeout_s: float = 0.1,
        retries: int = 3,
        owner: str = "serial link",
        on_event: Callable[[Packet], None] | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.retries = retries
        self.owner = owner
        self.on_event = on_event
        self._ser: serial.SerialBase | None = None
        self._reader: threading.Thread | None = None
        self._closing = threading.Event()
        self._cond = threading.Condition()
        self._req_lock = threading.Lock()
        self._want: tuple[int, int] | None = None
        self._reply: Packet | None = None
        self._seq = 0
        self.fault: str | None = None
        # counters a test or a status page can read
        self.bytes_in = 0
        self.bytes_out = 0
        self.resends = 0
        self.stale = 0
        self.last_garbage: str = ""

    # ---------------------------------------------------------------- lifecycle
    @property
    def is_open(self) -> bool:
        return self._ser is not None

    def open(self) -> SerialLink:
        """Open the port and start the reader; raises :class:`DeviceError` naming the URL."""
        try:
            self._ser = serial.serial_for_url(
                self.url, baudrate=self.baudrate, timeout=0.05, write_timeout=1.0
            )
        except (serial.SerialException, OSError, ValueError) as e:
            raise DeviceError(f"{self.owner}: cannot open serial port {self.url!r}: {e}") from e
        self._closing.clear()
        self.fault = None
        self._reader = threading.Thread(
            target=self._read_loop, name=f"serial-reader {self.url}", daemon=True
        )
        self._reader.start()
        # a lone delimiter ends whatever partial frame the board may hold
        self._write(b"\x00", "open")
        return self

    def close(self) -> None:
        """Stop the reader and close the port; safe to call twice."""
        ser, self._ser = self._ser, None
        if ser is None:
            return
        self._closing.set()
        with contextlib.suppress(Exception):
            ser.cancel_read()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=1.0)
        with contextlib.suppress(Exception):
            ser.close()
        with self._cond:
            self._cond.notify_all()

    # --------------------------------------------------------------- receiving
    def _read_loop(self) -> None:
        ser = self._ser
        assert ser is not None
        while not self._closing.is_set():
            try:
                data = ser.read(max(1, ser.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError) as e:
                if not self._closing.is_set():
                    self._lost(f"read failed: {e}")
                return
            if data:
                self.bytes_in += len(data)
                self.data_received(data)

    def _lost(self, why: str) -> None:
        with self._cond:
            self.fault = f"serial port {self.url!r} of {self.owner} was lost ({why})"
            self._cond.notify_all()

    def handle_packet(self, packet: Packet) -> None:
        if is_event(packet.type):
            if self.on_event is not None:
                self.on_event(packet)
            return
        with self._cond:
            if self._want == (packet.type, packet.seq):
                self._reply = packet
                self._cond.notify_all()
            else:
                self.stale += 1  # a late duplicate of a reply we already have

    def handle_garbage(self, data: bytes, reason: str) -> None:
        self.last_garbage = reason
        with self._cond:
            self._cond.notify_all()

    # ----------------------------------------------------------------- sending
    def _write(self, data: bytes, what: str) -> None:
        ser = self._ser
        if ser is None:
            raise LinkLost(self.fault or f"{self.owner}: serial port {self.url!r} is closed")
        try:
            ser.write(data)
        except serial.SerialTimeoutException as e:
            raise DeviceTimeout(
                f"{self.owner}: writing {what} to {self.url!r} blocked for over 1 s"
            ) from e
        except (serial.SerialException, OSError) as e:
            self._lost(f"write failed: {e}")
            raise LinkLost(self.fault or str(e)) from e
        self.bytes_out += len(data)

    def request(
        self,
        msg: IntEnum | int,
        payload: bytes = b"",
        *,
        timeout_s: float | None = None,
        retries: int | None = None,
    ) -> bytes:
        """Send ``msg`` and return the reply payload (status byte first).

        Raises :class:`DeviceTimeout` naming the port and the command when no
        valid reply came after all attempts, :class:`LinkLost` when the port
        died. Thread-safe: one request is in flight at a time.
        """
        name = msg.name if isinstance(msg, IntEnum) else f"message {int(msg):#04x}"
        timeout = self.timeout_s if timeout_s is None else timeout_s
        tries = 1 + (self.retries if retries is None else retries)
        with self._req_lock:
            self._seq = (self._seq + 1) & 0xFF
            seq = self._seq
            frame = encode_packet(int(msg), seq, payload)
            t0 = time.monotonic()
            garbage0 = self.garbage
            with self._cond:
                self._want = (int(msg) | REPLY_FLAG, seq)
                self._reply = None
            try:
                for attempt in range(tries):
                    if attempt:
                        self.resends += 1
                    if self.fault:
                        raise LinkLost(f"{self.fault}; {name} was not sent")
                    self._write(frame, name)
                    reply = self._wait_reply(timeout)
                    if reply is not None:
                        return reply.payload
                    if self.fault:
                        raise LinkLost(f"{self.fault} while waiting for the {name} reply")
            finally:
                with self._cond:
                    self._want = None
        raise DeviceTimeout(
            f"{self.owner}: no valid reply to {name} (seq {seq}) on {self.url!r} after "
            f"{tries} attempts in {time.monotonic() - t0:.2f} s "
            f"({self.garbage - garbage0} corrupted frames received meanwhile)"
        )

    def _wait_reply(self, timeout: float) -> Packet | None:
        """The reply, or None on timeout / corrupted frame / fault (caller resends)."""
        deadline = time.monotonic() + timeout
        garbage0 = self.garbage
        with self._cond:
            while self._reply is None and not self.fault and self.garbage == garbage0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._reply
