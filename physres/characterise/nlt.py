"""Nonlinear transformation (NLT) tasks on a sine drive, and sin(x) on any drive.

From an input sine ``s(t)`` (centred, scaled to peak 1) a readout must
produce, sample by sample: a square wave ``sign(s)``, the sine shifted by
π/2 (the quadrature of the analytic signal, so a drive of any frequency
works) and the doubled frequency ``s² − ⟨s²⟩``. ``sin(x)``: the input's range
mapped to one period, ``sin(2π·(u − min)/(max − min))``. Scores are NMSE on
held-out rows (lower is better), one shared fit for all targets.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import hilbert

from physres.characterise._fit import check_inputs, fit_targets

__all__ = ["NLT_TARGETS", "nlt", "nlt_targets", "sine_drive", "sinx", "sinx_target"]

NLT_TARGETS = ("square_wave", "phase_shift", "double_frequency")


def sine_drive(n: int, period: float = 50.0, amplitude: float = 1.0) -> np.ndarray:
    """``amplitude·sin(2πt/period)`` for t = 0..n−1: the drive the NLT tasks expect."""
    return amplitude * np.sin(2 * np.pi * np.arange(n) / period)


def nlt_targets(u: np.ndarray) -> dict[str, np.ndarray]:
    s = u - u.mean()
    peak = np.max(np.abs(s))
    s = s / peak if peak > 0 else s
    sq = s**2
    return {
        "square_wave": np.sign(s),
        "phase_shift": np.imag(hilbert(s)),
        "double_frequency": sq - sq.mean(),
    }


def sinx_target(u: np.ndarray) -> np.ndarray:
    lo, hi = float(u.min()), float(u.max())
    return np.sin(2 * np.pi * (u - lo) / (hi - lo)) if hi > lo else np.zeros_like(u)


def _nmse(u, X, make, *, washout, train_fraction, alpha, source) -> dict[str, float]:
    u, X = check_inputs(u, X, source=source, washout=washout, max_delay=0)
    targets = make(u)
    Z = np.stack(list(targets.values()), axis=1)
    fit = fit_targets(X[washout:], Z[washout:], alpha=alpha, train_fraction=train_fraction)
    return {name: float(1.0 - c) for name, c in zip(targets, fit.capacity)}


def nlt(
    u: np.ndarray,
    X: np.ndarray,
    *,
    washout: int = 0,
    train_fraction: float = 0.8,
    alpha: float | None = None,
    source: str = "states",
) -> dict[str, float]:
    """NMSE per NLT target for states ``X`` driven by a sine ``u``."""
    return _nmse(
        u,
        X,
        nlt_targets,
        washout=washout,
        train_fraction=train_fraction,
        alpha=alpha,
        source=source,
    )


def sinx(
    u: np.ndarray,
    X: np.ndarray,
    *,
    washout: int = 0,
    train_fraction: float = 0.8,
    alpha: float | None = None,
    source: str = "states",
) -> float:
    """NMSE of sin(x) (:func:`sinx_target`) for states ``X`` driven by ``u``."""
    out = _nmse(
        u,
        X,
        lambda v: {"sinx": sinx_target(v)},
        washout=washout,
        train_fraction=train_fraction,
        alpha=alpha,
        source=source,
    )
    return out["sinx"]
