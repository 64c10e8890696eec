"""Spike detection on signals whose spikes we planted: found, on time, nothing invented.

The synthetic recordings (physres.sim.openephys.signals) hold Poisson spike
trains with a realistic extracellular waveform in Gaussian noise, and
stimulation artifacts a hundred times larger than a spike on every channel.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as sps

from physres.errors import DataError
from physres.mea.detect import SPIKE_DTYPE, DetectParams, SpikeDetector, detect_spikes, sos_filter
from physres.readout.features import EventWindow, bin_events
from physres.readout.stages import EventFeatures
from physres.sim.openephys.signals import spike_waveform, synthetic_raw

RATE = 25_000.0
TOL_NS = 500_000  # a detection within 0.5 ms of the planted trough counts as found


def match(detected: np.ndarray, truth: np.ndarray, n_channels: int) -> tuple[float, float]:
    """(precision, recall): each true spike matched at most once, per channel, within TOL_NS."""
    tp = 0
    for c in range(n_channels):
        d = np.sort(detected["t_ns"][detected["channel"] == c])
        used = np.zeros(len(d), bool)
        for t in truth["t_ns"][truth["channel"] == c]:
            j = np.flatnonzero(~used & (np.abs(d - t) <= TOL_NS))
            if j.size:
                used[j[0]] = True
                tp += 1
    return tp / max(len(detected), 1), tp / max(len(truth), 1)


def in_windows(t_ns: np.ndarray, stim_samples: np.ndarray, before: float, after: float) -> int:
    s_ns = stim_samples * (1e9 / RATE)
    d = t_ns[:, None] - s_ns[None, :]
    return int(((d >= -before * 1e6) & (d < after * 1e6)).any(axis=1).sum())


def test_the_kernel_filters_exactly_as_scipy_sosfilt() -> None:
    sig = synthetic_raw(n_channels=8, seconds=0.4, seed=1)
    sos = SpikeDetector(8, RATE).sos
    ours = sos_filter(sig.raw, sos)
    ref = sps.sosfilt(sos, sig.raw.astype(np.float64), axis=0)
    assert ours.dtype == np.float32
    # float32 recursion vs SciPy's float64: a few parts in 10^5 of the signal's scale
    assert np.abs(ours - ref).max() < 1e-4 * np.abs(ref).max()


def test_planted_spikes_are_found_on_time_with_few_false_ones() -> None:
    sig = synthetic_raw(n_channels=16, seconds=3.0, spike_rate_hz=8.0, seed=2)
    found = detect_spikes(sig.raw, RATE)
    assert found.dtype == SPIKE_DTYPE
    assert np.all(np.diff(found["t_ns"]) >= 0), "events come out in time order"
    precision, recall = match(found, sig.spikes, 16)
    assert len(sig.spikes) > 300
    assert recall >= 0.97, recall
    assert precision >= 0.97, precision


def test_the_threshold_follows_the_noise_not_the_spikes() -> None:
    signals, thresholds = [], []
    for rate in (0.0, 40.0):
        sig = synthetic_raw(n_channels=4, seconds=1.0, spike_rate_hz=rate, noise_uv=6, seed=3)
        det = SpikeDetector(4, RATE)
        det.process(sig.raw)
        assert det.thresholds_uv is not None
        signals.append(sos_filter(sig.raw, det.sos)[2_500:])
        thresholds.append(det.thresholds_uv)
    mad_growth = thresholds[1] / thresholds[0]
    std_growth = signals[1].std(axis=0) / signals[0].std(axis=0)
    # 40 spikes/s move the MAD estimate a little; they would move the standard deviation more
    assert np.all(mad_growth < 1.15), mad_growth
    assert np.all(mad_growth - 1 < 0.5 * (std_growth - 1)), (mad_growth, std_growth)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chunk_boundaries_neither_lose_nor_duplicate_spikes(seed: int) -> None:
    sig = synthetic_raw(n_channels=8, seconds=2.0, spike_rate_hz=20, stim_hz=20, seed=seed)
    whole = detect_spikes(sig.raw, RATE, sig.stim_samples)
    rng = np.random.default_rng(seed)
    det = SpikeDetector(8, RATE)
    parts, i = [], 0
    while i < len(sig.raw):
        n = int(rng.choice([1, 7, 250, 251, 1000, 4096]))
        stims = sig.stim_samples[(sig.stim_samples >= i) & (sig.stim_samples < i + n)]
        parts.append(det.process(sig.raw[i : i + n], stims))  # stimuli come with their raw
        i += n
    parts.append(det.flush())
    chunked = np.concatenate(parts)
    assert len(whole) > 100
    np.testing.assert_array_equal(chunked, whole)
    assert det.n_late_stimuli == 0


def test_no_spike_is_detected_inside_a_blanking_window() -> None:
    sig = synthetic_raw(n_channels=16, seconds=3.0, spike_rate_hz=0, stim_hz=20, seed=4)
    found = detect_spikes(sig.raw, RATE, sig.stim_samples)
    assert len(sig.stim_samples) >= 40
    assert in_windows(found["t_ns"], sig.stim_samples, 0.8, 2.0) == 0
    # nor does the filter ring into spikes after it: no more than noise alone gives
    assert in_windows(found["t_ns"], sig.stim_samples, 0.8, 10.0) == 0
    assert len(found) <= 3


def test_without_blanking_the_artifacts_would_be_counted_as_spikes() -> None:
    """The control: the same signal with blanking off is full of false spikes."""
    sig = synthetic_raw(n_channels=16, seconds=3.0, spike_rate_hz=0, stim_hz=20, seed=4)
    unblanked = detect_spikes(sig.raw, RATE, sig.stim_samples, DetectParams(blank_ms=(0, 0)))
    unannounced = detect_spikes(sig.raw, RATE, None)
    for found in (unblanked, unannounced):
        assert in_windows(found["t_ns"], sig.stim_samples, 0.8, 10.0) > 10 * len(sig.stim_samples)


def test_real_spikes_between_stimuli_are_still_found() -> None:
    sig = synthetic_raw(n_channels=16, seconds=3.0, spike_rate_hz=10, stim_hz=20, seed=5)
    found = detect_spikes(sig.raw, RATE, sig.stim_samples)
    # spikes whose waveform lies clear of every blanking window
    outside = np.array(
        [in_windows(np.array([t]), sig.stim_samples, 1.3, 2.5) == 0 for t in sig.spikes["t_ns"]]
    )
    precision, recall = match(found, sig.spikes[outside], 16)
    assert recall >= 0.95, recall
    assert precision >= 0.9, precision


def test_refractory_period_and_polarity() -> None:
    raw = np.random.default_rng(0).normal(0, 6, (25_000, 1)).astype(np.float32)
    wave, trough = spike_waveform(RATE, 80.0)
    for t0 in (14_000, 14_030, 20_000):  # the second is 1.2 ms after the first
        raw[t0 - trough : t0 - trough + len(wave), 0] += wave
    neg = detect_spikes(raw, RATE)
    samples = neg["t_ns"] // 40_000

    def near(t: int) -> bool:
        return bool((np.abs(samples - t) <= 6).any())  # within 0.24 ms

    assert near(14_000) and near(20_000)
    assert not near(14_030), "inside the 2 ms dead time of the spike before"
    short = detect_spikes(raw, RATE, params=DetectParams(refractory_ms=0.5))
    samples = short["t_ns"] // 40_000
    assert near(14_000) and near(14_030) and near(20_000)
    pos = detect_spikes(-raw, RATE, params=DetectParams(polarity="pos"))
    np.testing.assert_array_equal(pos["t_ns"], neg["t_ns"])


def test_bad_input_is_refused_naming_what_is_wrong() -> None:
    det = SpikeDetector(4, RATE)
    with pytest.raises(DataError, match=r"\(samples, 4\)"):
        det.process(np.zeros((10, 3)))
    bad = np.zeros((10, 4))
    bad[5, 2] = np.nan
    with pytest.raises(DataError, match="sample 5 is not finite"):
        det.process(bad)
    with pytest.raises(DataError, match="Nyquist"):
        SpikeDetector(4, 5_000.0)
    with pytest.raises(ValueError, match="band_hz must be 0 < low < high"):
        DetectParams(band_hz=(3000, 300))


def test_readout_features_consume_the_detected_events() -> None:
    """Detected spikes feed the existing event features: bins and exponential traces."""
    sig = synthetic_raw(n_channels=8, seconds=2.0, spike_rate_hz=30, seed=6)
    found = detect_spikes(sig.raw, RATE)
    step_ns, n_steps = 10_000_000, 200
    counts = bin_events(found, t0_ns=0, bin_ns=step_ns, n_bins=n_steps, n_channels=8)
    truth = bin_events(sig.spikes, t0_ns=0, bin_ns=step_ns, n_bins=n_steps, n_channels=8)
    assert abs(counts.sum() - truth.sum()) <= 0.03 * truth.sum()
    window = EventWindow(found, t0_ns=0, step_ns=step_ns, n_steps=n_steps, n_channels=8)
    traces = EventFeatures(tau=5.0).fit([window]).transform([window])[0]
    assert traces.shape == (n_steps, 8)
    assert np.all(traces >= counts)  # a trace carries the past on top of this step's count
