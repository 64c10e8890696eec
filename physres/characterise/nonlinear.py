"""Nonlinear memory: capacity for ``sin(ν·u(t−τ))`` over a grid of ν and τ.

Small ν asks for linear memory (sin νx ≈ νx), large ν for a strongly
nonlinear function of the past input; the (τ, ν) map shows where a substrate
trades one for the other. Each cell is ``max(0, 1 − NMSE)`` of a ridge
readout on held-out rows (the targets are not orthogonal, so the in-sample
estimator of :mod:`~physres.characterise.ipc` does not apply); all cells share
one fit of the states.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from physres.characterise._fit import check_inputs, fit_targets

__all__ = ["NU", "TAU", "NonlinearMemory", "nonlinear_memory"]

TAU = (0, 1, 2, 3, 4, 5, 6, 7, 8)
NU = (0.1, 0.3, 1.0, 3.0, 10.0)


@dataclass
class NonlinearMemory:
    taus: list[int]
    nus: list[float]
    #: (len(taus), len(nus)) capacities in [0, 1]
    capacity: np.ndarray
    n_rows: int

    def as_dict(self) -> dict:
        return {
            "tau": self.taus,
            "nu": self.nus,
            "capacity": self.capacity.tolist(),
            "mean": float(self.capacity.mean()),
            "n_test_rows": self.n_rows,
        }


def nonlinear_memory(
    u: np.ndarray,
    X: np.ndarray,
    *,
    taus: Sequence[int] = TAU,
    nus: Sequence[float] = NU,
    washout: int = 0,
    train_fraction: float = 0.8,
    alpha: float | None = None,
    source: str = "states",
) -> NonlinearMemory:
    """Capacity map of states ``X`` for targets ``sin(ν·u(t−τ))``; rows from washout + max τ."""
    taus, nus = [int(t) for t in taus], [float(v) for v in nus]
    dmax = max(taus)
    u, X = check_inputs(u, X, source=source, washout=washout, max_delay=dmax)
    start = washout + dmax
    T = len(u)
    Z = np.stack([np.sin(nu * u[start - t : T - t]) for t in taus for nu in nus], axis=1)
    fit = fit_targets(X[start:], Z, alpha=alpha, train_fraction=train_fraction)
    cap = np.clip(fit.capacity, 0.0, 1.0).reshape(len(taus), len(nus))
    return NonlinearMemory(taus=taus, nus=nus, capacity=cap, n_rows=fit.n_rows)
