"""The reference ESN figures the issue asks for, and the series they are measured on.

The figures are slow (N = 500, several seeds): run them with
``pytest -m slow tests/unit/test_tasks_reference.py``; the same figures, with
ReservoirPy alongside, come from ``python bench/esn_tasks.py``.

"NARMA10" means two series in practice (see :mod:`physres.tasks.narma`): the
textbook one physres uses by default, and what ReservoirPy's
``datasets.narma(n, order=10)`` returns, the reading behind the issue's
"ReservoirPy measures 0.109". Both are checked here.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from physres import registry, tasks
from physres.experiments import collect_states
from physres.tasks.bench import PRESETS, run_task

PROTOCOL = {"n_units": 500, "spectral_radius": 0.95, "leak_rate": 1.0, "input_scaling": 1.0}


def test_the_reservoirpy_variant_is_reservoirpys_own_narma_series_bit_for_bit() -> None:
    pytest.importorskip("reservoirpy")
    from reservoirpy.datasets import narma

    data = tasks.create("narma10", variant="reservoirpy", n_train=300, n_test=100).generate(7)
    u = np.concatenate([data.train[0].u, data.test[0].u])
    y = np.concatenate([data.train[0].y, data.test[0].y])
    their_u, their_y = narma(len(u), order=10, seed=7)
    # ReservoirPy's documented use pairs u[order:] with y: the same pairing as ours
    np.testing.assert_array_equal(u, their_u[10:])
    np.testing.assert_array_equal(y, their_y)


def test_the_default_series_is_the_textbook_one_and_differs_from_reservoirpys() -> None:
    textbook = tasks.create("narma10", n_train=300, n_test=100).generate(7)
    rpy = tasks.create("narma10", variant="reservoirpy", n_train=300, n_test=100).generate(7)
    assert textbook.train[0].meta["variant"] == "atiya_parlos"
    # c = 0.1 against ReservoirPy's NARMA30 default c = 0.001: the textbook series sits higher
    assert textbook.train[0].y.mean() > rpy.train[0].y.mean() + 0.05
    assert rpy.train[0].u.min() >= 0 and rpy.train[0].u.max() <= 0.5


def _narma(seed: int, variant: str) -> tuple[float, float]:
    task = tasks.create("narma10", alpha=1e-7, variant=variant)
    data = task.generate(seed)
    dev = registry.create("sim.esn", params={**PRESETS["sim.esn"]["narma10"][0], "seed": seed})
    with dev:
        s_tr = collect_states(dev, data.train, task, reset_between=False)
        s_te = collect_states(dev, data.test, task, reset_between=False)
    score = task.evaluate(s_tr, data.train, s_te, data.test, data)["nrmse"]
    ours = task.predict(task.fit_readout(s_tr, data.train, data), s_te)[0]
    w = data.washout
    sk = Ridge(alpha=1e-7).fit(s_tr[0][w:], data.train[0].y[w:]).predict(s_te[0])
    return score, float(np.abs(sk.reshape(ours.shape) - ours).max())


def _reservoirpy(seed: int, variant: str) -> float:
    from reservoirpy.nodes import Reservoir
    from reservoirpy.nodes import Ridge as RpyRidge

    data = tasks.create("narma10", variant=variant).generate(seed)
    model = Reservoir(500, sr=0.95, lr=1.0, input_scaling=1.0, seed=seed) >> RpyRidge(ridge=1e-7)
    model.fit(data.train[0].u, data.train[0].y, warmup=data.washout)
    pred = model.run(data.test[0].u)[data.washout :]
    return tasks.nrmse(data.test[0].y[data.washout :], pred)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variant", "ours_max", "theirs_about"),
    [("reservoirpy", 0.11, 0.109), ("atiya_parlos", 0.13, 0.186)],
)
def test_narma10_with_the_literature_protocol_beats_reservoirpy(
    variant: str, ours_max: float, theirs_about: float
) -> None:
    rpy = pytest.importorskip("reservoirpy")
    assert rpy.__version__.startswith("0.4")
    assert {k: PRESETS["sim.esn"]["narma10"][0][k] for k in PROTOCOL} == PROTOCOL
    ours, diffs = zip(*(_narma(seed, variant) for seed in range(5)), strict=True)
    theirs = [_reservoirpy(seed, variant) for seed in range(5)]
    # measured: ReservoirPy's series 0.037 vs 0.109; textbook 0.125 vs 0.186
    assert np.mean(theirs) == pytest.approx(theirs_about, abs=0.01)
    assert np.mean(ours) <= ours_max
    assert np.mean(ours) < np.mean(theirs)
    assert max(diffs) < 1e-8  # same states, scikit-learn's Ridge: same predictions


@pytest.mark.slow
def test_linear_orthogonal_memory_and_mackey_glass_reference() -> None:
    [mc] = run_task("sim.esn", "memory_capacity", seed=0)
    assert mc["value"] >= 40
    one_step, free = run_task("sim.esn", "mackey_glass", seed=0)
    assert one_step["value"] <= 5e-4  # measured 1.1e-5 with N = 500
    assert free["value"] < 0.01  # 84 steps free-running: measured 6.2e-4
