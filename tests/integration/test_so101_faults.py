"""Faults the arm driver must show: a silent servo, and commands outside the workspace.

A servo that stops answering → the driver raises DeviceTimeout within its
timeout, naming the servo and the port, commands every servo to hold, latches
the fault and refuses motion until cleared. Out-of-workspace actions never
reach the servos: the assertions read the emulator's log of received packets.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from physres.drivers.arm import SO101, Kinematics, load_model
from physres.drivers.arm.safety import WIRE_TOLERANCE_M
from physres.errors import DeviceError, DeviceTimeout, SafetyError
from physres.sim.servobus import ServoBus

STEP_RAD = 2 * math.pi / 4096
# short enough to show the bound, long enough for a loaded 2-core CI machine
TIMEOUT_S = 0.1


@pytest.fixture
def servos() -> Iterator[ServoBus]:
    with ServoBus() as bus:
        yield bus


def make_arm(servos: ServoBus, **params) -> SO101:
    return SO101(
        **{"port": servos.port, "timeout_s": TIMEOUT_S, "retries": 1, "rate_hz": 20.0, **params}
    )


def drive_to(arm: SO101, pose, seconds: float = 3.0) -> None:
    """Re-send one pose at the arm's rate until it is the pose commanded."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if np.allclose(arm.apply({"ee": pose})["ee"][0], pose, atol=1e-9):
            return
        time.sleep(1 / arm.params.rate_hz)
    raise AssertionError(f"{pose} not reached in {seconds} s")


def goals_since(servos: ServoBus, t: float) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for sid, goal in servos.goal_writes(since=t):
        out.setdefault(sid, []).append(goal)
    return out


def test_a_silent_servo_raises_within_the_timeout_and_the_arm_holds(servos: ServoBus) -> None:
    with make_arm(servos) as arm:
        for _ in range(10):  # get the arm moving
            arm.apply({"joints": [0.8, 0.4, 0.4, 0.0, 0.0]})
            last = arm.read()["joints"].data[0]
            time.sleep(0.05)
        servos.mute(3)
        t0 = time.monotonic()
        with pytest.raises(DeviceTimeout, match=f"servo 3 on {servos.port}") as err:
            arm.read()
        elapsed = time.monotonic() - t0
        # (retries + 1) waits of timeout_s, a 50 ms settle before the retry, and some slack
        assert elapsed < (arm.params.retries + 1) * TIMEOUT_S + 0.05 + 0.15
        assert "within 100 ms (2 tries)" in str(err.value)

        # the driver exposes the fault and has told every servo to hold its last read pose
        assert arm.fault is not None and "servo 3" in arm.status()["fault"]
        deadline = time.monotonic() + 1.0  # a sync write has no reply: wait until it lands
        while len(hold := dict(servos.goal_writes(since=t0))) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(hold) == [1, 2, 4, 5, 6]  # the unplugged servo 3 cannot hear it
        for sid, q in zip(range(1, 7), last):
            if sid != 3:
                assert abs((hold[sid] - 2048) * STEP_RAD - q) <= STEP_RAD
        t_fault = time.monotonic()
        # ... and refuses further motion: nothing more reaches the servos
        with pytest.raises(DeviceError, match="faulted"):
            arm.apply({"joints": [0.0, 0.0, 0.0, 0.0, 0.0]})
        assert goals_since(servos, t_fault) == {}
        time.sleep(0.5)
        now = servos.positions()
        for sid in (1, 2, 4, 5, 6):  # the answering servos came to rest at the hold pose
            assert abs(now[sid] - hold[sid]) <= 1.0, (sid, now[sid], hold[sid])

        # clearing needs the servo back; then motion resumes from the present pose
        with pytest.raises(DeviceTimeout, match="servo 3"):
            arm.clear_fault()
        assert arm.fault is not None
        servos.unmute(3)
        assert arm.clear_fault()["fault"] is None
        sent = arm.apply({"joints": [0.0, 0.0, 0.0, 0.0, 0.0]})
        assert sent["joints"].shape == (1, 5)


def test_connecting_to_a_bus_with_a_silent_servo_names_it_and_closes_the_port(servos) -> None:
    servos.mute(5)
    arm = make_arm(servos)
    with pytest.raises(DeviceTimeout, match=f"servo 5 on {servos.port} did not answer ping"):
        arm.connect()
    assert not arm.connected
    servos.unmute(5)
    with arm:
        assert arm.read()["joints"].data.shape == (1, 5)


