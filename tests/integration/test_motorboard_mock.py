"""``mock.bucket_motors`` runs the driver's own code, below it the board's own firmware.

The mock used to stop above the driver (the generic in-memory backend, and
commands that returned made-up values), so the handshake, the quantisation,
the keepalive and the STATUS polling never ran in consumers' tests. Now mock
mode is a transport: the host build of the firmware on a pty, no hardware.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from physres import registry
from physres.drivers.bucket import MotorBoard
from physres.errors import SafetyError
from physres.wire import SerialLink


@pytest.fixture
def mock_board() -> Iterator[MotorBoard]:
    dev = registry.create("mock.bucket_motors", "motors", {})
    assert isinstance(dev, MotorBoard) and dev.mock
    with dev:
        yield dev


def test_mock_speaks_the_protocol_to_the_firmware(mock_board: MotorBoard) -> None:
    link = mock_board.link
    assert isinstance(link, SerialLink) and link.bytes_out > 0 and link.packets > 0
    fw = mock_board.describe().meta["firmware"]  # from the firmware's own HELLO reply
    assert fw["version"] == "1.1.0" and fw["n_motors"] == 4 and fw["watchdog_ms"] == 250
    sent = mock_board.apply({"duty": [0.1, 0.2, 0.3, 0.4]})["duty"]
    # what the driver actually sent: 16-bit quantised, not the float handed in
    assert sent[0, 0] == round(0.1 * 65535) / 65535 and sent[0, 0] != 0.1
    # the firmware's slew limit ramps the pins: 0.4 takes 13 ticks of 1 ms
    assert mock_board._mock_board.wait_for(lambda f: f.duty_now()[3] >= 0.39, 1.0)
    st = mock_board.board_status()
    assert st["frames_ok"] >= 3 and st["strobe_seq"] == 1
    assert st["duty_out"] == pytest.approx([0.1, 0.2, 0.3, 0.4], abs=1e-4)


def test_mock_refuses_what_the_driver_refuses_before_any_byte(mock_board: MotorBoard) -> None:
    link = mock_board.link
    assert link is not None
    mock_board.pause_keepalive()
    time.sleep(0.06)  # let an in-flight keepalive finish
    before = link.bytes_out
    with pytest.raises(SafetyError, match=r"above the limit 0\.9"):
        mock_board.apply({"duty": [0.95, 0, 0, 0]})
    with pytest.raises(SafetyError, match=r"slew limit 0\.5"):
        mock_board.apply({"duty": [[0.1, 0, 0, 0], [0.7, 0, 0, 0]]})
    assert link.bytes_out == before
    mock_board.resume_keepalive()


def test_mock_keepalive_and_watchdog_are_the_real_ones(mock_board: MotorBoard) -> None:
    fw = mock_board._mock_board
    mock_board.apply({"duty": [0.3, 0.3, 0.3, 0.3]})
    time.sleep(0.8)  # three watchdog periods: only the keepalive talks
    status = mock_board.read()["status"].data
    assert len(status) >= 3 and (status["wd_trips"] == 0).all()
    mock_board.pause_keepalive()
    assert fw.wait_for(lambda f: not f.duty_now().any(), 3.0), "the watchdog never tripped"
    mock_board.resume_keepalive()
    st = mock_board.board_status()
    assert st["wd_trips"] == 1 and st["watchdog_tripped"]


def test_mock_schedule_is_applied_by_the_board(mock_board: MotorBoard) -> None:
    now = mock_board.board_status()["uptime_us"]
    assert mock_board.schedule([0.2, 0.2, 0.2, 0.2], now + 50_000) == 1
    time.sleep(0.2)
    strobe = mock_board.read()["strobe"].data
    assert list(strobe["scheduled"]) == [1] and strobe["t_dev_us"][0] >= now + 50_000


def test_disconnect_leaves_the_motors_off_and_ends_the_firmware() -> None:
    dev = registry.create("mock.bucket_motors", "m", {})
    dev.connect()
    fw = dev._mock_board  # type: ignore[attr-defined]
    dev.apply({"duty": [0.4, 0.4, 0.4, 0.4]})
    assert fw.wait_for(lambda f: f.duty_now().min() > 0.39, 1.0)
    dev.disconnect()
    np.testing.assert_array_equal(fw.duty_now(), 0.0)  # the driver's STOP reached the pins
    assert not fw.running and dev._mock_board is None  # type: ignore[attr-defined]
