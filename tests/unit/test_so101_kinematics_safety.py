"""The SO-101 driver's pure parts: URDF model, kinematics and the safety functions.

No port, no emulator: these are the numbers every command goes through before
a byte is written.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physres.drivers.arm import SO101, Kinematics, limit_joint_step, limit_workspace, load_model
from physres.errors import ConfigError, SafetyError

MODEL = load_model()
KIN = Kinematics(MODEL)
LOW = np.array(SO101.Params().workspace_low)
HIGH = np.array(SO101.Params().workspace_high)


def test_the_urdf_gives_six_servo_joints_with_limits_and_speeds() -> None:
    assert MODEL.joint_names == ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex",
                                 "wrist_roll", "gripper")
    assert (MODEL.lower < MODEL.upper).all() and (MODEL.max_speed > 0).all()
    # zero pose: the arm points straight up, the tcp above the shoulder
    x, y, z, _ = KIN.fk(np.zeros(5))
    assert (x, y) == pytest.approx((0.03, 0.0)) and z == pytest.approx(0.4741)


@settings(max_examples=200, deadline=None)
@given(st.tuples(*(st.floats(float(lo), float(hi)) for lo, hi in zip(LOW, HIGH))))
def test_every_pose_in_the_default_workspace_is_reachable_exactly(pose) -> None:
    p = np.array(pose)
    q = KIN.ik(p)
    assert (q >= MODEL.lower[:5]).all() and (q <= MODEL.upper[:5]).all()
    got = KIN.fk(q)
    np.testing.assert_allclose(got[:3], p[:3], atol=1e-9)
    assert math.remainder(got[3] - p[3], 2 * math.pi) == pytest.approx(0.0, abs=1e-9)
    tool_z = KIN.fk_matrix(q)[:3, 2]
    np.testing.assert_allclose(tool_z, [0, 0, -1], atol=1e-9)  # pointing straight down


def test_an_unreachable_pose_is_refused_with_the_numbers() -> None:
    with pytest.raises(SafetyError, match=r"out of reach: the wrist would be 0\.\d+ m"):
        KIN.ik(np.array([0.40, 0.0, 0.0, 0.0]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1.0, 1.0), min_size=4, max_size=4))
def test_clipping_keeps_poses_in_the_box_and_refusing_names_the_axis(values) -> None:
    pose = np.array(values)
    clipped = limit_workspace(pose, LOW, HIGH, "clip", "arm.ee")
    assert (clipped >= LOW).all() and (clipped <= HIGH).all()
    inside = ((pose >= LOW) & (pose <= HIGH)).all()
    if inside:
        np.testing.assert_array_equal(clipped, pose)
        np.testing.assert_array_equal(limit_workspace(pose, LOW, HIGH, "refuse", "arm.ee"), pose)
    else:
        with pytest.raises(SafetyError, match="outside the workspace"):
            limit_workspace(pose, LOW, HIGH, "refuse", "arm.ee")
    np.testing.assert_array_equal(limit_workspace(pose, LOW, HIGH, "off", "arm.ee"), pose)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-3.0, 3.0), min_size=5, max_size=5))
def test_a_clipped_step_respects_every_speed_and_keeps_its_direction(target) -> None:
    ref = np.zeros(5)
    speed = MODEL.max_speed[:5]
    q = limit_joint_step(np.array(target), ref, speed, 0.1, "clip", MODEL.joint_names, "arm")
    assert (np.abs(q - ref) <= speed * 0.1 + 1e-12).all()
    t = np.array(target)
    if np.linalg.norm(t) > 0:  # same direction in joint space: a positive multiple
        k = np.dot(q, t) / np.dot(t, t)
        np.testing.assert_allclose(q, k * t, atol=1e-12)
        assert 0 < k <= 1 + 1e-12


def test_params_that_do_not_fit_the_arm_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ids has 5 entries, the arm has 6 joints"):
        SO101(ids=(1, 2, 3, 4, 5))
    with pytest.raises(ConfigError, match="workspace_low .* is above workspace_high"):
        SO101(workspace_low=(0.3, 0, 0, 0), workspace_high=(0.2, 0.1, 0.1, 0.1))
    with pytest.raises(ConfigError, match="safety"):
        SO101(safety="maybe")
