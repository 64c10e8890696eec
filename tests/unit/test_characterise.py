"""Characterisation metrics on sim.esn states: known behaviour, the N bound, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from physres import registry
from physres.characterise import (
    Drive,
    characterise,
    effective_rank,
    ipc,
    ipc_basis,
    nlt,
    nonlinear_memory,
    sine_drive,
)
from physres.errors import DataError
from physres.experiments.drive import collect_states
from physres.tasks.base import Episode
from physres.tasks.registry import create


def esn_states(
    u: np.ndarray, *, activation: str, scaling: float, n: int = 20, seed: int = 0
) -> np.ndarray:
    """States of a sim.esn driven by ``u`` through the one drive loop."""
    params = dict(
        n_units=n,
        topology="orthogonal",
        activation=activation,
        spectral_radius=0.9,
        input_scaling=scaling,
        seed=seed,
    )
    dev = registry.create("sim.esn", params=registry.bind_task("sim.esn", params, 1))
    with dev:
        (X,) = collect_states(
            dev, [Episode(u[:, None], u[:, None], {})], create("memory_capacity"), seed=seed
        )
    return X


@pytest.fixture(scope="module")
def drive() -> np.ndarray:
    return np.random.default_rng(3).uniform(-1, 1, 4000)


@pytest.fixture(scope="module")
def linear(drive: np.ndarray) -> np.ndarray:
    return esn_states(drive, activation="linear", scaling=0.1)


@pytest.fixture(scope="module")
def tanh(drive: np.ndarray) -> np.ndarray:
    return esn_states(drive, activation="tanh", scaling=1.0)


def test_basis_counts_every_product_of_distinct_delays() -> None:
    keys = ipc_basis(3, 3)  # delays 0..3
    # degree 1: 4; degree 2: 4 squares + 6 pairs; degree 3: 4 cubes + 12 (2,1)/(1,2) + 4 triples
    assert len(keys) == 4 + 10 + 20
    assert len(set(keys)) == len(keys)
    assert all(sum(d for _, d in k) <= 3 for k in keys)


def test_linear_esn_total_capacity_is_n_and_all_linear(drive, linear) -> None:
    r = ipc(drive, linear, max_delay={1: 40, 2: 10, 3: 6}, washout=100)
    assert r.n_features == 20
    assert 19.0 < r.total <= 20.0
    assert r.by_degree[1] == pytest.approx(r.total, abs=0.2)
    assert r.memory_curve[0] > 0.95  # u(t) itself is in the state


def test_tanh_esn_shows_degree_three_not_degree_two(drive, tanh) -> None:
    r = ipc(drive, tanh, max_delay={1: 40, 2: 10, 3: 6}, washout=100)
    assert r.by_degree[3] > 2.0  # tanh is odd: cubic terms, no even ones without a bias
    assert r.by_degree[2] < 0.2
    assert r.total <= 20.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_total_never_exceeds_state_dimensions_even_on_short_noisy_data(seed: int) -> None:
    """Random features, few rows, many targets: the in-sample bias would push past N."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1, 1, 300)
    X = np.column_stack([u, np.roll(u, 1), rng.standard_normal((300, 8))])
    r = ipc(u, X, max_delay=6, max_degree=3, p_value=0.5)  # a lax threshold keeps noise in
    assert r.total <= X.shape[1] + 1e-9
    assert r.total >= 1.9  # u(t) and u(t-1) are recalled exactly


def test_ranks_separate_distinct_from_repeated_inputs() -> None:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 12))
    assert effective_rank(A) == 12
    low = np.outer(rng.standard_normal(40), rng.standard_normal(12))
    assert effective_rank(low + 1e-6 * A) == 1


def test_nonlinear_memory_map_fades_with_delay_and_nonlinearity(drive, tanh) -> None:
    m = nonlinear_memory(drive, tanh, washout=100)
    c = m.capacity
    assert c.shape == (9, 5)
    assert c[0, 0] > 0.9  # sin(0.1 u(t)) ≈ 0.1 u(t)
    assert c[0, -1] < c[0, 0] and c[-1, 0] <= c[0, 0] + 1e-9


def test_nlt_on_a_sine_drive_odd_reservoir_cannot_double_the_frequency() -> None:
    s = sine_drive(2000)
    X = esn_states(s, activation="tanh", scaling=1.0)
    r = nlt(s, X, washout=100)
    assert r["phase_shift"] < 0.01
    assert r["square_wave"] < 0.2
    assert r["double_frequency"] > 0.9  # tanh without bias has only odd harmonics


def test_nan_in_states_is_one_line_naming_source_row_and_column(drive, linear) -> None:
    X = linear.copy()
    X[1234, 5] = np.nan
    with pytest.raises(DataError, match=r"^rec\.mcap: NaN or inf in states at row 1234, column 5 "):
        characterise(Drive(source="rec.mcap", u=drive, X=X))


def test_too_few_samples_for_the_delays_fails_before_any_fit(drive, linear) -> None:
    with pytest.raises(DataError, match=r"rec\.mcap: 120 samples minus washout 100 and max delay"):
        characterise(Drive(source="rec.mcap", u=drive[:120], X=linear[:120]))


def test_misaligned_input_and_states_are_refused(drive, linear) -> None:
    with pytest.raises(DataError, match="input has 4000 samples but states has 3999"):
        ipc(drive, linear[:-1], source="x")


def test_a_binary_input_drops_the_targets_it_cannot_tell_apart() -> None:
    """For u = ±1, P̃₂(u) is constant and P̃₃(u) ∝ u: those targets count 0, not NaN."""
    rng = np.random.default_rng(0)
    u = rng.choice([-1.0, 1.0], 2000)
    X = np.column_stack([u, np.roll(u, 1), u * np.roll(u, 1), rng.standard_normal(2000)])
    r = ipc(u, X, max_delay=3, max_degree=3)
    assert np.isfinite(r.capacities).all()
    assert r.total == pytest.approx(3.0, abs=0.02)  # u(t), u(t−1), u(t)·u(t−1)
    assert r.total <= 4
