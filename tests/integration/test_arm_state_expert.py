"""The DAgger labeller: the expert as a feedback policy on the world's state.

A DAgger round lets a trained policy drive and records, at every state it
reaches, what the expert would do there. The scripted :class:`Expert` cannot
answer that: it advances through its plan when its *own commands* reach each
waypoint, so under another driver it stays on its first waypoint all episode
and labels a cube the policy has already lifted "open, go back above the
cube". These tests pin down what :class:`StateExpert` answers instead.
"""

from __future__ import annotations

import numpy as np
import pytest

from physres.sim.arm import TASKS, StateExpert, TabletopEnv, make_expert
from physres.sim.arm.experts import Expert, run_episode


@pytest.fixture
def pick_env():
    env = TabletopEnv("pick_place", render_size=32)
    yield env
    env.close()


@pytest.mark.parametrize("task", list(TASKS))
def test_driving_itself_it_solves_every_task(task: str) -> None:
    """A labeller whose answers, followed, finish the task: its labels lead somewhere."""
    env = TabletopEnv(task, render_size=32)
    expert = make_expert(env, follow="state")
    assert isinstance(expert, StateExpert)
    ok, steps = run_episode(env, expert, seed=2024)
    env.close()
    assert ok, f"{task}: not solved in {steps} steps"
    assert steps < env.max_steps  # it said terminate; the time limit did not end it


def test_driving_itself_it_solves_a_shared_scene() -> None:
    env = TabletopEnv("pick_place", render_size=32, layout="shared")
    ok, _ = run_episode(env, make_expert(env, follow="state"), seed=11)
    env.close()
    assert ok


@pytest.mark.parametrize("task", ["pick_place", "wipe", "cup_from_pedestal"])
def test_on_the_expert_s_own_path_it_answers_what_the_expert_did(task: str) -> None:
    """Labels agree with the demonstrations, so DAgger data does not contradict them."""
    env = TabletopEnv(task, render_size=32)
    driver, labeller = make_expert(env), make_expert(env, follow="state")
    obs, _ = env.reset(seed=31)
    gripper_agrees, cosines = [], []
    while True:
        a, b = driver.act(obs), labeller.act(obs)
        gripper_agrees.append(np.sign(a[4]) == np.sign(b[4]))
        na, nb = np.linalg.norm(a[:3]), np.linalg.norm(b[:3])
        if na > 5e-3 and nb > 5e-3:
            cosines.append(float(a[:3] @ b[:3]) / na / nb)
        obs, _, terminated, truncated, info = env.step(a)
        if terminated or truncated:
            break
    env.close()
    assert info["success"]
    assert all(gripper_agrees)
    assert np.mean(np.array(cosines) > 0.9) >= 0.95, np.round(cosines, 2)


def _grasp_then_hold(env: TabletopEnv, seed: int) -> dict:
    """Drive with the expert until the cube is held 3 cm up, then stop moving (closed)."""
    driver = make_expert(env)
    obs, _ = env.reset(seed=seed)
    for _ in range(env.max_steps):
        if env.scene.holding("cube") and env.scene.pose("cube")[0][2] > 0.05:
            return obs
        obs, *_ = env.step(driver.act(obs))
    raise AssertionError("the expert never lifted the cube")


def test_a_grasp_the_driver_made_is_carried_on_not_undone(pick_env: TabletopEnv) -> None:
    """The failure that made every DAgger round worse: a policy that grasped and lifted
    the cube was told to open and start over, and learnt to stall."""
    obs = _grasp_then_hold(pick_env, seed=4)
    plan_follower, labeller = Expert(pick_env), make_expert(pick_env, follow="state")
    hold = np.array([0, 0, 0, 0, 1.0, 0], np.float32)
    for _ in range(8):  # the driver stalls, the cube in its hand
        old, new = plan_follower.act(obs), labeller.act(obs)
        obs, *_ = pick_env.step(hold)
        assert new[4] == 1.0, "the state expert lets go of a held cube"
        assert new[2] > 0 or np.linalg.norm(new[:2]) > 0.005, "it does not carry on"
        assert old[4] == -1.0  # the plan follower's answer: open (the bug this replaces)
    assert pick_env.scene.holding("cube")


