"""A host that stops reading must not stall the firmware's control loop.

The firmware's replies pile up in the pseudo-terminal when nobody reads them.
The host build used to block in ``write()`` once the pty was full: its 1 ms tick
stopped with it, and motors at 92 % ran on until someone read again. Output
now goes through a transmit queue that takes whole frames or drops them (and
counts them), so the watchdog fires on time whatever the host does.

Host build only: it is the target whose UART is a kernel pty that can fill.
In simavr the emulated UART drains at 38400 baud into uart_pty's own buffer,
and the same ``board.c``/``common/txq.c`` drop logic is pinned by the C unit
tests (``make test``).
"""

from __future__ import annotations

import os
import select
import termios
import time
import tty
from collections.abc import Iterator

import pytest

from physres.drivers.bucket import protocol as P
from physres.drivers.bucket.firmware import BucketFirmware
from physres.wire.framing import PacketProtocol, encode_packet

#: the host build's clock is CLOCK_MONOTONIC: the OS scheduler adds jitter on a busy machine
SLACK_MS = 50.0
#: far more reply bytes than a Linux pty buffers (4 kB line discipline + 64 kB flip buffers)
SPAM_FRAMES = 12_000
DUTY_92 = 60_000  # the board's clamp: 60000 / 65535 = 91.6 %


@pytest.fixture
def host_fw() -> Iterator[BucketFirmware]:
    with BucketFirmware("host") as fw:
        yield fw


def _open_raw(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    termios.tcflush(fd, termios.TCIOFLUSH)
    return fd


def _write_all(fd: int, data: bytes, deadline: float) -> bool:
    """Write ``data`` unless the firmware stops taking bytes before ``deadline``."""
    view = memoryview(data)
    while view:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        _, ready, _ = select.select([], [fd], [], left)
        if ready:
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                continue
    return True


def _drain(fd: int, quiet_s: float = 0.3) -> bytes:
    out = bytearray()
    while select.select([fd], [], [], quiet_s)[0]:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            continue
        if not chunk:
            break
        out += chunk
    return bytes(out)


class _Collect(PacketProtocol):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[int, int, bytes]] = []

    def handle_packet(self, packet) -> None:  # type: ignore[no-untyped-def]
        self.got.append((packet.type, packet.seq, packet.payload))


def test_unread_replies_never_stall_the_watchdog(host_fw: BucketFirmware) -> None:
    fd = _open_raw(host_fw.port)
    try:
        duty = P.duties_payload([DUTY_92] * 4)
        assert _write_all(fd, encode_packet(P.Msg.SET_DUTY, 1, duty), time.monotonic() + 2)
        reached = host_fw.wait_for(lambda f: f.duty_now().min() > 0.9, 2.0)
        assert reached, "motors never reached 92 %"
        # keep asking for replies and never read one: the pty fills up
        frames = b"".join(
            encode_packet(P.Msg.SET_DUTY, 2 + i % 250, duty) for i in range(SPAM_FRAMES)
        )
        deadline = time.monotonic() + 5.0
        sent_all = _write_all(fd, frames, deadline)
        t_last_write = time.monotonic()
        # the firmware's own log: its last strobe is the last request it acted on
        off = host_fw.wait_for(lambda f: f.duty_now().max() == 0, 1.5)
        waited_ms = (time.monotonic() - t_last_write) * 1e3
        assert sent_all, "the firmware stopped reading requests while its replies went unread"
        assert off, f"motors still at {host_fw.duty_now()} 1.5 s after the last request"
        t_strobe = host_fw.strobes[-1][0]
        t_off = max(e.t_ns for e in host_fw.pwm if e.duty == 0)
        dt_ms = (t_off - t_strobe) / 1e6
        print(f"motors off {dt_ms:.1f} ms after the last request (host wait {waited_ms:.0f} ms)")
        assert 244.0 <= dt_ms <= 250.0 + SLACK_MS  # early side: see test_firmware_watchdog
        assert waited_ms <= 250.0 + SLACK_MS + 300.0  # the log's lines reach us a little later
        # now read what was queued, then ask: the dropped frames are counted and reported
        _drain(fd)
        assert _write_all(fd, encode_packet(P.Msg.STATUS, 7), time.monotonic() + 2)
        rx = _Collect()
        rx.data_received(_drain(fd))
        status = [p for t, s, p in rx.got if t == P.Msg.STATUS | P.REPLY_FLAG and s == 7]
        assert status, f"no STATUS reply after draining (got {[(t, s) for t, s, _ in rx.got]})"
        st = P.parse_status(status[0])
        assert st.wd_trips == 1 and st.watchdog_tripped and st.duty == (0, 0, 0, 0)
        # every request either got its reply into the pty or was counted as dropped
        assert st.tx_dropped > 0
        assert st.frames_ok == SPAM_FRAMES + 2
    finally:
        os.close(fd)
