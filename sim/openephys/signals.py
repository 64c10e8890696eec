"""Synthetic MEA raw voltage with known spike and stimulus times (ground truth for detection).

Gaussian noise, extracellular spike waveforms (a sharp negative trough and a
slower positive rebound, about 1.5 ms long) on Poisson spike trains, and a
stimulation artifact on every channel at each stimulus: the biphasic current
pulse itself (hundreds of µV to mV at the electrodes, cathodic phase first)
and an exponential recovery tail. The Open Ephys emulator serves it when no
simulated culture feeds it; the detector's tests score against its truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physres.mea.params import SPIKE_DTYPE

__all__ = ["SyntheticRaw", "spike_waveform", "synthetic_raw"]


@dataclass(frozen=True)
class SyntheticRaw:
    """Raw µV ``(samples, channels)`` float32 and what is in it."""

    raw: np.ndarray
    rate_hz: float
    #: true spikes: (t_ns of the trough, channel), time-sorted
    spikes: np.ndarray
    #: stimulus onsets (absolute sample numbers)
    stim_samples: np.ndarray


def spike_waveform(rate_hz: float, amplitude_uv: float) -> tuple[np.ndarray, int]:
    """One extracellular spike sampled at ``rate_hz``, and the index of its trough."""
    t = np.arange(-0.5e-3, 1.5e-3, 1.0 / rate_hz)
    trough = -np.exp(-0.5 * (t / 0.12e-3) ** 2)
    rebound = 0.35 * np.exp(-0.5 * ((t - 0.45e-3) / 0.25e-3) ** 2)
    return (amplitude_uv * (trough + rebound)).astype(np.float32), int(np.argmin(trough))


def synthetic_raw(
    *,
    n_channels: int = 64,
    seconds: float = 2.0,
    rate_hz: float = 25_000.0,
    spike_rate_hz: float = 5.0,
    amplitude_uv: float = 80.0,
    noise_uv: float = 6.0,
    stim_hz: float = 0.0,
    artifact_uv: float = 1500.0,
    phase_us: float = 200.0,
    seed: int = 0,
) -> SyntheticRaw:
    """A recording with Poisson spikes (2.5 ms apart at least per channel) and artifacts.

    Stimuli come every ``1 / stim_hz`` s (0: none), starting 0.61 s in, so the
    noise estimate at the start sees a quiet signal.
    """
    rng = np.random.default_rng(seed)
    n = round(seconds * rate_hz)
    raw = rng.normal(0.0, noise_uv, (n, n_channels)).astype(np.float32)
    wave, trough = spike_waveform(rate_hz, amplitude_uv)
    gap = round(2.5e-3 * rate_hz)
    times, chans = [], []
    for c in range(n_channels):
        k = rng.poisson(spike_rate_hz * seconds)
        t = np.sort(rng.integers(trough, n - len(wave), k))
        keep = np.ones(len(t), bool)  # drop spikes closer than the refractory gap
        last = -(10**9)
        for i, ti in enumerate(t):
            keep[i] = ti - last >= gap
            last = ti if keep[i] else last
        t = t[keep]
        for ti in t:
            raw[ti - trough : ti - trough + len(wave), c] += wave
        times.append(t)
        chans.append(np.full(len(t), c))
    stims = np.zeros(0, np.int64)
    if stim_hz > 0:
        stims = np.arange(int(0.61 * rate_hz), n - int(5e-3 * rate_hz), int(rate_hz / stim_hz))
        width = max(1, round(phase_us * 1e-6 * rate_hz))
        tail_t = np.arange(int(3e-3 * rate_hz)) / rate_hz
        tail = (0.25 * artifact_uv * np.exp(-tail_t / 0.3e-3)).astype(np.float32)
        # each electrode sees the artifact scaled by its distance to the stimulating one
        gain = rng.uniform(0.3, 1.0, n_channels).astype(np.float32)
        for s in stims:
            raw[s : s + width] -= artifact_uv * gain
            raw[s + width : s + 2 * width] += artifact_uv * gain
            seg = raw[s + 2 * width : s + 2 * width + len(tail)]
            seg += tail[: len(seg), None] * gain
    t_all = np.concatenate(times) if times else np.zeros(0, np.int64)
    c_all = np.concatenate(chans) if chans else np.zeros(0, np.int64)
    order = np.lexsort((c_all, t_all))
    spikes = np.empty(len(t_all), SPIKE_DTYPE)
    spikes["t_ns"] = np.round(t_all[order] * (1e9 / rate_hz)).astype(np.int64)
    spikes["channel"] = c_all[order]
    return SyntheticRaw(raw=raw, rate_hz=rate_hz, spikes=spikes, stim_samples=stims)
