"""Ridge readout: the scikit-learn estimator on top of :class:`SufficientStats`.

``RidgeReadout`` gives the same predictions as ``sklearn.linear_model.Ridge``
for the same ``alpha`` and ``fit_intercept`` (intercept unpenalised, features
and targets centred), but never builds a centred copy of ``X``: it
accumulates float64 statistics chunk by chunk (``partial_fit``) and solves
``(XᵀX_c + αI) w = Xᵀy_c``. A fit is one BLAS ``syrk`` over the data plus
an ``O(p³)`` solve.

Data come as one long series (2-D array, rows = time) or a list of episodes
(list of 2-D arrays); ``washout`` rows are dropped from the start of each
episode, in ``fit``, ``partial_fit`` and ``score`` (``predict`` returns one
row per input row: the caller decides what to discard).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.linalg as sla
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from physres.errors import DataError
from physres.readout.stats import SufficientStats, check_memory
from physres.readout.validation import (
    check_nan_policy,
    check_washout,
    finite_rows,
    is_episode_list,
    raise_nonfinite,
    split_lengths,
)

__all__ = ["RidgeReadout", "solve_ridge"]

#: rows per stacked statistics update of short episodes (one O(p²) correction per update)
_STACK_ROWS = 8192
#: ... and at most this many bytes of stacked copy
_STACK_BYTES = 64 * 2**20


def solve_ridge(G: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """``(G + αI)⁻¹ b``; least squares (with a warning) if the system is singular.

    NumPy's LAPACK, not SciPy's: the two wheels bundle separate OpenBLAS
    thread pools, and calling SciPy's right after NumPy's ``X.T @ X`` left
    the pools fighting over the cores (a 200 × 200 Cholesky measured 0.4 ms
    alone and a median 280 ms after a NumPy matmul, on 2 cores). An LU solve
    costs ``2p³/3`` flops, a few percent of the ``n p²`` Gram for n ≫ p.
    ``G`` is left untouched (the statistics are reused for other alphas).
    """
    A = G.copy()
    A.flat[:: A.shape[0] + 1] += alpha
    try:
        return np.linalg.solve(A, b)
    except np.linalg.LinAlgError:
        warnings.warn(
            f"XᵀX + {alpha}·I is singular or not positive definite; using the "
            "least-squares solution (raise alpha to regularise)",
            sla.LinAlgWarning,
            stacklevel=3,
        )
        return np.linalg.lstsq(A, b, rcond=None)[0]


def _check_alpha(alpha: object, owner: str) -> float:
    try:
        a = float(alpha)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise DataError(f"{owner}: alpha must be a real number >= 0, got {alpha!r}") from e
    if not np.isfinite(a) or a < 0:
        raise DataError(f"{owner}: alpha must be a finite number >= 0, got {alpha!r}")
    return a


class _EpisodeInput:
    """Mixin: turn (X, y) in either form into washout-free float64 row blocks.

    Subclasses provide ``_prepare_y(y_list, reset) -> list[(n_i, q) float64]``
    (regression targets, or one-hot labels for the classifier).
    """

    washout: int
    nan_policy: str
    n_seen_: int

    def _owner(self) -> str:
        return type(self).__name__

    def _check_X_episodes(self, X: list[np.ndarray], reset: bool) -> list[np.ndarray]:
        owner = self._owner()
        out = []
        for i, Xe in enumerate(X):
            if not (Xe.dtype == np.float64 and Xe.ndim == 2 and Xe.size):  # else: as is (~50 µs
                try:  # of sklearn checks per episode adds up over hundreds of short trials)
                    Xe = check_array(Xe, dtype=np.float64, ensure_all_finite=False, order=None)
                except ValueError as e:
                    raise DataError(f"{owner}: episode {i}: {e}") from e
            out.append(Xe)
        widths = {x.shape[1] for x in out}
        if len(widths) != 1:
            raise DataError(
                f"{owner}: episodes have different feature counts {sorted(widths)}; expected one"
            )
        p = out[0].shape[1]
        if reset:
            self.n_features_in_ = p
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif p != self.n_features_in_:
            raise DataError(
                f"X has {p} features, but {owner} is expecting {self.n_features_in_} "
                "features as input"
            )
        return out

    def _blocks(
        self, X: Any, y: Any, *, reset: bool, continuing: bool = False, sequence_y: bool = False
    ) -> list[tuple[np.ndarray, Any, int, str]]:
        """``[(X_rows, y_rows, row0, where)]`` with the washout dropped.

        ``continuing``: a 2-D X continues the episode seen by earlier
        ``partial_fit`` calls, so only the washout rows not yet seen are dropped.
        ``sequence_y``: y holds one label per episode (kept as is).
        """
        owner = self._owner()
        washout = check_washout(self.washout, owner)
        check_nan_policy(self.nan_policy, owner)
        if y is None:
            raise DataError(f"{owner} requires y to be passed, but the target y is None")
        if is_episode_list(X):
            Xs = self._check_X_episodes(list(X), reset)
            ys = list(y) if not sequence_y else list(np.asarray(y))
            if len(ys) != len(Xs):
                raise DataError(
                    f"{owner}: got {len(Xs)} episodes in X but {len(ys)} entries in y; "
                    "expected one target array (or label) per episode"
                )
            split_lengths([len(x) for x in Xs], washout, owner)
            blocks = []
            for i, (Xe, ye) in enumerate(zip(Xs, ys)):
                if not sequence_y:
                    ye = np.asarray(ye)
                    if ye.ndim == 0:
                        raise DataError(
                            f"{owner}: episode {i}: y is one label ({ye.item()!r}), X has "
                            f"{len(Xe)} rows; expected a target per row (for one label per "
                            "episode, set pooling on a classifier or use a pool stage)"
                        )
                    if len(ye) != len(Xe):
                        raise DataError(
                            f"{owner}: episode {i}: X has {len(Xe)} rows but y has {len(ye)}; "
                            "expected equal lengths"
                        )
                    ye = ye[washout:]
                blocks.append((Xe[washout:], ye, washout, f"episode {i}: "))
            return blocks
        if sequence_y:
            raise DataError(
                f"{owner}: per-sequence labels need X as a list of 2-D episode arrays, "
                f"got {type(X).__name__}"
            )
        try:
            # y is checked here, not by sklearn, so that NaN/inf in y get row and column
            X = self._check_X_2d(X, reset)
            y = self._check_y(y)
        except ValueError as e:
            if isinstance(e, DataError):
                raise
            raise DataError(f"{owner}: {e}") from e
        if len(y) != len(X):
            raise DataError(
                f"{owner}: X has {len(X)} rows but y has {len(y)}; expected equal lengths"
            )
        skip = washout
        if continuing:
            skip = max(0, washout - self.n_seen_)
            self.n_seen_ += len(X)
        elif washout >= len(X):
            raise DataError(
                f"{owner}: washout={washout} leaves no rows of {len(X)}; "
                f"expected washout < {len(X)}"
            )
        return [(X[skip:], y[skip:], skip, "")]

    def _check_y(self, y: Any) -> np.ndarray:
        """Regression targets: float64, 1-D or 2-D (classifiers override)."""
        if type(y) is np.ndarray and y.dtype == np.float64 and y.ndim in (1, 2):
            return y
        return check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite=False)

    def _omit(self, Xb: np.ndarray, Yb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Drop rows with NaN/inf when nan_policy='omit' (a copy only if some are bad)."""
        if self.nan_policy != "omit":
            return Xb, Yb
        with np.errstate(invalid="ignore", over="ignore"):
            if np.isfinite(Xb.sum()) and np.isfinite(Yb.sum()):
                return Xb, Yb
        keep = finite_rows(Xb, Yb)
        return Xb[keep], Yb[keep]

    def _check_X_2d(self, X: Any, reset: bool) -> np.ndarray:
        """sklearn's validation, with a fast path for float64 arrays once fitted.

        The fast path matters online: sklearn's checks cost ~0.5 ms a call,
        more than an RLS update of a 200-unit reservoir.
        """
        if (
            not reset
            and type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype == np.float64
            and len(X) > 0
            and hasattr(self, "n_features_in_")
            and not hasattr(self, "feature_names_in_")
        ):
            if X.shape[1] != self.n_features_in_:
                raise DataError(
                    f"X has {X.shape[1]} features, but {self._owner()} is expecting "
                    f"{self.n_features_in_} features as input"
                )
            return X
        try:
            return validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite=False)
        except ValueError as e:
            if isinstance(e, DataError):
                raise
            raise DataError(f"{self._owner()}: {e}") from e

    def _check_X_predict(self, X: Any) -> np.ndarray:
        return self._check_X_2d(X, reset=False)


