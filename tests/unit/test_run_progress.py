"""Progress moves with the work, and every command's help shows its defaults.

A run whose task is one long series used to report ``0/1`` until the whole
drive was over; the protocol now reports task steps after every chunk.
"""

from __future__ import annotations

import argparse
import math

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
        assert len(done) == math.ceil(steps / 100), "one report per chunk, not 0/1 then 1/1"
        assert done == sorted(set(done)) and done[-1] == steps and done[0] == 100
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
    assert train == [64, 128, 192, 250]  # the last chunk is short: counted as what it is


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
    assert robot in (set(), {"robot experts", "robot collect", "robot view"})
    no_defaults = {n for n, p in LEAVES if "default" not in p.format_help()}
    assert no_defaults <= {"check"}, no_defaults  # check takes a config and nothing else
