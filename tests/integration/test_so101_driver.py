"""The SO-101 driver, through the vendor SDK, against the servo-bus emulator on a pty.

Everything between ``SO101.apply`` and the emulated servos is production code:
the SDK's PortHandler opens the pty slave as it would /dev/ttyACM0.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from physres import registry
from physres.device.check import check_device
from physres.drivers.arm import SO101, Kinematics, load_model
from physres.errors import SafetyError
from physres.sim.servobus import ServoBus

STEP_RAD = 2 * math.pi / 4096


@pytest.fixture
def servos() -> Iterator[ServoBus]:
    with ServoBus() as bus:
        yield bus


@pytest.fixture
def arm(servos: ServoBus) -> Iterator[SO101]:
    with SO101(port=servos.port, timeout_s=0.2, rate_hz=20.0) as dev:
        yield dev


def drive(arm: SO101, inputs: dict, seconds: float) -> list[dict]:
    """Re-send the same command at the arm's rate (as a controller would); return the reads."""
    reads = []
    period = 1.0 / arm.params.rate_hz
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        arm.apply(inputs)
        reads.append({k: c.data.copy() for k, c in arm.read().items()})
        time.sleep(period)
    return reads


def test_describe_declares_joint_limits_workspace_and_speed_without_any_io() -> None:
    desc = SO101(port="/nonexistent/tty").describe()  # no port is opened by describe()
    meta = desc.meta
    assert meta["joint_names"][-1] == "gripper" and len(meta["servo_ids"]) == 6
    assert meta["workspace"]["low"][:3] == [0.10, -0.12, 0.0]
    assert all(v > 0 for v in meta["max_joint_speed_rad_s"])
    assert desc.streams["joints"].carries == "state" and desc.clock == "wall"
    assert {"estop", "clear_fault", "status"} <= set(desc.commands)


def test_the_registered_kind_passes_the_device_contract_against_the_emulator(servos) -> None:
    dev = registry.create("drivers.so101", "arm", {"port": servos.port, "timeout_s": 0.2})
    report = check_device(dev)
    assert report.ok and len(report.passed) >= 4


def test_connect_reads_the_present_pose_and_holds_it(arm: SO101, servos: ServoBus) -> None:
    chunks = arm.read()
    np.testing.assert_allclose(chunks["joints"].data, np.zeros((1, 5)), atol=STEP_RAD)
    assert chunks["command"].data.shape == (0, 6)
    # connect wrote goal = present: nothing moved
    assert all(goal == 2048 for _, goal in servos.goal_writes())


def test_an_end_effector_target_is_reached_through_the_urdf_kinematics(arm, servos) -> None:
    target = np.array([0.18, 0.05, 0.03, 0.3])
    reads = drive(arm, {"ee": target, "gripper": 1.0}, 2.5)
    final = reads[-1]
    np.testing.assert_allclose(final["ee"][0, :3], target[:3], atol=1.5e-3)  # a servo step ≈ 0.4 mm
    assert abs(final["ee"][0, 3] - target[3]) < 0.01
    assert final["gripper"][0] == pytest.approx(1.0, abs=2 * STEP_RAD / 1.75)  # fully open
    # the IK agrees with pybullet reading the same URDF
    pb = pytest.importorskip("pybullet")
    from pybullet_utils.bullet_client import BulletClient

    client = BulletClient(connection_mode=pb.DIRECT)
    body = client.loadURDF(str(load_model().urdf), useFixedBase=True)
    q = Kinematics(load_model()).ik(target)
    for j, v in enumerate(q):
        client.resetJointState(body, j, float(v))
    tcp = next(
        i for i in range(client.getNumJoints(body)) if client.getJointInfo(body, i)[12] == b"tcp"
    )
    pos = client.getLinkState(body, tcp, computeForwardKinematics=True)[4]
    client.disconnect()
    np.testing.assert_allclose(pos, target[:3], atol=1e-6)


