"""The dish: where the neurons are, what kind each is, who connects to whom, and the electrodes.

Everything here is drawn once from ``params.seed`` and fixed (it is the
"hardware" of one culture); :mod:`physres.sim.mea.kernels` runs it. Plain
NumPy: it is built once per device, not per step.

* Neurons: ``n_neurons`` placed uniformly on a square covering the array
  plus ``dish_margin_um``; Izhikevich (2003) parameters with his per-neuron
  spread: excitatory regular spiking (a 0.02, b 0.2, c −65 + 15r², d 8 − 6r²),
  inhibitory fast spiking (a 0.02 + 0.08r, b 0.25 − 0.05r, c −65, d 2).
* Synapses: from each neuron to each other with probability
  ``p0 · exp(−d/λ)`` (distance-dependent, sparse: ~100 a neuron by default),
  stored by presynaptic neuron (CSR) with an axonal delay ``d / speed +
  synaptic_delay`` in steps; weights drawn ±50 % around the type's value.
* Electrodes: every neuron within ``detect_radius_um`` of an electrode shows
  its spikes on that channel; for the raw signal every neuron within 4 decay
  lengths contributes a waveform scaled by ``exp(−d / spike_decay_um)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physres.mea.layouts import Layout
from physres.sim.mea.params import SimMEAParams

__all__ = ["Culture", "grow"]


@dataclass(frozen=True, eq=False)
class Culture:
    """One culture's fixed anatomy (arrays are float32/int32 for the kernels)."""

    positions: np.ndarray  # (N, 2) µm
    excitatory: np.ndarray  # (N,) bool
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    syn_ptr: np.ndarray  # (N + 1,) int64: synapses of pre j are syn_ptr[j]:syn_ptr[j+1]
    syn_post: np.ndarray  # int32
    syn_delay: np.ndarray  # int32 steps, >= 1
    syn_w: np.ndarray  # float32, >= 0 (the sign comes from the presynaptic type)
    in_ptr: np.ndarray  # (N + 1,) int64: synapses onto post i, by index into syn_*
    in_syn: np.ndarray  # int64
    in_pre: np.ndarray  # int32: the presynaptic neuron of in_syn[q]
    max_delay: int
    # electrodes: neuron → channels it shows on as events (CSR by neuron)
    ev_ptr: np.ndarray
    ev_channel: np.ndarray
    # raw: (neuron, channel, gain) triples of every contributing pair
    raw_neuron: np.ndarray
    raw_channel: np.ndarray
    raw_gain: np.ndarray

    @property
    def n(self) -> int:
        return len(self.excitatory)

    @property
    def n_synapses(self) -> int:
        return len(self.syn_post)


def _dish(lay: Layout, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower-left and upper-right corners of the square the neurons are spread on (µm)."""
    lo = lay.positions.min(0) - margin
    hi = lay.positions.max(0) + margin
    return lo, hi


def grow(p: SimMEAParams) -> Culture:
    """Draw one culture from ``p.seed`` (no neurons at all for the no-culture control)."""
    lay = p.electrodes
    n = p.n_neurons if p.culture else 0
    rng_pos, rng_type, rng_syn, rng_w = (
        np.random.default_rng(s) for s in np.random.SeedSequence(p.seed).spawn(4)
    )
    lo, hi = _dish(lay, p.dish_margin_um)
    pos = rng_pos.uniform(lo, hi, (n, 2))
    exc = np.ones(n, bool)
    exc[rng_type.choice(n, round(p.inhibitory_fraction * n), replace=False)] = False
    r = rng_type.random(n)
    a = np.where(exc, 0.02, 0.02 + 0.08 * r)
    b = np.where(exc, 0.2, 0.25 - 0.05 * r)
    c = np.where(exc, -65 + 15 * r**2, -65.0)
    d = np.where(exc, 8 - 6 * r**2, 2.0)

    dt = p.dt_ms
    posts, delays, weights, ptr = [], [], [], [0]
    for j in range(n):  # one presynaptic row at a time: memory stays O(N)
        dist = np.hypot(*(pos - pos[j]).T)
        prob = p.connect_p0 * np.exp(-dist / p.connect_lambda_um)
        prob[j] = 0.0
        k = np.flatnonzero(rng_syn.random(n) < prob)
        posts.append(k)
        delay_ms = dist[k] / p.conduction_um_per_ms + p.synaptic_delay_ms
        delays.append(np.maximum(1, np.rint(delay_ms / dt)).astype(np.int32))
        w0 = p.w_exc if exc[j] else p.w_inh
        weights.append((w0 * rng_w.uniform(0.5, 1.5, len(k))).astype(np.float32))
        ptr.append(ptr[-1] + len(k))
    syn_post = np.concatenate(posts).astype(np.int32) if n else np.zeros(0, np.int32)
    syn_delay = np.concatenate(delays) if n else np.zeros(0, np.int32)
    syn_w = np.concatenate(weights) if n else np.zeros(0, np.float32)
    in_syn = np.argsort(syn_post, kind="stable").astype(np.int64)
    syn_pre = np.repeat(np.arange(n, dtype=np.int32), np.diff(np.asarray(ptr)))
    in_ptr = np.concatenate([[0], np.cumsum(np.bincount(syn_post, minlength=n))]).astype(np.int64)

    # electrodes: distance of every neuron to every electrode (N × channels)
    dist = np.hypot(*(pos[:, None, :] - lay.positions[None]).transpose(2, 0, 1))
    near = dist <= p.detect_radius_um
    ev_ptr = np.concatenate([[0], np.cumsum(near.sum(1))]).astype(np.int64)
    ev_channel = np.nonzero(near)[1].astype(np.int32)
    rn, rc = np.nonzero(dist <= 4 * p.spike_decay_um)
    gain = np.exp(-dist[rn, rc] / p.spike_decay_um).astype(np.float32)
    return Culture(
        positions=pos,
        excitatory=exc,
        a=a.astype(np.float32),
        b=b.astype(np.float32),
        c=c.astype(np.float32),
        d=d.astype(np.float32),
        syn_ptr=np.asarray(ptr, np.int64),
        syn_post=syn_post,
        syn_delay=syn_delay,
        syn_w=syn_w,
        in_ptr=in_ptr,
        in_syn=in_syn,
        in_pre=syn_pre[in_syn],
        max_delay=int(syn_delay.max()) if len(syn_delay) else 1,
        ev_ptr=ev_ptr,
        ev_channel=ev_channel,
        raw_neuron=rn.astype(np.int32),
        raw_channel=rc.astype(np.int32),
        raw_gain=gain,
    )
