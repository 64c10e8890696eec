"""Progress moves with the work, and every command's help shows its defaults.

A run whose task is one long series used to report ``0/1`` until the whole
drive was over; the protocol now reports task steps after every chunk.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import pytest
from rich.console import Console

from physres import tasks
from physres.cli import build_parser
from physres.experiments.protocol import run_protocol
from physres.experiments.run import sample_counts
from physres.progress import PhaseBars, progress_bar
from physres.sim.esn import ESN


def test_one_long_series_reports_progress_after_every_chunk() -> None:
    task = tasks.create("narma10", n_train=1900, n_test=900, washout=100)
    data = task.generate(0)
    calls: list[tuple[str, int, int | None]] = []
    with ESN("esn", n_units=20, seed=0) as esn:
        run_protocol(esn, task, data, chunk=100, progress=lambda *c: calls.append(c))
    for split, steps in (("train", 2000), ("test", 1000)):
        done = [d for s, d, n in calls if s == split]
        assert {n for s, _, n in calls if s == split} == {steps}
        assert len(done) == 1 + math.ceil(steps / 100), "a start, then one report per chunk"
        assert done == sorted(set(done)) and done[0] == 0 and done[1] == 100
        assert done[-1] == steps
    fit = [(d, n) for s, d, n in calls if s == "fit + score"]
    assert fit == [(0, None), (1, 1)], "the fit shows up while it runs, then completes"
    assert [c[0] for c in calls].index("fit + score") > max(
        i for i, c in enumerate(calls) if c[0] == "test"
    )


def test_episodes_count_their_steps_so_short_and_long_episodes_weigh_what_they_cost() -> None:
    task = tasks.create("xor", n_train=250, n_test=50, washout=0)
    data = task.generate(0)
    calls: list[tuple[str, int, int | None]] = []
    with ESN("esn", n_units=10, n_inputs=2, seed=0) as esn:
        run_protocol(esn, task, data, chunk=64, progress=lambda *c: calls.append(c))
    train = [d for s, d, _ in calls if s == "train"]
    assert train == [0, 64, 128, 192, 250]  # the last chunk is short: counted as what it is


def test_phase_bars_keep_one_bar_per_phase_with_rate_and_time_left() -> None:
    console = Console(record=True, width=140, force_terminal=False)
    with progress_bar(console) as bar:
        phases = PhaseBars(bar, "narma10 on esn")
        for i in range(0, 1001, 250):
            phases("train", i, 1000)
        phases("fit + score", 0, None)
        phases("fit + score", 1, 1)
    tasks_ = {t.description: t for t in bar.tasks}
    assert set(tasks_) == {"narma10 on esn: train", "narma10 on esn: fit + score"}
    assert tasks_["narma10 on esn: train"].completed == 1000
    assert tasks_["narma10 on esn: train"].fields["unit"] == "steps"
    text = console.export_text()
    assert "1000/1000" in text and "left" in text


def test_sample_counts_name_sequences_and_samples() -> None:
    narma = tasks.create("narma10", n_train=4000, n_test=2000, washout=200).generate(0)
    assert sample_counts(narma) == {
        "n_train_sequences": 1,
        "n_train_samples": 4200,
        "n_train_scored_samples": 4000,
        "n_test_sequences": 1,
        "n_test_samples": 2200,
        "n_test_scored_samples": 2000,
        "washout_samples": 200,
    }
    digits = tasks.create("spoken_digits").generate(0)
    counts = sample_counts(digits)
    assert counts["n_train_sequences"] == len(digits.train) > 1
    assert counts["n_train_samples"] == sum(ep.n_steps for ep in digits.train)


def _leaf_parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[str, argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [(" ".join(path), parser)]
    return [
        leaf
        for action in subs
        for name, p in action.choices.items()
        for leaf in _leaf_parsers(p, (*path, name))
    ]


LEAVES = _leaf_parsers(build_parser())


@pytest.mark.parametrize("parser", [p for _, p in LEAVES], ids=[n for n, _ in LEAVES])
def test_every_help_shows_each_default(parser: argparse.ArgumentParser) -> None:
    text = " ".join(parser.format_help().split())
    with_default = [
        a
        for a in parser._actions
        if a.option_strings and a.default not in (None, False, argparse.SUPPRESS)
    ]
    for a in with_default:
        assert f"default: {a.default}" in text, (a.option_strings, text)
    if with_default:
        assert "default" in text


def test_the_commands_that_matter_are_all_walked() -> None:
    names = {n for n, _ in LEAVES}
    assert {"run", "bus", "ls", "record", "replay", "bench tasks"} <= names
    robot = {n for n in names if n.startswith("robot ")}
    assert robot in (
        set(),
        {"robot experts", "robot collect", "robot view", "robot train", "robot eval", "robot run"},
    )
    helps = {n: p.format_help() for n, p in LEAVES}
    for name in ("run", "bus", "ls", "record", "replay", "bench tasks", *robot):
        assert "default" in helps[name], name
    if robot:  # the default work is said, not just the per-task count
        from physres.sim.arm.tasks import TASKS

        expected = f"{len(TASKS) * 100} episodes"
        assert expected in " ".join(helps["robot experts"].split())


def test_robot_experts_moves_its_bar_per_episode(monkeypatch: pytest.MonkeyPatch) -> None:
    """`robot experts` used to show a spinner only; the bar now counts episodes."""
    import physres.sim.arm.cli as arm_cli
    import physres.sim.arm.experts as experts
    from physres.sim.arm.tasks import TASKS

    console = Console(record=True, width=160, force_terminal=False)
    made: list[Any] = []  # the Progress the command builds, to read its bar mid-run
    real_bar = arm_cli.progress_bar
    monkeypatch.setattr(
        arm_cli, "progress_bar", lambda *a, **kw: made.append(real_bar(*a, **kw)) or made[-1]
    )
    seen: list[float] = []

    def fake(task: str, seeds: Any, *, render_size: int, on_episode: Any = None) -> Any:
        assert on_episode is not None, "the CLI asks for per-episode reports"
        for _ in seeds:
            on_episode(True)
            seen.append(made[-1].tasks[0].completed)
        return experts.ExpertResult(task, list(seeds), [True] * len(seeds), [10] * len(seeds), 1.0)

    monkeypatch.setattr(experts, "evaluate_expert", fake)
    monkeypatch.setattr(arm_cli, "console", console)
    names = ",".join(list(TASKS)[:2])
    args = build_parser().parse_args(["robot", "experts", "--tasks", names, "--seeds", "7"])
    assert args.func(args) == 0
    assert made[-1].tasks[0].total == 14
    assert seen == list(range(1, 15)), "one step per episode, not one per task"
    assert "14/14" in console.export_text()


def test_evaluate_expert_reports_each_episode_as_it_ends() -> None:
    from physres.sim.arm.experts import evaluate_expert

    got: list[bool] = []
    result = evaluate_expert("pick_place", [0, 1], render_size=32, on_episode=got.append)
    assert got == result.successes and len(got) == 2
