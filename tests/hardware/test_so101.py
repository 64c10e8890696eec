"""An SO-101 arm through the real ``SO101`` driver and the Feetech servo protocol.

Safe on a real arm: it connects (which holds the present pose) and reads; the
one command it tries is out of range and must be refused before it is sent.
"""

from __future__ import annotations

import numpy as np
import pytest

from physres.drivers.arm.so101 import SO101
from physres.errors import SafetyError


def test_connect_reads_a_finite_pose_inside_the_joint_limits(so101_port: str) -> None:
    with SO101(port=so101_port, timeout_s=0.2) as arm:
        joints = arm.read()["joints"].data
        limits = arm.describe().inputs["joints"].limits
    assert joints.shape[1:] == (6,) and len(joints) >= 1 and np.isfinite(joints).all()
    low, high = (np.broadcast_to(v, (5,)) for v in (limits.low, limits.high))
    # the arm part (joints 1-5) is commanded in these limits; the sixth is the gripper
    assert (joints[-1, :5] >= low - 0.05).all() and (joints[-1, :5] <= high + 0.05).all()


def test_an_out_of_range_joint_target_is_refused_and_nothing_moves(so101_port: str) -> None:
    with SO101(port=so101_port, timeout_s=0.2, safety="refuse") as arm:
        before = arm.read()["joints"].data[-1]
        high = np.broadcast_to(arm.describe().inputs["joints"].limits.high, (5,))
        with pytest.raises(SafetyError):
            arm.apply({"joints": high + 0.5, "gripper": 0.0})
        after = arm.read()
    assert after["command"].data.shape[0] == 0  # nothing was sent
    np.testing.assert_allclose(after["joints"].data[-1], before, atol=0.02)
