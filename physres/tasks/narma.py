"""NARMA10: the standard test of memory plus nonlinearity for reservoirs.

y(t+1) = 0.3 y(t) + 0.05 y(t) Σ_{i=0..9} y(t-i) + 1.5 u(t-9) u(t) + 0.1, with
u(t) ~ U[0, 0.5] i.i.d. (Atiya & Parlos 2000). Input at step t is u(t); the
target at step t is y(t+1), so the readout must combine the current input
with the one nine steps back. Inputs stay in [0, 0.5] (task units) so the
reference protocol (ESN input scaling 1) sees the numbers the literature uses.

Driving: one input channel, one task step per device sample unless ``hold``.
Scoring: NRMSE (RMSE / std of the target) on the held-out test stretch.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from physres.errors import DataError
from physres.tasks.base import Episode, TaskData, TaskParams
from physres.tasks.kinds import RegressionTask

__all__ = ["NARMA10", "NARMA10Params", "narma10"]

_TRANSIENT = 200  # steps discarded so y starts on its attractor, not at zero


def narma10(u: np.ndarray) -> np.ndarray:
    """NARMA10 targets for inputs ``u`` (1-D); ``y[t]`` is the state after step ``t``."""
    n = len(u)
    y = np.zeros(n + 1)
    for t in range(9, n):
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * y[t - 9 : t + 1].sum() + 1.5 * u[t - 9] * u[t] + 0.1
    return y[1:]


class NARMA10Params(TaskParams):
    n_train: int = Field(4000, ge=10)
    n_test: int = Field(2000, ge=10)
    washout: int = Field(200, ge=0)
    alpha: float = Field(1e-7, ge=0, allow_inf_nan=False)


class NARMA10(RegressionTask):
    """``narma10``: one continuous series; train stretch, then an unseen test stretch.

    Each split starts with ``washout`` driven-but-unscored steps (the test
    one's are the steps just before its scored stretch), so test scores never
    depend on states fitted during training.
    """

    name: ClassVar[str] = "narma10"
    Params: ClassVar[type[TaskParams]] = NARMA10Params
    params: NARMA10Params

    def generate(self, seed: int = 0) -> TaskData:
        p = self.params
        rng = np.random.default_rng(seed)
        n_tr, n_te = p.washout + p.n_train, p.washout + p.n_test
        u = rng.uniform(0.0, 0.5, _TRANSIENT + n_tr + n_te)
        y = narma10(u)
        if not np.isfinite(y).all() or np.abs(y).max() > 10:
            raise DataError(f"NARMA10 diverged for seed {seed}")
        u, y = u[_TRANSIENT:], y[_TRANSIENT:]
        return TaskData(
            train=[Episode(u[:n_tr, None], y[:n_tr, None], {"split": "train", "seed": seed})],
            test=[Episode(u[n_tr:, None], y[n_tr:, None], {"split": "test", "seed": seed})],
            washout=p.washout,
            n_inputs=1,
            n_outputs=1,
        )
