"""RidgeClassifierReadout: per-timestep labels, or one label per episode with pooling.

Per-timestep it must decide like scikit-learn's RidgeClassifier; per episode
it must classify sequences whose class shows only over time (a drift whose
sign is the class), with mean, last and max pooling over the decision window.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier

from physres.errors import DataError
from physres.readout import RidgeClassifierReadout


def labelled_rows(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.standard_normal((n, 8)) + np.eye(3, 8)[y] * 1.5
    return X, y


def drifting_episodes(n_episodes: int = 60, length: int = 50, seed: int = 1) -> tuple:
    """Class c drifts feature c upward; early rows are pure noise (the transient)."""
    rng = np.random.default_rng(seed)
    labels = np.array(["zero", "one", "two"])[rng.integers(0, 3, n_episodes)]
    episodes = []
    ramp = np.linspace(0, 2, length)[:, None]
    for lab in labels:
        c = {"zero": 0, "one": 1, "two": 2}[lab]
        e = rng.standard_normal((length, 4)) * 0.8
        e[:, c] += ramp[:, 0]
        episodes.append(e)
    return episodes, labels


def test_per_timestep_decisions_match_sklearn_ridge_classifier() -> None:
    X, y = labelled_rows()
    ours = RidgeClassifierReadout(alpha=0.5).fit(X, y)
    ref = RidgeClassifier(alpha=0.5).fit(X, y)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    assert list(ours.classes_) == [0, 1, 2]
    assert ours.decision_function(X).shape == (600, 3)
    assert ours.score(X, y) == pytest.approx(ref.score(X, y))


def test_binary_margin_is_positive_for_the_second_class() -> None:
    X, y = labelled_rows()
    keep = y < 2
    est = RidgeClassifierReadout().fit(X[keep], np.where(y[keep] == 1, "b", "a"))
    margin = est.decision_function(X[keep])
    assert margin.shape == (keep.sum(),)
    np.testing.assert_array_equal(est.predict(X[keep]), np.where(margin > 0, "b", "a"))


@pytest.mark.parametrize("pooling", ["mean", "last", "max"])
def test_per_sequence_pooling_classifies_held_out_episodes(pooling: str) -> None:
    episodes, labels = drifting_episodes()
    est = RidgeClassifierReadout(alpha=1.0, pooling=pooling, window=20, washout=5)
    est.fit(episodes[:40], labels[:40])
    assert est.predict(episodes[40:]).shape == (20,)
    assert est.score(episodes[40:], labels[40:]) >= 0.85
    assert est.decision_function(episodes[40:]).shape == (20, 3)


def test_pooled_scores_are_computed_over_the_window() -> None:
    episodes, labels = drifting_episodes(n_episodes=12)
    mean = RidgeClassifierReadout(pooling="mean", window=10).fit(episodes, labels)
    rows = mean.coef_ @ episodes[0][-10:].T + mean.intercept_[:, None]
    np.testing.assert_allclose(mean.decision_function(episodes[:1])[0], rows.mean(axis=1))
    mx = RidgeClassifierReadout(pooling="max", window=10).fit(episodes, labels)
    rows = mx.coef_ @ episodes[0][-10:].T + mx.intercept_[:, None]
    np.testing.assert_allclose(mx.decision_function(episodes[:1])[0], rows.max(axis=1))


def test_per_timestep_episodes_skip_washout_in_training_and_scoring() -> None:
    X, y = labelled_rows(600)
    eps, labs = [X[:300], X[300:]], [y[:300], y[300:]]
    est = RidgeClassifierReadout(washout=20).fit(eps, labs)
    ref = RidgeClassifierReadout().fit(
        np.concatenate([X[20:300], X[320:]]), np.concatenate([y[20:300], y[320:]])
    )
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-10)
    pred = est.predict(eps)
    keep = np.r_[20:300, 320:600]
    assert est.score(eps, labs) == pytest.approx(np.mean(pred[keep] == y[keep]))


def test_pooling_needs_episodes_and_window_needs_pooling() -> None:
    X, y = labelled_rows()
    with pytest.raises(DataError, match="per-sequence labels need X as a list"):
        RidgeClassifierReadout(pooling="mean").fit(X, y)
    with pytest.raises(DataError, match="window applies to per-sequence pooling"):
        RidgeClassifierReadout(window=5).fit(X, y)
    with pytest.raises(DataError, match="pooling must be one of"):
        RidgeClassifierReadout(pooling="median").fit([X], [1])


def test_nan_label_is_located() -> None:
    X, _ = labelled_rows(50)
    y = np.arange(50.0) % 2
    y[17] = np.nan
    with pytest.raises(DataError, match="y contains NaN or inf: first at row 17"):
        RidgeClassifierReadout().fit(X, y)


# ----------------------------------------------------- many short sequences
def _short_sequences(n: int = 270, rows: int = 10, p: int = 512) -> tuple[list, np.ndarray]:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, n)
    eps = [rng.random((rows, p)) + 0.05 * lab for lab in labels]
    return eps, labels


def test_many_short_sequences_are_accumulated_in_one_stacked_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """270 trials went in as 270 updates (each O(p²)): 10-20 s instead of 0.3 s."""
    import time

    from physres.readout.stats import SufficientStats

    eps, labels = _short_sequences()
    stacked = RidgeClassifierReadout(0.01).fit(np.concatenate(eps), np.repeat(labels, 10))
    calls: list[int] = []
    real_update = SufficientStats.update

    def counting(self: SufficientStats, X: np.ndarray, *a: object, **k: object) -> None:
        calls.append(len(X))
        real_update(self, X, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(SufficientStats, "update", counting)
    per_seq = RidgeClassifierReadout(0.01, pooling="mean").fit(eps, labels)
    assert calls == [2700]
    np.testing.assert_allclose(per_seq.coef_, stacked.coef_, rtol=1e-9, atol=1e-12)
    monkeypatch.setattr(SufficientStats, "update", real_update)
    times = {"episodes": np.inf, "stacked": np.inf}
    X, y = np.concatenate(eps), np.repeat(labels, 10)
    for _ in range(2):
        t = time.perf_counter()
        RidgeClassifierReadout(0.01, pooling="mean").fit(eps, labels)
        times["episodes"] = min(times["episodes"], time.perf_counter() - t)
        t = time.perf_counter()
        RidgeClassifierReadout(0.01).fit(X, y)
        times["stacked"] = min(times["stacked"], time.perf_counter() - t)
    assert times["episodes"] < 3 * times["stacked"] + 0.05, times


def test_a_bad_value_in_a_stacked_sequence_is_still_named_by_episode_and_row() -> None:
    eps, labels = _short_sequences(n=40, p=16)
    eps[23] = eps[23].copy()
    eps[23][6, 4] = np.inf
    with pytest.raises(
        DataError, match=r"episode 23: X contains NaN or inf: first at row 6, column 4"
    ):
        RidgeClassifierReadout(0.01, pooling="mean", washout=2).fit(eps, labels)
    omitted = RidgeClassifierReadout(0.01, pooling="mean", nan_policy="omit").fit(eps, labels)
    assert omitted.stats_.n == 40 * 10 - 1


def test_one_label_per_episode_without_pooling_says_to_pool() -> None:
    rng = np.random.default_rng(0)
    episodes = [rng.normal(size=(10, 5)) for _ in range(6)]
    with pytest.raises(DataError, match=r"episode 0: y is one label .* set pooling"):
        RidgeClassifierReadout().fit(episodes, [i % 3 for i in range(6)])
    pooled = RidgeClassifierReadout(pooling="mean").fit(episodes, [i % 3 for i in range(6)])
    assert list(pooled.classes_) == [0, 1, 2]


def test_continuous_targets_are_a_data_error_that_names_the_regression_readout() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match=r"targets are not class labels.*readout kind ridge"):
        RidgeClassifierReadout().fit(rng.normal(size=(40, 5)), rng.normal(size=40))
