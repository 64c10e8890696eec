"""Ridge classification readout: one-hot targets, per-timestep or per-sequence decisions.

Per-timestep (``pooling=None``): every row has a label, as when a reservoir
tracks a changing input class. Per-sequence (``pooling`` = "mean", "last"
or "max"): X is a list of episodes with one label each (a spoken word, one
bucket trial); the readout is trained on every row of each episode's
decision window (the last ``window`` rows after washout, or all of them) and
the decision pools the per-row class scores over that window: their mean,
the last row's, or the per-class maximum.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from physres.errors import DataError
from physres.readout.ridge import _check_alpha, _RidgeCore
from physres.readout.validation import (
    check_washout,
    is_episode_list,
    raise_nonfinite,
    split_lengths,
)

__all__ = ["RidgeClassifierReadout"]

_POOLINGS = (None, "mean", "last", "max")


def _check_labels_finite(labels: np.ndarray, where: str, row0: int = 0) -> None:
    """Float labels with NaN/inf are refused with the first bad position."""
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise_nonfinite("y", labels.reshape(-1, 1), where, row0)


class RidgeClassifierReadout(ClassifierMixin, _RidgeCore, BaseEstimator):
    """Ridge regression onto one-hot class indicators; predict = argmax of the scores.

    Parameters
    ----------
    alpha, fit_intercept, washout, nan_policy : as :class:`RidgeReadout`.
    pooling : None (a label per row) or "mean" / "last" / "max" (a label per episode).
    window : rows at the end of each episode used for training and pooling
        (None: all rows after the washout). Per-sequence mode only.

    Learned: ``classes_``, ``coef_`` (n_classes, p), ``intercept_`` (n_classes,),
    ``n_features_in_``, ``stats_``.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        fit_intercept: bool = True,
        washout: int = 0,
        nan_policy: str = "raise",
        pooling: str | None = None,
        window: int | None = None,
    ) -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.washout = washout
        self.nan_policy = nan_policy
        self.pooling = pooling
        self.window = window

    def _check_y(self, y: Any) -> np.ndarray:
        """Labels: 1-D (a column vector warns, as in scikit-learn)."""
        y = column_or_1d(y, warn=True)
        _check_labels_finite(y, "")
        return y

    def _check_mode(self) -> int | None:
        owner = self._owner()
        if self.pooling not in _POOLINGS:
            raise DataError(f"{owner}: pooling must be one of {_POOLINGS}, got {self.pooling!r}")
        w = self.window
        if w is not None and (isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1):
            raise DataError(f"{owner}: window must be None or an int >= 1, got {w!r}")
        if w is not None and self.pooling is None:
            raise DataError(f"{owner}: window applies to per-sequence pooling; set pooling too")
        return None if w is None else int(w)

    def fit(self, X: Any, y: Any) -> RidgeClassifierReadout:
        """Fit on rows with labels (pooling=None) or on episodes with one label each."""
        alpha = _check_alpha(self.alpha, self._owner())
        window = self._check_mode()
        for attr in ("stats_", "coef_", "intercept_", "classes_"):
            self.__dict__.pop(attr, None)
        self.n_seen_ = 0
        per_seq = self.pooling is not None
        blocks = self._blocks(X, y, reset=True, sequence_y=per_seq)
        labels = [np.atleast_1d(np.asarray(yb)) for _, yb, _, _ in blocks]
        for lab, (_, _, row0, where) in zip(labels, blocks):
            _check_labels_finite(lab, f"{self._owner()}: {where}", 0 if per_seq else row0)
        all_labels = np.concatenate(labels)
        try:
            check_classification_targets(all_labels)
        except ValueError as e:  # continuous targets: a regression task
            raise DataError(
                f"{self._owner()}: targets are not class labels ({e}); a classifier "
                "reads classification tasks, use readout kind ridge for this one"
            ) from e
        self.classes_ = np.unique(all_labels)
        self.y_ndim_ = 2
        onehot_blocks = []
        for (Xb, _, row0, where), lab in zip(blocks, labels):
            if per_seq:
                if window is not None and len(Xb) > window:
                    row0 += len(Xb) - window
                    Xb = Xb[-window:]
                lab = np.repeat(lab, len(Xb))
            Y = (lab[:, None] == self.classes_[None, :]).astype(np.float64)
            onehot_blocks.append((Xb, Y, row0, where))
        self._accumulate_blocks(onehot_blocks)
        self._solve_stats(alpha)
        return self

    def _scores(self, X: Any) -> np.ndarray:
        """Class scores (n, n_classes): one row per input row, or one per episode."""
        check_is_fitted(self, "coef_")
        if self.pooling is None:
            if is_episode_list(X):
                Xs = self._check_X_episodes(list(X), reset=False)
                return np.concatenate([self._decision(x) for x in Xs])
            return self._decision(self._check_X_predict(X))
        window = self._check_mode()
        washout = check_washout(self.washout, self._owner())
        if not is_episode_list(X):
            raise DataError(
                f"{self._owner()}: pooling={self.pooling!r} decides per episode; expected X as "
                f"a list of 2-D arrays, got {type(X).__name__}"
            )
        Xs = self._check_X_episodes(list(X), reset=False)
        split_lengths([len(x) for x in Xs], washout, self._owner())
        out = np.empty((len(Xs), len(self.classes_)))
        for i, x in enumerate(Xs):
            rows = x[washout:] if window is None else x[washout:][-window:]
            s = self._decision(rows)
            if self.pooling == "mean":
                out[i] = s.mean(axis=0)
            elif self.pooling == "last":
                out[i] = s[-1]
            else:
                out[i] = s.max(axis=0)
        return out

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores per class; for two classes a 1-D margin (> 0 means ``classes_[1]``)."""
        s = self._scores(X)
        if len(self.classes_) == 2:
            return s[:, 1] - s[:, 0]
        return s

    def predict(self, X: Any) -> np.ndarray:
        """Labels: per row (pooling=None, episodes concatenated) or per episode."""
        scores = self._scores(X)  # checks fitted before classes_ is touched
        return self.classes_[np.argmax(scores, axis=1)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy; per-row scoring skips each episode's washout rows."""
        pred = self.predict(X)
        washout = check_washout(self.washout, self._owner())
        if self.pooling is not None:
            return float(accuracy_score(np.asarray(y), pred, sample_weight=sample_weight))
        if is_episode_list(X):
            lengths = np.cumsum([0] + [len(x) for x in X])
            keep = np.concatenate([np.arange(a + washout, b) for a, b in pairwise(lengths)])
            y_true = np.concatenate([np.asarray(t) for t in y])[keep]
            return float(accuracy_score(y_true, pred[keep], sample_weight=sample_weight))
        return float(
            accuracy_score(np.asarray(y)[washout:], pred[washout:], sample_weight=sample_weight)
        )
