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
    assert set(d.inputs) == {"action", "ee", "joints", "gripper"}
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


def test_the_env_steps_the_scene_through_the_devices_control_loop() -> None:
    """One control loop: env.step(a) and device.apply({"action": a}) are the same step."""
    from physres.sim.arm import TabletopEnv, make_expert

    runs = []
    for through_device in (False, True):
        env = TabletopEnv("pick_place", render_size=32)
        expert = make_expert(env)
        obs, _ = env.reset(seed=5)
        for _ in range(25):
            a = expert.act(obs)
            if through_device:
                env.device.apply({"action": a.astype(float)})
                env.device.read()
                obs = env._obs()
            else:
                obs, *_ = env.step(a)
        runs.append((env.scene.joints().copy(), env.device.pose_ref.copy(), env.device.success()))
        env.close()
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][2] == runs[1][2]


def test_task_progress_is_updated_by_the_device_itself() -> None:
    """The device's loop updates the task (wiping coverage), not only the env's."""
    with SimArm(task="wipe") as dev:
        task = dev.task
        assert task is not None and not task.wiped.any()
        # lay the cloth flat on the dirt: the next control period wipes under it
        dev.scene.build(deformable=True)
        task.place(dev.scene, task.area_center, task.area_center, yaw=0.0)
        dev.apply({"gripper": 1.0})  # one control period with the cloth on the dirt
        assert task.wiped.any()


def test_sim_and_real_arm_declare_one_contract() -> None:
    """Same inputs and streams, same frame, same units; only the joint count differs."""
    from physres.drivers.arm import SO101

    sim, real = SimArm().describe(), SO101(port="/nonexistent").describe()
    assert sim.inputs.keys() == real.inputs.keys() == {"action", "ee", "joints", "gripper"}
    assert {"joints", "joint_vel", "ee", "gripper", "command"} == set(real.streams)
    assert set(real.streams) <= set(sim.streams)
    for name in ("action", "ee", "gripper"):
        assert sim.inputs[name] == real.inputs[name]
    for name in ("ee", "gripper"):
        assert sim.streams[name] == real.streams[name]
    assert sim.inputs["joints"].shape == (7,) and real.inputs["joints"].shape == (5,)
    assert sim.streams["command"].shape == (8,) and real.streams["command"].shape == (6,)
    assert sim.meta["workspace"]["frame"] == real.meta["workspace"]["frame"] == "table"


@pytest.mark.parametrize("kind", ["sim.arm", "mock.arm", "drivers.arm", "drivers.so101"])
def test_one_config_switches_sim_and_real_by_kind_alone(kind: str) -> None:
    from physres.config import parse_config

    text = f"""
devices:
  arm:
    kind: {kind}
    params: {{rate_hz: 10, safety: refuse, speed_scale: 0.5}}
"""
    cfg = parse_config(text, "arm.yaml")
    dev = registry.create(kind, "arm", cfg.devices["arm"].params)
    assert dev.params.safety == "refuse" and dev.params.speed_scale == 0.5
    assert set(dev.describe().inputs) == {"action", "ee", "joints", "gripper"}


def test_action_deltas_move_the_commanded_pose_and_stop_at_the_box(arm: SimArm) -> None:
    start = arm.pose_ref.copy()
    sent = arm.apply({"action": [0.02, -0.01, -0.03, 0.1, -1.0, 0.0]})
    np.testing.assert_allclose(sent["ee"][0], start + np.array([0.02, -0.01, -0.03, 0.1]))
    for _ in range(15):
        sent = arm.apply({"action": [0.0, 0.0, -0.05, 0.0, 1.0, 0.0]})
    assert sent["ee"][0, 2] == pytest.approx(arm.params.workspace_low[2])
    assert sent["gripper"][0] == 0.0 and arm.scene.gripper_closed  # > 0 closes, as in the env


@pytest.mark.parametrize("kind", ["sim.arm", "mock.arm"])
def test_a_terminating_action_row_moves_nothing_on_either_arm(kind: str) -> None:
    with registry.create(kind, "arm") as arm:
        first = arm.apply({"action": [0.0, 0.0, -0.01, 0.0, -1.0, 0.0]})
        done = arm.apply({"action": [0.05, 0.05, -0.05, 0.2, 1.0, 1.0]})
        np.testing.assert_array_equal(done["joints"], first["joints"])
        np.testing.assert_array_equal(done["gripper"], first["gripper"])
