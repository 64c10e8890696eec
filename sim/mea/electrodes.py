"""What the electrodes see and do: spike events, stimulation artifacts, raw voltage, recruitment.

* **Events**: a neuron's spike is an event on every channel within
  ``detect_radius_um`` (what a detector on a clean signal would report).
* **Artifacts**: a pulse of I µA on one electrode puts ``I / (4π σ r)`` on
  every electrode at distance r (a point source in saline, σ = 0.3 S/m,
  r at least the electrode radius), clipped at the amplifier's range
  (±6.4 mV: the CL1's int16 at 0.195 µV a unit), then decays with the
  amplifier's recovery time. After the −0.8 … +2 ms blanking window what is
  left of it still crosses a 5 × noise threshold on nearby channels: those
  detections are the artifact's own information, which is why every MEA
  result is reported beside the no-culture control.
* **Raw** (25 kHz): noise, each spike's extracellular waveform (a fast
  negative trough and a slower positive rebound) scaled by distance, and the
  artifacts: the biphasic pulse itself, then the recovery tail.
* **Recruitment**: a neuron at distance d from a pulse of amplitude I and
  phase width w fires directly with probability
  ``sigmoid((Q / Q_th − 1) / 0.1)``, ``Q = I·w``,
  ``Q_th = rheobase · (1 + (d/d0)²) · (w + chronaxie)`` (Stoney's
  current–distance law with Weiss's charge–duration law).
"""

from __future__ import annotations

import math

import numpy as np

from physres.mea.layouts import Layout
from physres.mea.params import RAW_RATE_HZ, SPIKE_DTYPE
from physres.sim.mea.culture import Culture
from physres.sim.mea.params import THRESHOLD_K, SimMEAParams

__all__ = [
    "AMPLIFIER_RANGE_UV",
    "BLANK_AFTER_MS",
    "DEAD_TIME_NS",
    "THRESHOLD_K",
    "artifact_detections",
    "artifact_peaks_uv",
    "carry_samples",
    "dead_time",
    "recruitment_probability",
    "spike_events",
    "spike_template",
    "synth_raw",
]

#: the amplifier saturates here (µV): int16 at 0.195 µV a unit, as the CL1 records
AMPLIFIER_RANGE_UV = 32767 * 0.195
#: saline conductivity (S/m) and electrode radius (µm; a 30 µm electrode)
_SIGMA = 0.3
_ELECTRODE_RADIUS_UM = 15.0
#: the blanking window's end after a pulse's onset (ms)
BLANK_AFTER_MS = 2.0
#: one channel reports at most one spike per this interval (a detector's refractory period)
DEAD_TIME_NS = 1_000_000


def spike_events(
    culture: Culture, steps: np.ndarray, neurons: np.ndarray, t0_ns: int, dt_ns: float
) -> np.ndarray:
    """Spikes ``(step, neuron)`` → ``(t_ns, channel)`` events on the channels near each neuron."""
    counts = culture.ev_ptr[neurons + 1] - culture.ev_ptr[neurons]
    if not counts.sum():
        return np.zeros(0, SPIKE_DTYPE)
    rep = np.repeat(np.arange(len(neurons)), counts)
    offs = np.arange(len(rep)) - np.repeat(np.cumsum(counts) - counts, counts)
    ev = np.empty(len(rep), SPIKE_DTYPE)
    ev["t_ns"] = t0_ns + np.rint(steps[rep] * dt_ns).astype(np.int64)
    ev["channel"] = culture.ev_channel[culture.ev_ptr[neurons[rep]] + offs]
    return dead_time(ev, DEAD_TIME_NS)


def dead_time(ev: np.ndarray, gap_ns: int) -> np.ndarray:
    """Drop events within ``gap_ns`` of the channel's previous event, time-sorted.

    A detector cannot split spikes that overlap on one electrode (its
    refractory period); without this, two neurons firing together would
    report sub-millisecond intervals no recording shows.
    """
    order = np.lexsort((ev["t_ns"], ev["channel"]))
    ev = ev[order]
    close = (np.diff(ev["t_ns"]) < gap_ns) & (np.diff(ev["channel"]) == 0)
    ev = ev[np.concatenate([[True], ~close])] if len(ev) else ev
    return ev[np.argsort(ev["t_ns"], kind="stable")]


def artifact_peaks_uv(lay: Layout, channel: int, amplitude_ua: float) -> np.ndarray:
    """Peak artifact (µV, before the amplifier clips) on every channel from one pulse."""
    r = np.hypot(*(lay.positions - lay.positions[channel]).T)
    r = np.maximum(r, _ELECTRODE_RADIUS_UM)
    # V = I / (4π σ r): µA and µm give V in 1e-6 / 1e-6 = V; × 1e6 for µV
    return amplitude_ua * 1e6 / (4 * math.pi * _SIGMA * r)


