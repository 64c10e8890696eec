"""Online readout: recursive least squares with a forgetting factor (FORCE learning).

For closed-loop use the readout must learn while its own output drives the
system, one sample at a time. Each sample costs ``O(p²)`` (a rank-one update
of the inverse-correlation matrix ``P``), independent of how many samples
came before, and is vectorised over the outputs (one ``P`` serves them all).

Conventions follow Sussillo & Abbott (2009): ``P(0) = I/alpha``; with
``forgetting = 1`` the weights after N samples equal ridge regression with
penalty ``alpha`` on ``[X, 1]`` (the intercept is penalised too, unlike
:class:`RidgeReadout`). ``forgetting < 1`` discounts old samples by that
factor per step (memory ≈ ``1/(1 − forgetting)`` samples) so the readout
tracks a drifting substrate; without persistent excitation ``P`` then grows
("wind-up"), so keep it close to 1.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from sklearn.utils.validation import check_is_fitted

from physres.errors import DataError
from physres.readout.ridge import _check_alpha, _RidgeRegressor
from physres.readout.validation import raise_nonfinite

__all__ = ["RLSReadout"]

_SYMMETRISE_EVERY = 256  # steps between re-symmetrising P against rounding drift


@numba.njit(cache=True, fastmath=False)
def _rls_steps(
    P: np.ndarray, W: np.ndarray, X: np.ndarray, Y: np.ndarray, lam: float,
    bias: bool, err: np.ndarray, count: int,
) -> int:  # pragma: no cover - compiled
    """The RLS recursion over the rows of X, in place on P (m, m) and W (q, m).

    Compiled loops rather than BLAS calls: per-sample matrices are small, and
    multi-threaded BLAS on a busy machine spent ~50x longer synchronising
    threads than computing (measured 8 ms vs 0.15 ms a row at p = 200).
    """
    m = P.shape[0]
    q = W.shape[0]
    x = np.ones(m)
    Px = np.empty(m)
    k = np.empty(m)
    for t in range(X.shape[0]):
        for i in range(X.shape[1]):
            x[i] = X[t, i]
        denom = lam
        for i in range(m):
            acc = 0.0
            for j in range(m):
                acc += P[i, j] * x[j]
            Px[i] = acc
            denom += x[i] * acc
        for i in range(m):
            k[i] = Px[i] / denom
        for o in range(q):
            acc = 0.0
            for j in range(m):
                acc += W[o, j] * x[j]
            e = Y[t, o] - acc
            err[t, o] = e
            for j in range(m):
                W[o, j] += e * k[j]
        inv = 1.0 / lam
        for i in range(m):
            ki = k[i]
            for j in range(m):
                P[i, j] = (P[i, j] - ki * Px[j]) * inv
        count += 1
        if count % _SYMMETRISE_EVERY == 0:
            for i in range(m):
                for j in range(i + 1, m):
                    s = 0.5 * (P[i, j] + P[j, i])
                    P[i, j] = s
                    P[j, i] = s
    return count


class RLSReadout(_RidgeRegressor):
    """Recursive least squares readout with ``partial_fit`` sample by sample.

    Parameters
    ----------
    alpha : initial regularisation, ``P(0) = I/alpha``.
    forgetting : factor λ in (0, 1]; 1 = never forget.
    fit_intercept : append a constant 1 feature (a penalised bias).
    washout : rows dropped at the start of each episode.

    Learned: ``coef_``, ``intercept_``, ``P_`` (inverse correlation, p(+1)²),
    ``errors_`` (prior errors ``y − ŷ`` of the last call, before each update:
    the FORCE training signal), ``n_updates_``, ``n_features_in_``.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        forgetting: float = 1.0,
        *,
        fit_intercept: bool = True,
        washout: int = 0,
    ) -> None:
        self.alpha = alpha
        self.forgetting = forgetting
        self.fit_intercept = fit_intercept
        self.washout = washout

    nan_policy = "raise"  # fixed: an online learner cannot skip samples silently

    def _init_state(self, p: int, q: int) -> None:
        alpha = _check_alpha(self.alpha, self._owner())
        if alpha <= 0:
            raise DataError(f"{self._owner()}: alpha must be > 0 (P(0) = I/alpha), got {alpha}")
        m = p + int(bool(self.fit_intercept))
        self.P_ = np.eye(m) / alpha
        self.W_ = np.zeros((q, m))
        self.n_updates_ = 0

    def _lam(self) -> float:
        lam = float(self.forgetting)
        if not 0.0 < lam <= 1.0:
            raise DataError(f"{self._owner()}: forgetting must be in (0, 1], got {self.forgetting}")
        return lam

    def fit(self, X: Any, y: Any) -> RLSReadout:
        """Start from ``P = I/alpha``, ``W = 0`` and run every row through the update."""
        for attr in ("P_", "W_", "coef_", "intercept_"):
            self.__dict__.pop(attr, None)
        self.partial_fit(X, y, episode_start=True)
        if self.n_updates_ == 0:
            raise DataError(
                f"{self._owner()}: washout={self.washout} leaves no rows of {self.n_seen_}; "
                f"expected washout < {self.n_seen_}"
            )
        return self

    def partial_fit(self, X: Any, y: Any, *, episode_start: bool = False) -> RLSReadout:
        """Update on each row in order; a 2-D chunk continues the current episode."""
        lam = self._lam()
        first = not hasattr(self, "P_")
        if first or episode_start:
            self.n_seen_ = 0
        blocks = self._targets(self._blocks(X, y, reset=first, continuing=True), reset=first)
        if first:
            self._init_state(blocks[0][0].shape[1], blocks[0][1].shape[1])
        errors = []
        for Xb, Yb, row0, where in blocks:
            with np.errstate(invalid="ignore", over="ignore"):
                finite_x, finite_y = np.isfinite(Xb.sum()), np.isfinite(Yb.sum())
            if not finite_x:
                raise_nonfinite("X", Xb, f"{self._owner()}: {where}", row0)
            if not finite_y:
                raise_nonfinite("y", Yb, f"{self._owner()}: {where}", row0)
            if Yb.shape[1] != self.W_.shape[0]:
                raise DataError(
                    f"{self._owner()}: expected {self.W_.shape[0]} targets, got {Yb.shape[1]}"
                )
            errors.append(self._run(Xb, Yb, lam))
        self.errors_ = np.concatenate(errors) if errors else np.zeros((0, self.W_.shape[0]))
        self._publish()
        return self

    def _run(self, X: np.ndarray, Y: np.ndarray, lam: float) -> np.ndarray:
        err = np.empty_like(Y)
        P = np.ascontiguousarray(self.P_)
        self.n_updates_ = _rls_steps(
            P, self.W_, np.ascontiguousarray(X), np.ascontiguousarray(Y), lam,
            bool(self.fit_intercept), err, self.n_updates_,
        )
        if not np.isfinite(P).all():
            raise DataError(
                f"{self._owner()}: P overflowed (forgetting={self.forgetting} without enough "
                "excitation); raise forgetting toward 1 or alpha"
            )
        self.P_ = P
        return err

    def _publish(self) -> None:
        p = self.n_features_in_
        coef = self.W_[:, :p].copy()
        intercept = self.W_[:, p].copy() if self.fit_intercept else np.zeros(self.W_.shape[0])
        if self.y_ndim_ == 1:
            self.coef_, self.intercept_ = coef[0], float(intercept[0])
        else:
            self.coef_, self.intercept_ = coef, intercept

    def predict(self, X: Any) -> Any:
        check_is_fitted(self, "W_")
        return super().predict(X)
