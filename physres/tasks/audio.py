"""Audio front-end: a gammatone filterbank "cochleagram" that becomes device drive.

Speech reaches a physical reservoir the way sound reaches an ear: split into
frequency bands, each band's envelope becomes one input channel (a motor's
speed, an electrode's stimulation amplitude). The filters are 4th-order
gammatone IIR filters (``scipy.signal.gammatone``) with centres spaced evenly
on the ERB-rate scale (Glasberg & Moore 1990); each band is half-wave
rectified, averaged over frames of 1/``frame_rate`` s and log-compressed.
The dB values are mapped onto task units with *fixed* constants
(``floor_db`` → -1, ``ceil_db`` → +1, clipped), never with statistics of a data set, so no
test information leaks into the features. Audio is peak-normalised per
utterance first, as a microphone's automatic gain control would.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal

from physres.errors import DataError

__all__ = ["cochleagram", "erb_space", "mulaw_decode", "mulaw_encode"]

_MU = 255.0


def erb_space(f_min: float, f_max: float, n: int) -> np.ndarray:
    """``n`` centre frequencies evenly spaced on the ERB-rate scale."""
    lo, hi = (21.4 * np.log10(1 + 0.00437 * f) for f in (f_min, f_max))
    return (10 ** (np.linspace(lo, hi, n) / 21.4) - 1) / 0.00437


@lru_cache(maxsize=32)
def _filterbank(fs: int, n_bands: int, f_min: float, f_max: float) -> tuple:
    return tuple(signal.gammatone(float(f), "iir", fs=fs) for f in erb_space(f_min, f_max, n_bands))


def cochleagram(
    audio: np.ndarray,
    fs: int,
    *,
    n_bands: int = 16,
    f_min: float = 100.0,
    f_max: float = 3500.0,
    frame_rate: float = 100.0,
    floor_db: float = -60.0,
    ceil_db: float = -20.0,
) -> np.ndarray:
    """Band envelopes ``(frames, n_bands)`` in task units [-1, 1] (see the module doc)."""
    x = np.asarray(audio, dtype=np.float64).ravel()
    if x.size == 0 or not np.isfinite(x).all():
        raise DataError("cochleagram: audio is empty or holds NaN/inf")
    if not 0 < f_min < f_max < fs / 2:
        raise DataError(f"cochleagram: need 0 < f_min < f_max < fs/2, got {f_min}, {f_max}, {fs}")
    if not floor_db < ceil_db <= 0:
        raise DataError(f"cochleagram: need floor_db < ceil_db <= 0, got {floor_db}, {ceil_db}")
    peak = np.abs(x).max()
    if peak > 0:
        x = x / peak
    hop = fs / frame_rate
    n_frames = int(np.floor(len(x) / hop))
    if n_frames < 1:
        raise DataError(f"cochleagram: {len(x)} samples is shorter than one frame ({hop:g})")
    edges = np.floor(np.arange(n_frames + 1) * hop).astype(np.int64)
    out = np.empty((n_frames, n_bands))
    for j, (b, a) in enumerate(_filterbank(int(fs), n_bands, float(f_min), float(f_max))):
        env = np.maximum(signal.lfilter(b, a, x), 0.0)
        out[:, j] = np.add.reduceat(env[: edges[-1]], edges[:-1]) / np.diff(edges)
    db = 20.0 * np.log10(out + 10 ** (floor_db / 20.0))
    return np.clip(2.0 * (db - floor_db) / (ceil_db - floor_db) - 1.0, -1.0, 1.0)


def mulaw_encode(x: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] → 8-bit μ-law codes (halves the shipped data set)."""
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(_MU * np.abs(x)) / np.log1p(_MU)
    return np.rint((y + 1.0) / 2.0 * _MU).astype(np.uint8)


def mulaw_decode(codes: np.ndarray) -> np.ndarray:
    """8-bit μ-law codes → float audio in [-1, 1]."""
    y = np.asarray(codes, dtype=np.float64) / _MU * 2.0 - 1.0
    return np.sign(y) * ((1.0 + _MU) ** np.abs(y) - 1.0) / _MU
