"""Shared scenes: the objects of several tasks on one table, where only the prompt decides.

The picture must not give the task away (same seed, same layout: the same
image whichever task is asked for), every task's expert and success predicate
must work there, and eval must know which tasks a scene allows.
"""

from __future__ import annotations

import numpy as np
import pytest

from physres.errors import ConfigError
from physres.sim.arm import TASKS, TabletopEnv, make_expert
from physres.sim.arm.experts import evaluate_expert, run_episode
from physres.sim.arm.shared import (
    SHARED_LAYOUTS,
    layouts_allowing,
    push_corridor_clear,
    shared_layout,
)

#: objects each task's expert and success predicate read, by name
NEEDS = {
    "wipe": {"cloth"},
    "pick_place": {"cube", "bowl"},
    "pick_place_distractors": {"cube", "bowl"},
    "lying_bottle_from_bowl": {"lying_bottle", "bowl"},
    "cup_from_pedestal": {"cup", "cup_pedestal"},
    "standing_bottle_from_pedestal": {"bottle", "bottle_pedestal"},
    "push_bowl": {"bowl"},
}


def test_every_task_is_allowed_in_some_shared_layout_and_chance_is_known() -> None:
    assert {t for lay in SHARED_LAYOUTS.values() for t in lay.allowed} == set(TASKS)
    for task in TASKS:
        assert layouts_allowing(task), task
    # pick_place with and without distractors is one goal: a prompt-blind cube-into-bowl
    # policy succeeds on 2 of cube_bowl's 6 tasks
    assert SHARED_LAYOUTS["cube_bowl"].chance() == pytest.approx(2 / 6)
    assert SHARED_LAYOUTS["bottle_bowl"].chance() == pytest.approx(1 / 4)
    with pytest.raises(ConfigError, match="unknown shared layout 'kitchen'; known: cube_bowl"):
        shared_layout("kitchen")


@pytest.mark.parametrize("layout", list(SHARED_LAYOUTS))
def test_the_picture_is_the_same_whichever_task_the_prompt_asks_for(layout: str) -> None:
    env = TabletopEnv(None, render_size=48, layout=layout)
    try:
        images, seen = [], set()
        for task in SHARED_LAYOUTS[layout].allowed:
            obs, info = env.reset(seed=11, options={"task": task})
            assert info["layout"] == layout and info["allowed"] == SHARED_LAYOUTS[layout].allowed
            assert NEEDS[task] <= set(env.scene.objects), task
            images.append(obs["image"])
            seen.add(info["task"])
        assert seen == set(SHARED_LAYOUTS[layout].allowed)
        for img in images[1:]:
            np.testing.assert_array_equal(img, images[0])
    finally:
        env.close()


def test_without_a_task_the_shared_scene_draws_one_it_allows() -> None:
    env = TabletopEnv("all", render_size=32, layout="shared")
    try:
        for seed in range(6):
            _, info = env.reset(seed=seed)
            assert info["task"] in info["allowed"]
            assert info["layout"] in SHARED_LAYOUTS
    finally:
        env.close()


def test_a_push_is_only_asked_for_towards_a_clear_side() -> None:
    env = TabletopEnv("push_bowl", render_size=32, layout="cube_bowl")
    try:
        for seed in range(4):
            _, info = env.reset(seed=seed)
            assert info["task_params"]["side"] in env.placement.push_sides
        # a prompt naming a side gets a layout where that side is clear
        _, info = env.reset(seed=0, options={"prompt": "push the bowl to the left"})
        assert info["task_params"] == {"side": "left"}
        assert push_corridor_clear(env.placement.positions, "left")
    finally:
        env.close()
    # a cube 30 cm left of the bowl: in the way of a push to the left, not to the right
    pos = {"bowl": np.array([0.52, 0.0]), "cube": np.array([0.52, 0.3])}
    assert not push_corridor_clear(pos, "left") and push_corridor_clear(pos, "right")


