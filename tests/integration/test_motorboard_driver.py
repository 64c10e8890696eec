"""MotorBoard, the bucket's motor driver, talking to the real firmware on a pty.

The same driver runs against an Arduino on /dev/ttyACM0; here the port is the
pty of the firmware ELF in simavr (or of its host build). What a lab relies on:
limits refused before a byte leaves, the board's own limits read at connect,
a keepalive that keeps the watchdog quiet, strobe events to align camera
frames, and a clear error when the board hangs or the cable is pulled.
"""

from __future__ import annotations

import os
import pty
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from physres import registry
from physres.device import check_device
from physres.drivers.bucket import MotorBoard
from physres.drivers.bucket import protocol as P
from physres.drivers.bucket.firmware import BucketFirmware
from physres.errors import ConfigError, DeviceTimeout, SafetyError
from physres.wire import LinkLost, ReplyError, SerialLink


@pytest.fixture
def board(firmware: BucketFirmware) -> Iterator[MotorBoard]:
    dev = registry.create("drivers.bucket_motors", "motors", {"port": firmware.port})
    assert isinstance(dev, MotorBoard)
    with dev:
        yield dev


def test_handshake_fills_in_what_the_firmware_says(board: MotorBoard) -> None:
    fw = board.describe().meta["firmware"]
    assert fw["version"] == "1.1.0" and fw["n_motors"] == 4 and fw["watchdog_ms"] == 250
    assert fw["duty_max"] == [pytest.approx(60000 / 65535)] * 4
    assert board.describe().inputs["duty"].limits.high == 0.9


def test_applied_duty_reaches_the_pins(firmware: BucketFirmware, board: MotorBoard) -> None:
    sent = board.apply({"duty": [0.1, 0.2, 0.3, 0.4]})["duty"]
    np.testing.assert_allclose(sent, [[0.1, 0.2, 0.3, 0.4]], atol=1 / 65535)
    assert firmware.wait_for(lambda f: f.duty_now()[3] >= 0.39, 1.0)
    # simavr: 8-bit PWM on the pins; host build: the 16-bit output value
    np.testing.assert_allclose(firmware.duty_now(), sent[0], atol=1 / 256)
    time.sleep(0.25)
    out = board.read()["duty_out"].data
    np.testing.assert_allclose(out[-1], sent[0], atol=1e-4)


def test_limits_are_refused_before_any_byte_leaves(board: MotorBoard) -> None:
    link = board.link
    assert link is not None
    board.pause_keepalive()
    time.sleep(0.06)  # let an in-flight keepalive finish
    before = link.bytes_out
    above = r"motors\.duty\[0, 2\] = 0\.95 duty is above the limit 0\.9"
    with pytest.raises(SafetyError, match=above):
        board.apply({"duty": [0, 0, 0.95, 0]})
    with pytest.raises(SafetyError, match=r"slew limit 0\.5"):
        board.apply({"duty": [[0, 0, 0, 0], [0.6, 0, 0, 0]]})
    with pytest.raises(SafetyError, match="not finite"):
        board.apply({"duty": [np.nan, 0, 0, 0]})
    assert link.bytes_out == before
    board.resume_keepalive()


def test_host_limit_above_the_firmware_clamp_is_a_config_error(
    firmware: BucketFirmware,
) -> None:
    dev = MotorBoard("motors", port=firmware.port, max_duty=0.95)
    with pytest.raises(ConfigError, match=r"max_duty=0.95 is above the firmware clamp 0.9155"):
        dev.connect()
    assert not dev.connected and dev.link is None
    dev.disconnect()
    # the refused connect said goodbye as a disconnect does: STOP, and no keepalive left
    assert not [t for t in threading.enumerate() if t.name == "keepalive motors"]
    link = SerialLink(firmware.port, timeout_s=2.0).open()
    try:
        assert P.parse_status(link.request(P.Msg.STATUS)).stopped
    finally:
        link.close()


def test_keepalive_keeps_the_watchdog_quiet_and_silence_trips_it(
    firmware: BucketFirmware, board: MotorBoard
) -> None:
    board.apply({"duty": [0.3, 0.3, 0.3, 0.3]})
    time.sleep(0.8)  # idle for three watchdog periods: the keepalive talks
    st = board.board_status()
    assert st["wd_trips"] == 0 and st["duty_out"] == [pytest.approx(0.3, abs=1e-4)] * 4
    status = board.read()["status"].data  # polled every status_s = 0.2 s meanwhile
    assert len(status) >= 3 and (status["wd_trips"] == 0).all()
    board.pause_keepalive()  # the host "goes silent"
    # watched on the pins, not over the link (a request would feed the watchdog); a
    # loaded machine can slow simavr below real time, so a fixed sleep is not enough
    assert firmware.wait_for(lambda f: not f.duty_now().any(), 3.0), "watchdog never tripped"
    board.resume_keepalive()
    st = board.board_status()
    assert st["wd_trips"] == 1 and st["watchdog_tripped"] and st["duty_out"] == [0.0] * 4


def test_strobe_stream_has_one_event_per_applied_vector(board: MotorBoard) -> None:
    ramp = np.linspace(0, 0.4, 8)[:, None] * np.ones(4)
    board.apply({"duty": ramp})
    strobe = board.read()["strobe"]
    assert strobe.data.dtype.names == ("t_dev_us", "t_host_ns", "seq", "scheduled")
    assert list(strobe.data["seq"]) == list(range(1, 9))
    assert (np.diff(strobe.data["t_dev_us"]) > 0).all() and not strobe.data["scheduled"].any()
    assert board.describe().streams["strobe"].matches(strobe.data)


