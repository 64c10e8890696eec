"""Short-term memory capacity (Jaeger 2001): how much past input a state recalls.

Input u(t) ~ U[-amplitude, amplitude] i.i.d.; for each delay k = 1..K a linear
readout reconstructs u(t-k); MC = Σ_k r_k², with r_k the correlation between
reconstruction and truth. For i.i.d. input MC ≤ N for N state features, and
estimates that break that bound are estimation artefacts. Three guards keep
the estimate honest:

* r_k² is measured on a held-out test stretch (a readout fitted on the same
  data would reach r² > 0 on pure noise: N/T per delay);
* delays beyond 2F (F = number of state features) are ignored: they cannot
  be recalled and would only add noise;
* an r_k² below the chance level for the test length (χ²₁ critical value at
  p = 1e-3 divided by the number of scored steps) counts as 0, so a
  non-reservoir (random features unrelated to the input) scores ≈ 0.

Driving: one channel. Scoring: ``mc`` (higher is better), ``mc_curve`` values
per delay are in ``r2_k``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field
from scipy.stats import chi2

from physres.tasks.base import Episode, Episodes, TaskData, TaskParams
from physres.tasks.kinds import RegressionTask

__all__ = ["MemoryCapacity", "MemoryCapacityParams", "memory_curve"]


def memory_curve(y_true: np.ndarray, y_pred: np.ndarray, *, p_value: float = 1e-3) -> np.ndarray:
    """Squared correlation per delay column, zeroed where it is below chance level."""
    yt = y_true - y_true.mean(axis=0)
    yp = y_pred - y_pred.mean(axis=0)
    den = np.sqrt((yt**2).sum(axis=0) * (yp**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, (yt * yp).sum(axis=0) / den, 0.0)
    r2 = r**2
    threshold = chi2.ppf(1.0 - p_value, df=1) / y_true.shape[0]
    return np.where(r2 > threshold, r2, 0.0)


class MemoryCapacityParams(TaskParams):
    max_delay: int = Field(200, ge=1, le=5000)
    n_train: int = Field(4000, ge=10)
    n_test: int = Field(2000, ge=10)
    amplitude: float = Field(1.0, gt=0, le=1.0, allow_inf_nan=False)
    washout: int = Field(200, ge=0)
    alpha: float = Field(1e-9, ge=0, allow_inf_nan=False)
    #: significance level under which a delay's r² counts as chance
    p_value: float = Field(1e-3, gt=0, lt=1)


class MemoryCapacity(RegressionTask):
    """``memory_capacity``: Σ over delays of r² of the reconstructed delayed input."""

    name: ClassVar[str] = "memory_capacity"
    Params: ClassVar[type[TaskParams]] = MemoryCapacityParams
    metric: ClassVar[str] = "mc"
    higher_is_better: ClassVar[bool] = True
    params: MemoryCapacityParams

    def generate(self, seed: int = 0) -> TaskData:
        p = self.params
        rng = np.random.default_rng(seed)
        K = p.max_delay
        episodes = []
        for split, n in (("train", p.n_train), ("test", p.n_test)):
            T = p.washout + n
            s = rng.uniform(-p.amplitude, p.amplitude, size=T + K)
            u = s[K:]
            # column k-1 holds u(t-k); the first K values of s are the input before t=0
            y = np.stack([s[K - k : K - k + T] for k in range(1, K + 1)], axis=1)
            episodes.append(Episode(u, y, {"split": split, "seed": seed}))
        return TaskData(
            train=[episodes[0]],
            test=[episodes[1]],
            washout=p.washout,
            n_inputs=1,
            n_outputs=K,
        )

    def targets(self, episodes: Episodes, data: TaskData, n_features: int) -> list[np.ndarray]:
        """Delays ``1..K``, ``K = min(max_delay, 2 × features)``: more cannot be remembered."""
        K = min(self.params.max_delay, 2 * n_features)
        return [self._targets(ep)[:, :K] for ep in episodes]

    def score(self, predictions: Any, episodes: Episodes, data: TaskData) -> dict[str, float]:
        K = predictions[0].shape[1]
        w = data.washout
        y = np.concatenate([self._targets(ep)[w:, :K] for ep in episodes])
        pr = np.concatenate([x[w:] for x in predictions])
        r2 = memory_curve(y, pr, p_value=self.params.p_value)
        out = {"mc": float(r2.sum()), "delays_scored": float(K)}
        out.update({f"r2_{k + 1}": float(v) for k, v in enumerate(r2)})
        return out
