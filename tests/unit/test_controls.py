"""The strongest cheap baseline and the margin over it: strong where a cheap model is, honest.

Each baseline is checked on a task whose answer is known: a delay line
recalls the past perfectly (memory), a linear model cannot do XOR, pooled
means separate classes that differ in mean. The margin's sign, interval and
determinism are checked on predictions built to differ by a known amount.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from physres import tasks
from physres.experiments import plots
from physres.experiments.controls import Baseline, baseline_control, margin
from physres.experiments.protocol import run_protocol
from physres.sim.esn import ESN
from physres.tasks.base import Episode, TaskData
from physres.tasks.kinds import SequenceClassificationTask

_MEANS = np.array([[0.3, 0.0], [0.0, 0.3], [-0.3, -0.3]])


class _MeanClasses(SequenceClassificationTask):
    """Three classes of noisy sequences whose means differ; labels sorted by class.

    The class means are not on one line: a one-hot ridge masks a middle class.
    """

    name: ClassVar[str] = "mean_classes"

    def generate(self, seed: int = 0) -> TaskData:
        rng = np.random.default_rng(seed)

        def split(n: int) -> list[Episode]:
            return [
                Episode(_MEANS[c] + rng.normal(0, 0.2, size=(int(rng.integers(15, 30)), 2)), c)
                for c in range(3)
                for _ in range(n)
            ]

        return TaskData(
            split(20), split(10), 0, 2, 1, problem="classification", classes=("a", "b", "c")
        )


def test_the_delay_baseline_recalls_what_a_delay_line_holds() -> None:
    task = tasks.create("memory_capacity", max_delay=8, n_train=600, n_test=400, washout=20)
    data = task.generate(0)
    base = baseline_control(task, data)
    # D >= 9 delays (the grid is capped by washout + 1) hold delays 1..8 exactly
    assert 9 <= base.delays <= 21 and base.metrics["mc"] > 7.9
    assert "delay-embedded" in base.model


def test_the_delay_baseline_is_linear_and_cannot_do_xor() -> None:
    task = tasks.create("xor", n_train=600, n_test=400)
    base = baseline_control(task, task.generate(1))
    assert 0.4 < base.metrics["accuracy"] < 0.6


def test_pooled_statistics_classify_by_mean_and_alpha_comes_from_train_only() -> None:
    task = _MeanClasses()
    data = task.generate(2)
    base = baseline_control(task, data, seed=0)
    assert base.metrics["accuracy"] > 0.9
    # scrambling the test labels changes the score, never the penalty chosen
    scrambled = TaskData(
        data.train,
        [Episode(e.u, (e.label + 1) % 3) for e in data.test],
        0,
        2,
        1,
        problem="classification",
        classes=data.classes,
    )
    other = baseline_control(task, scrambled, seed=0)
    assert other.alpha == base.alpha and other.metrics["accuracy"] < 0.2


def _narma_preds(data: TaskData, noise: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.asarray(ep.y) + rng.normal(0, noise, size=np.shape(ep.y)) for ep in data.test]


def test_margin_is_signed_so_positive_means_the_substrate_is_better() -> None:
    task = tasks.create("narma10", n_train=400, n_test=1000, washout=50)
    data = task.generate(0)
    worse = _narma_preds(data, 0.05, 1)
    base = _scored(task, data, worse)
    better = _narma_preds(data, 0.01, 2)
    m = margin(task, data, better, base, seed=3)
    assert m["margin_over_baseline"] > 0  # lower NRMSE than the baseline: a positive margin
    lo, hi = m["margin_ci95"]
    assert 0 < lo <= m["margin_over_baseline"] <= hi
    assert "block bootstrap" in m["margin_ci_method"]
    assert margin(task, data, better, base, seed=3) == m  # seeded: the same interval
    same = margin(task, data, worse, base, seed=3)
    assert same["margin_over_baseline"] == 0 and same["margin_ci95"] == [0.0, 0.0]
    flipped = margin(task, data, worse, _scored(task, data, better))
    assert flipped["margin_over_baseline"] < 0 and flipped["margin_ci95"][1] < 0


def _scored(task: Any, data: TaskData, preds: Any) -> Baseline:
    return Baseline(task.score(preds, data.test, data), preds, "test", 1.0)


def test_an_accuracy_margin_resamples_test_sequences() -> None:
    task = _MeanClasses()
    data = task.generate(2)
    true = np.array([e.label for e in data.test])
    wrong = true.copy()
    wrong[::3] = (wrong[::3] + 1) % 3  # a third of the sequences wrong
    m = margin(task, data, true, _scored(task, data, wrong), seed=0)
    assert m["margin_over_baseline"] == pytest.approx(1 / 3)
    lo, hi = m["margin_ci95"]
    assert 0.1 < lo < 1 / 3 < hi < 0.6  # about ± 2 binomial sd of a third over 30
    assert "30 test sequences" in m["margin_ci_method"]


def test_every_protocol_run_reports_both_controls_and_the_margin() -> None:
    task = tasks.create("xor", n_train=400, n_test=300)
    data = task.generate(0)
    with ESN("esn", n_inputs=2, n_units=60, bias_scaling=0.5, seed=0) as dev:
        res = run_protocol(dev, task, data, seed=0)
    m = res.metrics
    assert m["accuracy"] > 0.9 and m["control_baseline_accuracy"] < 0.6
    assert m["control_raw_input_accuracy"] < 0.6
    lo, hi = m["margin_ci95"]
    assert lo <= m["margin_over_baseline"] <= hi and lo > 0.2
    assert m["control_baseline_model"].startswith("delay-embedded ridge")
    result = {"task": "xor", "device": "esn", "kind": "sim.esn", "metric": "accuracy"}
    text = plots.headline({**result, "value": m["accuracy"], "metrics": m})
    assert f"baseline {m['control_baseline_accuracy']:.4g}" in text and "(margin +" in text


def test_a_bench_row_carries_its_controls_and_the_substrate_cost() -> None:
    from physres.tasks.bench import run_task

    small = {"n_train": 200, "n_test": 150}
    (row,) = run_task("sim.lsm", "xor", task_params=small, device_params={"n_neurons": 60})
    assert row["control_baseline"] is not None and row["control_raw_input"] is not None
    assert row["margin_ci95"][0] <= row["margin"] <= row["margin_ci95"][1]
    assert row["device_s"] == pytest.approx((20 + 200 + 20 + 150) / 100.0)  # steps at 100 Hz
    assert row["cpu_per_device_s"] > 0
    # each spike reaches its synapses: more synaptic events than spikes
    assert row["synaptic_events_per_device_s"] > row["events_per_device_s"] > 0


def test_too_little_data_to_cross_validate_is_reported_not_fatal() -> None:
    from physres.experiments.protocol import baseline_metrics

    task = tasks.create("narma10")
    rng = np.random.default_rng(0)
    data = TaskData(
        [Episode(rng.uniform(size=(4, 1)), rng.uniform(size=(4, 1)))],
        [Episode(rng.uniform(size=(6, 1)), rng.uniform(size=(6, 1)))],
        0,
        1,
        1,
    )
    out = baseline_metrics(task, data, [np.asarray(ep.y) for ep in data.test])
    assert set(out) == {"control_baseline_error"} and "folds" in out["control_baseline_error"]
