"""Hénon map prediction (used to benchmark organoid reservoirs, e.g. Brainoware).

x(n+1) = 1 - a x(n)² + y(n), y(n+1) = b x(n) with a = 1.4, b = 0.3 (chaotic).
The input at step n is x(n) / ``scale`` (x stays within ±1.3, so scale 1.5
keeps task units inside ±0.87); the target is x(n + horizon) / scale. One-step
prediction needs x(n) and x(n-1) combined quadratically: memory of one step
plus an even nonlinearity.

Driving: one channel. Scoring: NRMSE on a held-out stretch of the orbit.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from physres.tasks.base import Episode, TaskData, TaskParams
from physres.tasks.kinds import RegressionTask

__all__ = ["Henon", "HenonParams", "henon_orbit"]


def henon_orbit(n: int, x0: float, y0: float, a: float = 1.4, b: float = 0.3) -> np.ndarray:
    """``n`` successive x values of the Hénon map from (x0, y0)."""
    xs = np.empty(n)
    x, y = x0, y0
    for i in range(n):
        x, y = 1.0 - a * x * x + y, b * x
        xs[i] = x
    return xs


class HenonParams(TaskParams):
    n_train: int = Field(2000, ge=10)
    n_test: int = Field(1000, ge=10)
    horizon: int = Field(1, ge=1, le=100)
    scale: float = Field(1.5, gt=0, allow_inf_nan=False)
    washout: int = Field(50, ge=0)
    alpha: float = Field(1e-8, ge=0, allow_inf_nan=False)


class Henon(RegressionTask):
    """``henon``: predict the map ``horizon`` steps ahead from its x coordinate."""

    name: ClassVar[str] = "henon"
    Params: ClassVar[type[TaskParams]] = HenonParams
    params: HenonParams

    def generate(self, seed: int = 0) -> TaskData:
        p = self.params
        rng = np.random.default_rng(seed)
        n_tr, n_te = p.washout + p.n_train, p.washout + p.n_test
        # start near the origin (inside the basin) and drop a transient onto the attractor
        x0, y0 = rng.uniform(-0.1, 0.1, size=2)
        xs = henon_orbit(1000 + n_tr + n_te + p.horizon, x0, y0)[1000:] / p.scale
        u, y = xs[: n_tr + n_te], xs[p.horizon : p.horizon + n_tr + n_te]
        return TaskData(
            train=[Episode(u[:n_tr], y[:n_tr], {"split": "train", "seed": seed})],
            test=[Episode(u[n_tr:], y[n_tr:], {"split": "test", "seed": seed})],
            washout=p.washout,
            n_inputs=1,
            n_outputs=1,
        )
