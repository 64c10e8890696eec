"""A man in the middle on real pseudo-terminals that damages frames on purpose.

``host ⇄ relay pty ⇄ FaultyRelay ⇄ firmware pty``. The relay forwards whole
frames (up to each ``0x00``) and, drawn from a seeded generator, flips one bit
of a frame or inserts a burst of garbage ending in ``0x00`` before it. It counts
exactly what it did, so a test can demand that the firmware's bad-frame counter
and the host's garbage counter match those numbers.

A flipped bit never produces ``0x00`` (that would split one frame into two)
and never touches a delimiter (that would merge two): each damaged frame is
then exactly one bad frame for the receiver. ``unplug()`` closes the host side
mid-run, as a pulled USB cable does.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import threading
import tty
from dataclasses import dataclass

import numpy as np

__all__ = ["Direction", "FaultyRelay"]


@dataclass
class Direction:
    """Fault settings and counters for one direction of the relay."""

    corrupt: float = 0.0  # probability a frame gets one bit flipped
    garbage: float = 0.0  # probability a garbage burst is inserted before a frame
    frames: int = 0
    corrupted: int = 0
    garbage_bursts: int = 0

    @property
    def damaged(self) -> int:
        """Frames the receiver must reject: flipped frames plus garbage bursts."""
        return self.corrupted + self.garbage_bursts


class FaultyRelay:
    """Relay between a host-facing pty (``port``) and the firmware's pty path."""

    def __init__(
        self,
        device_path: str,
        *,
        seed: int = 0,
        corrupt_to_device: float = 0.0,
        garbage_to_device: float = 0.0,
        corrupt_to_host: float = 0.0,
        garbage_to_host: float = 0.0,
    ) -> None:
        self.device_path = device_path
        self.to_device = Direction(corrupt_to_device, garbage_to_device)
        self.to_host = Direction(corrupt_to_host, garbage_to_host)
        self._rng = np.random.default_rng(seed)
        self.port = ""
        self._dev = self._master = self._slave = -1
        self._stop_r, self._stop_w = os.pipe()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def start(self) -> FaultyRelay:
        self._dev = os.open(self.device_path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._dev)
        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._thread = threading.Thread(target=self._run, daemon=True, name="faulty-relay")
        self._thread.start()
        return self

    # ------------------------------------------------------------ the relay
    def _run(self) -> None:
        bufs = {self._master: bytearray(), self._dev: bytearray()}
        route = {
            self._master: (self._dev, self.to_device),
            self._dev: (self._master, self.to_host),
        }
        try:
            while True:
                ready, _, _ = select.select([self._master, self._dev, self._stop_r], [], [])
                if self._stop_r in ready:
                    return
                for fd in ready:
                    data = os.read(fd, 4096)
                    if not data:
                        return
                    out_fd, d = route[fd]
                    buf = bufs[fd]
                    buf += data
                    while (i := buf.find(0)) >= 0:
                        frame = bytes(buf[: i + 1])
                        del buf[: i + 1]
                        _write_all(out_fd, self._damage(frame, d))
        except OSError as e:
            self.error = str(e)

    def _damage(self, frame: bytes, d: Direction) -> bytes:
        if len(frame) == 1:  # idle fill: pass through, not counted
            return frame
        d.frames += 1
        out = bytearray(frame)
        if self._rng.random() < d.corrupt:
            while True:
                pos = int(self._rng.integers(0, len(out) - 1))  # never the delimiter
                flipped = out[pos] ^ (1 << int(self._rng.integers(0, 8)))
                if flipped:
                    out[pos] = flipped
                    break
            d.corrupted += 1
        if self._rng.random() < d.garbage:
            n = int(self._rng.integers(1, 12))
            burst = bytes(self._rng.integers(1, 256, size=n, dtype=np.uint8)) + b"\x00"
            out[:0] = burst
            d.garbage_bursts += 1
        return bytes(out)

    # -------------------------------------------------------------- control
    def unplug(self) -> None:
        """Stop relaying and close the host-facing pty: the host's next read fails."""
        self.close()

    def close(self) -> None:
        """Stop the relay and close every descriptor; safe to call twice."""
        if self._stop_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._stop_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        for attr in ("_master", "_slave", "_dev", "_stop_r", "_stop_w"):
            fd = getattr(self, attr)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, attr, -1)

    def __enter__(self) -> FaultyRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
