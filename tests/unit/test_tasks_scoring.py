"""Scores mean what they say: real thresholds on a small ESN, honest controls, bounds.

The reservoir here is ``sim.esn`` driven through the generic drive loop, as
any substrate would be (``physres.tasks.bench.run_task``).
"""

from __future__ import annotations

import numpy as np
import pytest

from physres import tasks
from physres.errors import DataError
from physres.tasks.bench import run_task


def _delay_line(u: np.ndarray, taps: int) -> np.ndarray:
    """A perfect shift register: the best memory N linear features can have."""
    X = np.zeros((len(u), taps * u.shape[1]))
    for k in range(taps):
        X[k:, k * u.shape[1] : (k + 1) * u.shape[1]] = u[: len(u) - k]
    return X


def _score(task: tasks.Task, data: tasks.TaskData, make) -> dict[str, float]:
    return task.evaluate([make(e) for e in data.train], data.train,
                         [make(e) for e in data.test], data.test, data)


def test_linear_orthogonal_reservoir_of_50_units_remembers_at_least_40_steps() -> None:
    [row] = run_task("sim.esn", "memory_capacity", seed=0,
                     device_params={"n_units": 50, "topology": "orthogonal",
                                    "activation": "linear", "spectral_radius": 0.99})
    assert 40 <= row["value"] <= 50


def test_a_random_non_reservoir_has_no_memory() -> None:
    task = tasks.create("memory_capacity", n_train=2000, n_test=1000)
    data = task.generate(0)
    rng = np.random.default_rng(7)
    mc = _score(task, data, lambda e: rng.standard_normal((e.n_steps, 50)))["mc"]
    assert mc < 0.5


@pytest.mark.parametrize(
    "params",
    [
        {"n_units": 20, "topology": "orthogonal", "activation": "linear", "spectral_radius": 0.999},
        {"n_units": 30, "topology": "orthogonal", "activation": "linear", "spectral_radius": 0.9},
        {"n_units": 40, "activation": "linear", "spectral_radius": 1.0, "density": 0.5},
        {"n_units": 30, "spectral_radius": 0.95, "input_scaling": 0.05},
    ],
)
def test_no_reservoir_reports_more_memory_than_it_has_units(params: dict) -> None:
    # small training sets make overfitting easy: held-out scoring must still stay <= N
    for n_train in (300, 3000):
        [row] = run_task("sim.esn", "memory_capacity", seed=1, device_params=params,
                         task_params={"n_train": n_train, "n_test": 1000})
        assert row["value"] <= params["n_units"], (params, n_train, row["value"])


def test_a_perfect_delay_line_scores_its_length_and_no_more() -> None:
    task = tasks.create("memory_capacity", n_train=2000, n_test=1000)
    data = task.generate(0)
    mc = _score(task, data, lambda e: _delay_line(e.u, 25))["mc"]
    assert mc == pytest.approx(24, abs=0.05)  # u(t-1)..u(t-24); delay 0 is not memory


def test_xor_needs_a_nonlinear_substrate() -> None:
    task = tasks.create("xor", n_train=1000, n_test=500)
    data = task.generate(0)
    # the best a linear readout of the raw bits can do is 3 corners of 4
    assert _score(task, data, lambda e: _delay_line(e.u, 3))["accuracy"] <= 0.76
    [row] = run_task("sim.esn", "xor", seed=0, device_params={"n_units": 50},
                     task_params={"n_train": 1000, "n_test": 500})
    assert row["value"] >= 0.9


def test_small_esn_reaches_real_thresholds_on_the_prediction_tasks() -> None:
    [narma] = run_task("sim.esn", "narma10", seed=2, device_params={"n_units": 100},
                       task_params={"n_train": 2000, "n_test": 1000})
    assert narma["value"] < 0.45
    [henon] = run_task("sim.esn", "henon", seed=0, device_params={"n_units": 100})
    assert henon["value"] < 2e-3
    mg = run_task("sim.esn", "mackey_glass", seed=0, device_params={"n_units": 100},
                  task_params={"n_train": 2000, "n_test": 500, "washout": 200,
                               "free_run_trials": 3})
    assert mg[0]["value"] < 1e-3  # one step
    assert mg[1]["metric"] == "nrmse_free" and mg[1]["value"] < 0.2  # 84 steps on its own


def test_henon_needs_nonlinearity_a_delay_line_cannot_predict_it() -> None:
    task = tasks.create("henon")
    data = task.generate(0)
    assert _score(task, data, lambda e: _delay_line(e.u, 20))["nrmse"] > 0.5


def test_evaluate_refuses_states_that_do_not_line_up() -> None:
    task = tasks.create("narma10", n_train=100, n_test=50, washout=10)
    data = task.generate(0)
    good = [np.zeros((e.n_steps, 3)) for e in data.train]
    test = [np.zeros((e.n_steps, 3)) for e in data.test]
    with pytest.raises(DataError, match=r"train\[0\]: states must be \(T=110, F\)"):
        task.evaluate([np.zeros((5, 3))], data.train, test, data.test, data)
    with pytest.raises(DataError, match="2 state matrices for 1 episodes"):
        task.evaluate(good * 2, data.train, test, data.test, data)
    bad = [t.copy() for t in test]
    bad[0][7, 2] = np.nan
    with pytest.raises(DataError, match=r"test\[0\] states\[7, 2\] = nan"):
        task.evaluate(good, data.train, bad, data.test, data)
    with pytest.raises(DataError, match="train states have 3 features, test states 4"):
        task.evaluate(good, data.train, [np.zeros((e.n_steps, 4)) for e in data.test],
                      data.test, data)


def test_a_mock_substrate_of_noise_scores_at_chance_on_every_task() -> None:
    small = {"n_train": 800, "n_test": 400}
    nrmse = {r["task"]: r["value"] for name in ("narma10", "henon")
             for r in run_task("mock.esn", name, task_params=small)}
    assert all(0.95 < v < 1.1 for v in nrmse.values()), nrmse
    [xor] = run_task("mock.esn", "xor", task_params=small)
    assert 0.4 < xor["value"] < 0.6
    [mc] = run_task("mock.esn", "memory_capacity", task_params=small)
    assert mc["value"] < 0.5
    [words] = run_task("mock.esn", "spoken_zero_one", task_params={"n_bands": 2})
    assert words["value"] <= 0.8  # 20 test words: chance 0.5
