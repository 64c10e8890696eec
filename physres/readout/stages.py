"""Feature stages a run config chains in front of a readout (scikit-learn transformers).

Each stage takes one episode or a list of episodes (what the drive loop
returns) and gives the same back, transformed; state that carries within an
episode (a trace, a delay line) starts afresh at every episode, so results do
not depend on how episodes were batched. The streaming classes in
:mod:`physres.readout.features` do the arithmetic; these are their
estimator-contract faces (``__init__`` only stores, ``fit`` returns self).

* :class:`Flatten` — ``(T, ...)`` samples (frames, arrays) → ``(T, F)`` rows.
* :class:`EventFeatures` — :class:`~physres.readout.features.EventWindow` →
  spike counts per task step and channel, optionally exponential traces.
* :class:`DelayFeatures` — past rows as extra features.
* :class:`PoolSequences` — one row per episode (mean / last / max / stats) for
  sequence tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from physres.errors import DataError
from physres.readout.features import DelayEmbedding, EventWindow, ExpTrace, bin_events

__all__ = ["DelayFeatures", "EventFeatures", "Flatten", "PoolSequences"]


class _EpisodeStage(TransformerMixin, BaseEstimator):
    """One episode in, one out; a list of episodes maps element by element."""

    #: whether the raw-input control (task inputs as rows) can go through this stage
    takes_rows: ClassVar[bool] = True

    def _check(self) -> None:
        """Validate the parameters (raise DataError naming the bad one)."""

    def _episode(self, x: Any) -> np.ndarray:
        """One episode's rows: the one method every stage must define."""
        raise NotImplementedError(f"{type(self).__name__} defines no _episode(x)")

    def fit(self, X: Any, y: Any = None) -> _EpisodeStage:
        """Check the parameters; stages learn nothing from data unless they say so."""
        self._check()
        self.fitted_ = True
        return self

    def transform(self, X: Any) -> Any:
        self._check()
        if isinstance(X, (list, tuple)):
            return [self._episode(x) for x in X]
        return self._episode(X)


class Flatten(_EpisodeStage):
    """``(T, *shape)`` → ``(T, prod(shape))`` float64: a frame or an array becomes one row."""

    def _episode(self, x: Any) -> np.ndarray:
        a = np.asarray(x)
        if a.ndim < 1 or a.dtype.fields:
            raise DataError(f"Flatten: expected numeric samples (T, ...), got {a.dtype} {a.shape}")
        return a.reshape(len(a), -1).astype(np.float64, copy=False)


