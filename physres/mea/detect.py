"""Spike detection from raw MEA voltage: one code path for simulated and recorded raw.

``sim.mea`` (raw from its electrode model) and ``drivers.openephys`` (raw from
the acquisition board) feed the same :class:`SpikeDetector`, which emits the
``spikes`` events every MEA kind publishes (:data:`SPIKE_DTYPE`: ``(t_ns,
channel)``). The steps are the usual ones for MEA recordings (Quiroga et al.
2004; Wagenaar et al. 2005):

1. **Blanking** around every stimulus (default −0.8 ms … +2 ms): the raw is held
   at its last value before the window, so the filter never sees the
   artifact's edge (it would ring into spikes afterwards), and nothing inside
   the window can be detected.
2. **Band-pass** (Butterworth, 300–3,000 Hz by default, designed by
   ``scipy.signal.butter`` as second-order sections) run causally with its
   state carried from chunk to chunk.
3. **Threshold** at ``k ×`` the noise, noise = median(|x|) / 0.6745 per
   channel (the MAD estimate: spikes barely move it, unlike the standard
   deviation), estimated on the first ``noise_window_s`` of unblanked signal.
4. **Refractory period**: a spike is the sample where the filtered signal
   crosses the threshold; another on that channel counts only
   ``refractory_ms`` later.

Streaming is exact: the detector holds back the last ``pre`` samples of each
chunk (a stimulus announced with the next chunk may blank them), so feeding
a recording in chunks of any size gives the same spikes as feeding it whole.
The filter and the threshold scan are numba kernels (the filter is the same
direct-form-II-transposed recursion as ``scipy.signal.sosfilt``, checked
against it in the tests): SciPy's ``sosfilt`` alone runs 64 channels at 25 kHz
only about 40–60× faster than real time on one core here, the whole detector
must do better than 50×.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.signal as sps
from numba import njit
from pydantic import BaseModel, ConfigDict, Field, model_validator

from physres.errors import DataError, RuleError
from physres.mea.params import SPIKE_DTYPE

__all__ = ["SPIKE_DTYPE", "DetectParams", "SpikeDetector", "detect_spikes", "sos_filter"]


_JIT = {"cache": True, "fastmath": True, "error_model": "numpy", "nogil": True}
#: MAD → standard deviation of Gaussian noise
_MAD_TO_SIGMA = 1.0 / 0.6745


class DetectParams(BaseModel):
    """How spikes are found in raw voltage (the defaults suit 25 kHz MEA recordings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: pass band (Hz): below 300 Hz lies the local field potential, above 3 kHz mostly noise
    band_hz: tuple[float, float] = (300.0, 3000.0)
    #: Butterworth order of the band-pass (2 → two second-order sections)
    order: int = Field(2, ge=1, le=8)
    #: threshold in units of the MAD noise estimate (4–6 is usual; 5 keeps Gaussian noise
    #: to about one false crossing per channel per 10 minutes at 25 kHz)
    threshold_k: float = Field(5.0, gt=0, le=100, allow_inf_nan=False)
    #: negative-going spikes (extracellular, the usual case), positive, or both
    polarity: Literal["neg", "pos", "both"] = "neg"
    #: dead time after a spike on the same channel (ms): the band-passed spike has a second
    #: negative lobe about 1 ms after its trough that a shorter one counts again
    refractory_ms: float = Field(2.0, ge=0, le=1000, allow_inf_nan=False)
    #: blanking window around each stimulus (ms before, ms after its onset)
    blank_ms: tuple[float, float] = (0.8, 2.0)
    #: signal used to estimate the noise before detection starts (s of unblanked samples)
    noise_window_s: float = Field(0.5, gt=0, le=60, allow_inf_nan=False)
    #: fixed noise level per channel (µV, MAD-based sigma) instead of estimating it
    noise_uv: float | None = Field(None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check(self) -> DetectParams:
        lo, hi = self.band_hz
        if not 0 < lo < hi:
            raise RuleError("band_hz", f"band_hz must be 0 < low < high, got {self.band_hz}")
        if min(self.blank_ms) < 0:
            raise RuleError("blank_ms", f"blank_ms must be >= 0 on both sides, got {self.blank_ms}")
        return self


# ------------------------------------------------------------------- kernels
@njit(inline="always", **_JIT)
def _scan_row(row, t_abs, lo, hi, armed, last, refractory, ts, cs, k):  # type: ignore[no-untyped-def]
    """Threshold crossings in one sample row; returns the new spike count ``k``.

    A first, vectorisable pass asks whether any armed channel is past its
    threshold; only then does the branching pass run (most rows have none).
    """
    n_c = row.shape[0]
    hit = False
    for c in range(n_c):
        hit |= ((row[c] < lo[c]) | (row[c] > hi[c])) & armed[c]
    if not hit:
        for c in range(n_c):
            armed[c] = (row[c] >= lo[c]) & (row[c] <= hi[c])
        return k
    for c in range(n_c):
        v = row[c]
        if v < lo[c] or v > hi[c]:
            if armed[c] and t_abs - last[c] >= refractory:
                ts[k] = t_abs
                cs[k] = c
                k += 1
                last[c] = t_abs
            armed[c] = False
        else:
            armed[c] = True
    return k


def _capacity(n_t: int, n_c: int, refractory: int) -> int:
    """Most spikes ``n_t`` samples can hold: one per channel per refractory period (a
    crossing also needs a sample back inside the threshold, so at most every 2nd)."""
    return (n_t // max(int(refractory), 2) + 1) * n_c


@njit(**_JIT)
def _filter_detect(
    x: np.ndarray,
    n_t: np.int64,
    lookahead: np.int64,
    sos: np.ndarray,
    zi: np.ndarray,
    blank: np.ndarray,
    z: np.ndarray,
    was_blank: np.ndarray,
    detect: bool,
    lo: np.ndarray,
    hi: np.ndarray,
    armed: np.ndarray,
    last: np.ndarray,
    t0: np.int64,
    refractory: np.int64,
    cap: np.int64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Band-pass ``x`` (T, C) with sosfilt's recursion (direct form II transposed), in
    float32, vectorised across channels; optionally scan for threshold crossings.

    Only the first ``n_t`` rows are filtered; the rest are lookahead. Blanked
    rows output 0, freeze the filter and disarm every channel; the first row
    after a blank restarts each section in its steady state for the mean of
    the next ``lookahead`` rows (``zi``: scipy's ``sosfilt_zi``), so the filter
    never sees the artifact's edges and no step rings into false spikes (a
    restart at one noisy sample would: a 2σ sample becomes a 2σ step).
    ``z`` (sections, 2, C), ``was_blank`` (1,), ``armed`` (C,) and ``last``
    (C,) carry to the next chunk. Returns the filtered rows and the spikes
    (absolute sample, channel).
    """
    n_c = x.shape[1]
    n_s = sos.shape[0]
    y = np.empty((n_t, n_c), np.float32)
    buf = np.empty(n_c, np.float32)
    ts = np.empty(cap, np.int64)
    cs = np.empty(cap, np.int32)
    k = 0
    for t in range(n_t):
        if blank[t]:
            was_blank[0] = True
            for c in range(n_c):
                y[t, c] = 0.0
                armed[c] = False
            continue
        if was_blank[0]:
            was_blank[0] = False
            end = min(t + max(lookahead, 1), x.shape[0])
            for c in range(n_c):
                buf[c] = 0.0
            for r in range(t, end):
                for c in range(n_c):
                    buf[c] += x[r, c]
            for s in range(n_s):
                for c in range(n_c):
                    z[s, 0, c] = zi[s, 0] * buf[c] / (end - t)
                    z[s, 1, c] = zi[s, 1] * buf[c] / (end - t)
        for c in range(n_c):
            buf[c] = x[t, c]
        for s in range(n_s):
            b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
            z0 = z[s, 0]
            z1 = z[s, 1]
            for c in range(n_c):
                v = buf[c]
                out = b0 * v + z0[c]
                z0[c] = b1 * v - a1 * out + z1[c]
                z1[c] = b2 * v - a2 * out
                buf[c] = out
        for c in range(n_c):
            y[t, c] = buf[c]
        if detect:
            k = _scan_row(buf, t0 + t, lo, hi, armed, last, refractory, ts, cs, k)
    return y, ts[:k], cs[:k]


def sos_filter(x: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """What ``scipy.signal.sosfilt(sos, x, axis=0)`` computes on (T, C), in float32, by the
    detector's own kernel (from rest; the tests hold the two together)."""
    x = np.ascontiguousarray(x, np.float32)
    n_c = x.shape[1]
    sos32 = np.ascontiguousarray(sos, np.float32)
    y, _, _ = _filter_detect(
        x, np.int64(len(x)), np.int64(1), sos32, np.zeros((sos.shape[0], 2), np.float32),
        np.zeros(len(x), bool),
        np.zeros((sos.shape[0], 2, n_c), np.float32), np.array([False]), False,
        np.zeros(n_c, np.float32), np.zeros(n_c, np.float32), np.zeros(n_c, bool),
        np.zeros(n_c, np.int64), np.int64(0), np.int64(0), np.int64(0),
    )  # fmt: skip
    return y


# ------------------------------------------------------------------ detector
class SpikeDetector:
    """Streaming detector for one recording: feed raw chunks, get ``spikes`` events.

    ``process(raw, stim_samples)`` takes raw µV ``(samples, channels)`` (the
    next samples of the recording) and the absolute sample numbers of stimuli
    not announced before (at the latest with the raw that holds them); it
    returns the spikes whose samples are now final, time-ordered. ``flush()``
    returns the rest at the end. Absolute sample ``n`` is device time
    ``t0_ns + n · 1e9 / rate_hz``.
    """

    def __init__(
        self,
        n_channels: int,
        rate_hz: float,
        params: DetectParams | None = None,
        *,
        t0_ns: int = 0,
        holdback: int | None = None,
    ) -> None:
        if n_channels < 1 or not rate_hz > 0:
            raise DataError(
                f"SpikeDetector: need n_channels >= 1 and rate_hz > 0, got {n_channels}, {rate_hz}"
            )
        self.p = params or DetectParams()
        self.n_channels = int(n_channels)
        self.rate_hz = float(rate_hz)
        lo, hi = self.p.band_hz
        if hi >= rate_hz / 2:
            raise DataError(
                f"SpikeDetector: band_hz {self.p.band_hz} reaches the Nyquist frequency "
                f"{rate_hz / 2:g} Hz of {rate_hz:g} Hz raw"
            )
        self.sos = sps.butter(self.p.order, [lo, hi], btype="bandpass", fs=rate_hz, output="sos")
        self._sos32 = self.sos.astype(np.float32)
        self._zi32 = sps.sosfilt_zi(self.sos).astype(np.float32)
        self.pre = round(self.p.blank_ms[0] * rate_hz / 1000)
        self.post = round(self.p.blank_ms[1] * rate_hz / 1000)
        self.refractory = round(self.p.refractory_ms * rate_hz / 1000)
        self.noise_samples = max(1, round(self.p.noise_window_s * rate_hz))
        #: rows averaged for the filter's restart level after a blank (0.32 ms at 25 kHz)
        self.lookahead = max(1, round(0.32e-3 * rate_hz))
        #: rows held back from each chunk: a stimulus announced with the next chunk may
        #: blank ``pre`` of them, and a restart averages ``lookahead`` more (a caller that
        #: announces every stimulus a chunk ahead may pass ``holdback=0``: no latency)
        self.holdback = self.pre + self.lookahead if holdback is None else int(holdback)
        self.reset(t0_ns)

    def reset(self, t0_ns: int = 0) -> None:
        """Start a new recording at device time ``t0_ns`` (filter, noise and refractory state)."""
        c = self.n_channels
        self.t0_ns = int(t0_ns)
        self._z = np.zeros((self.sos.shape[0], 2, c), np.float32)
        self._was_blank = np.array([True])  # the first sample starts the filter at rest
        self._pending = np.zeros((0, c), np.float32)  # raw held back (a stimulus may blank it)
        self._next = 0  # absolute sample number of _pending[0]
        self._stims = np.zeros(0, np.int64)  # stimuli whose window may still matter
        self._blanks = np.zeros((0, 2), np.int64)  # other blanked [start, stop) sample ranges
        self._armed = np.zeros(c, bool)
        self._last = np.full(c, -(2**62), np.int64)
        #: chunks (raw, rows, blank, start, filtered) while the noise is unknown
        self._calib: list[tuple[np.ndarray, int, np.ndarray, int, np.ndarray]] = []
        self._calib_state: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.noise_uv: np.ndarray | None = None
        self._lohi: tuple[np.ndarray, np.ndarray] | None = None  # thresholds, once known
        if self.p.noise_uv is not None:
            self.noise_uv = np.full(c, float(self.p.noise_uv))
        #: spikes emitted and stimuli seen since reset; stimuli announced after the raw
        #: before them was filtered (their window's start could not be blanked)
        self.n_spikes = 0
        self.n_stimuli = 0
        self.n_late_stimuli = 0

    def sample_ns(self, samples: np.ndarray) -> np.ndarray:
        """Absolute sample numbers → ns since ``t0_ns`` (exact at 25 kHz: 40,000 ns)."""
        ns = 1e9 / self.rate_hz
        s = np.asarray(samples, np.int64)
        return s * round(ns) if ns == round(ns) else np.round(s * ns).astype(np.int64)

    @property
    def thresholds_uv(self) -> np.ndarray | None:
        """Per-channel threshold (µV of filtered signal), once the noise is known."""
        return None if self.noise_uv is None else self.p.threshold_k * self.noise_uv

    # ----------------------------------------------------------------- input
    def process(self, raw: np.ndarray, stim_samples: np.ndarray | None = None) -> np.ndarray:
        """The next raw samples (and newly known stimuli) → spikes now final."""
        raw = np.asarray(raw)
        if raw.ndim != 2 or raw.shape[1] != self.n_channels:
            raise DataError(
                f"SpikeDetector: raw must be (samples, {self.n_channels}) µV, got shape {raw.shape}"
            )
        if raw.dtype.kind not in "fiu":
            raise DataError(f"SpikeDetector: raw must be numbers, got dtype {raw.dtype}")
        if raw.dtype.kind == "f" and not np.isfinite(raw).all():
            row = int(np.argwhere(~np.isfinite(raw))[0][0])
            raise DataError(
                f"SpikeDetector: raw sample {self._next + len(self._pending) + row} is not finite"
            )
        self.add_stimuli(stim_samples)
        self._pending = np.concatenate([self._pending, raw.astype(np.float32, copy=False)])
        return self._run(max(len(self._pending) - self.holdback, 0))

    def add_stimuli(self, stim_samples: np.ndarray | None) -> None:
        """Announce stimuli by absolute sample number (before or with the raw that holds them)."""
        if stim_samples is None:
            return
        s = np.asarray(stim_samples, np.int64).ravel()
        if not s.size:
            return
        self.n_late_stimuli += int((s - self.pre < self._next).sum())
        self.n_stimuli += int(s.size)
        self._stims = np.union1d(self._stims, s)

    def blank(self, start: int, stop: int) -> None:
        """Blank samples ``[start, stop)`` too (a gap in the acquired data, say): nothing is
        detected there and the filter restarts after it, as after a stimulus."""
        if stop > start:
            self._blanks = np.concatenate([self._blanks, [[int(start), int(stop)]]])

    def flush(self) -> np.ndarray:
        """End of recording: the held-back samples too; a recording shorter than the noise
        window is thresholded with the noise of what there is."""
        out = self._run(len(self._pending))
        if self.noise_uv is None and self._calib:
            out = np.concatenate([out, self._calibrate()])
        return out

    # -------------------------------------------------------------- internals
    def _blank_mask(self, start: int, n: int) -> np.ndarray:
        if not self._stims.size and not self._blanks.size:
            return np.zeros(n, bool)
        lo = np.concatenate([self._stims - self.pre, self._blanks[:, 0]])
        hi = np.concatenate([self._stims + self.post, self._blanks[:, 1]])
        lo, hi = np.clip(lo - start, 0, n), np.clip(hi - start, 0, n)
        delta = np.zeros(n + 1, np.int64)
        np.add.at(delta, lo, 1)
        np.add.at(delta, hi, -1)
        return np.cumsum(delta[:-1]) > 0

    def _thresholds(self) -> tuple[np.ndarray, np.ndarray]:
        if self._lohi is not None:
            return self._lohi
        thr = self.thresholds_uv
        # the largest float32, not inf: the kernels are compiled with fastmath (no infs)
        inf = np.full(self.n_channels, np.finfo(np.float32).max, np.float32)
        if thr is None:
            return -inf, inf
        thr = thr.astype(np.float32)
        lo = -thr if self.p.polarity in ("neg", "both") else -inf
        hi = thr if self.p.polarity in ("pos", "both") else inf
        self._lohi = (lo, hi)
        return lo, hi

    def _run(self, n: int) -> np.ndarray:
        if n <= 0:
            return np.zeros(0, SPIKE_DTYPE)
        x, self._pending = np.ascontiguousarray(self._pending), self._pending[n:]
        start = self._next
        self._next += n
        blank = self._blank_mask(start, n)
        if self._stims.size:  # forget windows that are done with
            self._stims = self._stims[self._stims + self.post > self._next]
        if self._blanks.size:
            self._blanks = self._blanks[self._blanks[:, 1] > self._next]
        if self.noise_uv is not None:
            return self._filter(x, n, blank, start, detect=True)[1]
        if not self._calib:  # filter state at the start, to filter again once calibrated
            self._calib_state = (self._z.copy(), self._was_blank.copy(), self._armed.copy())
        y, _ = self._filter(x, n, blank, start, detect=False)
        self._calib.append((x, n, blank, start, y))
        if sum(int((~c[2]).sum()) for c in self._calib) < self.noise_samples:
            return np.zeros(0, SPIKE_DTYPE)
        return self._calibrate()

    def _filter(
        self, x: np.ndarray, n: int, blank: np.ndarray, start: int, *, detect: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self._thresholds()
        y, ts, cs = _filter_detect(
            x, np.int64(n), np.int64(self.lookahead), self._sos32, self._zi32, blank, self._z,
            self._was_blank, detect, lo, hi, self._armed, self._last, np.int64(start),
            np.int64(self.refractory), np.int64(_capacity(n, self.n_channels, self.refractory)),
        )  # fmt: skip
        return y, self._events(ts, cs)

    def _calibrate(self) -> np.ndarray:
        """Noise from the first ``noise_samples`` unblanked rows, then the buffered rows
        filtered again, detecting (so thresholds do not depend on how raw was chunked)."""
        chunks, self._calib = self._calib, []
        y = np.concatenate([c[4] for c in chunks])
        blank = np.concatenate([c[2] for c in chunks])
        quiet = y[~blank][: self.noise_samples]
        if len(quiet) == 0:
            quiet = y
        step = max(1, len(quiet) // 20_000)  # a median of 20k samples per channel is plenty
        mad = np.median(np.abs(quiet[::step]), axis=0)
        self.noise_uv = np.maximum(mad * _MAD_TO_SIGMA, 1e-6)
        z, was_blank, armed = self._calib_state
        self._z[:], self._was_blank[:], self._armed[:] = z, was_blank, armed
        events = [self._filter(x, n, b, start, detect=True)[1] for x, n, b, start, _ in chunks]
        return np.concatenate(events)

    def _events(self, ts: np.ndarray, cs: np.ndarray) -> np.ndarray:
        out = np.empty(len(ts), SPIKE_DTYPE)
        if not len(ts):
            return out
        out["t_ns"] = self.t0_ns + self.sample_ns(ts)
        out["channel"] = cs
        self.n_spikes += len(out)
        return out


def detect_spikes(
    raw: np.ndarray,
    rate_hz: float,
    stim_samples: np.ndarray | None = None,
    params: DetectParams | None = None,
    *,
    t0_ns: int = 0,
) -> np.ndarray:
    """Spikes of a whole recording (``SpikeDetector`` fed once, then flushed)."""
    raw = np.asarray(raw)
    if raw.ndim != 2:
        raise DataError(f"detect_spikes: raw must be (samples, channels), got shape {raw.shape}")
    det = SpikeDetector(raw.shape[1], rate_hz, params, t0_ns=t0_ns)
    first = det.process(raw, stim_samples)
    return np.concatenate([first, det.flush()])