class _RidgeCore(_EpisodeInput):
    """Statistics, solve and linear prediction shared by the ridge readouts."""

    alpha: float
    fit_intercept: bool
    coef_: np.ndarray
    intercept_: Any
    stats_: SufficientStats
    y_ndim_: int

    #: p × p float64 matrices alive at the peak of a fit (see :func:`check_memory`)
    _gram_copies: int = 4

    def _accumulate_blocks(self, blocks: list[tuple[np.ndarray, np.ndarray, int, str]]) -> None:
        """Add blocks to ``stats_``; many short episodes go in as one stacked update.

        Each update costs ``O(p²)`` on top of its rows (the shift correction,
        the cancellation check), so 270 episodes of 10 rows × 1,024 features
        took 10-20 s one at a time and 0.3 s stacked. Blocks are checked for
        NaN/inf one by one (so errors still name the episode and row), then
        concatenated up to :data:`_STACK_ROWS` rows (64 MiB) per update.
        """
        owner = self._owner()
        width = blocks[0][0].shape[1] if blocks else 1
        stack_rows = max(1, min(_STACK_ROWS, _STACK_BYTES // (8 * max(width, 1))))
        pending: list[tuple[np.ndarray, np.ndarray]] = []
        n_pending = 0

        def flush() -> None:
            nonlocal pending, n_pending
            if not pending:
                return
            if len(pending) == 1:
                Xs, Ys = pending[0]
            else:
                Xs = np.concatenate([x for x, _ in pending])
                Ys = np.concatenate([y for _, y in pending])
            self.stats_.update(Xs, Ys, where=f"{owner}: ")
            pending, n_pending = [], 0

        for Xb, Yb, row0, where in blocks:
            Xb, Yb = self._omit(Xb, Yb)
            if not hasattr(self, "stats_"):
                check_memory(Xb.shape[1], Yb.shape[1], copies=self._gram_copies, owner=owner)
                self.stats_ = SufficientStats(
                    Xb.shape[1], Yb.shape[1], center=bool(self.fit_intercept)
                )
            if len(Xb) >= stack_rows or len(blocks) == 1:
                flush()
                self.stats_.update(Xb, Yb, where=f"{owner}: {where}", row0=row0)
                continue
            self.stats_.check_block(Xb, Yb, where=f"{owner}: {where}", row0=row0)
            pending.append((Xb, Yb))
            n_pending += len(Xb)
            if n_pending >= stack_rows:
                flush()
        flush()

    def _set_solution(self, W: np.ndarray, mean_x: np.ndarray, mean_y: np.ndarray) -> None:
        coef = np.ascontiguousarray(W.T)
        intercept = mean_y - mean_x @ W if self.fit_intercept else np.zeros(W.shape[1])
        if self.y_ndim_ == 1:
            self.coef_ = coef[0]
            self.intercept_ = float(intercept[0]) if self.fit_intercept else 0.0
        else:
            self.coef_ = coef
            self.intercept_ = intercept

    def _solve_stats(self, alpha: float) -> None:
        if self.stats_.n == 0:
            raise DataError(f"{self._owner()}: no training rows (all rows were washout/omitted)")
        G, b, _, mx, my = self.stats_.centred()
        self._set_solution(solve_ridge(G, b, alpha), mx, my)

    def _decision(self, X: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf are reported below
            out = X @ self.coef_.T + self.intercept_
        if not np.isfinite(out).all():
            raise_nonfinite("X", X, f"{self._owner()}.predict: ")
        return out


class _RidgeRegressor(RegressorMixin, _RidgeCore, BaseEstimator):
    """Regression targets, prediction and washout-aware scoring for the ridge readouts."""

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _targets(self, blocks: list, reset: bool) -> list:
        ndims = {np.ndim(Yb) for _, Yb, _, _ in blocks}
        if len(ndims) != 1 or not ndims <= {1, 2}:
            raise DataError(
                f"{self._owner()}: y must be 1-D or 2-D (the same in every episode), "
                f"got ndim {sorted(ndims)}"
            )
        ndim = ndims.pop()
        if reset:
            self.y_ndim_ = ndim
        elif ndim != self.y_ndim_:
            raise DataError(
                f"{self._owner()}: y was {self.y_ndim_}-D in earlier calls, got {ndim}-D"
            )
        out = []
        for Xb, Yb, row0, where in blocks:
            Yb = np.asarray(Yb, dtype=np.float64)
            out.append((Xb, Yb[:, None] if Yb.ndim == 1 else Yb, row0, where))
        q = {Yb.shape[1] for _, Yb, _, _ in out}
        if len(q) != 1 or (hasattr(self, "stats_") and not reset and q != {self.stats_.n_targets}):
            raise DataError(f"{self._owner()}: inconsistent number of targets {sorted(q)}")
        return out

    def predict(self, X: Any) -> Any:
        """One prediction row per input row; a list of episodes gives a list."""
        check_is_fitted(self, "coef_")
        if is_episode_list(X):
            return [self._decision(x) for x in self._check_X_episodes(list(X), reset=False)]
        return self._decision(self._check_X_predict(X))

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R² on the rows after each episode's washout (as sklearn's score otherwise)."""
        check_is_fitted(self, "coef_")
        washout = check_washout(self.washout, self._owner())
        pred = self.predict(X)
        if is_episode_list(X):
            y_true = np.concatenate([np.asarray(t)[washout:] for t in y])
            y_pred = np.concatenate([p[washout:] for p in pred])
        else:
            y_true, y_pred = np.asarray(y)[washout:], pred[washout:]
        return float(r2_score(y_true, y_pred, sample_weight=sample_weight))


class RidgeReadout(_RidgeRegressor):
    """Linear readout fitted by ridge regression on float64 sufficient statistics.

    Parameters
    ----------
    alpha : ridge penalty on the weights (not on the intercept), as in sklearn's Ridge.
    fit_intercept : centre features and targets and fit an unpenalised intercept.
    washout : rows dropped from the start of each episode (reservoir transient).
    nan_policy : "raise" (default: DataError naming the first bad row and
        column) or "omit" (training rows with NaN/inf are dropped).

    Learned: ``coef_`` (q, p) or (p,), ``intercept_``, ``n_features_in_``,
    ``stats_`` (the :class:`SufficientStats`), ``n_seen_`` (rows seen in the
    current episode by ``partial_fit``).
    """

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        fit_intercept: bool = True,
        washout: int = 0,
        nan_policy: str = "raise",
    ) -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.washout = washout
        self.nan_policy = nan_policy

    def fit(self, X: Any, y: Any) -> RidgeReadout:
        """Fit on one series (2-D X) or a list of episodes; returns self."""
        alpha = _check_alpha(self.alpha, self._owner())
        for attr in ("stats_", "coef_", "intercept_"):
            self.__dict__.pop(attr, None)
        self.n_seen_ = 0
        blocks = self._targets(self._blocks(X, y, reset=True), reset=True)
        self._accumulate_blocks(blocks)
        self._solve_stats(alpha)
        return self

    def accumulate(self, X: Any, y: Any, *, episode_start: bool = False) -> RidgeReadout:
        """Add a chunk to the statistics without solving (cheap; call :meth:`solve` later).

        A 2-D chunk continues the current episode (its washout counted across
        calls) unless ``episode_start``; a list of arrays is whole episodes.
        """
        first = not hasattr(self, "stats_")
        if first or episode_start:
            self.n_seen_ = 0
        blocks = self._blocks(X, y, reset=first, continuing=True)
        self._accumulate_blocks(self._targets(blocks, reset=first))
        return self

    def solve(self) -> RidgeReadout:
        """Solve for the weights from the statistics accumulated so far."""
        if not hasattr(self, "stats_"):
            raise DataError(f"{self._owner()}: nothing accumulated; call accumulate() first")
        self._solve_stats(_check_alpha(self.alpha, self._owner()))
        return self

    def partial_fit(self, X: Any, y: Any, *, episode_start: bool = False) -> RidgeReadout:
        """:meth:`accumulate` then :meth:`solve` (an ``O(p³)`` solve per call).

        While every row so far was washout the readout stays unfitted.
        """
        self.accumulate(X, y, episode_start=episode_start)
        if self.stats_.n:
            self.solve()
        return self
