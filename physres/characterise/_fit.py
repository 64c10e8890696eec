"""One ridge factorisation of the states, shared by every target of a metric.

Every characterisation metric is "how well does a linear readout of the
states reconstruct target z": hundreds of targets against one state matrix.
The states' centred Gram matrix is accumulated once
(:class:`~physres.readout.SufficientStats`), all targets' cross products in
the same pass, and one ridge solve (:func:`~physres.readout.solve_ridge`)
takes every target as a right-hand side; per-target errors then follow from
the statistics alone (``SSE = zᵀz − 2wᵀb + wᵀGw``), no prediction is formed.
This, not a faster solver, is why the metrics cost about one Gram matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from physres.errors import DataError
from physres.readout import SufficientStats, solve_ridge
from physres.readout.validation import first_nonfinite

__all__ = ["Fit", "check_inputs", "check_rows", "fit_targets"]

#: a target whose part not explained by the earlier ones is below this fraction is dependent
_DEPENDENT = 1e-9
#: default ridge, relative to the mean diagonal of the states' centred Gram matrix
RIDGE = 1e-9


@dataclass
class Fit:
    """Per-target scores of one shared fit (arrays of length K)."""

    #: 1 − SSE/Σ(z−z̄)²: in-sample, or on the held-out rows about the training means
    capacity: np.ndarray
    #: squared correlation of prediction and target (held-out rows; in-sample: = capacity)
    r2: np.ndarray
    #: rows the scores were computed on
    n_rows: int
    alpha: float


def check_inputs(
    u: np.ndarray,
    X: np.ndarray,
    *,
    source: str,
    washout: int,
    max_delay: int,
    u_name: str = "input",
    x_name: str = "states",
) -> tuple[np.ndarray, np.ndarray]:
    """``(u, X)`` as float64 ``(T,)`` and ``(T, N)``, or a one-line DataError naming the place.

    Runs before any metric: non-finite values (first row and column), a
    length mismatch and too few rows for ``max_delay`` after the washout are
    refused with ``source`` (a file, a config) in the message.
    """
    u = np.asarray(u, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if u.ndim == 2 and u.shape[1] == 1:
        u = u[:, 0]
    if u.ndim != 1:
        raise DataError(f"{source}: {u_name} must be one channel, got shape {u.shape}")
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise DataError(f"{source}: {x_name} must be (samples, features), got shape {X.shape}")
    if len(u) != len(X):
        raise DataError(
            f"{source}: {u_name} has {len(u)} samples but {x_name} has {len(X)}; "
            "they must be aligned sample for sample"
        )
    for name, A in ((u_name, u), (x_name, X)):
        hit = first_nonfinite(A)
        if hit is not None:
            r, c = hit
            col = f", column {c}" if A.ndim == 2 else ""
            raise DataError(
                f"{source}: NaN or inf in {name} at row {r}{col} "
                f"(value {A.reshape(len(A), -1)[r, c]}); clean or cut the data first"
            )
    check_rows(len(X), X.shape[1], source=source, washout=washout, max_delay=max_delay)
    return u, X


def check_rows(
    n_samples: int, n_features: int, *, source: str, washout: int, max_delay: int
) -> None:
    """Refuse, in one line, too few samples for ``max_delay`` after the washout."""
    need = 2 * (n_features + 1)
    rows = n_samples - washout - max_delay
    if rows < need:
        raise DataError(
            f"{source}: {n_samples} samples minus washout {washout} and max delay {max_delay} "
            f"leave {max(rows, 0)} rows; {n_features} features need at least {need} "
            f"(use ≥ {washout + max_delay + need} samples or lower the delays)"
        )


def _orthonormal_cross(Zc: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cross products and norms of the targets after Gram–Schmidt in column order.

    With ``ZᵀZ = LLᵀ`` the orthonormalised targets are ``Z L⁻ᵀ``, so ``XᵀZ L⁻ᵀ``
    is all that is needed. A target that is (numerically) a combination of the
    earlier ones, such as P̃₂(u) for a ±1 input, is dropped: norm 0, capacity 0.
    """
    C = Zc.T @ Zc
    d = np.diag(C).copy()
    keep = d > 0
    k = np.flatnonzero(keep)
    try:  # fast path: the targets are independent (any continuous input)
        L = np.linalg.cholesky(C[np.ix_(k, k)])
        ok = bool(np.all(np.diag(L) ** 2 > _DEPENDENT * d[k]))
    except np.linalg.LinAlgError:
        ok = False
    if not ok:  # a discrete input: Cholesky target by target, skipping dependent ones
        K = len(C)
        L = np.zeros((K, K))
        keep[:] = False
        for j in range(K):
            idx = np.flatnonzero(keep)
            lj = solve_triangular(L[np.ix_(idx, idx)], C[idx, j], lower=True)
            r = C[j, j] - lj @ lj
            if d[j] > 0 and r > _DEPENDENT * d[j]:
                L[j, idx] = lj
                L[j, j] = np.sqrt(r)
                keep[j] = True
        k = np.flatnonzero(keep)
        L = L[np.ix_(k, k)]
    out = np.zeros_like(B)
    out[:, k] = solve_triangular(L, B[:, k].T, lower=True).T
    return out, keep.astype(np.float64)


