"""Ridge with alpha chosen by blocked cross-validation, without a refit per alpha.

Time series must not be shuffled: folds are contiguous blocks of one series,
or groups of whole episodes. Each fold's statistics are accumulated once
(one pass over the data, the same ``syrk`` work as a single fit); the
training statistics of fold k are ``total − fold_k`` (subtraction, no second
pass). Each training Gram is eigendecomposed **once**, ``G = V Λ Vᵀ``, after
which the weights for every alpha come from one product,
``w(α) = V (Vᵀb / (λ + α))``, and the held-out squared error of each comes
from the fold's own statistics, ``Σ(y − ŷ)² = yy − 2 wᵀ Gxy + wᵀ Gxx w`` —
no pass over the data per alpha, no refit, ``O(p² · n_alphas · q)`` extra.
The number of alphas therefore barely changes the cost (the bench measures
20 alphas against a single fit). "One eigendecomposition" is per fold: the
training Gram differs between folds, so K folds cost K ``eigh`` of p × p.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from physres.errors import DataError
from physres.readout.ridge import _RidgeRegressor, solve_ridge
from physres.readout.stats import SufficientStats

__all__ = ["RidgeCVReadout", "default_alphas", "fold_curve"]


def default_alphas() -> np.ndarray:
    """20 log-spaced penalties from 1e-8 to 1e3 (reservoirs often want tiny ones)."""
    return np.logspace(-8, 3, 20)


def fold_curve(train: SufficientStats, held_out: SufficientStats, alphas: np.ndarray) -> np.ndarray:
    """Held-out sum of squared errors, shape (n_alphas, n_targets), from statistics only.

    One symmetric eigendecomposition of the training Gram serves all alphas;
    the held-out fold is scored about the training means (the model's intercept).
    """
    G, b, _, mx, my = train.centred()
    lam, V = np.linalg.eigh(G)  # NumPy's LAPACK: same BLAS pool as the Gram (see solve_ridge)
    lam = np.clip(lam, 0.0, None)  # rounding can push tiny eigenvalues below zero
    c = V.T @ b  # (p, q)
    Guu, Guv, vv, _, _ = held_out.centred(about=(mx, my))
    A, (p, q) = alphas.size, c.shape
    # weights for every alpha at once, (p, A·q): column a·q + j is target j at alpha a
    C = c[None, :, :] / (lam[None, :, None] + alphas[:, None, None])
    Wall = V @ C.transpose(1, 0, 2).reshape(p, A * q)
    quad = np.einsum("ij,ij->j", Wall, Guu @ Wall)
    cross = np.einsum("ij,ij->j", Wall, np.tile(Guv, (1, A)))
    return vv[None, :] - 2.0 * cross.reshape(A, q) + quad.reshape(A, q)


class RidgeCVReadout(_RidgeRegressor):
    """A :class:`~physres.readout.RidgeReadout` whose ``alpha`` is chosen by blocked K-fold CV.

    Parameters
    ----------
    alphas : grid of penalties (default :func:`default_alphas`, 20 values).
    n_folds : contiguous folds; with at least ``n_folds`` episodes, whole
        episodes are grouped in order, otherwise each episode (or the single
        series) is cut into ``n_folds`` contiguous blocks.
    fit_intercept, washout, nan_policy : as :class:`RidgeReadout`.

    Learned: ``alpha_``, ``cv_results_`` (``alphas``, ``mse`` (n_alphas,),
    ``mse_per_fold`` (n_folds, n_alphas), ``fold_sizes``), ``best_mse_``, and
    everything :class:`RidgeReadout` learns, refitted on all rows at ``alpha_``.

    There is no ``partial_fit``: the folds need to know the whole recording.
    To choose alpha while streaming, keep one :class:`SufficientStats` per
    fold (``empty_like`` shares the shift) and call :func:`fold_curve` on
    ``total − fold`` and ``fold``.
    """

    def __init__(
        self,
        alphas: Any = None,
        *,
        n_folds: int = 5,
        fit_intercept: bool = True,
        washout: int = 0,
        nan_policy: str = "raise",
    ) -> None:
        self.alphas = alphas
        self.n_folds = n_folds
        self.fit_intercept = fit_intercept
        self.washout = washout
        self.nan_policy = nan_policy

    @property
    def _gram_copies(self) -> int:  # type: ignore[override]
        """One p × p statistic per fold plus the total, a difference and the solve's."""
        k = self.n_folds
        return (int(k) if isinstance(k, (int, np.integer)) and k > 0 else 5) + 4

    def _grid(self) -> np.ndarray:
        a = default_alphas() if self.alphas is None else np.asarray(self.alphas, dtype=np.float64)
        if a.ndim != 1 or a.size == 0 or not np.isfinite(a).all() or (a < 0).any():
            raise DataError(
                f"{self._owner()}: alphas must be a non-empty 1-D grid of finite numbers >= 0, "
                f"got {self.alphas!r}"
            )
        return a

    def _fold_blocks(self, blocks: list) -> list[list]:
        K = self.n_folds
        if not isinstance(K, (int, np.integer)) or isinstance(K, bool) or K < 2:
            raise DataError(f"{self._owner()}: n_folds must be an int >= 2, got {K!r}")
        if len(blocks) >= K:
            return [[blocks[i] for i in idx] for idx in np.array_split(np.arange(len(blocks)), K)]
        folds: list[list] = [[] for _ in range(K)]
        for Xb, Yb, row0, where in blocks:
            if len(Xb) < K:
                raise DataError(
                    f"{self._owner()}: {where}n_samples={len(Xb)} after washout cannot make "
                    f"{K} contiguous folds; expected at least {K} rows"
                )
            for k, idx in enumerate(np.array_split(np.arange(len(Xb)), K)):
                sl = slice(idx[0], idx[-1] + 1)
                folds[k].append((Xb[sl], Yb[sl], row0 + idx[0], where))
        return folds

    def fit(self, X: Any, y: Any) -> RidgeCVReadout:
        """Accumulate per-fold statistics once, score the grid, refit at the best alpha."""
        alphas = self._grid()
        for attr in ("stats_", "coef_", "intercept_", "alpha_"):
            self.__dict__.pop(attr, None)
        self.n_seen_ = 0
        blocks = self._targets(self._blocks(X, y, reset=True), reset=True)
        fold_stats: list[SufficientStats] = []
        for fold in self._fold_blocks(blocks):
            self.__dict__.pop("stats_", None)
            if fold_stats:
                self.stats_ = fold_stats[0].empty_like()
            self._accumulate_blocks(fold)
            fold_stats.append(self.stats_)
        total = fold_stats[0]
        for st in fold_stats[1:]:
            total = total + st
        sse = np.zeros((len(fold_stats), alphas.size))
        for k, st in enumerate(fold_stats):
            if st.n == 0 or total.n - st.n == 0:
                raise DataError(f"{self._owner()}: fold {k} is empty after washout/omission")
            sse[k] = fold_curve(total - st, st, alphas).sum(axis=1)
        sizes = np.array([st.n for st in fold_stats])
        q = total.n_targets
        mse = sse.sum(axis=0) / (total.n * q)
        best = int(np.argmin(mse))
        self.alpha_ = float(alphas[best])
        self.best_mse_ = float(mse[best])
        self.cv_results_ = {
            "alphas": alphas,
            "mse": mse,
            "mse_per_fold": sse / (sizes[:, None] * q),
            "fold_sizes": sizes,
        }
        self.stats_ = total
        G, b, _, mx, my = total.centred()
        self._set_solution(solve_ridge(G, b, self.alpha_), mx, my)
        return self
