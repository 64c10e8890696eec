"""Feature transforms that turn a substrate's raw stream into readout rows.

Small, composable, and streaming: every stateful transform keeps just enough
history (the previous frame, the partial bin, the filter state, the last few
rows) that feeding a recording chunk by chunk gives exactly the rows that one
call on the whole recording gives. ``reset()`` starts a new episode.

* :class:`FramePreprocessor` — camera frames as the 2003 paper read them:
  region of interest, grey, an OpenCV ``INTER_AREA`` grid (≈ 5× NumPy on
  these machines), frame difference, Sobel edges, optical flow; the camera
  driver and the simulated tank use it, and :class:`FrameFeatures` is the
  same thing as a pipeline stage.
* :class:`EventBinner`, :func:`bin_events` — spike/event records (a
  structured array with ``t_ns`` and ``channel`` fields) → counts per
  channel per bin.
* :class:`ExpTrace` — exponentially filtered traces of binned counts.
* :class:`DelayEmbedding`, :func:`delay_embed`, :func:`hstack_features` —
  past states as extra features, and concatenation with a length check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import scipy.signal as sps
from sklearn.base import BaseEstimator, TransformerMixin

from physres.errors import ConfigError, DataError, ResourceError

__all__ = [
    "DelayEmbedding",
    "EventBinner",
    "EventWindow",
    "ExpTrace",
    "FeatureKind",
    "FrameFeatures",
    "FramePreprocessor",
    "bin_events",
    "delay_embed",
    "feature_count",
    "hstack_features",
]

FeatureKind = Literal["grey", "diff", "sobel", "flow"]


def feature_count(size: tuple[int, int], kinds: Sequence[str]) -> int:
    """Length of one feature row: a grid per kind, two (x, y) for optical flow."""
    return int(size[0] * size[1] * sum(2 if k == "flow" else 1 for k in kinds))


class FramePreprocessor:
    """Grey frames → feature rows: ROI, INTER_AREA grid, difference, Sobel, optical flow.

    Stateful only in the previous frame (for ``diff`` and ``flow``); call
    :meth:`reset` between episodes. The first frame's difference and flow are 0.
    """

    def __init__(
        self,
        size: tuple[int, int] = (32, 32),
        kinds: Sequence[FeatureKind] = ("grey",),
        roi: tuple[int, int, int, int] | None = None,
        flow_width: int = 64,
    ) -> None:
        bad = [k for k in kinds if k not in ("grey", "diff", "sobel", "flow")]
        if bad or not kinds:
            raise ConfigError(
                f"features {list(kinds)!r}: each must be one of grey, diff, sobel, "
                "flow (at least one)"
            )
        self.size = (int(size[0]), int(size[1]))
        self.kinds = tuple(kinds)
        self.roi = roi
        self.flow_width = int(flow_width)
        self.n_features = feature_count(self.size, self.kinds)
        self.reset()

    def reset(self) -> None:
        self._prev_small: np.ndarray | None = None
        self._prev_flow: np.ndarray | None = None

    def _grid(self, img: np.ndarray) -> np.ndarray:
        h, w = self.size
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """One ``(H, W)`` (or BGR ``(H, W, 3)``) uint8 frame → ``(n_features,)`` float32."""
        img = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if self.roi is not None:
            top, bottom, left, right = self.roi
            img = img[top:bottom, left:right]
            if img.size == 0:
                raise DataError(
                    f"FramePreprocessor: roi {self.roi} is empty for frames {frame.shape}"
                )
        small = self._grid(img).astype(np.float32) * np.float32(1 / 255)
        parts: list[np.ndarray] = []
        for kind in self.kinds:
            if kind == "grey":
                parts.append(small.ravel())
            elif kind == "diff":
                prev = small if self._prev_small is None else self._prev_small
                parts.append(np.abs(small - prev).ravel())
            elif kind == "sobel":
                gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
                gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
                parts.append(self._grid(cv2.magnitude(gx, gy)).ravel() * np.float32(1 / 1020))
            else:  # dense optical flow (Farneback) on a reduced copy, pooled to the grid
                scale = min(1.0, self.flow_width / img.shape[1])
                fimg = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                if self._prev_flow is None or self._prev_flow.shape != fimg.shape:
                    flow = np.zeros((*fimg.shape, 2), np.float32)
                else:
                    flow = cv2.calcOpticalFlowFarneback(
                        self._prev_flow, fimg, None, 0.5, 2, 9, 2, 5, 1.1, 0
                    )
                self._prev_flow = fimg
                parts.append(self._grid(flow).reshape(-1, 2).T.ravel())
        self._prev_small = small
        return np.concatenate(parts).astype(np.float32, copy=False)

    def transform(self, frames: np.ndarray) -> np.ndarray:
        """``(T, H, W)`` frames → ``(T, n_features)``, continuing from the previous call."""
        out = np.empty((len(frames), self.n_features), np.float32)
        for i, f in enumerate(frames):
            out[i] = self(f)
        return out


class FrameFeatures(TransformerMixin, BaseEstimator):
    """The ``frame`` pipeline stage: :class:`FramePreprocessor` under the estimator contract.

    ``(T, H, W[, C])`` frames → ``(T, F)`` float64 rows; a list of episodes
    gives a list, each episode starting without a previous frame. A single
    array continues from the previous call (a recording fed in chunks).
    Parameters as :class:`FramePreprocessor`.
    """

    def __init__(
        self,
        size: tuple[int, int] = (32, 32),
        kinds: Sequence[FeatureKind] = ("grey",),
        roi: tuple[int, int, int, int] | None = None,
        flow_width: int = 64,
    ) -> None:
        self.size = size
        self.kinds = kinds
        self.roi = roi
        self.flow_width = flow_width

    def _new(self) -> FramePreprocessor:
        try:
            return FramePreprocessor(tuple(self.size), list(self.kinds), self.roi, self.flow_width)
        except (TypeError, ValueError) as e:
            raise DataError(f"FrameFeatures: {e}") from e

    def fit(self, X: Any = None, y: Any = None) -> FrameFeatures:
        """Checks the parameters; the only state is the previous frame."""
        self.pre_ = self._new()
        return self

    def reset(self) -> None:
        """Forget the previous frame (a new episode starts)."""
        self.pre_.reset()

    def transform(self, frames: Any) -> Any:
        if not hasattr(self, "pre_"):
            self.fit()
        if isinstance(frames, (list, tuple)):
            out = []
            for episode in frames:
                self.reset()
                out.append(self.transform(np.asarray(episode)))
            return out
        frames = np.asarray(frames)
        if frames.ndim not in (3, 4) or len(frames) == 0:
            raise DataError(
                f"FrameFeatures: expected frames shaped (T, H, W) or (T, H, W, C) with T > 0, "
                f"got {frames.shape}"
            )
        if frames.dtype != np.uint8:  # OpenCV's grey/resize/flow paths take 8-bit frames
            frames = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
        return self.pre_.transform(frames).astype(np.float64)


@dataclass(frozen=True)
class EventWindow:
    """One episode of an event stream and the task-step grid its events belong to.

    The drive loop makes these from spike or address-event streams (a list of
    ``(t_ns, channel)`` records, as an MEA or an AER board delivers them):
    ``events`` keep the device's own times; step ``i`` of the episode covers
    ``[t0_ns + i·step_ns, t0_ns + (i+1)·step_ns)``. ``n_channels`` is the
    device's channel count when it declares one.
    """

    events: np.ndarray
    t0_ns: int
    step_ns: int
    n_steps: int
    n_channels: int | None = None

    def __post_init__(self) -> None:
        if self.step_ns <= 0 or self.n_steps <= 0:
            raise DataError(
                f"EventWindow: need step_ns > 0 and n_steps > 0, got {self.step_ns}, {self.n_steps}"
            )
        _event_fields(np.asarray(self.events))

    def __len__(self) -> int:
        return self.n_steps


def _event_fields(events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    names = events.dtype.names or ()
    if "t_ns" not in names or "channel" not in names:
        raise DataError(
            f"events need a structured dtype with 't_ns' and 'channel' fields, got {events.dtype}"
        )
    return events["t_ns"].astype(np.int64), events["channel"].astype(np.int64)


def bin_events(
    events: np.ndarray, *, t0_ns: int, bin_ns: int, n_bins: int, n_channels: int
) -> np.ndarray:
    """Counts ``(n_bins, n_channels)`` of events in ``[t0 + i·bin, t0 + (i+1)·bin)``.

    Events outside the window are ignored; a channel outside ``[0, n_channels)``
    is an error (it means the wrong channel map).
    """
    if bin_ns <= 0 or n_bins < 0 or n_channels <= 0:
        raise DataError(
            f"bin_events: need bin_ns > 0, n_bins >= 0, n_channels > 0; got "
            f"{bin_ns}, {n_bins}, {n_channels}"
        )
    t, ch = _event_fields(np.asarray(events))
    bad = (ch < 0) | (ch >= n_channels)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"bin_events: event {i} has channel {ch[i]}, expected 0..{n_channels - 1}")
    idx = np.floor_divide(t - t0_ns, bin_ns)
    keep = (t >= t0_ns) & (idx < n_bins)
    flat = idx[keep] * n_channels + ch[keep]
    counts = np.bincount(flat, minlength=n_bins * n_channels)
    return counts.reshape(n_bins, n_channels).astype(np.float64)


class EventBinner:
    """Streaming :func:`bin_events`: emits every bin that has closed by ``until_ns``.

    Events of a bin that is not closed yet are kept for the next call; events
    older than the bins already emitted cannot be counted and are tallied in
    ``n_late`` (a sign the clock or the chunking is wrong).
    """

    def __init__(self, bin_ns: int, n_channels: int, t0_ns: int = 0) -> None:
        if bin_ns <= 0 or n_channels <= 0:
            raise DataError(
                f"EventBinner: need bin_ns > 0 and n_channels > 0, got {bin_ns}, {n_channels}"
            )
        self.bin_ns, self.n_channels = int(bin_ns), int(n_channels)
        self.reset(t0_ns)

    def reset(self, t0_ns: int = 0) -> None:
        self.cursor_ns = int(t0_ns)
        self.n_late = 0
        self._pending: np.ndarray | None = None

    def transform(self, events: np.ndarray, until_ns: int) -> np.ndarray:
        """Counts ``(n_closed_bins, n_channels)``: the bins ending at or before ``until_ns``."""
        events = np.asarray(events)
        t, _ = _event_fields(events)
        late = t < self.cursor_ns
        self.n_late += int(late.sum())
        events = events[~late]
        if self._pending is not None and len(self._pending):
            events = np.concatenate([self._pending, events])
        n_bins = max(0, (int(until_ns) - self.cursor_ns) // self.bin_ns)
        counts = bin_events(
            events,
            t0_ns=self.cursor_ns,
            bin_ns=self.bin_ns,
            n_bins=n_bins,
            n_channels=self.n_channels,
        )
        self.cursor_ns += n_bins * self.bin_ns
        self._pending = events[events["t_ns"] >= self.cursor_ns]
        return counts


class ExpTrace:
    """``trace_t = decay · trace_{t−1} + x_t`` per column, ``decay = exp(−1/tau)``.

    ``tau`` is in rows (bins). The filter state carries over between calls.
    """

    def __init__(self, tau: float) -> None:
        if not tau > 0:
            raise DataError(f"ExpTrace: tau must be > 0 rows, got {tau}")
        self.tau = float(tau)
        self.decay = float(np.exp(-1.0 / self.tau))
        self.reset()

    def reset(self) -> None:
        self._state: np.ndarray | None = None

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise DataError(f"ExpTrace: expected (T, channels), got shape {X.shape}")
        if self._state is None or self._state.shape[1] != X.shape[1]:
            self._state = np.zeros((1, X.shape[1]))
        y, zf = sps.lfilter([1.0], [1.0, -self.decay], X, axis=0, zi=self.decay * self._state)
        self._state = y[-1:].copy() if len(y) else self._state
        del zf
        return y


def delay_embed(X: np.ndarray, delays: Sequence[int] | int) -> np.ndarray:
    """``[x_{t−d} for d in delays]`` side by side; rows before the start are zeros.

    ``delays`` as an int ``k`` means ``0, 1, …, k−1``. The first ``max(delays)``
    rows contain zeros: cover them with the readout's washout.
    """
    return DelayEmbedding(delays).transform(X)


#: most delays (and the largest delay) an embedding takes: each one is a copy of every feature
MAX_DELAYS = 1_000_000


class DelayEmbedding:
    """Streaming :func:`delay_embed`: keeps the last ``max(delays)`` rows between calls."""

    def __init__(self, delays: Sequence[int] | int) -> None:
        n = int(delays) if np.isscalar(delays) else len(delays)  # type: ignore[arg-type]
        if n > MAX_DELAYS:  # before range() or the history allocate anything
            raise DataError(f"DelayEmbedding: {n:,} delays; at most {MAX_DELAYS:,}")
        d = list(range(n)) if np.isscalar(delays) else [int(x) for x in delays]  # type: ignore[union-attr]
        if not d or min(d) < 0:
            raise DataError(
                f"DelayEmbedding: delays must be non-negative and non-empty, got {delays!r}"
            )
        if max(d) > MAX_DELAYS:
            raise DataError(f"DelayEmbedding: delay {max(d):,} steps; at most {MAX_DELAYS:,}")
        self.delays = d
        self.reset()

    def reset(self) -> None:
        self._history: np.ndarray | None = None

    def _check_memory(self, T: int, n: int) -> None:
        from physres.readout.stats import available_memory_bytes

        k = len(self.delays)
        need = 8 * ((T + max(self.delays)) * n + T * n * k)
        avail = available_memory_bytes()
        if avail is not None and need > avail:
            raise ResourceError(
                f"DelayEmbedding: {T:,} steps of {n:,} features x {k:,} delays need about "
                f"{need / 2**30:.1f} GiB but {avail / 2**30:.1f} GiB are available; "
                "use fewer delays"
            )

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise DataError(f"DelayEmbedding: expected (T, features), got shape {X.shape}")
        m = max(self.delays)
        self._check_memory(len(X), X.shape[1])
        if self._history is None or self._history.shape[1] != X.shape[1]:
            self._history = np.zeros((m, X.shape[1]))
        full = np.concatenate([self._history, X])
        T = len(X)
        out = np.hstack([full[m - d : m - d + T] for d in self.delays])
        self._history = full[len(full) - m :] if m else full[:0]
        return out


def hstack_features(*blocks: np.ndarray, names: Sequence[str] | None = None) -> np.ndarray:
    """Concatenate feature blocks that must have the same number of rows."""
    arrays = [np.asarray(b, dtype=np.float64).reshape(len(b), -1) for b in blocks]
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) > 1:
        labels = names or [f"block {i}" for i in range(len(arrays))]
        detail = ", ".join(f"{n}: {L}" for n, L in zip(labels, lengths))
        raise DataError(f"hstack_features: blocks have different row counts ({detail})")
    return np.hstack(arrays)