def fit_targets(
    X: np.ndarray,
    Z: np.ndarray,
    *,
    alpha: float | None = None,
    train_fraction: float | None = None,
    orthonormalise: bool = False,
) -> Fit:
    """Score a ridge readout of ``X`` (n, N) on every column of ``Z`` (n, K) at once.

    ``train_fraction=None``: fitted and scored on all rows (Dambre et al.'s
    estimator; the caller removes the finite-data bias). ``train_fraction=f``:
    the first ``int(n·f)`` rows fit, the rest score. ``orthonormalise``
    makes the targets exactly orthonormal on the scoring rows first (Gram–
    Schmidt in column order, through a Cholesky factor of ``ZᵀZ``), so that
    the in-sample capacities sum to at most rank(X). ``alpha`` is absolute;
    None means :data:`RIDGE` times the mean diagonal of the centred Gram.
    """
    n, N = X.shape
    K = Z.shape[1]
    if orthonormalise and train_fraction is not None:
        raise DataError("orthonormalise applies to the in-sample estimator only")
    if train_fraction is None:
        fit_X, fit_Z = X, Z
    else:
        cut = int(n * train_fraction)
        fit_X, fit_Z = X[:cut], Z[:cut]
    stats = SufficientStats(N, K)
    stats.update(fit_X, fit_Z)
    G, B, zz, mx, mz = stats.centred()
    if orthonormalise:
        B, zz = _orthonormal_cross(fit_Z - mz, B)
    a = float(alpha) if alpha is not None else RIDGE * float(np.trace(G)) / max(N, 1)
    W = solve_ridge(G, B, a)
    if train_fraction is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            sse = zz - 2.0 * np.einsum("ij,ij->j", W, B) + np.einsum("ij,ij->j", W, G @ W)
            cap = np.where(zz > 0, 1.0 - sse / zz, 0.0)
        return Fit(capacity=cap, r2=cap, n_rows=len(fit_X), alpha=a)
    test = SufficientStats(N, K)
    test.update(X[cut:], Z[cut:])
    Gt, Bt, zzt, _, _ = test.centred()  # about the test rows' own means
    Ga, Ba, zza, _, _ = test.centred(about=(mx, mz))  # about the training means
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = np.einsum("ij,ij->j", W, Bt)
        vp = np.einsum("ij,ij->j", W, Gt @ W)
        r2 = np.where((zzt > 0) & (vp > 0), cov**2 / (zzt * vp), 0.0)
        sse = zza - 2.0 * np.einsum("ij,ij->j", W, Ba) + np.einsum("ij,ij->j", W, Ga @ W)
        cap = np.where(zzt > 0, 1.0 - sse / zzt, 0.0)
    return Fit(capacity=cap, r2=r2, n_rows=n - cut, alpha=a)
