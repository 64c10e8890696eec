"""Both boards answer the common layer from one home, byte for byte alike.

The bucket's motor board and the neuromorphic bridge run the same host main
(``firmware/common/host/main.c``) and answer the common requests with the same
code (``firmware/common/reply.c``): a bad HELLO, a PING with a payload, a
SET_WATCHDOG out of range, a type the board does not know must come back as the
same bytes from both, whatever their message numbers. The host main's options
are the same too: ``--baud`` throttles the motor board's pty as it does the
bridge's, and a command line it cannot take is refused with the usage.
"""

from __future__ import annotations

import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from physres.drivers.bucket import protocol as bucket
from physres.drivers.neuromorphic import protocol as bridge
from physres.wire import SerialLink
from physres.wire.firmware_runner import build_firmware
from physres.wire.messages import LINK_STATUS, LinkStatus

BOARDS = {"bucket": ("bucket_host", bucket), "neuro_bridge": ("neuro_bridge_host", bridge)}


def _start(binary: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """A host build with no far side; its pty's path from the READY line."""
    proc = subprocess.Popen(
        [str(binary), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("READY "):
            return proc, line.split()[1]
    proc.wait(timeout=5)
    raise AssertionError(f"{binary.name} ended before READY: {proc.stderr.read()}")  # type: ignore[union-attr]


@pytest.fixture(params=sorted(BOARDS))
def board(request: pytest.FixtureRequest) -> Iterator[tuple[Any, SerialLink]]:
    binary, protocol = BOARDS[request.param]
    proc, port = _start(build_firmware("host", request.param) / binary)
    link = SerialLink(port, timeout_s=2.0).open()
    try:
        yield protocol, link
    finally:
        link.close()
        proc.terminate()
        proc.wait(timeout=5)


def test_the_common_requests_are_answered_alike(board: tuple[Any, SerialLink]) -> None:
    P, link = board
    m = P.Msg
    # the longest watchdog first: a loaded machine's pauses must not trip it during the test
    assert link.request(m.SET_WATCHDOG, struct.pack("<H", 5000)) == b"\x00\x88\x13"
    assert link.request(m.HELLO, b"") == b"\x02\x01"  # BAD_LENGTH, one byte expected
    refused = bytes([P.ErrorCode.BAD_VERSION, P.PROTO_VERSION])
    assert link.request(m.HELLO, bytes([P.PROTO_VERSION + 1])) == refused
    assert link.request(m.PING, b"x") == b"\x02\x00"
    assert link.request(m.SET_WATCHDOG, b"\x10") == b"\x02\x02"
    for out_of_range in (1, 5001):  # both boards take 20 or 50 .. 5000 ms
        assert link.request(m.SET_WATCHDOG, struct.pack("<H", out_of_range)) == b"\x03\x00"
    assert link.request(0x3F, b"abc") == b"\x01\x3f"  # UNKNOWN_TYPE names the type
    t0 = P.parse_time(m.PING, link.request(m.PING))
    st = P.parse_status(link.request(m.STATUS))
    assert isinstance(st, LinkStatus) and st.uptime_us >= t0
    assert st.watchdog_ms == 5000 and not st.watchdog_tripped
    # every good frame counts, the unknown type and the refusals too: this STATUS is the 11th
    head = struct.unpack_from(LINK_STATUS, link.request(m.STATUS), 1)
    assert (head[1], head[2], head[4] & 1) == (11, 0, 0)


def test_baud_throttles_the_motor_boards_pty_as_it_does_the_bridges() -> None:
    build = build_firmware("host", "bucket")
    times = {}
    for baud in ("0", "2400"):  # 2,400 baud: 240 bytes a second
        proc, port = _start(build / "bucket_host", "--baud", baud)
        link = SerialLink(port, timeout_s=5.0).open()
        try:
            t = time.monotonic()
            for _ in range(6):  # a STATUS reply is 36 bytes on the wire: 0.9 s at 2,400 baud
                bucket.parse_status(link.request(bucket.Msg.STATUS))
            times[baud] = time.monotonic() - t
        finally:
            link.close()
            proc.terminate()
            proc.wait(timeout=5)
    assert times["2400"] > 0.6, times
    assert times["0"] < times["2400"] / 3, times


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--speed", "9600"), "usage: "),
        (("--link",), "usage: "),
        (("--", "sleep", "1"), "the motor board starts no command (sleep)"),
    ],
)
def test_a_command_line_the_host_main_cannot_take_is_refused(
    args: tuple[str, ...], said: str
) -> None:
    binary = build_firmware("host", "bucket") / "bucket_host"
    proc = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2 and said in proc.stderr, proc.stderr
    assert "READY" not in proc.stdout
