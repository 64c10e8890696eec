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
    with MotorBoard("motors", port=bucket_port) as board:
        n = board.describe().meta["firmware"]["n_motors"]
        high = board.describe().inputs["duty"].limits.high
        link = board.link
        assert link is not None
        board.pause_keepalive()
        time.sleep(0.06)  # an in-flight keepalive finishes
        before = link.bytes_out
        with pytest.raises(SafetyError, match="above the limit"):
            board.apply({"duty": [min(high + 0.05, 1.0)] + [0.0] * (n - 1)})
        with pytest.raises(SafetyError, match="not finite"):
            board.apply({"duty": [np.nan] * n})
        assert link.bytes_out == before
        board.resume_keepalive()


def test_a_duty_reaches_the_board_and_is_reported_back(bucket_port: str) -> None:
    with MotorBoard("motors", port=bucket_port) as board:
        n = board.describe().meta["firmware"]["n_motors"]
        low = [0.05] * n  # a gentle stir on a real rig
        sent = board.apply({"duty": low})["duty"]
        np.testing.assert_allclose(sent, [low], atol=1 / 65535)
        time.sleep(0.3)
        out = board.read()["duty_out"].data
        np.testing.assert_allclose(out[-1], sent[0], atol=1e-3)
        board.apply({"duty": [0.0] * n})
        time.sleep(0.3)
        np.testing.assert_allclose(board.read()["duty_out"].data[-1], 0.0, atol=1e-3)
