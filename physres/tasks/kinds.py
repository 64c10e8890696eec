"""The two scoring families every task falls in: per-step regression, sequence labels."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from physres.errors import DataError
from physres.tasks.base import Episode, Episodes, Task, TaskData, TaskParams, nrmse

__all__ = ["ClassificationParams", "RegressionTask", "SequenceClassificationTask"]


class RegressionTask(Task):
    """Targets per step; by default a ridge readout over all post-washout training steps.

    Scoring: the fitted readout predicts every test step; the first
    ``washout`` steps of each test episode are dropped; the rest are
    concatenated and scored by :func:`~physres.tasks.base.nrmse` (RMSE / std
    of the target, averaged over outputs) and NMSE (its square).
    """

    metric: ClassVar[str] = "nrmse"

    def targets(self, episodes: Episodes, data: TaskData, n_features: int) -> list[np.ndarray]:
        return [self._targets(ep) for ep in episodes]

    def predict(self, readout: Any, states: Any) -> list[np.ndarray]:
        """Per-episode predictions ``(T, n_out)`` (washout steps included)."""
        preds = readout.predict(list(states))
        return [np.asarray(p, dtype=np.float64).reshape(len(p), -1) for p in preds]

    def score(self, predictions: Any, episodes: Episodes, data: TaskData) -> dict[str, float]:
        w = data.washout
        y = np.concatenate([self._targets(ep)[w:] for ep in episodes])
        p = np.concatenate([pr[w:] for pr in predictions])
        e = nrmse(y, p)
        return {"nrmse": e, "nmse": e * e}

    @staticmethod
    def _targets(ep: Episode) -> np.ndarray:
        if isinstance(ep.y, int):
            raise DataError("regression task got an episode with a class label")
        return ep.y


class ClassificationParams(TaskParams):
    #: how the states of one sequence become one decision (pooled class scores)
    pool: Literal["mean", "last", "max"] = "mean"
    alpha: float = Field(0.1, ge=0, allow_inf_nan=False)


class SequenceClassificationTask(Task):
    """One label per episode; by default a one-hot ridge classifier with pooled decisions.

    Scoring: a :class:`~physres.readout.RidgeClassifierReadout` is trained on
    every post-washout step of the training episodes towards its episode's
    one-hot label; a test episode's per-step class scores are pooled
    (``pool``: mean, last or max) and the largest wins. ``accuracy`` is the
    fraction of test episodes right, reported with ``chance`` (1 / number of
    classes).
    """

    Params: ClassVar[type[TaskParams]] = ClassificationParams
    metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    params: ClassificationParams

    def readout_spec(self, data: TaskData) -> tuple[str, dict[str, Any]]:
        return "classifier", {
            "alpha": self.params.alpha,
            "washout": data.washout,
            "pooling": self.params.pool,
        }

    def targets(self, episodes: Episodes, data: TaskData, n_features: int) -> np.ndarray:
        labels = [ep.label for ep in episodes]
        if len(set(labels)) < 2:
            raise DataError(
                f"training episodes hold one class only ({labels[0]}); need two or more"
            )
        return np.asarray(labels)

    def predict(self, readout: Any, states: Any) -> np.ndarray:
        """Predicted label of each episode."""
        return np.asarray(readout.predict(list(states)))

    def score(self, predictions: Any, episodes: Episodes, data: TaskData) -> dict[str, float]:
        pred = np.asarray(predictions)
        true = np.asarray([ep.label for ep in episodes])
        n_classes = max(len(data.classes), len(np.unique(true)))
        return {
            "accuracy": float(np.mean(pred == true)),
            "chance": 1.0 / n_classes,
            "n_episodes": float(len(true)),
        }
