"""``sim.arm``: the simulated Panda behind the same Device contract as the real servo arm."""

from __future__ import annotations

import numpy as np
import pytest

from physres import registry
from physres.device import check_device
from physres.errors import DeviceError, SafetyError
from physres.sim.arm import SimArm


@pytest.fixture
def arm():
    with SimArm(camera=True, render_size=32) as a:
        yield a


def test_it_passes_the_device_conformance_checks() -> None:
    assert check_device(registry.create("sim.arm")).ok
    assert check_device(registry.create("mock.arm")).ok


def test_describe_declares_joint_limits_workspace_and_speeds_without_io() -> None:
    d = SimArm().describe()
    assert set(d.inputs) == {"ee", "joints", "gripper"}
    assert {"joints", "joint_vel", "ee", "gripper", "command"} <= set(d.streams)
    assert len(d.meta["joint_lower_rad"]) == 7 and len(d.meta["max_joint_speed_rad_s"]) == 7
    assert d.meta["workspace"]["frame"] == "table"
    assert {"estop", "clear_fault", "status"} <= set(d.commands)


def test_an_end_effector_command_moves_the_grasp_point_there(arm: SimArm) -> None:
    sent = arm.apply({"ee": [[0.5, 0.1, 0.2, 0.3]] * 8, "gripper": 1.0})
    np.testing.assert_allclose(sent["ee"][-1], [0.5, 0.1, 0.2, 0.3])
    r = arm.read()
    assert r["ee"].data.shape == (8, 4) and r["image"].data.shape == (8, 32, 32, 3)
    np.testing.assert_allclose(r["ee"].data[-1], [0.5, 0.1, 0.2, 0.3], atol=0.01)
    assert r["command"].data.shape == (8, 8)
    assert arm.now_ns() == 800_000_000  # 8 control periods of 100 ms, simulated


def test_out_of_workspace_poses_are_clipped_and_the_sent_pose_returned(arm: SimArm) -> None:
    sent = arm.apply({"ee": [1.5, 0.0, -0.3, 0.0]})
    np.testing.assert_allclose(sent["ee"][0, :3], [0.8, 0.0, 0.005])


def test_refuse_mode_sends_nothing_out_of_bounds() -> None:
    with SimArm(safety="refuse") as a:
        r = a.read()
        before, here = r["joints"].data[-1], r["ee"].data[-1]
        with pytest.raises(SafetyError, match="x = 1.5000 m is outside the workspace"):
            a.apply({"ee": [here, [1.5, 0.0, 0.2, 0.0]]})  # row 0 is fine, row 1 is not
        with pytest.raises(SafetyError, match="panda_joint1 would move at .* rad/s"):
            a.apply({"joints": [1.5, -0.55, 0.0, -2.35, 0.0, 1.8, 0.785]})
        np.testing.assert_array_equal(a.read()["joints"].data[-1], before)  # nothing moved


def test_joint_speed_is_limited_per_control_period(arm: SimArm) -> None:
    sent = arm.apply({"joints": [1.5, -0.55, 0.0, -2.35, 0.0, 1.8, 0.785]})
    assert sent["joints"][0, 0] == pytest.approx(2.175 * 0.1)


def test_estop_holds_and_refuses_motion_until_cleared(arm: SimArm) -> None:
    arm.estop()
    assert arm.status()["fault"] == "e-stop"
    with pytest.raises(DeviceError, match="faulted .e-stop.; motion is refused"):
        arm.apply({"gripper": 0.0})
    arm.clear_fault()
    arm.apply({"gripper": 0.0})


def test_reset_with_a_seed_repeats_exactly(arm: SimArm) -> None:
    runs = []
    for _ in range(2):
        arm.reset(seed=7)
        arm.apply({"ee": [[0.45, -0.1, 0.1, 0.0]] * 3})
        runs.append(arm.read()["joints"].data)
    np.testing.assert_array_equal(runs[0], runs[1])
