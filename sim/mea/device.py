"""``sim.mea``: a simulated culture on a multi-electrode array, as a Device.

The same streams and input as every MEA kind (:func:`physres.mea.params.mea_io`):
``stim`` rows in (µA per stimulating electrode per step), ``spikes`` and
``pulses`` events out, ``raw`` voltage when asked. Every apply is checked
whole by :class:`physres.mea.stim.StimGuard` (the CL1's limits) before a
single step is simulated: what a rig would refuse, the simulator refuses.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from physres.device import Chunk, Description, Device, PendingChunk
from physres.mea.detect import SpikeDetector
from physres.mea.params import RAW_RATE_HZ, SPIKE_DTYPE, mea_io
from physres.mea.stim import CL1, StimGuard, stimulations_from_row
from physres.sim.mea.culture import Culture, grow
from physres.sim.mea.electrodes import (
    artifact_detections,
    carry_samples,
    recruitment_probability,
    spike_events,
    synth_raw,
)
from physres.sim.mea.kernels import advance
from physres.sim.mea.params import SimMEAParams

__all__ = ["CultureState", "SimMEA"]

#: a recruited neuron fires this long after the pulse starts (ms): direct activation
_DIRECT_LATENCY_MS = 0.2
#: largest STDP weight, in multiples of the type's mean weight
_W_MAX_FACTOR = 3.0


@dataclass
class CultureState:
    """Everything that changes as the culture runs (float32 for the kernel)."""

    v: np.ndarray
    u: np.ndarray
    ga: np.ndarray
    gn: np.ndarray
    gg: np.ndarray
    ring_e: np.ndarray
    ring_i: np.ndarray
    stp_x: np.ndarray
    stp_last: np.ndarray
    tr_pre: np.ndarray
    tr_post: np.ndarray
    last_pre: np.ndarray
    last_post: np.ndarray
    syn_w: np.ndarray
    step: int = 0

    @classmethod
    def initial(cls, culture: Culture) -> CultureState:
        n = culture.n
        v = np.full(n, -65.0, np.float32)
        z = np.zeros(n, np.float32)
        ring = np.zeros((culture.max_delay + 1, n), np.float32)
        return cls(
            v=v,
            u=(culture.b * v).astype(np.float32),
            ga=z.copy(),
            gn=z.copy(),
            gg=z.copy(),
            ring_e=ring,
            ring_i=ring.copy(),
            stp_x=np.ones(n, np.float32),
            stp_last=np.zeros(n, np.int64),
            tr_pre=z.copy(),
            tr_post=z.copy(),
            last_pre=np.zeros(n, np.int64),
            last_post=np.zeros(n, np.int64),
            syn_w=culture.syn_w.copy(),
        )


class SimMEA(Device):
    """``sim.mea``: an Izhikevich culture and its electrodes (``culture: false``: none)."""

    Params = SimMEAParams
    default_kind = "sim.mea"
    clock = "stepped"
    #: mock mode (``mock.mea``) runs this class's own code with no neurons: fast, and the
    #: stimulation guard still refuses what a rig would (a mock must not skip safety)
    mock_transport = True
    params: SimMEAParams

    def __init__(self, name: str | None = None, *, mock: bool = False, **params: object) -> None:
        super().__init__(name or "mea", mock=mock, **params)
        p = self.params
        self._culture: Culture | None = None
        self._state: CultureState | None = None
        self._guard = StimGuard(self.limits, allowed=p.stim_electrodes)
        self._spikes = PendingChunk(np.zeros(0, SPIKE_DTYPE))
        self._pulses = PendingChunk(np.zeros(0, SPIKE_DTYPE))
        self._raw = PendingChunk(np.zeros((0, p.n_channels), np.float32))
        self._rng = np.random.default_rng(p.seed)
        self._carry = np.zeros((carry_samples(p), p.n_channels), np.float32)
        self._raw_ptr: np.ndarray | None = None
        #: with raw on, spikes are what the detector finds in it (the code path real raw takes)
        self._detector = SpikeDetector(p.n_channels, RAW_RATE_HZ) if p.raw else None
        self._near: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        #: spikes fired by the neurons (all, detected or not) since construction
        self.neuron_spikes = 0

    @property
    def limits(self):
        """The stimulation limits this culture is held to: the CL1's, on this layout."""
        p = self.params
        return dataclasses.replace(CL1, n_channels=p.n_channels)

    def describe(self) -> Description:
        streams, inputs, meta = mea_io(self.params)
        meta = {**meta, "culture": self.params.culture, "n_neurons": self.params.n_neurons}
        return self._description(streams=streams, inputs=inputs, meta=meta)

    # ---------------------------------------------------------------- culture
    @property
    def culture(self) -> Culture:
        """The fixed anatomy, grown from ``params.seed`` on first use."""
        if self._culture is None:
            p = self.params
            self._culture = grow(p.model_copy(update={"culture": False}) if self.mock else p)
        return self._culture

    @property
    def state(self) -> CultureState:
        if self._state is None:
            self._state = CultureState.initial(self.culture)
        return self._state

    def _connect(self) -> None:
        _ = self.state

    def _reset(self, seed: int | None) -> None:
        p = self.params
        self._state = CultureState.initial(self.culture)
        self._guard.reset()
        for pending in (self._spikes, self._pulses, self._raw):
            pending.clear()
        self._carry[:] = 0
        if self._detector is not None:
            self._detector.reset(self._clock_ns)
        self._rng = np.random.default_rng(p.seed if seed is None else seed)

    # ------------------------------------------------------------------ apply
    def _apply(self, inputs: dict[str, np.ndarray]) -> None:
        p = self.params
        stim = inputs["stim"]
        t0 = self._clock_ns
        step_ns = p.step_ns
        # every pulse of this apply is checked before anything is simulated
        stims = []
        for r in np.flatnonzero(stim.any(axis=1)):
            stims += stimulations_from_row(stim[r], p.stim_electrodes, p.phase_us, t0 + r * step_ns)
        if stims:
            self._guard.admit(stims, where=f"{self.name}.stim")
        rows, cols = np.nonzero(stim)
        pulse_t = t0 + rows.astype(np.int64) * step_ns
        pulse_ch = np.asarray(p.stim_electrodes, np.int32)[cols]
        pulse_ua = stim[rows, cols]
        n_steps = stim.shape[0] * p.substeps
        steps, neurons = self._run(n_steps, rows * p.substeps, pulse_ch, pulse_ua)
        self.neuron_spikes += len(steps)
        if self._detector is not None:  # spikes detected in the raw signal, as on a rig
            raw = self._synth(stim.shape[0], steps, neurons, rows, pulse_ch, pulse_ua)
            self._raw.add(raw, t0)
            det = self._detector
            first = (t0 - det.t0_ns) * RAW_RATE_HZ // 1_000_000_000
            ev = det.process(raw, first + rows.astype(np.int64) * p.raw_per_step)
        else:  # the neurons near each electrode, and what the artifacts leave after blanking
            ev = spike_events(self.culture, steps, neurons, t0, p.dt_ms * 1e6)
            art = artifact_detections(p, pulse_t, pulse_ch, pulse_ua, self._rng)
            ev = np.concatenate([ev, art])
            ev = ev[np.argsort(ev["t_ns"], kind="stable")]
        self._spikes.add(ev, t0)
        pulses = np.empty(len(rows), SPIKE_DTYPE)
        pulses["t_ns"], pulses["channel"] = pulse_t, pulse_ch
        self._pulses.add(pulses, t0)
        self._clock_ns += stim.shape[0] * step_ns

    def _recruit(
        self, first_step: np.ndarray, channels: np.ndarray, amps: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Neurons each pulse makes fire directly, and the step they fire on (sorted by step)."""
        p = self.params
        latency = max(1, round(_DIRECT_LATENCY_MS / p.dt_ms))
        at, who = [], []
        for s, ch, ua in zip(first_step, channels, amps):
            idx, dist = self._neighbours(int(ch))
            hit = idx[self._rng.random(len(idx)) < recruitment_probability(p, dist, float(ua))]
            at.append(np.full(len(hit), s + latency, np.int64))
            who.append(hit)
        if not at:
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        steps, neurons = np.concatenate(at), np.concatenate(who).astype(np.int32)
        order = np.argsort(steps, kind="stable")
        return steps[order], neurons[order]

    def _neighbours(self, channel: int) -> tuple[np.ndarray, np.ndarray]:
        """Neurons a pulse on ``channel`` could recruit (within 10 d0) and their distances."""
        if channel not in self._near:
            c = self.culture
            d = np.hypot(*(c.positions - self.params.electrodes.positions[channel]).T)
            idx = np.flatnonzero(d < 10 * self.params.stim_d0_um)
            self._near[channel] = (idx, d[idx])
        return self._near[channel]

    def _run(
        self, n_steps: int, pulse_step: np.ndarray, pulse_ch: np.ndarray, pulse_ua: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Advance the neurons ``n_steps``; spikes as (step in this apply, neuron)."""
        c, p, s = self.culture, self.params, self.state
        if c.n == 0:  # the no-culture control: nothing to integrate
            s.step += n_steps
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        # background events for the whole apply at once (not a draw per neuron per step)
        n_bg = self._rng.poisson(c.n * p.background_hz * n_steps * p.dt_ms * 1e-3)
        bg_step = np.sort(self._rng.integers(0, n_steps, n_bg))
        bg_neuron = self._rng.integers(0, c.n, n_bg).astype(np.int32)
        bg_ptr = np.searchsorted(bg_step, np.arange(n_steps + 1)).astype(np.int64)
        k_step, k_neuron = self._recruit(pulse_step, pulse_ch, pulse_ua)
        keep = k_step < n_steps  # a pulse in the last 0.2 ms acts from the next apply: dropped
        k_step, k_neuron = k_step[keep], k_neuron[keep]
        kick_ptr = np.searchsorted(k_step, np.arange(n_steps + 1)).astype(np.int64)
        consts = self._consts()
        cap = max(1024, c.n * 4 + n_steps * c.n // 50)
        out_step = np.empty(cap, np.int32)
        out_neuron = np.empty(cap, np.int32)
        k, t = 0, 0
        while t < n_steps:
            k, t = advance(
                s.v, s.u, s.ga, s.gn, s.gg, s.ring_e, s.ring_i, s.stp_x, s.stp_last,
                s.tr_pre, s.tr_post, s.last_pre, s.last_post, s.syn_w,
                c.a, c.b, c.c, c.d, c.excitatory, c.syn_ptr, c.syn_post, c.syn_delay,
                c.in_ptr, c.in_syn, c.in_pre, bg_ptr, bg_neuron, kick_ptr, k_neuron,
                consts, s.step, t, n_steps, out_step, out_neuron, k,
            )  # fmt: skip
            if t < n_steps:  # the buffers might not hold another step: grow them
                out_step = np.concatenate([out_step, np.empty_like(out_step)])
                out_neuron = np.concatenate([out_neuron, np.empty_like(out_neuron)])
        s.step += n_steps
        return out_step[:k].astype(np.int64), out_neuron[:k]

    def _consts(self) -> np.ndarray:
        p = self.params
        dt = p.dt_ms
        w_max = _W_MAX_FACTOR * p.w_exc
        return np.array(
            [
                dt,
                math.exp(-dt / p.tau_ampa_ms),
                math.exp(-dt / p.tau_nmda_ms),
                math.exp(-dt / p.tau_gaba_ms),
                p.nmda_ratio * p.tau_ampa_ms / p.tau_nmda_ms,
                p.w_background,
                p.stp_u,
                dt / p.stp_tau_rec_ms,
                1.0 if p.stdp else 0.0,
                p.stdp_a_plus,
                p.stdp_a_minus,
                dt / p.stdp_tau_ms,
                w_max,
            ],
            np.float64,
        )

    def _synth(
        self,
        n_rows: int,
        steps: np.ndarray,
        neurons: np.ndarray,
        pulse_rows: np.ndarray,
        pulse_ch: np.ndarray,
        pulse_ua: np.ndarray,
    ) -> np.ndarray:
        p, c = self.params, self.culture
        if self._raw_ptr is None:
            self._raw_ptr = np.searchsorted(c.raw_neuron, np.arange(c.n + 1)).astype(np.int64)
        per_dt = RAW_RATE_HZ * p.dt_ms * 1e-3
        raw, self._carry = synth_raw(
            p,
            c,
            self._raw_ptr,
            n_rows * p.raw_per_step,
            np.rint(steps * per_dt).astype(np.int64),
            neurons.astype(np.int64),
            (pulse_rows * p.raw_per_step, pulse_ch, pulse_ua),
            self._carry,
            self._rng,
        )
        return raw

    def _read(self) -> dict[str, Chunk]:
        now = self._clock_ns
        out = {"spikes": self._spikes.take(now), "pulses": self._pulses.take(now)}
        if self.params.raw:
            out["raw"] = self._raw.take(now)
        return out
