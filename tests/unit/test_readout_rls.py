"""RLSReadout: online least squares that equals ridge, tracks drift, and closes a loop.

With no forgetting, recursive least squares started from ``P = I/alpha`` is
ridge regression on ``[X, 1]`` (bias penalised too), sample for sample. With
forgetting it follows a target that changes. Finally, the FORCE use case: an
ESN whose readout output is fed back as its input learns online to generate
a sine wave by itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from physres.errors import DataError
from physres.readout import RLSReadout, solve_ridge
from physres.sim.esn import ESNParams, make_weights


def test_no_forgetting_equals_ridge_on_augmented_features() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1500, 20))
    y = X @ rng.standard_normal((20, 3)) + 0.5 + 0.1 * rng.standard_normal((1500, 3))
    est = RLSReadout(alpha=0.5).fit(X, y)
    Xa = np.hstack([X, np.ones((1500, 1))])
    W = solve_ridge(Xa.T @ Xa, Xa.T @ y, 0.5)
    np.testing.assert_allclose(est.coef_, W[:20].T, atol=1e-9)
    np.testing.assert_allclose(est.intercept_, W[20], atol=1e-9)


def test_sample_by_sample_equals_one_call_and_errors_are_prior() -> None:
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((200, 5)), rng.standard_normal(200)
    whole = RLSReadout(alpha=2.0).fit(X, y)
    online = RLSReadout(alpha=2.0)
    prior = []
    for t in range(200):
        before = online.predict(X[t : t + 1])[0] if t else 0.0
        online.partial_fit(X[t : t + 1], y[t : t + 1])
        prior.append(before)
        assert online.errors_[0, 0] == pytest.approx(y[t] - before)
    np.testing.assert_allclose(online.coef_, whole.coef_, atol=1e-12)
    assert online.n_updates_ == 200


def test_forgetting_tracks_a_target_that_switches() -> None:
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2000, 4))
    w1, w2 = np.array([1.0, -1, 0, 2]), np.array([-2.0, 0, 1, 0])
    y = np.concatenate([X[:1000] @ w1, X[1000:] @ w2])
    forgetful = RLSReadout(alpha=1.0, forgetting=0.98).fit(X, y)
    stubborn = RLSReadout(alpha=1.0, forgetting=1.0).fit(X, y)
    np.testing.assert_allclose(forgetful.coef_, w2, atol=1e-3)
    assert np.abs(stubborn.coef_ - w2).max() > 0.5


def test_force_learning_closes_the_loop_on_an_esn() -> None:
    """The readout drives the reservoir; after online training it generates the sine alone."""
    p = ESNParams(n_units=200, spectral_radius=1.2, input_scaling=1.0, density=0.1, seed=3)
    W, w_fb, _ = make_weights(p)
    W = W.toarray() if hasattr(W, "toarray") else W
    w_fb = w_fb[:, 0]
    target = np.sin(2 * np.pi * np.arange(1800) / 50)
    x = 0.1 * np.random.default_rng(0).standard_normal(200)  # x = 0, z = 0 is a fixed point
    rls = RLSReadout(alpha=1.0, fit_intercept=False)
    z = 0.0
    for t in range(1500):  # training: the readout's own output is fed back (FORCE)
        x = np.tanh(W @ x + w_fb * z)
        rls.partial_fit(x[None], target[t : t + 1])
        z = float(rls.predict(x[None])[0])
    outputs = []
    for _ in range(300):  # free run, weights frozen
        x = np.tanh(W @ x + w_fb * z)
        z = float(rls.predict(x[None])[0])
        outputs.append(z)
    out = np.array(outputs)
    ref = target[1500:1800]
    nrmse = np.sqrt(np.mean((out - ref) ** 2)) / np.std(ref)
    assert nrmse < 0.05


def test_bad_parameters_and_inputs() -> None:
    X = np.ones((10, 2))
    with pytest.raises(DataError, match=r"forgetting must be in \(0, 1\]"):
        RLSReadout(forgetting=1.5).fit(X, np.ones(10))
    with pytest.raises(DataError, match=r"alpha must be > 0"):
        RLSReadout(alpha=0).fit(X, np.ones(10))
    with pytest.raises(DataError, match=r"washout=10 leaves no rows of 10"):
        RLSReadout(washout=10).fit(X, np.ones(10))
    y = np.ones(10)
    y[4] = np.nan
    with pytest.raises(DataError, match=r"y contains NaN or inf: first at row 4"):
        RLSReadout().fit(np.random.default_rng(0).standard_normal((10, 2)), y)