def test_fingers_shut_on_air_are_told_to_open_and_start_over(pick_env: TabletopEnv) -> None:
    obs, _ = pick_env.reset(seed=4)
    cube = pick_env.scene.pose("cube")[0]
    labeller = make_expert(pick_env, follow="state")
    beside = cube + np.array([0.0, 0.07, 0.0])  # 7 cm to the side, at the grasp height
    for _ in range(40):
        d = np.clip(beside - pick_env.target_pos, -0.03, 0.03)
        obs, *_ = pick_env.step(np.array([*d, 0.0, -1.0, 0.0], np.float32))
    for _ in range(10):  # close on nothing
        obs, *_ = pick_env.step(np.array([0, 0, 0, 0, 1.0, 0], np.float32))
    assert obs["proprio"][4] < StateExpert.EMPTY_WIDTH  # the fingers really met
    label = labeller.act(obs)
    assert label[4] == -1.0 and label[2] > 0  # open, and back up above the cube


def test_a_gripper_closing_at_the_object_is_left_to_close() -> None:
    """The instant after 'close' (fingers on their way in, the cup not yet held) the
    answer stays 'close' with the hand at the cup, and is 'open' with it 5 cm away."""
    env = TabletopEnv("cup_from_pedestal", render_size=32)
    obs, _ = env.reset(seed=4)
    driver, labeller = make_expert(env), make_expert(env, follow="state")
    while driver.index < 2:  # down at the cup's wall, the gripper still open
        obs, *_ = env.step(driver.act(obs))
    env.scene.set_gripper(True)  # the close command, before any physics step
    assert obs["proprio"][4] > StateExpert.EMPTY_WIDTH and not env.scene.holding("cup")
    assert labeller.act(obs)[4] == 1.0
    shifted = obs["proprio"].copy()
    shifted[0] += 0.05
    assert labeller.act(obs | {"proprio": shifted})[4] == -1.0
    env.close()


def test_follow_must_be_command_or_state(pick_env: TabletopEnv) -> None:
    with pytest.raises(ValueError, match="follow='plan'"):
        make_expert(pick_env, follow="plan")
    with pytest.raises(ValueError, match="max_replans"):
        make_expert(pick_env, follow="state", max_replans=3)


def test_robot_experts_measures_the_labeller_driving_itself(capsys) -> None:
    from physres.cli import main

    args = ["robot", "experts", "--tasks", "push_bowl", "--seeds", "2", "--render-size", "32"]
    assert main([*args, "--follow", "state"]) == 0
    out = capsys.readouterr().out
    assert "state experts" in out and "2/2" in out


@pytest.mark.parametrize("task", ["pick_place", "wipe", "push_bowl"])
def test_a_random_driver_gets_a_label_inside_the_action_spec_at_every_step(task: str) -> None:
    """DAgger's driver can be anything: random flailing, the hand pressed into the table,
    the gripper snapping open and shut. Every state still gets a finite label the arm
    would accept, and never a terminate before the task is done."""
    env = TabletopEnv(task, render_size=32)
    labeller = make_expert(env, follow="state")
    spec = env.action_spec
    rng = np.random.default_rng(7)
    obs, _ = env.reset(seed=5)
    for t in range(env.max_steps):
        label = labeller.act(obs)
        assert np.isfinite(label).all(), (t, label)
        assert np.all(label >= spec.low_array - 1e-6) and np.all(label <= spec.high_array + 1e-6)
        assert label[5] == 0.0 or env.device.success(), (t, label)
        a = rng.uniform(spec.low_array, spec.high_array).astype(np.float32)
        a[2] = spec.low_array[2] if t % 20 < 10 else a[2]  # half the time: down, hard
        a[5] = 0.0  # the driver never says done: the episode runs to its limit
        obs, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            break
    env.close()
