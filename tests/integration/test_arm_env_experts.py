"""The scripted experts solve every task on random layouts; `physres robot experts` prints it."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from physres.sim.arm import TASKS, TabletopEnv, make_expert
from physres.sim.arm.cli import register, robot_subparsers
from physres.sim.arm.experts import evaluate_expert, run_episode


@pytest.mark.parametrize("task", list(TASKS))
def test_the_expert_succeeds_on_a_few_random_layouts(task: str) -> None:
    result = evaluate_expert(task, range(1000, 1002), render_size=32)
    assert result.successes == [True, True], f"{task} failed on seeds {result.failed_seeds}"


def test_success_is_a_property_of_the_world_not_of_saying_done() -> None:
    env = TabletopEnv("pick_place", render_size=32)
    env.reset(seed=3)
    *_, terminated, _, info = env.step(np.array([0, 0, 0, 0, -1, 1.0]))
    assert terminated and not info["success"]  # terminating at once is a failure
    env.close()


def test_the_expert_recovers_from_noisy_actions() -> None:
    env = TabletopEnv("pick_place", render_size=32)
    expert = make_expert(env)
    rng = np.random.default_rng(0)
    wins = 0
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        for t in range(env.max_steps):
            a = expert.act(obs)
            if t % 8 < 3 and a[5] < 0.5:  # bursts of 3 steps pushed 1.5 cm off course
                a[:3] += rng.normal(0, 0.015, 3).astype(np.float32)
            obs, _, terminated, truncated, info = env.step(a)
            if terminated or truncated:
                break
        wins += info["success"]
    assert wins == 3
    env.close()


def test_one_expert_follows_the_prompt_of_each_episode() -> None:
    env = TabletopEnv(None, render_size=32)
    expert = make_expert(env)
    for prompt in ("push the bowl to the left", "pick up the coffee cup"):
        ok, _ = run_episode(env, expert, seed=5, options={"prompt": prompt})
        assert ok, prompt
    env.close()


def test_cli_prints_the_table_and_exits_zero(capsys) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    register(sub)
    assert robot_subparsers(sub) is robot_subparsers(sub)  # one group for every robot command
    args = parser.parse_args(
        [
            "robot",
            "experts",
            "--tasks",
            "push_bowl,standing_bottle_from_pedestal",
            "--seeds",
            "1",
            "--render-size",
            "32",
        ]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "push_bowl" in out and "1/1" in out and "100.0 %" in out


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("task", list(TASKS))
def test_the_expert_succeeds_on_95_percent_of_100_layouts(task: str) -> None:
    result = evaluate_expert(task, range(100))
    assert result.rate >= 0.95, f"{task}: {result.rate:.0%}, failed seeds {result.failed_seeds}"


@pytest.mark.parametrize(("offset", "yaw"), [(0.02, 0.0), (0.0, 0.7), (0.0, -0.7)])
def test_the_cube_grasp_forgives_2_cm_and_any_yaw(monkeypatch, offset: float, yaw: float) -> None:
    """What a learned policy must get right to pick the cube: not millimetres. The expert
    with its grasp point 2 cm off (in a random direction), or its gripper turned 0.7 rad
    from the cube's faces, still picks and places it (without re-planning)."""
    import math

    from physres.sim.arm import experts

    plan = experts.PLANNERS["pick_place"]
    rng = np.random.default_rng(1)

    def off(env):
        wps = plan(env)
        a = rng.uniform(0, 2 * math.pi)
        for wp in wps[:3]:  # above, down, close
            wp.pos = wp.pos + offset * np.array([math.cos(a), math.sin(a), 0.0])
        for wp in wps:
            wp.yaw = env.wrap_yaw(wp.yaw + yaw)
        return wps

    monkeypatch.setitem(experts.PLANNERS, "pick_place", off)
    env = TabletopEnv("pick_place", render_size=32)
    expert = make_expert(env, max_replans=0)
    wins = [run_episode(env, expert, seed)[0] for seed in (21, 22, 23)]
    env.close()
    assert all(wins), wins
