"""NARMA10: the standard test of memory plus nonlinearity for reservoirs.

Two variants, because "NARMA10" names two different series in practice:

``atiya_parlos`` (default, the textbook task; Atiya & Parlos 2000)
    y(t+1) = 0.3 y(t) + 0.05 y(t) Σ_{i=0..9} y(t-i) + 1.5 u(t-9) u(t) + 0.1,
    u(t) ~ U[0, 0.5] i.i.d. Input at step t is u(t); the target at step t is
    y(t+1), so the readout must multiply the current input with the one nine
    steps back within one reservoir update. 200 steps are discarded first so
    y starts on its attractor.

``reservoirpy`` (what ``reservoirpy.datasets.narma(n, order=10, seed=s)`` returns)
    ReservoirPy's generator keeps its NARMA30 defaults when called with
    ``order=10``: y(t+1) = 0.2 y(t) + 0.04 y(t) Σ_{i=1..10} y(t-i)
    + 1.5 u(t-10) u(t) + 0.001, from y = 0, and its documented use feeds
    ``u[order:]`` against ``y``, so the target at step k depends on the
    *previous* input and the one eleven back. This series is much easier
    (same reservoir: NRMSE 0.11 against 0.19 on the textbook one): it is the
    reading behind the "ReservoirPy 0.4.2 measures 0.109" NARMA10 figure, kept
    so that figure can be reproduced on identical data (bit for bit: same
    ``default_rng(seed)`` draws).

Inputs stay in [0, 0.5] (task units) so the reference protocol (ESN input
scaling 1) sees the numbers the literature uses.

Driving: one input channel, one task step per device sample unless ``hold``.
Scoring: NRMSE (RMSE / std of the target) on the held-out test stretch.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from physres.errors import DataError
from physres.tasks.base import Episode, TaskData, TaskParams
from physres.tasks.kinds import RegressionTask

__all__ = ["NARMA10", "NARMA10Params", "narma10", "narma_reservoirpy"]

_TRANSIENT = 200  # steps discarded so y starts on its attractor, not at zero
_RPY_ORDER = 10  # ReservoirPy returns u with `order` extra leading steps


def narma10(u: np.ndarray) -> np.ndarray:
    """NARMA10 targets for inputs ``u`` (1-D); ``y[t]`` is the state after step ``t``."""
    n = len(u)
    y = np.zeros(n + 1)
    for t in range(9, n):
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * y[t - 9 : t + 1].sum() + 1.5 * u[t - 9] * u[t] + 0.1
    return y[1:]


def narma_reservoirpy(u: np.ndarray, order: int = _RPY_ORDER) -> np.ndarray:
    """ReservoirPy 0.4.2's ``narma`` recurrence with its default coefficients.

    ``u`` holds ``n + order`` inputs; returns the ``n`` targets ReservoirPy
    returns (its ``y[order:]``), meant to be paired with ``u[order:]``.
    """
    y = np.zeros(len(u))
    for t in range(order, len(u) - 1):
        y[t + 1] = 0.2 * y[t] + 0.04 * y[t] * y[t - order : t].sum() + 1.5 * u[t - order] * u[t]
        y[t + 1] += 0.001
    return y[order:]


class NARMA10Params(TaskParams):
    n_train: int = Field(4000, ge=10)
    n_test: int = Field(2000, ge=10)
    washout: int = Field(200, ge=0)
    alpha: float = Field(1e-7, ge=0, allow_inf_nan=False)
    #: which series "NARMA10" means: the textbook one, or ReservoirPy's generator (see module doc)
    variant: Literal["atiya_parlos", "reservoirpy"] = "atiya_parlos"


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
        if p.variant == "reservoirpy":
            u = rng.uniform(0.0, 0.5, _RPY_ORDER + n_tr + n_te)
            y = narma_reservoirpy(u)
            u = u[_RPY_ORDER:]
        else:
            u = rng.uniform(0.0, 0.5, _TRANSIENT + n_tr + n_te)
            y = narma10(u)
            u, y = u[_TRANSIENT:], y[_TRANSIENT:]
        if not np.isfinite(y).all() or np.abs(y).max() > 10:
            raise DataError(f"NARMA10 ({p.variant}) diverged for seed {seed}")
        meta = {"seed": seed, "variant": p.variant}
        return TaskData(
            train=[Episode(u[:n_tr, None], y[:n_tr, None], {"split": "train", **meta})],
            test=[Episode(u[n_tr:, None], y[n_tr:, None], {"split": "test", **meta})],
            washout=p.washout,
            n_inputs=1,
            n_outputs=1,
        )
