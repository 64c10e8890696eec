"""Two ways to output actions: RT-1-style tokens and ACT-style chunks.

* :class:`ActionTokenizer` cuts each action dimension's range (the action
  spec's bounds) into 256 uniform bins; the model classifies every dimension
  (RT-1, Brohan et al. 2022). Decoding gives the bin centre, so a round trip
  moves an action by at most half a bin.
* :func:`chunk_targets` makes each step's label the next ``k`` actions (a
  chunk, padded and masked at the episode's end), and :class:`ChunkEnsembler`
  averages the chunks predicted for the same step with weights ``exp(-m i)``,
  oldest first (ACT's temporal ensembling, Zhao et al. 2023).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from physres.errors import DataError

__all__ = ["ActionTokenizer", "ChunkEnsembler", "chunk_targets"]


class ActionTokenizer:
    """Uniform bins per action dimension between ``low`` and ``high`` (inclusive)."""

    def __init__(self, low: Sequence[float], high: Sequence[float], bins: int = 256) -> None:
        self.low = np.asarray(low, np.float64)
        self.high = np.asarray(high, np.float64)
        if self.low.shape != self.high.shape or not (self.high > self.low).all():
            raise DataError(f"tokenizer bounds low={low} high={high}: need low < high per dim")
        if bins < 2:
            raise DataError(f"tokenizer needs at least 2 bins, got {bins}")
        self.bins = int(bins)
        self.width = (self.high - self.low) / self.bins

    @property
    def dim(self) -> int:
        return self.low.size

    def encode(self, actions: np.ndarray) -> np.ndarray:
        """int64 tokens in ``[0, bins)`` of shape ``actions.shape`` (values clipped to range)."""
        a = np.asarray(actions, np.float64)
        if a.shape[-1] != self.dim:
            raise DataError(f"actions have {a.shape[-1]} dims, the tokenizer {self.dim}")
        if not np.isfinite(a).all():
            raise DataError("cannot tokenize a non-finite action")
        k = np.floor((np.clip(a, self.low, self.high) - self.low) / self.width)
        return np.clip(k, 0, self.bins - 1).astype(np.int64)

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        """float32 bin centres of ``tokens``; out-of-range tokens are an error."""
        t = np.asarray(tokens)
        if t.shape[-1] != self.dim:
            raise DataError(f"tokens have {t.shape[-1]} dims, the tokenizer {self.dim}")
        if t.size and (t.min() < 0 or t.max() >= self.bins):
            raise DataError(f"token outside [0, {self.bins}): {int(t.min())}..{int(t.max())}")
        return (self.low + (t + 0.5) * self.width).astype(np.float32)


def chunk_targets(actions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per step ``t`` the actions ``t..t+k-1``: ``(T, k, A)`` and a ``(T, k)`` validity mask.

    Past the episode's end the last action is repeated and masked out of the loss.
    """
    a = np.asarray(actions, np.float32)
    if a.ndim != 2 or k < 1:
        raise DataError(f"chunk_targets needs (T, A) actions and k >= 1, got {a.shape}, k={k}")
    t_len = len(a)
    idx = np.arange(t_len)[:, None] + np.arange(k)[None, :]
    valid = idx < t_len
    return a[np.minimum(idx, t_len - 1)], valid


class ChunkEnsembler:
    """Temporal ensembling: every chunk predicted in the last ``k`` steps votes for this step.

    ``push(chunk)`` once per control step with the newest ``(k, A)`` chunk, then
    the returned action is ``sum_i w_i a_i / sum_i w_i`` over the predictions for
    this step, ``w_i = exp(-m i)`` with ``i = 0`` the oldest (ACT's choice: older
    predictions weigh more, which smooths the motion).
    """

    def __init__(self, k: int, m: float = 0.1) -> None:
        if k < 1 or m < 0:
            raise DataError(f"ChunkEnsembler needs k >= 1 and m >= 0, got k={k}, m={m}")
        self.k, self.m = int(k), float(m)
        self._chunks: deque[np.ndarray] = deque(maxlen=self.k)

    def reset(self) -> None:
        self._chunks.clear()

    def push(self, chunk: np.ndarray) -> np.ndarray:
        c = np.asarray(chunk, np.float64)
        if c.ndim != 2 or c.shape[0] != self.k:
            raise DataError(f"chunk shape {c.shape}, expected ({self.k}, A)")
        self._chunks.append(c)
        n = len(self._chunks)
        # the chunk pushed j steps ago (j = n-1 for the oldest) predicts this step at row j
        preds = np.stack([self._chunks[i][n - 1 - i] for i in range(n)])  # oldest first
        w = np.exp(-self.m * np.arange(n))
        return (w[:, None] * preds).sum(0) / w.sum()
