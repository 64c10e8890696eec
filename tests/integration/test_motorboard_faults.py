"""MotorBoard against the firmware through a man in the middle that damages frames.

``MotorBoard ⇄ pty ⇄ FaultyRelay ⇄ pty ⇄ firmware``: the relay flips single
bits in frames and inserts garbage bursts in both directions, over more than
1,000 frames. Nothing may crash, every bad frame must be counted by whoever
received it (the firmware's STATUS for requests, the driver's link for
replies) and every duty vector the driver sent must be applied exactly once,
in order.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from physres.drivers.bucket import MotorBoard
from physres.drivers.bucket.firmware import BucketFirmware
from physres.wire import LinkLost
from physres.wire.faults import FaultyRelay


def test_bit_errors_and_garbage_over_1000_frames(firmware: BucketFirmware) -> None:
    _run_through_faults(firmware, n_vectors=500, seed=6)  # request + reply: > 1,000 frames


@pytest.mark.slow
def test_soak_10000_frames_through_faults(firmware: BucketFirmware) -> None:
    _run_through_faults(firmware, n_vectors=5_000, seed=7)


def _run_through_faults(firmware: BucketFirmware, *, n_vectors: int, seed: int) -> None:
    relay = FaultyRelay(
        firmware.port,
        seed=seed,
        corrupt_to_device=0.03,
        garbage_to_device=0.03,
        corrupt_to_host=0.03,
        garbage_to_host=0.03,
    ).start()
    # the watchdog is not under test here (test_firmware_watchdog is); the longest one and
    # the most retries keep a stall of this shared 2-core machine (seconds, at load 10;
    # the same failures on main) from being mistaken for a protocol fault
    board = MotorBoard(
        "motors", port=relay.port, timeout_s=0.06, retries=20, max_step=1.0, watchdog_ms=5000
    )
    rng = np.random.default_rng(0)
    sent = []
    t0 = time.monotonic()
    try:
        with board:
            for _ in range(n_vectors):
                sent.append(board.apply({"duty": rng.uniform(0, 0.9, size=4)})["duty"][0])
            strobes = board.read()["strobe"].data
            time.sleep(0.05)  # let the slew limiter reach the last vector
            # one quiet moment to compare counters: no keepalive, the STATUS reply is
            # the last frame, so every frame the relay damaged has been received
            board.pause_keepalive()
            status = board.board_status()
            link = board.link
            assert link is not None
            host_bad, resends = link.garbage, link.resends
            to_device, to_host = relay.to_device.damaged, relay.to_host.damaged
            frames = relay.to_device.frames + relay.to_host.frames
        elapsed = time.monotonic() - t0
    finally:
        relay.close()

    print(
        f"[{firmware.target}] {frames} frames in {elapsed:.1f} s; damaged to device "
        f"{to_device}, to host {to_host}; resends {resends}"
    )
    assert frames >= 2 * n_vectors
    assert to_device > 10 and to_host > 10
    # counts match: each damaged frame was seen, once, by the side that received it
    assert status["frames_bad"] == to_device
    assert host_bad == to_host
    # all good commands applied, each exactly once and in order
    assert status["strobe_seq"] == n_vectors
    assert list(strobes["seq"]) == list(range(1, n_vectors + 1))
    assert np.all(np.diff(strobes["t_dev_us"]) > 0)
    np.testing.assert_allclose(status["duty_out"], sent[-1], atol=1 / 65535)
    gap_ms = np.diff(strobes["t_dev_us"]).max() / 1e3
    assert status["wd_trips"] == 0, f"watchdog tripped; longest gap between vectors {gap_ms} ms"
    assert relay.error is None


def test_pty_closed_between_driver_and_board_is_a_clear_error(firmware: BucketFirmware) -> None:
    relay = FaultyRelay(firmware.port).start()
    board = MotorBoard("motors", port=relay.port)
    try:
        board.connect()
        board.apply({"duty": [0.1] * 4})
        relay.unplug()  # the host-side pty goes away under the driver
        t0 = time.monotonic()
        with pytest.raises(LinkLost, match=rf"serial port '{relay.port}' .* was lost"):
            while time.monotonic() - t0 < 2:
                board.apply({"duty": [0.1] * 4})
                time.sleep(0.01)
        assert time.monotonic() - t0 < 0.5
        board.disconnect()  # and the run can stop cleanly
    finally:
        relay.close()
        board.disconnect()
    assert firmware.running  # the board itself is fine: its watchdog will stop the motors