def test_scheduled_vector_is_reported_when_the_board_applies_it(
    firmware: BucketFirmware, board: MotorBoard
) -> None:
    now = board.board_status()["uptime_us"]
    lead_us = 500_000  # a stalled host (load 10 here) must not deliver it after its time
    assert board.schedule([0.2, 0.2, 0.2, 0.2], now + lead_us) == 1
    # the board's clock, not a fixed sleep: simavr runs behind real time on a loaded machine
    deadline, strobe = time.monotonic() + 5.0, board.read()["strobe"].data
    while not len(strobe) and time.monotonic() < deadline:
        time.sleep(0.05)
        strobe = board.read()["strobe"].data
    time.sleep(0.1)  # nothing else may follow
    strobe = np.concatenate([strobe, board.read()["strobe"].data])
    assert len(strobe) == 1 and strobe["scheduled"][0] == 1
    late_us = 1100 if firmware.target == "simavr" else 20_000  # host: OS scheduling
    assert 0 <= strobe["t_dev_us"][0] - (now + lead_us) <= late_us


def test_a_hung_board_gives_a_timeout_naming_port_and_command(
    firmware: BucketFirmware,
) -> None:
    dev = MotorBoard(
        "motors", port=firmware.port, timeout_s=0.05, retries=2, keepalive_s=0, status_s=0
    )
    with dev:
        os.kill(firmware.pid, signal.SIGSTOP)  # the MCU stops answering; the port stays
        try:
            t0 = time.monotonic()
            expected = rf"no valid reply to SET_DUTY .* on '{firmware.port}' after 3 attempts"
            with pytest.raises(DeviceTimeout, match=expected):
                dev.apply({"duty": [0.1] * 4})
            assert time.monotonic() - t0 < 1.0  # 3 x 50 ms, plus this busy machine
        finally:
            os.kill(firmware.pid, signal.SIGCONT)


def test_unplug_mid_run_raises_promptly_and_disconnects_cleanly(
    firmware: BucketFirmware, board: MotorBoard
) -> None:
    errors: list[Exception] = []
    applied = 0

    def run() -> None:
        nonlocal applied
        try:
            while True:
                board.apply({"duty": [0.2 * (applied % 2)] * 4})
                applied += 1
        except Exception as e:  # the run loop ends on the first error
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.3)
    t_kill = time.monotonic()
    firmware.kill()  # the cable is pulled: the pty disappears
    t.join(timeout=2)
    assert not t.is_alive()
    detect_s = time.monotonic() - t_kill
    assert applied > 5 and detect_s < 1.0
    assert isinstance(errors[0], LinkLost) and firmware.port in str(errors[0])
    # what was gathered before the unplug is still delivered, then read() says why
    chunk = board.read()["strobe"]
    assert len(chunk.data) == applied and "lost" in chunk.meta["fault"]
    with pytest.raises(LinkLost, match="was lost"):
        board.read()
    board.disconnect()
    board.disconnect()
    assert not board.connected


def test_mock_mode_needs_no_port() -> None:
    dev = registry.create("mock.bucket_motors", "motors")
    with dev:
        sent = dev.apply({"duty": [0.1, 0.2, 0.3, 0.4]})
        assert sent["duty"].shape == (1, 4)
        chunks = dev.read()
        for name, spec in dev.describe().streams.items():
            assert spec.matches(chunks[name].data), name
        with pytest.raises(SafetyError):
            dev.apply({"duty": [1.0, 0, 0, 0]})


def test_a_missing_port_is_a_config_error_naming_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"needs params\.port"):
        MotorBoard("motors").connect()


def test_the_real_driver_passes_the_device_contract(firmware: BucketFirmware) -> None:
    # the checker every kind faces in tests/contract, here with the firmware on the wire
    report = check_device(MotorBoard("motors", port=firmware.port))
    assert report.ok and len(report.passed) >= 5


def test_watchdog_param_outside_the_board_range_is_a_config_error(
    firmware: BucketFirmware,
) -> None:
    dev = MotorBoard("motors", port=firmware.port, watchdog_ms=20, keepalive_s=0.005)
    with pytest.raises(ConfigError, match=r"watchdog_ms=20 is outside the board's 50\.\.5000 ms"):
        dev.connect()
    assert not dev.connected


def test_schedule_beyond_the_queue_is_refused_by_name(board: MotorBoard) -> None:
    t = board.board_status()["uptime_us"] + 10_000_000
    for i in range(8):
        assert board.schedule([0.1] * 4, t + i) == i + 1
    with pytest.raises(ReplyError, match="SCHEDULE refused by the board: QUEUE_FULL"):
        board.schedule([0.1] * 4, t + 9)
    board.stop()
    assert board.board_status()["queue"] == 0


def test_traffic_can_be_captured_by_wrapping_the_url(
    firmware: BucketFirmware, tmp_path: Path
) -> None:
    # pyserial's spy:// logs every byte; the driver does not know or care
    log = tmp_path / "wire.txt"
    url = f"spy://{firmware.port}?file={log}"
    with MotorBoard("motors", port=url, keepalive_s=0, status_s=0) as dev:
        dev.apply({"duty": [0.25] * 4})
    text = log.read_text()
    assert "TX" in text and "RX" in text


def test_a_port_with_no_firmware_fails_the_handshake_clearly() -> None:
    master, slave = pty.openpty()  # a serial port nobody answers on
    try:
        port = os.ttyname(slave)
        dev = MotorBoard("motors", port=port, handshake_timeout_s=0.5)
        t0 = time.monotonic()
        with pytest.raises(DeviceTimeout, match=rf"'{port}'.*no answer to HELLO for 0\.5 s"):
            dev.connect()
        assert time.monotonic() - t0 < 2.0 and not dev.connected
    finally:
        os.close(master)
        os.close(slave)
