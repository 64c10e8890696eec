"""The bucket's motor board through the real ``MotorBoard`` driver.

Safe on a rig: duties stay at zero or within the board's limits and end at zero.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from physres.drivers.bucket import MotorBoard
from physres.errors import SafetyError


def test_the_board_answers_the_handshake_with_its_limits(bucket_port: str) -> None:
    with MotorBoard("motors", port=bucket_port) as board:
        fw = board.describe().meta["firmware"]
        limit = board.describe().inputs["duty"].limits
    assert fw["version"] and fw["n_motors"] >= 1 and fw["watchdog_ms"] > 0
    assert 0 < limit.high <= 1 and len(fw["duty_max"]) == fw["n_motors"]


def test_an_unsafe_duty_is_refused_before_a_byte_leaves(bucket_port: str) -> None:
    # no keepalive or status traffic: any byte counted would be the refused command's
    with MotorBoard("motors", port=bucket_port, keepalive_s=0, status_s=0) as board:
        n = board.describe().meta["firmware"]["n_motors"]
        high = board.describe().inputs["duty"].limits.high
        link = board.link
        assert link is not None
        before = link.bytes_out
        with pytest.raises(SafetyError, match="above the limit"):
            board.apply({"duty": [min(high + 0.05, 1.0)] + [0.0] * (n - 1)})
        with pytest.raises(SafetyError, match="not finite"):
            board.apply({"duty": [np.nan] * n})
        assert link.bytes_out == before


def _last_duty_out(board: MotorBoard, target: list[float], timeout_s: float = 3.0) -> np.ndarray:
    """The board's reported duty once it matches ``target`` (or the last one at the deadline)."""
    end = time.monotonic() + timeout_s
    last = np.full(len(target), np.nan)
    while time.monotonic() < end:
        out = board.read()["duty_out"].data
        if len(out):
            last = out[-1]
            if np.allclose(last, target, atol=1e-3):
                break
        time.sleep(0.02)
    return last


def test_a_duty_reaches_the_board_and_is_reported_back(bucket_port: str) -> None:
    with MotorBoard("motors", port=bucket_port) as board:
        n = board.describe().meta["firmware"]["n_motors"]
        low = [0.05] * n  # a gentle stir on a real rig
        sent = board.apply({"duty": low})["duty"]
        np.testing.assert_allclose(sent, [low], atol=1 / 65535)
        np.testing.assert_allclose(_last_duty_out(board, list(sent[0])), sent[0], atol=1e-3)
        board.apply({"duty": [0.0] * n})
        np.testing.assert_allclose(_last_duty_out(board, [0.0] * n), 0.0, atol=1e-3)
