"""TabletopEnv as a gymnasium Env: spaces, prompts, the action spec at the boundary."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from physres.errors import ConfigError
from physres.sim.arm import ACTION_SPEC, ENV_ID, ActionError, PromptError, TabletopEnv


@pytest.fixture
def env():
    e = TabletopEnv("pick_place", render_size=64)
    yield e
    e.close()


def test_gymnasium_env_checker_passes_without_warnings() -> None:
    env = gym.make(ENV_ID, task="push_bowl", render_size=64, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.close()


def test_observation_has_scene_image_proprio_and_the_prompt(env: TabletopEnv) -> None:
    obs, info = env.reset(seed=1)
    assert set(obs) == {"image", "proprio", "prompt"}
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert obs["proprio"].shape == (13,) and obs["proprio"].dtype == np.float32
    assert env.observation_space.contains(obs)
    assert info["task"] == "pick_place" and not info["success"]
    assert "bowl" in obs["prompt"] or "dish" in obs["prompt"]


def test_wrist_camera_adds_a_second_image() -> None:
    env = TabletopEnv("cup_from_pedestal", render_size=48, wrist_camera=True)
    obs, _ = env.reset(seed=0)
    assert obs["wrist_image"].shape == (48, 48, 3)
    assert not np.array_equal(obs["wrist_image"], obs["image"])
    env.close()


def test_the_prompt_chooses_the_task(env: TabletopEnv) -> None:
    obs, info = env.reset(seed=0, options={"prompt": "Slide the bowl to the RIGHT!"})
    assert info["task"] == "push_bowl" and info["task_params"] == {"side": "right"}
    assert obs["prompt"] == "slide the bowl to the right"
    _, info = env.reset(seed=0, options={"prompt": "pick up the coffee cup"})
    assert info["task"] == "cup_from_pedestal"


def test_a_prompt_for_the_same_goal_keeps_the_distractor_scene() -> None:
    env = TabletopEnv("pick_place_distractors", render_size=48)
    _, info = env.reset(seed=0, options={"prompt": "put the cube in the bowl"})
    assert info["task"] == "pick_place_distractors"
    assert sum(n.startswith("distractor") for n in env.scene.objects) == 4
    env.close()


def test_an_unknown_prompt_is_a_clear_error_listing_the_tasks(env: TabletopEnv) -> None:
    with pytest.raises(PromptError, match="matches no known task; known tasks: wipe"):
        env.reset(seed=0, options={"prompt": "fly to the moon"})
    with pytest.raises(ConfigError, match="unknown task 'fly'"):
        TabletopEnv("fly")
    with pytest.raises(ConfigError, match="task='wipe' but the prompt .* asks for 'push_bowl'"):
        env.reset(seed=0, options={"task": "wipe", "prompt": "push the bowl to the left"})


def test_actions_outside_the_spec_are_clipped_and_reported(env: TabletopEnv) -> None:
    env.reset(seed=0)
    z0 = env.target_pos[2]
    _, _, _, _, info = env.step(np.array([0, 0, -1.0, 0, -1, 0], dtype=np.float32))
    np.testing.assert_allclose(info["action_applied"][2], ACTION_SPEC.low[2])
    assert env.target_pos[2] == pytest.approx(z0 + ACTION_SPEC.low[2])
    for _ in range(30):  # the commanded pose never leaves the workspace box
        env.step(np.array([0.05, 0.05, -0.05, 0.25, -1, 0], dtype=np.float32))
    assert np.all(env.target_pos <= np.asarray(ACTION_SPEC.workspace_high) + 1e-9)
    assert np.all(env.target_pos >= np.asarray(ACTION_SPEC.workspace_low) - 1e-9)
    assert abs(env.target_yaw) <= ACTION_SPEC.yaw_limit


def test_refuse_mode_raises_and_nan_is_always_refused() -> None:
    env = TabletopEnv("pick_place", render_size=48, on_violation="refuse")
    env.reset(seed=0)
    with pytest.raises(ActionError, match="dx = 0.2 m is outside"):
        env.step(np.array([0.2, 0, 0, 0, 0, 0]))
    with pytest.raises(ActionError, match="not finite"):
        env.step(np.array([np.nan, 0, 0, 0, 0, 0]))
    env.close()


def test_terminate_ends_the_episode_and_max_steps_truncates() -> None:
    env = TabletopEnv("wipe", render_size=32, max_steps=3)
    env.reset(seed=0)
    *_, terminated, truncated, _ = env.step(np.array([0, 0, 0, 0, -1, 1.0]))
    assert terminated and not truncated
    env.reset(seed=0)
    for _ in range(3):
        *_, terminated, truncated, _ = env.step(np.zeros(6))
    assert truncated and not terminated
    env.close()


def test_the_same_seed_and_actions_give_the_same_episode(env: TabletopEnv) -> None:
    rng = np.random.default_rng(5)
    actions = [env.action_space.sample() * np.array([1, 1, 1, 1, 1, 0]) for _ in range(8)]
    del rng
    runs = []
    for _ in range(2):
        obs, _ = env.reset(seed=42)
        frames = [obs["image"]]
        for a in actions:
            obs, *_ = env.step(a)
            frames.append(obs["image"])
        runs.append((np.stack(frames), obs["proprio"]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_step_before_reset_says_what_to_do() -> None:
    env = TabletopEnv("pick_place", render_size=32)
    with pytest.raises(ConfigError, match="call reset"):
        env.step(np.zeros(6))
    env.close()
