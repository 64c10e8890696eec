"""The readouts tasks fit, in one place, so every task scores the same way.

Regression tasks fit :class:`~physres.readout.RidgeReadout` on all
post-washout steps of all training episodes. Sequence-classification tasks
fit :class:`~physres.readout.RidgeClassifierReadout`: every post-washout step
is trained towards its episode's one-hot label, and an episode's decision
pools the per-step class scores (mean, last or max) before the argmax.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from physres.readout import RidgeClassifierReadout, RidgeReadout

__all__ = ["fit_classifier", "fit_regression", "predict_classes", "predict_episodes"]


def _f64(states: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(x, dtype=np.float64) for x in states]


def fit_regression(
    states: Sequence[np.ndarray], targets: Sequence[np.ndarray], *, alpha: float, washout: int
) -> RidgeReadout:
    """Ridge with an unpenalised intercept on every step after each episode's ``washout``."""
    return RidgeReadout(alpha=alpha, washout=washout).fit(
        _f64(states), [np.asarray(y, dtype=np.float64).reshape(len(y), -1) for y in targets]
    )


def predict_episodes(readout: RidgeReadout, states: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per-episode predictions ``(T, n_out)`` (washout steps included)."""
    preds = readout.predict(_f64(states))
    return [np.asarray(p).reshape(len(x), -1) for p, x in zip(preds, states)]


def fit_classifier(
    states: Sequence[np.ndarray], labels: Sequence[int], *, alpha: float, washout: int, pool: str
) -> RidgeClassifierReadout:
    """One label per episode; per-step training, scores pooled by ``pool``."""
    return RidgeClassifierReadout(alpha=alpha, washout=washout, pooling=pool).fit(
        _f64(states), np.asarray(labels)
    )


def predict_classes(readout: RidgeClassifierReadout, states: Sequence[np.ndarray]) -> np.ndarray:
    """The predicted label of each episode."""
    return np.asarray(readout.predict(_f64(states)))