class EventFeatures(_EpisodeStage):
    """Spike/address events → counts per task step and channel, optionally filtered.

    Parameters
    ----------
    tau : None (counts), or a time constant in task steps (or a list of them):
        ``trace_t = e^{-1/tau} trace_{t-1} + count_t``, one block of channels
        per ``tau``. Traces give a linear readout the recent past of spiking
        substrates (Maass et al. 2002 read a liquid through synaptic filters).
    n_channels : channels to expect; None takes the device's declared count or,
        failing that, one more than the largest channel seen in training.

    Learned: ``n_channels_``.
    """

    takes_rows: ClassVar[bool] = False

    def __init__(self, tau: float | Sequence[float] | None = None, n_channels: int | None = None):
        self.tau = tau
        self.n_channels = n_channels

    def _taus(self) -> list[float]:
        if self.tau is None:
            return []
        taus = [self.tau] if np.isscalar(self.tau) else list(self.tau)  # type: ignore[arg-type]
        if not taus or not all(isinstance(t, (int, float)) and t > 0 for t in taus):
            raise DataError(
                f"EventFeatures: tau must be > 0 task steps (or a list), got {self.tau!r}"
            )
        return [float(t) for t in taus]

    def _check(self) -> None:
        self._taus()
        c = self.n_channels
        if c is not None and (isinstance(c, bool) or not isinstance(c, int) or c < 1):
            raise DataError(f"EventFeatures: n_channels must be an int >= 1, got {c!r}")

    @staticmethod
    def _window(x: Any) -> EventWindow:
        if not isinstance(x, EventWindow):
            raise DataError(
                f"EventFeatures: expected EventWindow episodes from an event stream, got "
                f"{type(x).__name__}; use it on a device stream that carries 'events'"
            )
        return x

    def fit(self, X: Any, y: Any = None) -> EventFeatures:
        self._check()
        windows = [self._window(x) for x in (X if isinstance(X, (list, tuple)) else [X])]
        declared = {w.n_channels for w in windows if w.n_channels is not None}
        if self.n_channels is not None:
            self.n_channels_ = int(self.n_channels)
        elif declared:
            self.n_channels_ = int(max(declared))
        else:
            seen = [int(w.events["channel"].max()) for w in windows if len(w.events)]
            if not seen:
                raise DataError("EventFeatures: no events in any training episode; nothing to bin")
            self.n_channels_ = max(seen) + 1
        self.fitted_ = True
        return self

    def _episode(self, x: Any) -> np.ndarray:
        w = self._window(x)
        if not hasattr(self, "n_channels_"):
            raise DataError("EventFeatures: call fit() first (it fixes the channel count)")
        counts = bin_events(
            w.events,
            t0_ns=w.t0_ns,
            bin_ns=w.step_ns,
            n_bins=w.n_steps,
            n_channels=self.n_channels_,
        )
        taus = self._taus()
        if not taus:
            return counts
        return np.hstack([ExpTrace(t).transform(counts) for t in taus])


class DelayFeatures(_EpisodeStage):
    """``[x_{t-d} for d in delays]`` side by side (zeros before the episode's start).

    ``delays`` as an int ``k`` means ``0..k-1``; cover the zero rows with the
    readout's washout.
    """

    def __init__(self, delays: int | Sequence[int] = 2) -> None:
        self.delays = delays

    def _check(self) -> None:
        DelayEmbedding(self.delays)

    def _episode(self, x: Any) -> np.ndarray:
        a = np.asarray(x, dtype=np.float64)
        return DelayEmbedding(self.delays).transform(a)


_HOW = ("mean", "last", "max", "stats")


class PoolSequences(_EpisodeStage):
    """One row per episode: mean, last, per-feature max, or ``stats`` over its decision window.

    ``stats`` puts mean, standard deviation, first and last row side by side
    (4 x the features): pooled state statistics for a seq-to-vector readout.

    ``skip`` rows at the start of each episode are left out (the run fills it
    with the task's washout unless set), then the last ``window`` rows (None:
    all) are pooled. A classifier then fits one row per sequence.
    """

    def __init__(self, how: str = "mean", window: int | None = None, skip: int = 0) -> None:
        self.how = how
        self.window = window
        self.skip = skip

    def _check(self) -> None:
        if self.how not in _HOW:
            raise DataError(f"PoolSequences: how must be one of {_HOW}, got {self.how!r}")
        for name in ("window", "skip"):
            v = getattr(self, name)
            if v is None and name == "window":
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "window" else 0):
                raise DataError(
                    f"PoolSequences: {name} must be an int >= "
                    f"{1 if name == 'window' else 0}, got {v!r}"
                )

    def _episode(self, x: Any) -> np.ndarray:
        a = np.asarray(x, dtype=np.float64)
        rows = a[self.skip :]
        if self.window is not None:
            rows = rows[-self.window :]
        if len(rows) == 0:
            raise DataError(
                f"PoolSequences: skip={self.skip} leaves no rows of an episode of {len(a)}"
            )
        if self.how == "mean":
            return rows.mean(axis=0, keepdims=True)
        if self.how == "last":
            return rows[-1:].copy()
        if self.how == "stats":
            return np.hstack([rows.mean(axis=0), rows.std(axis=0), rows[0], rows[-1]])[None, :]
        return rows.max(axis=0, keepdims=True)