def test_no_joint_moves_faster_than_its_declared_limit(arm: SO101, servos: ServoBus) -> None:
    limit = arm.max_speed  # rad/s, from the URDF
    peak = np.zeros(6)
    arm.apply({"joints": [1.5, 1.0, 1.5, -1.0, 2.0], "gripper": 1.0})
    end = time.monotonic() + 1.2
    while time.monotonic() < end:
        arm.apply({"joints": [1.5, 1.0, 1.5, -1.0, 2.0], "gripper": 1.0})
        v = np.abs([servos.velocities()[s] for s in range(1, 7)]) * STEP_RAD
        peak = np.maximum(peak, v)
        time.sleep(0.01)
    assert (peak <= limit * 1.02).all(), f"peak {peak} rad/s over limits {limit}"
    assert (peak[:5] > 0.5 * limit[:5]).sum() >= 3  # and it did move briskly
    # the servos themselves carry the limit in their goal-speed registers
    assert servos.register(2, "goal_speed") == round(limit[1] / STEP_RAD)


def test_a_jump_is_clipped_to_one_period_of_max_speed_and_the_clipped_command_returned(arm) -> None:
    # idle for three periods: the limit is over wall time, but an idle arm banks at most one
    time.sleep(3 / arm.params.rate_hz)
    sent = arm.apply({"joints": [1.5, 0.0, 0.0, 0.0, 0.0]})
    step = 3.0 / arm.params.rate_hz  # shoulder_pan: 3 rad/s over one 50 ms period
    assert sent["joints"][0, 0] == pytest.approx(step)
    assert arm.status()["last_sent"]["joints"][0] == pytest.approx(step)
    cmd = arm.read()["command"].data
    assert cmd.shape == (1, 6) and cmd[0, 0] == pytest.approx(step)


def test_refuse_mode_rejects_an_over_speed_command_before_the_wire(servos: ServoBus) -> None:
    with SO101(port=servos.port, timeout_s=0.2, safety="refuse") as arm:
        arm.read()  # a round trip: the connect's unanswered writes have landed
        n = len(servos.goal_writes())
        time.sleep(2 / arm.params.rate_hz)  # > one period since the last vector went out
        with pytest.raises(SafetyError, match=r"shoulder_pan would move at 15\.000 rad/s"):
            arm.apply({"joints": [1.5, 0.0, 0.0, 0.0, 0.0]})
        assert len(servos.goal_writes()) == n


def test_a_chunk_of_targets_is_streamed_at_the_control_rate(arm: SO101, servos) -> None:
    rows = np.linspace([0.0] * 5, [0.1, 0.0, 0.0, 0.0, 0.0], 5)
    t0 = time.monotonic()
    sent = arm.apply({"joints": rows})
    assert time.monotonic() - t0 >= 4 / arm.params.rate_hz * 0.9
    np.testing.assert_allclose(sent["joints"], rows)
    assert len(arm.read()["command"].data) == 5


def test_env_style_delta_actions_move_the_commanded_pose_by_their_deltas(arm, servos) -> None:
    start = np.array([0.15, 0.0, 0.06, 0.0])
    drive(arm, {"ee": start, "gripper": 1.0}, 1.5)  # settle inside the workspace first
    # (small enough that no joint hits its speed limit in one 50 ms period)
    delta = np.array([0.01, -0.01, 0.005, 0.05])
    sent = arm.apply({"action": [*delta, 1.0, 0.0]})
    np.testing.assert_allclose(sent["ee"][0], start + delta, atol=1e-6)
    # gripper > 0 closes, as in the tabletop env: at most 4 rad/s × 50 ms of its 1.75 rad
    assert sent["gripper"][0] == pytest.approx(1 - 0.2 / 1.75)
    # deltas past the box edge are clipped there (clip mode), like the env's workspace
    for _ in range(10):
        sent = arm.apply({"action": [0.0, 0.0, -0.05, 0.0, -1.0, 0.0]})
        time.sleep(1 / arm.params.rate_hz)
    assert sent["ee"][0, 2] == pytest.approx(arm.params.workspace_low[2], abs=1e-9)
    assert sent["gripper"][0] == 1.0
