"""Information processing capacity (Dambre, Verstraeten, Schrauwen & Massar 2012).

For an input u(t) i.i.d. uniform on [−1, 1], the products of normalised
Legendre polynomials ``z(t) = Π_i P̃_{d_i}(u(t − τ_i))`` over distinct delays
τ_i form an orthonormal basis of the functions of the input history. The
capacity of the states X for z is ``C = 1 − min_w ⟨(z − wᵀx)²⟩ / ⟨z²⟩``; the
sum over the whole basis is at most N (the number of linearly independent
state features) and equals N for a system with fading memory. Grouping the
targets by total degree Σd_i gives linear memory (degree 1) and the
nonlinear capacities (degree 2, 3...).

Finite data. With T scored rows, an unrelated target still reaches
``T·C ~ χ²(N)``; capacities below ``χ²_{1−p}(N)/T`` count as 0 (Dambre et
al.'s threshold; ``p_value``). Legendre products are orthonormal only in
expectation: on T samples they correlate by ~1/√T, so the targets are made
exactly orthonormal on the scored rows first (Gram–Schmidt in order of
degree, then delay); with that the total is at most rank(X) ≤ N for any data,
not just on average.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy.stats import chi2

from physres.characterise._fit import check_inputs, fit_targets

__all__ = ["IPCResult", "ipc", "ipc_basis", "legendre_targets"]

Key = tuple[tuple[int, int], ...]  # ((delay, degree), ...), delays increasing


def _max_delays(max_delay: int | Mapping[int, int], max_degree: int) -> dict[int, int]:
    if isinstance(max_delay, Mapping):
        out = {int(d): int(m) for d, m in max_delay.items() if int(d) <= max_degree}
    else:
        out = {d: int(max_delay) for d in range(1, max_degree + 1)}
    return out


def _compositions(total: int, parts: int) -> list[tuple[int, ...]]:
    """Ordered ways to write ``total`` as ``parts`` positive integers."""
    if parts == 1:
        return [(total,)]
    return [(a, *rest) for a in range(1, total) for rest in _compositions(total - a, parts - 1)]


def ipc_basis(max_delay: int | Mapping[int, int] = 10, max_degree: int = 3) -> list[Key]:
    """Every basis target up to ``max_degree``; delays 0..max_delay (per total degree if a map).

    Order: total degree, then number of factors, then delays: the order in
    which targets are orthonormalised.
    """
    delays = _max_delays(max_delay, max_degree)
    keys: list[Key] = []
    for total, dmax in sorted(delays.items()):
        for parts in range(1, total + 1):
            for taus in combinations(range(dmax + 1), parts):
                for degs in _compositions(total, parts):
                    keys.append(tuple(zip(taus, degs)))
    return keys


def _legendre(u: np.ndarray, max_degree: int) -> list[np.ndarray]:
    """``P̃_0..P̃_max(u)``, scaled to unit variance under U[−1, 1] (√(2n+1)·P_n)."""
    P = [np.ones_like(u), u.copy()]
    for n in range(1, max_degree):
        P.append(((2 * n + 1) * u * P[n] - n * P[n - 1]) / (n + 1))
    return [np.sqrt(2 * n + 1) * p for n, p in enumerate(P[: max_degree + 1])]


def legendre_targets(u: np.ndarray, keys: list[Key], start: int) -> np.ndarray:
    """Targets for rows ``start..T-1`` (``start`` ≥ the largest delay), one column a key."""
    T = len(u)
    max_degree = max(d for k in keys for _, d in k)
    P = _legendre(np.asarray(u, np.float64), max_degree)
    Z = np.empty((T - start, len(keys)))
    for j, key in enumerate(keys):
        (tau, deg), *rest = key
        z = P[deg][start - tau : T - tau].copy()
        for tau, deg in rest:
            z *= P[deg][start - tau : T - tau]
        Z[:, j] = z
    return Z


@dataclass
class IPCResult:
    keys: list[Key]
    #: capacity per key, after the threshold
    capacities: np.ndarray
    by_degree: dict[int, float]
    total: float
    n_features: int
    n_rows: int
    threshold: float
    #: degree-1 capacity per delay 0..max (the linear memory curve)
    memory_curve: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "by_degree": {str(d): c for d, c in self.by_degree.items()},
            "linear_memory": self.by_degree.get(1, 0.0),
            "nonlinear": self.total - self.by_degree.get(1, 0.0),
            "n_features": self.n_features,
            "n_rows": self.n_rows,
            "threshold": self.threshold,
            "n_targets": len(self.keys),
            "memory_curve": self.memory_curve,
        }


def ipc(
    u: np.ndarray,
    X: np.ndarray,
    *,
    max_delay: int | Mapping[int, int] = 10,
    max_degree: int = 3,
    washout: int = 0,
    p_value: float = 1e-4,
    alpha: float | None = None,
    source: str = "states",
) -> IPCResult:
    """Capacities of states ``X`` (T, N) driven by ``u`` (T,), i.i.d. uniform on [−1, 1].

    Rows before ``washout + max delay`` are not scored. ``u`` outside
    [−1, 1] is the caller's to rescale (:func:`physres.characterise.to_unit`).
    """
    delays = _max_delays(max_delay, max_degree)
    dmax = max(delays.values())
    u, X = check_inputs(u, X, source=source, washout=washout, max_delay=dmax)
    keys = ipc_basis(delays, max_degree)
    start = washout + dmax
    Z = legendre_targets(u, keys, start)
    fit = fit_targets(X[start:], Z, alpha=alpha, orthonormalise=True)
    N = X.shape[1]
    thr = float(chi2.ppf(1.0 - p_value, N) / fit.n_rows)
    cap = np.where(fit.capacity > thr, np.clip(fit.capacity, 0.0, 1.0), 0.0)
    by_degree: dict[int, float] = {}
    for key, c in zip(keys, cap):
        deg = sum(d for _, d in key)
        by_degree[deg] = by_degree.get(deg, 0.0) + float(c)
    curve = [float(c) for key, c in zip(keys, cap) if len(key) == 1 and key[0][1] == 1]
    return IPCResult(
        keys=keys,
        capacities=cap,
        by_degree=dict(sorted(by_degree.items())),
        total=float(cap.sum()),
        n_features=N,
        n_rows=fit.n_rows,
        threshold=thr,
        memory_curve=curve,
    )