def test_layouts_that_cannot_hold_the_task_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="layout 'round' unknown; expected 'own'"):
        TabletopEnv("wipe", layout="round")
    env = TabletopEnv("pick_place", render_size=32, layout="bottle_bowl")
    try:
        with pytest.raises(ConfigError, match="'pick_place' is not allowed in shared layout"):
            env.reset(seed=0)
    finally:
        env.close()


@pytest.mark.parametrize("task", list(TASKS))
def test_the_expert_succeeds_in_a_shared_scene(task: str) -> None:
    result = evaluate_expert(task, [2000], render_size=32, layout="shared")
    assert result.successes == [True], f"{task} failed on seed 2000"


def test_a_prompt_picks_the_task_in_a_shared_scene() -> None:
    env = TabletopEnv(None, render_size=32, layout="cube_bowl")
    expert = make_expert(env)
    try:
        ok, _ = run_episode(env, expert, seed=3, options={"prompt": "pick up the coffee cup"})
        assert ok and env.task.name == "cup_from_pedestal"
        assert {"cube", "bottle", "cloth"} <= set(env.scene.objects)  # the others stay put
    finally:
        env.close()


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("task", list(TASKS))
def test_the_expert_succeeds_on_95_percent_of_100_shared_scenes(task: str) -> None:
    result = evaluate_expert(task, range(100), layout="shared")
    assert result.rate >= 0.95, f"{task}: {result.rate:.0%}, failed seeds {result.failed_seeds}"


def test_the_sim_arm_device_lays_out_shared_scenes_from_its_config() -> None:
    """`kind: sim.arm` with `layout: shared` serves a bus run the same scenes as the env."""
    from physres.sim.arm import SimArm

    with SimArm(task="cup_from_pedestal", layout="shared", seed=3) as arm:
        assert {"cube", "cup", "bottle", "cloth"} <= set(arm.scene.objects)
        assert arm.describe().meta["layout"] == "shared" and not arm.success()
    with pytest.raises(ConfigError, match="'pick_place' is not allowed in shared layout"):
        SimArm(task="pick_place", layout="bottle_bowl")
    with pytest.raises(ConfigError, match="layout 'kitchen' unknown"):
        SimArm(layout="kitchen")


def test_shared_demonstrations_record_their_layout_and_replay_from_it(tmp_path) -> None:
    from physres.datasets import DemoDataset
    from physres.sim.arm.collect import NoiseConfig, collect

    collect(
        ["push_bowl"],
        1,
        tmp_path,
        noise=NoiseConfig().scaled(0),
        render_size=32,
        layouts=["shared"],
    )
    (ep,) = DemoDataset(tmp_path, verify="full")
    meta = ep.info.meta
    assert meta["collect_layout"] == "shared" and meta["layout"] in SHARED_LAYOUTS
    assert meta["allowed"] == list(SHARED_LAYOUTS[meta["layout"]].allowed)
    env = TabletopEnv(None, render_size=32)
    try:
        obs, _ = env.reset(
            seed=ep.info.seed, options={"task": ep.info.task, "layout": meta["collect_layout"]}
        )
        assert obs["prompt"] == ep.prompt
        for t in range(len(ep)):
            np.testing.assert_allclose(obs["proprio"], ep["obs.proprio"][t], atol=1e-5)
            obs, _, _, _, info = env.step(ep["action"][t])
        assert info["success"] == ep.info.success
    finally:
        env.close()


def test_collect_refuses_a_layout_that_cannot_hold_a_task_before_running_anything(
    tmp_path,
) -> None:
    import argparse

    from physres.sim.arm.dataset_cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    out = tmp_path / "demos"
    args = parser.parse_args(
        [
            "robot",
            "collect",
            "--tasks",
            "pick_place",
            "--layout",
            "bottle_bowl",
            "--episodes",
            "1",
            "--out",
            str(out),
        ]
    )
    with pytest.raises(
        ConfigError, match=r"--layout bottle_bowl: it does not allow \['pick_place'\]"
    ):
        args.func(args)
    assert not out.exists()
    assert (
        parser.parse_args(
            ["robot", "collect", "--episodes", "1", "--out", str(out), "--shared"]
        ).layout
        == "both"
    )