def artifact_detections(
    p: SimMEAParams,
    pulse_t_ns: np.ndarray,
    pulse_channel: np.ndarray,
    pulse_ua: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Events a spike detector reports from the artifacts' tails just after blanking ends.

    What remains at ``BLANK_AFTER_MS`` of each pulse's clipped artifact, plus
    one noise sample, is compared with ``THRESHOLD_K`` × noise on every channel.
    """
    lay = p.electrodes
    if not len(pulse_t_ns):
        return np.zeros(0, SPIKE_DTYPE)
    after_ms = BLANK_AFTER_MS - 2 * p.phase_us * 1e-3
    decay = math.exp(-after_ms / p.artifact_tau_ms)
    thr = THRESHOLD_K * p.noise_uv
    parts = []
    for t, ch, amp in zip(pulse_t_ns, pulse_channel, pulse_ua):
        peak = np.minimum(artifact_peaks_uv(lay, int(ch), float(amp)), AMPLIFIER_RANGE_UV)
        seen = peak * decay + p.noise_uv * rng.standard_normal(lay.n_channels) > thr
        hit = np.flatnonzero(seen)
        ev = np.empty(len(hit), SPIKE_DTYPE)
        ev["t_ns"] = int(t) + round(BLANK_AFTER_MS * 1e6)
        ev["channel"] = hit
        parts.append(ev)
    return np.concatenate(parts)


def recruitment_probability(
    p: SimMEAParams, distance_um: np.ndarray, amplitude_ua: float
) -> np.ndarray:
    """Probability that one pulse makes each neuron at ``distance_um`` fire directly."""
    q = amplitude_ua * p.phase_us
    q_th = p.stim_rheobase_ua * (1 + (distance_um / p.stim_d0_um) ** 2)
    q_th = q_th * (p.phase_us + p.stim_chronaxie_us)
    z = np.clip((q / q_th - 1.0) / 0.1, -50, 50)
    return 1.0 / (1.0 + np.exp(-z))


def spike_template() -> np.ndarray:
    """One extracellular spike at the electrode, peak −1, sampled at 25 kHz (50 samples).

    Sample 10 is the trough (0.4 ms in); a rebound of +0.3 follows 0.5 ms later.
    """
    t_ms = (np.arange(50) - 10) / (RAW_RATE_HZ / 1000)
    trough = -np.exp(-0.5 * (t_ms / 0.12) ** 2)
    rebound = 0.3 * np.exp(-0.5 * ((t_ms - 0.5) / 0.3) ** 2)
    w = trough + rebound
    return (w / -w.min()).astype(np.float32)


def synth_raw(
    p: SimMEAParams,
    culture: Culture,
    raw_ptr: np.ndarray,
    n_samples: int,
    spike_sample: np.ndarray,
    spike_neuron: np.ndarray,
    pulses: tuple[np.ndarray, np.ndarray, np.ndarray],
    carry: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw voltage ``(n_samples, channels)`` µV of one apply, and what spills into the next.

    ``pulses`` are (sample, channel, µA); ``carry`` is the previous apply's
    spill-over (waveforms and tails that began before its end).
    """
    lay = p.electrodes
    n_ch = lay.n_channels
    tail = len(carry)
    buf = np.zeros((n_samples + tail, n_ch), np.float32)
    buf[:tail] += carry
    tmpl = spike_template()
    if len(spike_neuron):
        counts = raw_ptr[spike_neuron + 1] - raw_ptr[spike_neuron]
        rep = np.repeat(np.arange(len(spike_neuron)), counts)
        offs = np.arange(len(rep)) - np.repeat(np.cumsum(counts) - counts, counts)
        pair = raw_ptr[spike_neuron[rep]] + offs
        amp = culture.raw_gain[pair] * p.spike_peak_uv
        rows = spike_sample[rep][:, None] + np.arange(len(tmpl))
        np.add.at(buf, (rows, culture.raw_channel[pair][:, None]), amp[:, None] * tmpl)
    w = max(1, round(p.phase_us * RAW_RATE_HZ * 1e-6))
    decay = np.exp(-np.arange(tail - 2 * w) / (p.artifact_tau_ms * RAW_RATE_HZ / 1000))
    shape = np.concatenate([-np.ones(w), np.ones(w), decay]).astype(np.float32)
    for s0, ch, ua in zip(*pulses):
        peak = np.minimum(artifact_peaks_uv(lay, int(ch), float(ua)), AMPLIFIER_RANGE_UV)
        s0 = int(s0)
        buf[s0 : s0 + len(shape)] += shape[:, None] * peak[None].astype(np.float32)
    if p.noise_uv:
        buf[:n_samples] += p.noise_uv * rng.standard_normal((n_samples, n_ch), np.float32)
    np.clip(buf, -AMPLIFIER_RANGE_UV, AMPLIFIER_RANGE_UV, out=buf)
    return buf[:n_samples], buf[n_samples:].copy()


#: samples a spike or an artifact may spill past the end of an apply (2 phases of up to
#: 10 ms would be 500; the tail is 5 recovery times): the carry length used by the device
def carry_samples(p: SimMEAParams) -> int:
    """Raw samples one apply's waveforms may spill into the next."""
    w = max(1, round(p.phase_us * RAW_RATE_HZ * 1e-6))
    return max(50, 2 * w + math.ceil(5 * p.artifact_tau_ms * RAW_RATE_HZ / 1000))
