"""Training wordings and held-out wordings: disjoint, each routed to its task, and only the
training ones reach a dataset."""

from __future__ import annotations

import re

import numpy as np
import pytest

from physres.sim.arm import TASKS, TabletopEnv
from physres.sim.arm.env import PROMPT_CHARSET
from physres.sim.arm.tasks import (
    PromptError,
    heldout_prompts,
    make_task,
    parse_prompt,
    training_prompts,
)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text))


TRAINING_VOCABULARY = {w for t in TASKS for p in training_prompts(t) for w in _words(p)}


@pytest.mark.parametrize("name", list(TASKS))
def test_held_out_wordings_are_new_sentences_with_new_words(name: str) -> None:
    heldout = heldout_prompts(name)
    assert len(heldout) >= 12
    assert not set(heldout) & set(training_prompts(name))
    for prompt in heldout:
        new = _words(prompt) - TRAINING_VOCABULARY
        assert new, f"{prompt!r} uses only words of the training templates"
        assert set(prompt) <= PROMPT_CHARSET, prompt


@pytest.mark.parametrize("name", list(TASKS))
def test_held_out_wordings_still_route_to_their_task(name: str) -> None:
    """The env's router (never seen by a policy) must still build the right scene for them."""
    for prompt in heldout_prompts(name):
        assert parse_prompt(prompt)[0].name == name, prompt


def test_held_out_push_wordings_keep_their_side() -> None:
    for side in ("left", "right", "far", "near"):
        for prompt in heldout_prompts("push_bowl", {"side": side}):
            assert parse_prompt(prompt)[1] == {"side": side}, prompt


def test_a_task_draws_held_out_wordings_only_when_asked() -> None:
    rng = np.random.default_rng(0)
    task = make_task("push_bowl", {"side": "far"})
    drawn = {task.heldout_prompt(rng) for _ in range(40)}
    assert drawn <= set(heldout_prompts("push_bowl", {"side": "far"}))
    assert len(drawn) >= 8
    trained = {task.prompt(rng) for _ in range(40)}
    assert trained <= set(training_prompts("push_bowl", {"side": "far"}))


def test_the_env_puts_only_training_wordings_in_episodes() -> None:
    """Collection takes the env's prompt: it must come from the training templates."""
    env = TabletopEnv("all", render_size=16)
    try:
        for seed in range(12):
            obs, info = env.reset(seed=seed)
            assert obs["prompt"] in training_prompts(info["task"], info["task_params"])
    finally:
        env.close()


def test_a_wording_the_router_does_not_know_needs_the_task_named() -> None:
    """Eval scores free wordings from a file: the task name builds the scene, the policy
    sees only the text."""
    env = TabletopEnv(None, render_size=16)
    try:
        text = "bring me the thing on the grey stand"
        obs, info = env.reset(seed=0, options={"task": "cup_from_pedestal", "prompt": text})
        assert obs["prompt"] == text and info["task"] == "cup_from_pedestal"
        with pytest.raises(PromptError, match="matches no known task"):
            env.reset(seed=0, options={"prompt": text})
    finally:
        env.close()
