"""``mock.arm`` / ``mock.so101``: the driver's own code over an in-memory servo bus.

Mock mode is a connection mode, not a stand-in: the SO-101 driver, the vendor
SDK and the emulator's servos all run; only the bytes stay in memory
(``servobus://``). So a mock clips, refuses and holds after an e-stop exactly
as the real driver does, and the emulator's packet log shows it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from physres import registry
from physres.device import check_device
from physres.device.check import same_as_sent
from physres.drivers.arm import SO101
from physres.errors import DeviceError, DeviceTimeout, SafetyError
from physres.sim.servobus import ServoBus

STEP_RAD = 2 * math.pi / 4096


@pytest.fixture(params=["mock.arm", "mock.so101"])
def mock_arm(request) -> Iterator[SO101]:
    # a port that does not exist: mock mode must not open it
    dev = registry.create(request.param, "arm", {"port": "/nonexistent/ttyACM9"})
    with dev:
        yield dev


def test_the_arm_mocks_are_the_driver_in_mock_mode(mock_arm: SO101) -> None:
    assert type(mock_arm) is SO101 and mock_arm.mock
    assert mock_arm._backend is None  # no generic backend: the driver's own code runs
    assert mock_arm.emulator.log  # the SDK pinged the emulated servos on connect
    assert mock_arm.describe().inputs.keys() == SO101(port="x").describe().inputs.keys()


def test_a_mock_clips_a_jump_to_the_speed_limit(mock_arm: SO101) -> None:
    time.sleep(2 / mock_arm.params.rate_hz)
    sent = mock_arm.apply({"joints": [1.5, 0.0, 0.0, 0.0, 0.0]})
    assert sent["joints"][0, 0] == pytest.approx(mock_arm.max_speed[0] / mock_arm.params.rate_hz)
    pan = [g for sid, g in mock_arm.emulator.goal_writes() if sid == 1]
    assert abs((pan[-1] - 2048) * STEP_RAD - sent["joints"][0, 0]) <= STEP_RAD


def test_a_mock_in_refuse_mode_refuses_before_the_wire() -> None:
    with registry.create("mock.so101", "arm", {"safety": "refuse"}) as arm:
        n = len(arm.emulator.goal_writes())
        with pytest.raises(SafetyError, match="shoulder_pan would move at"):
            arm.apply({"joints": [1.5, 0.0, 0.0, 0.0, 0.0]})
        with pytest.raises(SafetyError, match="outside the workspace"):
            arm.apply({"ee": [0.15, 0.0, -0.05, 0.0]})
        assert len(arm.emulator.goal_writes()) == n


def test_a_mock_holds_after_estop_and_refuses_motion_until_cleared(mock_arm: SO101) -> None:
    goal = 1.5  # shoulder_pan, rad: half a second of motion at its 3 rad/s
    for _ in range(3):
        mock_arm.apply({"joints": [goal, 0.0, 0.0, 0.0, 0.0]})
        time.sleep(0.1)
    present = mock_arm.read()["joints"].data[0, 0]
    t0 = time.monotonic()
    assert mock_arm.call("estop")["fault"] == "e-stop"
    hold = dict(mock_arm.emulator.goal_writes(since=t0))
    assert sorted(hold) == [1, 2, 3, 4, 5, 6]
    held = (hold[1] - 2048) * STEP_RAD
    assert present - STEP_RAD <= held < goal - 0.3  # where it was, not where it was going
    time.sleep(0.5)
    assert abs(mock_arm.emulator.positions()[1] - hold[1]) <= 1.0  # and it stopped there
    t1 = time.monotonic()
    with pytest.raises(DeviceError, match="faulted .e-stop."):
        mock_arm.apply({"joints": [0.0, 0.0, 0.0, 0.0, 0.0]})
    assert mock_arm.emulator.goal_writes(since=t1) == []
    mock_arm.call("clear_fault")
    mock_arm.apply({"joints": [0.0, 0.0, 0.0, 0.0, 0.0]})
    assert mock_arm.emulator.goal_writes(since=t1)


def test_a_silent_servo_in_a_mock_is_the_drivers_own_fault() -> None:
    with registry.create("mock.so101", "arm", {"timeout_s": 0.02, "retries": 0}) as arm:
        arm.emulator.mute(4)
        with pytest.raises(DeviceTimeout, match="servo 4 on servobus://"):
            arm.read()
        assert "servo 4" in arm.status()["fault"]
        with pytest.raises(DeviceError, match="faulted"):
            arm.apply({"gripper": 0.5})


def test_a_mock_and_the_driver_on_the_pty_emulator_send_the_same() -> None:
    with ServoBus() as servos:
        real = registry.create("drivers.so101", "arm", {"port": servos.port, "timeout_s": 0.2})
        report = check_device(registry.create("mock.so101", "arm"), reference=real)
    assert report.ok and any(p.startswith("sends what drivers.so101") for p in report.passed)


def test_the_comparison_catches_a_mock_that_skips_the_drivers_safety() -> None:
    class Generic(SO101):  # the old kind of mock: in-memory, but none of the driver's code
        mock_transport = False

    with ServoBus() as servos:
        real = SO101("arm", port=servos.port, timeout_s=0.2)
        problem = same_as_sent(Generic("arm", mock=True), real)
    assert problem is not None and "the reference" in problem


def test_poses_are_in_the_table_frame_wherever_the_base_stands() -> None:
    """A base moved and turned on the table: the same table-frame pose, other joints."""
    base = (0.05, 0.05, 0.0, math.pi / 4)
    pose = [0.15, 0.05, 0.05, 0.4]  # 10 cm in front of the base, 45 degrees to its left
    low, high = (0.1, -0.2, 0.03, -1.5), (0.5, 0.2, 0.2, 1.5)
    got = {}
    for b in ((0.0, 0.0, 0.0, 0.0), base):
        params = {"base_pose": b, "rate_hz": 1.0, "workspace_low": low, "workspace_high": high}
        with registry.create("mock.arm", "arm", params) as arm:
            time.sleep(1.0)  # one period at 1 Hz: the whole move is within the speed limit
            sent = arm.apply({"ee": pose})
            time.sleep(1.5)  # the emulated servos get there
            got[b] = (sent["ee"][0], sent["joints"][0], arm.read()["ee"].data[0])
    ee, q, read = got[base]
    np.testing.assert_allclose(ee, pose, atol=1e-9)  # commanded in the table frame
    np.testing.assert_allclose(read[:3], pose[:3], atol=2e-3)  # and read back in it
    assert not np.allclose(q, got[(0.0, 0.0, 0.0, 0.0)][1])  # other joints for another base
    with registry.create("mock.arm", "arm", {"base_pose": base}) as arm:
        assert arm.describe().meta["workspace"]["frame"] == "table"
        assert arm.describe().meta["base_pose"] == list(base)
