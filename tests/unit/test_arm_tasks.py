"""Prompts ↔ tasks: every template parses back to its task; unknown prompts list the tasks."""

from __future__ import annotations

import numpy as np
import pytest

from physres.sim.arm.tasks import TASKS, PromptError, make_task, parse_prompt


def test_the_suite_has_the_seven_tasks_of_the_issue() -> None:
    assert list(TASKS) == [
        "wipe",
        "pick_place",
        "lying_bottle_from_bowl",
        "cup_from_pedestal",
        "push_bowl",
        "standing_bottle_from_pedestal",
        "pick_place_distractors",
    ]


@pytest.mark.parametrize("name", list(TASKS))
def test_generated_prompts_parse_back_to_the_same_task(name: str) -> None:
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(60):
        task = make_task(name)
        task.sample_params(rng)
        prompt = task.prompt(rng)
        seen.add(prompt)
        cls, params = parse_prompt(prompt)
        assert cls.name == name, prompt
        assert params.items() <= (task.params or {}).items(), prompt
    assert len(seen) >= 6, "templates and synonyms should give varied prompts"


@pytest.mark.parametrize(
    ("prompt", "task", "params"),
    [
        ("Put the cube in the bowl.", "pick_place", {}),
        (
            "grab the red block and drop it into the dish, ignore the others",
            "pick_place_distractors",
            {},
        ),
        ("Take the bottle out of the bowl", "lying_bottle_from_bowl", {}),
        ("pick up the coffee mug", "cup_from_pedestal", {}),
        ("pick the standing bottle from the pedestal", "standing_bottle_from_pedestal", {}),
        ("slide the bowl to the LEFT", "push_bowl", {"side": "left"}),
        ("push the dish to the back of the table", "push_bowl", {"side": "far"}),
        ("wipe the table with the cloth", "wipe", {}),
    ],
)
def test_hand_written_prompts_with_synonyms(prompt: str, task: str, params: dict) -> None:
    cls, got = parse_prompt(prompt)
    assert (cls.name, got) == (task, params)


def test_an_unknown_prompt_lists_every_known_task_with_an_example() -> None:
    with pytest.raises(PromptError) as e:
        parse_prompt("make me a sandwich")
    msg = str(e.value)
    assert "'make me a sandwich' matches no known task" in msg
    for name in TASKS:
        assert name in msg
    with pytest.raises(PromptError, match="non-empty string"):
        parse_prompt("   ")


def test_unknown_task_names_are_a_config_error_listing_the_names() -> None:
    with pytest.raises(ValueError, match="unknown task 'juggle'; known tasks: wipe, pick_place"):
        make_task("juggle")
