"""Delayed XOR of two binary streams: the bucket-of-water benchmark.

Fernando & Sojakka (2003) drove a tank with two motors and read XOR from the
waves; a linear readout cannot compute XOR from the inputs themselves, so a
good score is evidence of useful nonlinearity in the substrate. Here each task
step carries two random bits b1(t), b2(t); the target is b1(t-d) XOR b2(t-d).

Driving: two channels; bit 0 → task value -1, bit 1 → +1 (a motor with duty
limits 0..1 is off for 0 and full for 1 under the default drive map); each
step lasts ``hold`` device samples (e.g. a second of motor time).
Scoring: a ridge readout regresses the 0/1 target; ``accuracy`` is the
fraction of held-out steps where its output > 0.5 matches. Chance is ≈ 0.5.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from physres.tasks.base import Episode, Episodes, TaskData, TaskParams
from physres.tasks.kinds import RegressionTask

__all__ = ["DelayedXOR", "DelayedXORParams"]


class DelayedXORParams(TaskParams):
    delay: int = Field(1, ge=0, le=1000)
    n_train: int = Field(2000, ge=10)
    n_test: int = Field(1000, ge=10)
    washout: int = Field(20, ge=0)
    alpha: float = Field(1e-6, ge=0, allow_inf_nan=False)


class DelayedXOR(RegressionTask):
    """``xor``: two ±1 input streams, target XOR of the bits ``delay`` steps back."""

    name: ClassVar[str] = "xor"
    Params: ClassVar[type[TaskParams]] = DelayedXORParams
    metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    params: DelayedXORParams

    def generate(self, seed: int = 0) -> TaskData:
        p = self.params
        rng = np.random.default_rng(seed)
        episodes = []
        for split, n in (("train", p.n_train), ("test", p.n_test)):
            T = p.washout + n
            bits = rng.integers(0, 2, size=(T + p.delay, 2))
            target = np.bitwise_xor(bits[:T, 0], bits[:T, 1]).astype(np.float64)
            u = 2.0 * bits[p.delay :] - 1.0
            episodes.append(Episode(u, target[:, None], {"split": split, "seed": seed}))
        return TaskData(
            train=[episodes[0]],
            test=[episodes[1]],
            washout=p.washout,
            n_inputs=2,
            n_outputs=1,
            meta={"delay": p.delay},
        )

    def score(self, predictions: Any, episodes: Episodes, data: TaskData) -> dict[str, float]:
        metrics = super().score(predictions, episodes, data)
        w = data.washout
        pred = np.concatenate([pr[w:] for pr in predictions])[:, 0] > 0.5
        true = np.concatenate([self._targets(ep)[w:] for ep in episodes])[:, 0] > 0.5
        metrics["accuracy"] = float(np.mean(pred == true))
        return metrics
