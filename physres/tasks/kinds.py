"""The two scoring families every task falls in: per-step regression, sequence labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from physres.errors import DataError
from physres.tasks import _readout
from physres.tasks.base import Episode, Episodes, States, Task, TaskData, TaskParams, nrmse

__all__ = ["ClassificationParams", "RegressionTask", "SequenceClassificationTask"]


class RegressionTask(Task):
    """Targets per step; a ridge readout over all post-washout training steps.

    Scoring: the readout fitted on the training episodes predicts every test
    step; the first ``washout`` steps of each test episode are dropped; the
    rest are concatenated and scored by :func:`~physres.tasks.base.nrmse`
    (RMSE / std of the target, averaged over outputs) and NMSE (its square).
    """

    metric: ClassVar[str] = "nrmse"

    def fit_readout(self, states: States, episodes: Episodes, data: TaskData) -> Any:
        targets = [self._targets(ep) for ep in episodes]
        return _readout.fit_regression(
            states, targets, alpha=self.params.alpha, washout=data.washout
        )

    def predict(self, readout: Any, states: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per-episode predictions of a fitted readout (washout steps included)."""
        return _readout.predict_episodes(readout, states)

    def score(
        self, readout: Any, states: States, episodes: Episodes, data: TaskData
    ) -> dict[str, float]:
        preds = self.predict(readout, states)
        w = data.washout
        y = np.concatenate([self._targets(ep)[w:] for ep in episodes])
        p = np.concatenate([pr[w:] for pr in preds])
        e = nrmse(y, p)
        return {"nrmse": e, "nmse": e * e}

    @staticmethod
    def _targets(ep: Episode) -> np.ndarray:
        if isinstance(ep.y, int):
            raise DataError("regression task got an episode with a class label")
        return ep.y


class ClassificationParams(TaskParams):
    #: how the states of one sequence become one feature vector
    pool: Literal["mean", "last", "max"] = "mean"
    alpha: float = Field(0.1, ge=0, allow_inf_nan=False)


class SequenceClassificationTask(Task):
    """One label per episode; one-hot ridge classifier with pooled decisions.

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

    def fit_readout(self, states: States, episodes: Episodes, data: TaskData) -> Any:
        labels = [ep.label for ep in episodes]
        if len(set(labels)) < 2:
            raise DataError(
                f"training episodes hold one class only ({labels[0]}); need two or more"
            )
        return _readout.fit_classifier(
            states, labels, alpha=self.params.alpha, washout=data.washout, pool=self.params.pool
        )

    def predict(self, readout: Any, states: Sequence[np.ndarray]) -> np.ndarray:
        """Predicted label of each episode."""
        return _readout.predict_classes(readout, states)

    def score(
        self, readout: Any, states: States, episodes: Episodes, data: TaskData
    ) -> dict[str, float]:
        pred = self.predict(readout, states)
        true = np.asarray([ep.label for ep in episodes])
        n_classes = max(len(data.classes), len(np.unique(true)))
        return {
            "accuracy": float(np.mean(pred == true)),
            "chance": 1.0 / n_classes,
            "n_episodes": float(len(true)),
        }
