"""RidgeCVReadout: choosing alpha by blocked CV without refitting per alpha.

The CV curve computed from fold statistics and one eigendecomposition per
fold must equal the brute-force curve (refit for every alpha and fold, score
the held-out block), folds must be contiguous (no shuffling of time), and the
data must be read once however many alphas are tried.
"""

from __future__ import annotations

import numpy as np
import pytest

from physres.errors import DataError
from physres.readout import RidgeCVReadout, RidgeReadout, SufficientStats


def noisy_linear(n: int = 800, p: int = 25, noise: float = 2.0, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * 0.5 + 1.0
    y = X @ rng.standard_normal((p, 2)) + noise * rng.standard_normal((n, 2))
    return X, y


def brute_force_curve(blocks_X, blocks_y, alphas, fit_intercept=True) -> np.ndarray:
    """Refit for every (alpha, fold) and score the held-out fold: the definition of CV MSE."""
    mse = []
    for a in alphas:
        sse, count = 0.0, 0
        for k in range(len(blocks_X)):
            Xtr = np.concatenate([b for i, b in enumerate(blocks_X) if i != k])
            ytr = np.concatenate([b for i, b in enumerate(blocks_y) if i != k])
            m = RidgeReadout(alpha=a, fit_intercept=fit_intercept).fit(Xtr, ytr)
            sse += ((m.predict(blocks_X[k]) - blocks_y[k]) ** 2).sum()
            count += blocks_y[k].size
        mse.append(sse / count)
    return np.array(mse)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_cv_curve_equals_brute_force_refits_on_contiguous_blocks(fit_intercept: bool) -> None:
    X, y = noisy_linear()
    alphas = np.logspace(-3, 4, 9)
    cv = RidgeCVReadout(alphas, n_folds=4, fit_intercept=fit_intercept).fit(X, y)
    idx = np.array_split(np.arange(len(X)), 4)
    expected = brute_force_curve([X[i] for i in idx], [y[i] for i in idx], alphas, fit_intercept)
    np.testing.assert_allclose(cv.cv_results_["mse"], expected, rtol=1e-10)
    assert cv.alpha_ == alphas[np.argmin(expected)]
    assert cv.cv_results_["mse_per_fold"].shape == (4, 9)
    assert list(cv.cv_results_["fold_sizes"]) == [200, 200, 200, 200]


def test_final_model_is_the_plain_fit_at_the_chosen_alpha() -> None:
    X, y = noisy_linear()
    cv = RidgeCVReadout(np.logspace(-2, 3, 6), n_folds=5).fit(X, y)
    plain = RidgeReadout(alpha=cv.alpha_).fit(X, y)
    np.testing.assert_allclose(cv.predict(X), plain.predict(X), atol=1e-10)


def test_noisy_data_prefers_more_regularisation_than_clean_data() -> None:
    alphas = np.logspace(-4, 4, 17)
    X, y = noisy_linear(n=200, p=60, noise=8.0)
    noisy = RidgeCVReadout(alphas).fit(X, y)
    X, y = noisy_linear(n=2000, p=60, noise=0.01)
    clean = RidgeCVReadout(alphas).fit(X, y)
    assert noisy.alpha_ > clean.alpha_


def test_episodes_are_grouped_whole_into_folds_with_washout() -> None:
    X, y = noisy_linear(n=900)
    episodes = [X[i : i + 150] for i in range(0, 900, 150)]
    targets = [y[i : i + 150] for i in range(0, 900, 150)]
    alphas = np.logspace(-2, 3, 6)
    cv = RidgeCVReadout(alphas, n_folds=3, washout=10).fit(episodes, targets)
    # folds: episodes (0,1), (2,3), (4,5), each minus its 10 washout rows
    bx = [np.concatenate([episodes[j][10:] for j in pair]) for pair in ((0, 1), (2, 3), (4, 5))]
    by = [np.concatenate([targets[j][10:] for j in pair]) for pair in ((0, 1), (2, 3), (4, 5))]
    np.testing.assert_allclose(cv.cv_results_["mse"], brute_force_curve(bx, by, alphas), rtol=1e-10)


def test_data_is_read_once_and_each_fold_decomposed_once(monkeypatch) -> None:
    """Twenty alphas cost one pass over the data plus one eigh per fold."""
    X, y = noisy_linear(n=1000)
    calls = {"update": 0, "eigh": 0}
    real_update, real_eigh = SufficientStats.update, np.linalg.eigh

    def counting_update(self, *a, **k):
        calls["update"] += 1
        return real_update(self, *a, **k)

    def counting_eigh(*a, **k):
        calls["eigh"] += 1
        return real_eigh(*a, **k)

    monkeypatch.setattr(SufficientStats, "update", counting_update)
    monkeypatch.setattr(np.linalg, "eigh", counting_eigh)
    RidgeCVReadout(np.logspace(-8, 3, 20), n_folds=5).fit(X, y)
    assert calls == {"update": 5, "eigh": 5}


def test_fold_statistics_subtract_to_the_training_statistics() -> None:
    X, y = noisy_linear(n=300)
    total = SufficientStats(25, 2)
    total.update(X[:100], y[:100])
    part = total.empty_like()
    part.update(X[100:], y[100:])
    both = total + part
    fresh = total.empty_like()
    fresh.update(X, y)
    np.testing.assert_allclose(both.xx, fresh.xx, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose((both - part).xy, total.xy, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alphas": []}, "alphas must be a non-empty 1-D grid"),
        ({"alphas": [1.0, -1.0]}, "alphas must be a non-empty 1-D grid"),
        ({"n_folds": 1}, "n_folds must be an int >= 2"),
    ],
)
def test_bad_grid_or_folds_are_refused(kwargs: dict, message: str) -> None:
    X, y = noisy_linear(n=100)
    with pytest.raises(DataError, match=message):
        RidgeCVReadout(**kwargs).fit(X, y)


def test_too_few_rows_for_the_folds_says_so() -> None:
    X, y = noisy_linear(n=100)
    with pytest.raises(DataError, match=r"n_samples=3 after washout cannot make 5 contiguous"):
        RidgeCVReadout(washout=97).fit(X, y)
