"""Each generator makes the series its literature defines, seeded, with disjoint splits."""

from __future__ import annotations

import numpy as np
import pytest

from physres import tasks
from physres.errors import ConfigError
from physres.tasks.henon import henon_orbit
from physres.tasks.mackey_glass import mackey_glass
from physres.tasks.narma import narma10


@pytest.mark.parametrize("name", ["xor", "narma10", "henon", "memory_capacity", "mackey_glass"])
def test_same_seed_same_data_other_seed_other_data(name: str) -> None:
    small = {"n_train": 300, "n_test": 200}
    if name == "mackey_glass":
        small["free_run_trials"] = 2
    task = tasks.create(name, **small)
    a, b, c = task.generate(1), task.generate(1), task.generate(2)
    assert np.array_equal(a.train[0].u, b.train[0].u)
    assert np.array_equal(a.test[0].y, b.test[0].y)
    assert not np.array_equal(a.train[0].u, c.train[0].u)
    # honest split: the scored test inputs are not a copy of any stretch of the training inputs
    window = a.test[0].u[a.washout : a.washout + 20]
    train = a.train[0].u
    assert not any(np.array_equal(train[i : i + 20], window) for i in range(len(train) - 19))
    assert a.train[0].n_steps == a.washout + 300 and a.test[0].n_steps == a.washout + 200


def test_narma10_follows_its_recurrence_and_targets_the_next_step() -> None:
    data = tasks.create("narma10", n_train=500, n_test=100).generate(3)
    u, y = data.train[0].u[:, 0], data.train[0].y[:, 0]
    assert u.min() >= 0 and u.max() <= 0.5
    # y[t] is the NARMA state after input u[t]: y(t+1) of the textbook recurrence
    for t in range(20, 40):
        memory = 0.3 * y[t - 1] + 0.05 * y[t - 1] * y[t - 10 : t].sum()
        expect = memory + 1.5 * u[t - 9] * u[t] + 0.1
        assert y[t] == pytest.approx(expect, rel=1e-12)
    # with no input y settles where y = 0.3 y + 0.05 y (10 y) + 0.1
    assert narma10(np.zeros(300))[-1] == pytest.approx(0.7 - np.sqrt(0.29), rel=1e-9)


def test_henon_targets_are_the_map_applied_to_the_inputs() -> None:
    data = tasks.create("henon", n_train=400, n_test=100, scale=1.0).generate(0)
    x, nxt = data.train[0].u[:, 0], data.train[0].y[:, 0]
    assert np.allclose(nxt[1:], 1 - 1.4 * x[1:] ** 2 + 0.3 * x[:-1])
    assert np.array_equal(nxt[:-1], x[1:])
    assert np.abs(henon_orbit(2000, 0.0, 0.0)[100:]).max() < 1.3  # stays on the attractor


def test_mackey_glass_integration_converges_and_stays_on_its_attractor() -> None:
    coarse = mackey_glass(60, substeps=10, transient=0)
    fine = mackey_glass(60, substeps=40, transient=0)
    assert np.abs(coarse - fine).max() < 1e-4  # RK4 + delay interpolation: converged at 10
    x = mackey_glass(3000)
    assert x.min() > 0.2 and x.max() < 1.45 and 0.8 < x.mean() < 1.0
    with pytest.raises(ConfigError, match="integer"):
        mackey_glass(10, tau=17.05, substeps=10)


def test_mackey_glass_task_predicts_the_next_value_and_keeps_closed_loop_trials_apart() -> None:
    task = tasks.create("mackey_glass", n_train=200, n_test=100, washout=50, free_run_trials=3)
    data = task.generate(0)
    tr = data.train[0]
    assert np.array_equal(tr.y[:-1], tr.u[1:])
    assert np.abs(tr.u).max() < 1  # task units tanh(x - 1)
    starts = [ep.meta["start"] for ep in data.closed_loop]
    assert starts[0] >= 250 + 150 and np.diff(starts).min() == 50 + 84
    with pytest.raises(ConfigError, match="tau"):
        tasks.create("mackey_glass", tau=17.03)


def test_xor_target_is_the_xor_of_the_bits_delay_steps_back() -> None:
    data = tasks.create("xor", delay=2, n_train=200, n_test=50).generate(0)
    u, y = data.train[0].u, data.train[0].y[:, 0]
    bits = u > 0
    assert set(np.unique(u)) == {-1.0, 1.0}
    assert np.array_equal(y[2:], (bits[:-2, 0] ^ bits[:-2, 1]).astype(float))


def test_memory_targets_are_the_delayed_inputs() -> None:
    data = tasks.create("memory_capacity", n_train=100, n_test=50, max_delay=7).generate(0)
    u, y = data.train[0].u[:, 0], data.train[0].y
    assert y.shape == (data.washout + 100, 7)
    for k in range(1, 8):
        assert np.array_equal(y[k:, k - 1], u[:-k])
