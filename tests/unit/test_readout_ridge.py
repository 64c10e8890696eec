"""RidgeReadout: the same answers as scikit-learn's Ridge, from streamed statistics.

The story: a reservoir (here the software ESN) produces states; the readout
is a ridge regression from states to a target. We check that it agrees with
sklearn, that streaming it chunk by chunk or episode by episode changes
nothing, that it stays exact where naive centring loses digits, and that bad
input is refused with a message saying what was wrong and where.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.linalg as sla
from sklearn.linear_model import Ridge

from physres.errors import DataError
from physres.readout import RidgeReadout
from physres.sim.esn import ESNParams, make_weights, run_chunk


def esn_states(n_steps: int = 3000, n_units: int = 200, seed: int = 0) -> tuple:
    """States of a biased tanh ESN driven by uniform noise, and a 3-step-delay target."""
    states, target = _esn_states(n_steps, n_units, seed)
    return states.copy(), target.copy()  # tests may write NaNs into their copy


@functools.lru_cache(maxsize=8)
def _esn_states(n_steps: int, n_units: int, seed: int) -> tuple:
    p = ESNParams(n_units=n_units, bias_scaling=1.0, input_scaling=0.5, seed=seed)
    W, win, bias = make_weights(p)
    u = np.random.default_rng(seed).uniform(0, 0.5, (n_steps, 1))
    states = run_chunk(np.zeros(n_units), u @ win.T + bias, W, 1.0)
    target = np.column_stack([np.roll(u[:, 0], 3), u[:, 0] ** 2])
    return states, target


@pytest.mark.parametrize("alpha", [1e-6, 1e-2, 1.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_predictions_match_sklearn_ridge_on_esn_states(alpha: float, fit_intercept: bool) -> None:
    X, y = esn_states()
    ours = RidgeReadout(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
    ref = Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=0, atol=1e-8)
    assert ours.coef_.shape == ref.coef_.shape == (2, 200)


def test_single_target_shapes_follow_sklearn() -> None:
    X, y = esn_states(500, 30)
    ours, ref = RidgeReadout().fit(X, y[:, 0]), Ridge().fit(X, y[:, 0])
    assert ours.coef_.shape == ref.coef_.shape == (30,)
    assert isinstance(ours.intercept_, float)
    assert ours.predict(X).shape == (500,)
    assert ours.score(X, y[:, 0]) == pytest.approx(ref.score(X, y[:, 0]), abs=1e-10)


def test_partial_fit_in_chunks_equals_one_fit() -> None:
    X, y = esn_states()
    whole = RidgeReadout(alpha=1e-4).fit(X, y)
    streamed = RidgeReadout(alpha=1e-4)
    for rows in np.array_split(np.arange(len(X)), 7):
        streamed.partial_fit(X[rows], y[rows])
    assert streamed.stats_.n == len(X)
    np.testing.assert_allclose(streamed.predict(X), whole.predict(X), atol=1e-9)


def test_washout_is_dropped_per_episode_and_across_partial_fit_chunks() -> None:
    X, y = esn_states(1200, 40)
    episodes = [X[:400], X[400:900], X[900:]]
    targets = [y[:400], y[400:900], y[900:]]
    kept = np.concatenate([np.arange(50, 400), np.arange(450, 900), np.arange(950, 1200)])
    ref = Ridge(alpha=0.1).fit(X[kept], y[kept])
    ours = RidgeReadout(alpha=0.1, washout=50).fit(episodes, targets)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-9)
    # predict keeps one row per input row, per episode
    preds = ours.predict(episodes)
    assert [len(p) for p in preds] == [400, 500, 300]
    # streaming the first episode in chunks of 30 rows drops the same 50 rows
    streamed = RidgeReadout(alpha=0.1, washout=50)
    for rows in np.array_split(np.arange(400), 13):  # about 30 rows a chunk
        streamed.partial_fit(X[rows], y[rows])
    streamed.partial_fit(X[400:900], y[400:900], episode_start=True)
    streamed.partial_fit([X[900:]], [y[900:]])
    np.testing.assert_allclose(streamed.coef_, ref.coef_, atol=1e-9)


def test_score_ignores_washout_rows() -> None:
    X, y = esn_states(800, 20)
    est = RidgeReadout(alpha=1e-3, washout=100).fit(X, y[:, 0])
    pred = est.predict(X)
    resid = y[100:, 0] - pred[100:]
    r2 = 1 - resid @ resid / np.sum((y[100:, 0] - y[100:, 0].mean()) ** 2)
    assert est.score(X, y[:, 0]) == pytest.approx(r2)


@pytest.mark.parametrize(("n_offset", "path"), [(1, "patched"), (20, "explicit")])
def test_large_offsets_and_constant_columns_stay_exact(n_offset: int, path: str) -> None:
    """Features with mean 1e6 and spread 1 (κ = 1e12) lose nothing.

    One such column among many is recomputed from shifted values (patched);
    when most columns are like that, whole chunks take the shifted path.
    """
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((5000, 20))
    y = Z @ np.linspace(-1, 1, 20) + 0.01 * rng.standard_normal(5000)
    X = np.column_stack([Z, np.full(5000, 7.0)])
    X[:, :n_offset] += 1e6
    est = RidgeReadout(alpha=1e-3)
    for rows in np.array_split(np.arange(5000), 5):
        est.partial_fit(X[rows], y[rows])
    if path == "patched":
        assert est.stats_.n_patched_columns > 0 and est.stats_.n_explicit_chunks == 0
    else:
        assert est.stats_.n_explicit_chunks == 5
    # the exact answer: explicit centring in float64 (what sklearn does)
    ref = Ridge(alpha=1e-3).fit(X, y)
    np.testing.assert_allclose(est.coef_[:20], ref.coef_[:20], rtol=1e-8)
    assert abs(est.coef_[20]) < 1e-12
    np.testing.assert_allclose(est.predict(X), ref.predict(X), atol=1e-7)


def test_memory_stays_quadratic_in_features() -> None:
    """The statistics are p×p however many rows stream through."""
    est = RidgeReadout()
    rng = np.random.default_rng(0)
    for _ in range(20):
        est.partial_fit(rng.standard_normal((1000, 10)), rng.standard_normal(1000))
    assert est.stats_.xx.shape == (10, 10) and est.stats_.n == 20_000


# --- bad input -------------------------------------------------------------------


def test_nan_in_states_names_first_bad_row_and_column() -> None:
    X, y = esn_states(300, 10)
    X[123, 7] = np.nan
    X[200, 2] = np.inf
    with pytest.raises(DataError, match=r"X contains NaN or inf: first at row 123, column 7"):
        RidgeReadout().fit(X, y)


def test_inf_in_targets_of_an_episode_is_located_in_episode_rows() -> None:
    X, y = esn_states(300, 10)
    y2 = y.copy()
    y2[250, 1] = -np.inf
    with pytest.raises(DataError, match=r"episode 1: y contains NaN or inf: first at row 100, col"):
        RidgeReadout(washout=20).fit([X[:150], X[150:]], [y2[:150], y2[150:]])


def test_nan_policy_omit_drops_bad_rows() -> None:
    X, y = esn_states(400, 10)
    Xn, yn = X.copy(), y.copy()
    Xn[10, 3] = np.nan
    yn[20, 0] = np.inf
    keep = np.setdiff1d(np.arange(400), [10, 20])
    est = RidgeReadout(alpha=0.01, nan_policy="omit").fit(Xn, yn)
    ref = Ridge(alpha=0.01).fit(X[keep], y[keep])
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-9)


def test_nan_at_predict_time_is_refused() -> None:
    X, y = esn_states(300, 10)
    est = RidgeReadout().fit(X, y)
    X[5, 1] = np.nan
    with pytest.raises(DataError, match=r"predict: X contains NaN or inf: first at row 5, col"):
        est.predict(X)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda X, y: RidgeReadout().fit(X, y[:-1]),
            r"X has 300 rows but y has 299; expected equal lengths",
        ),
        (lambda X, y: RidgeReadout().fit(X[:0], y[:0]), r"0 sample"),
        (lambda X, y: RidgeReadout(washout=300).fit(X, y), r"washout=300 leaves no rows of 300"),
        (
            lambda X, y: RidgeReadout(washout=120).fit([X[:100], X[100:]], [y[:100], y[100:]]),
            r"washout=120 leaves no rows in episode 0 of length 100; expected washout < 100",
        ),
        (
            lambda X, y: RidgeReadout().fit([X[:100], X[100:]], [y[:100]]),
            r"2 episodes in X but 1 entries in y",
        ),
        (
            lambda X, y: RidgeReadout().fit([X[:100], X[100:]], [y[:100], y[100:-1]]),
            r"episode 1: X has 200 rows but y has 199",
        ),
        (lambda X, y: RidgeReadout(alpha=-1).fit(X, y), r"alpha must be a finite number >= 0"),
        (lambda X, y: RidgeReadout(washout=-2).fit(X, y), r"washout must be >= 0"),
        (lambda X, y: RidgeReadout(nan_policy="skip").fit(X, y), r"nan_policy must be"),
    ],
)
def test_bad_input_says_what_was_expected(call, message: str) -> None:
    X, y = esn_states(300, 10)
    with pytest.raises(DataError, match=message):
        call(X, y)


def test_wrong_feature_count_at_predict_time() -> None:
    X, y = esn_states(300, 10)
    est = RidgeReadout().fit(X, y)
    with pytest.raises(DataError, match=r"X has 9 features, but RidgeReadout is expecting 10"):
        est.predict(X[:, :9])
    with pytest.raises(DataError, match=r"X has 9 features, but RidgeReadout is expecting 10"):
        est.predict([X[:, :9]])


def test_singular_system_falls_back_to_least_squares_with_a_warning() -> None:
    """alpha=0 with a feature that never moves: Cholesky fails, lstsq answers."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.standard_normal((100, 3)), np.zeros(100)])
    y = X[:, 0] - 2 * X[:, 2]
    with pytest.warns(sla.LinAlgWarning, match="singular or not positive definite"):
        est = RidgeReadout(alpha=0.0, fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(est.predict(X), y, atol=1e-10)
