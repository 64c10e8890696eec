"""``servobus://NAME``: a servo-bus emulator as a pyserial URL, in memory.

pyserial picks a transport by its address (``loop://``, ``spy://``...); this
handler adds ``servobus://``. Bytes the host writes go straight to a
:class:`~physres.sim.servobus.ServoBus` that has no pty and no thread, and its
answers are waiting to be read when the write returns. The vendor SDK and the
driver run unchanged on top, so a driver's mock mode keeps every line of its
own planning, safety and fault handling (and the emulator's packet log).

:func:`attach` names an emulator for a URL; ``servobus://`` with a name never
attached gets a fresh SO-101 bus.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from physres.sim.servobus.bus import ServoBus

__all__ = ["Serial", "attach", "detach", "emulator"]

_BUSES: dict[str, ServoBus] = {}
#: names whose emulator was created on first use (no attach): forgotten when their port closes
_FRESH: set[str] = set()
_COUNTER = itertools.count()


def attach(bus: ServoBus, name: str | None = None) -> str:
    """Serve ``bus`` at ``servobus://name`` (a fresh name by default); returns the URL."""
    name = name or f"bus{next(_COUNTER)}"
    _BUSES[name] = bus
    return f"servobus://{name}"


def detach(url: str) -> None:
    """Forget the emulator behind ``url`` (its packet log goes with it)."""
    _BUSES.pop(_name(url), None)
    _FRESH.discard(_name(url))


def emulator(url: str) -> ServoBus:
    """The emulator that answers at ``url`` (created on first use)."""
    name = _name(url)
    if name not in _BUSES:
        _BUSES[name] = ServoBus()
        _FRESH.add(name)
    return _BUSES[name]


def _name(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if scheme.lower() != "servobus" or not sep:
        raise SerialException(f"expected servobus://NAME, got {url!r}")
    return rest.strip("/") or "default"


class Serial(SerialBase):
    """A pyserial port whose far end is an in-memory servo-bus emulator."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._rx = bytearray()
        self.bus: ServoBus | None = None
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        self.bus = emulator(self._port)
        self._rx.clear()
        self.is_open = True

    def close(self) -> None:
        """Close; an emulator this port created on first use goes with it (nothing leaks)."""
        if self._port is not None and _name(self._port) in _FRESH:
            _FRESH.discard(_name(self._port))
            _BUSES.pop(_name(self._port), None)
        self.is_open = False
        super().close()

    def _reconfigure_port(self) -> None:
        """Baud rate, parity...: nothing to configure in memory."""

    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        return len(self._rx)

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        data = bytes(self._rx[:size])
        del self._rx[:size]
        return data

    def write(self, data: bytes) -> int:
        if not self.is_open or self.bus is None:
            raise PortNotOpenError()
        bus = self.bus
        packets = bus.parser.feed(bytes(data), time.monotonic())
        self._rx += b"".join(bus.handle_packet(p) for p in packets)
        return len(data)

    def reset_input_buffer(self) -> None:
        self._rx.clear()

    def reset_output_buffer(self) -> None:
        """Writes are delivered at once: nothing is ever pending."""

    def flush(self) -> None:
        """Writes are delivered at once."""