def test_out_of_workspace_poses_never_reach_the_servos_in_refuse_mode(servos) -> None:
    with make_arm(servos, safety="refuse") as arm:
        arm.read()  # a round trip: the emulator has handled every earlier (unanswered) packet
        t0 = time.monotonic()
        for bad in ([0.30, 0.0, 0.05, 0.0], [0.15, 0.0, -0.02, 0.0], [0.15, -0.2, 0.05, 0.0]):
            with pytest.raises(SafetyError, match="outside the workspace"):
                arm.apply({"ee": bad})
        # a chunk with one bad row is refused whole: not even its good rows are sent
        with pytest.raises(SafetyError):
            arm.apply({"ee": [[0.15, 0.0, 0.05, 0.0], [0.15, 0.0, -0.5, 0.0]]})
        assert goals_since(servos, t0) == {}
        sync_writes = [p for p in servos.log if p.name == "sync_write" and p.t >= t0]
        assert sync_writes == []


def test_out_of_workspace_poses_are_clipped_and_only_the_clipped_pose_is_sent(servos) -> None:
    kin = Kinematics(load_model())
    with make_arm(servos, rate_hz=5.0) as arm:  # safety="clip" is the default
        low, high = np.array(arm.params.workspace_low), np.array(arm.params.workspace_high)
        period = 1 / arm.params.rate_hz
        drive_to(arm, [0.15, 0.0, 0.05, 0.0])  # into the box from the upright power-on pose
        rng = np.random.default_rng(7)
        for _ in range(6):
            bad = rng.uniform([-0.1, -0.4, -0.2, -3.0], [0.5, 0.4, 0.5, 3.0])
            arm.read()  # a round trip: every earlier packet has reached the emulator
            t0 = time.monotonic()
            for _ in range(40):  # re-sent at the control rate until the clipped pose is reached
                sent = arm.apply({"ee": bad})["ee"][0]
                if np.allclose(sent, np.clip(bad, low, high), atol=1e-9):
                    break
                time.sleep(period)
            np.testing.assert_allclose(sent, np.clip(bad, low, high), atol=1e-9)
            arm.read()
            goals = goals_since(servos, t0)
            assert sorted(goals) == [1, 2, 3, 4, 5, 6]
            # every vector on the wire, back in Cartesian space, is inside the box
            for row in zip(*(goals[s] for s in range(1, 6))):
                reached = kin.fk((np.array(row) - 2048) * STEP_RAD)
                assert (reached[:3] >= low[:3] - WIRE_TOLERANCE_M).all(), reached
                assert (reached[:3] <= high[:3] + WIRE_TOLERANCE_M).all(), reached
            final = kin.fk((np.array([goals[s][-1] for s in range(1, 6)]) - 2048) * STEP_RAD)
            np.testing.assert_allclose(final[:3], sent[:3], atol=2e-3)  # a step ≈ 0.4 mm


def test_a_joint_command_that_would_hit_the_table_is_refused_even_in_clip_mode(servos) -> None:
    with make_arm(servos) as arm:
        arm.read()
        t0 = time.monotonic()
        with pytest.raises(SafetyError, match="below the workspace floor"):
            arm.apply({"joints": [0.0, 1.7, 1.5, 0.0, 0.0]})
        assert goals_since(servos, t0) == {}


def test_estop_holds_and_refuses_motion_until_cleared(servos: ServoBus) -> None:
    with make_arm(servos) as arm:
        arm.apply({"joints": [0.5, 0.0, 0.0, 0.0, 0.0]})
        assert arm.call("estop")["fault"] == "e-stop"
        arm.read()  # reading still works while faulted
        t0 = time.monotonic()
        with pytest.raises(DeviceError, match="e-stop"):
            arm.apply({"joints": [0.0, 0.0, 0.0, 0.0, 0.0]})
        assert goals_since(servos, t0) == {}
        arm.call("clear_fault")
        arm.apply({"joints": [0.0, 0.0, 0.0, 0.0, 0.0]})
        arm.read()  # a round trip: the unanswered sync write has landed
        assert goals_since(servos, t0)


def test_a_servo_reporting_an_error_is_named_with_the_error(servos: ServoBus) -> None:
    servos.set_error(2, 32)  # the shoulder lift reports overload in its status packets
    with pytest.raises(DeviceError, match=f"servo 2 on {servos.port} reports overload"):
        make_arm(servos).connect()
