"""A liquid state machine as a device: LIF neurons that answer with spike events.

After Maass, Natschläger & Markram (2002): leaky integrate-and-fire neurons
on a 3-D grid (a 3 × 3 × 15 column by default), 20 % inhibitory, connected
with probability ``C · exp(−(D/λ)²)`` by distance ``D`` (``C`` by type pair:
EE 0.3, EI 0.2, IE 0.4, II 0.1), exponentially decaying synaptic currents
(3 ms excitatory, 6 ms inhibitory), a background current just under
threshold with noise, and the analog input injected as a current into a
random subset of neurons. Dynamic synapses and transmission delays are left
out: the point here is a substrate whose only output is a list of
``(t_ns, channel)`` spike events, the way an MEA or an AER board reports.

The pure part is :func:`run_chunk`; :class:`LSM` is the stateful Device
shell (like :mod:`physres.sim.esn`). The wiring is the "hardware", fixed by
``params.seed``; ``reset(seed=)`` clears the state and reseeds the noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from physres.device import (
    Chunk,
    Description,
    Device,
    InputSpec,
    PendingChunk,
    StreamSpec,
)

__all__ = ["EVENT_DTYPE", "LSM", "LSMParams", "LSMState", "make_liquid", "run_chunk"]

#: one spike: device time and neuron index
EVENT_DTYPE = np.dtype([("t_ns", "<i8"), ("channel", "<i4")])

#: connection probability scale C per (pre, post) type pair: (E→E, E→I, I→E, I→I)
_C = {(True, True): 0.3, (True, False): 0.2, (False, True): 0.4, (False, False): 0.1}
#: synaptic current amplitudes in nA per pair (Maass et al. 2002, Table 1 means)
_A = {(True, True): 30.0, (True, False): 60.0, (False, True): -19.0, (False, False): -19.0}


class LSMParams(BaseModel):
    """Liquid hyper-parameters (units as in Maass et al. 2002: ms, mV, nA, MΩ = 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: the task's input count fills n_inputs (registry.bind_task)
    task_inputs: ClassVar[str | None] = "n_inputs"

    n_neurons: int = Field(135, ge=2, le=20_000)
    n_inputs: int = Field(1, ge=1, le=1_000)
    #: grid columns (x, y); the z extent follows from n_neurons
    grid_xy: tuple[int, int] = (3, 3)
    inhibitory_fraction: float = Field(0.2, ge=0, lt=1)
    #: connection length λ in grid units
    connectivity_lambda: float = Field(2.0, gt=0, allow_inf_nan=False)
    #: scales every synaptic amplitude (1 = the paper's, which with this background and
    #: noise fires ~150 Hz, saturated; 0.2 gives ~15 Hz driven and near silence at rest)
    weight_scale: float = Field(0.2, ge=0, allow_inf_nan=False)
    tau_m_ms: float = Field(30.0, gt=0, allow_inf_nan=False)
    tau_syn_exc_ms: float = Field(3.0, gt=0, allow_inf_nan=False)
    tau_syn_inh_ms: float = Field(6.0, gt=0, allow_inf_nan=False)
    v_thresh_mv: float = Field(15.0, allow_inf_nan=False)
    v_reset_mv: float = Field(13.5, allow_inf_nan=False)
    refractory_exc_ms: float = Field(3.0, ge=0, allow_inf_nan=False)
    refractory_inh_ms: float = Field(2.0, ge=0, allow_inf_nan=False)
    #: background current per neuron, drawn uniformly from this range (nA; threshold 15)
    background_na: tuple[float, float] = (13.5, 14.5)
    #: standard deviation of the per-step noise current (nA)
    noise_na: float = Field(1.0, ge=0, allow_inf_nan=False)
    #: input current per unit of input (nA), on a random ``input_fraction`` of neurons
    input_scaling_na: float = Field(15.0, ge=0, allow_inf_nan=False)
    input_fraction: float = Field(0.3, gt=0, le=1)
    #: simulation step (ms); an input sample lasts ``1000 / rate_hz`` ms
    dt_ms: float = Field(1.0, gt=0, le=10, allow_inf_nan=False)
    #: input samples per second (each is held for 1000 / (rate_hz · dt_ms) steps)
    rate_hz: float = Field(100.0, gt=0, le=100_000, allow_inf_nan=False)
    #: |u| above this is refused (a stand-in for a stimulator's range)
    input_limit: float = Field(10.0, gt=0, allow_inf_nan=False)
    seed: int = 0


@dataclass
class LSMState:
    """What carries from one step to the next (all per neuron)."""

    v: np.ndarray  # membrane potential, mV
    refractory: np.ndarray  # steps left
    i_exc: np.ndarray  # synaptic currents, nA
    i_inh: np.ndarray
    spiked: np.ndarray  # bool, last step


@dataclass(frozen=True)
class Liquid:
    """The fixed wiring and constants of one liquid (from ``params.seed``)."""

    w_exc: sp.csr_matrix  # (post, pre) nA per spike, excitatory presynaptic
    w_inh: sp.csr_matrix
    w_in: np.ndarray  # (n_neurons, n_inputs) nA per input unit
    background: np.ndarray  # nA
    refractory_steps: np.ndarray  # int per neuron
    decay_m: float
    decay_exc: float
    decay_inh: float
    v_thresh: float
    v_reset: float
    substeps: int


def make_liquid(p: LSMParams) -> Liquid:
    """Draw the wiring from ``p.seed``: positions, types, synapses, input weights."""
    rng_pos, rng_syn, rng_in, rng_bg = (
        np.random.default_rng(s) for s in np.random.SeedSequence(p.seed).spawn(4)
    )
    n = p.n_neurons
    gx, gy = p.grid_xy
    idx = np.arange(n)
    pos = np.stack([idx % gx, (idx // gx) % gy, idx // (gx * gy)], axis=1).astype(np.float64)
    exc = np.ones(n, bool)
    exc[rng_pos.choice(n, round(p.inhibitory_fraction * n), replace=False)] = False
    d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
    pre_e, post_e = exc[None, :], exc[:, None]  # matrices are (post, pre)
    C = np.where(
        pre_e,
        np.where(post_e, _C[(True, True)], _C[(True, False)]),
        np.where(post_e, _C[(False, True)], _C[(False, False)]),
    )
    A = np.where(
        pre_e,
        np.where(post_e, _A[(True, True)], _A[(True, False)]),
        np.where(post_e, _A[(False, True)], _A[(False, False)]),
    )
    connect = rng_syn.random((n, n)) < C * np.exp(-d2 / p.connectivity_lambda**2)
    np.fill_diagonal(connect, False)
    # amplitudes vary around the type's mean (Maass: Gamma, sd 0.7 mean; a half-normal spread)
    W = A * np.abs(1 + 0.7 * rng_syn.standard_normal((n, n))) * connect * p.weight_scale
    w_exc = sp.csr_matrix(np.where(pre_e, W, 0.0))
    w_inh = sp.csr_matrix(np.where(pre_e, 0.0, W))
    w_in = rng_in.uniform(-1, 1, (n, p.n_inputs)) * (
        rng_in.random((n, p.n_inputs)) < p.input_fraction
    )
    lo, hi = p.background_na
    ref = np.where(exc, p.refractory_exc_ms, p.refractory_inh_ms) / p.dt_ms
    substeps = 1000.0 / (p.rate_hz * p.dt_ms)
    return Liquid(
        w_exc=w_exc,
        w_inh=w_inh,
        w_in=w_in * p.input_scaling_na,
        background=rng_bg.uniform(min(lo, hi), max(lo, hi), n),
        refractory_steps=np.rint(ref).astype(np.int64),
        decay_m=float(np.exp(-p.dt_ms / p.tau_m_ms)),
        decay_exc=float(np.exp(-p.dt_ms / p.tau_syn_exc_ms)),
        decay_inh=float(np.exp(-p.dt_ms / p.tau_syn_inh_ms)),
        v_thresh=p.v_thresh_mv,
        v_reset=p.v_reset_mv,
        substeps=max(1, round(substeps)),
    )


def initial_state(n: int) -> LSMState:
    return LSMState(
        v=np.zeros(n),
        refractory=np.zeros(n, np.int64),
        i_exc=np.zeros(n),
        i_inh=np.zeros(n),
        spiked=np.zeros(n, bool),
    )


def run_chunk(
    state: LSMState, current: np.ndarray, liquid: Liquid
) -> tuple[LSMState, np.ndarray, np.ndarray]:
    """Advance one step per row of ``current`` (S, n) nA (input, background and noise).

    Returns the new state and the spikes as parallel arrays (step index in
    the chunk, neuron). Exact exponential integration of
    ``τ dv/dt = −v + R I`` with R = 1 MΩ; a neuron that crosses threshold
    spikes, is reset, and is held for its refractory period.
    """
    v, ref = state.v.copy(), state.refractory.copy()
    i_e, i_i, spiked = state.i_exc.copy(), state.i_inh.copy(), state.spiked.copy()
    steps, neurons = [], []
    a = liquid.decay_m
    for k in range(current.shape[0]):
        i_e *= liquid.decay_exc
        i_i *= liquid.decay_inh
        if spiked.any():
            s = spiked.astype(np.float64)
            i_e += liquid.w_exc @ s
            i_i += liquid.w_inh @ s
        drive = current[k] + i_e + i_i
        free = ref <= 0
        v = np.where(free, a * v + (1 - a) * drive, liquid.v_reset)
        ref -= 1
        spiked = free & (v >= liquid.v_thresh)
        if spiked.any():
            hit = np.flatnonzero(spiked)
            v[hit] = liquid.v_reset
            ref[hit] = liquid.refractory_steps[hit]
            steps.append(np.full(hit.size, k, np.int64))
            neurons.append(hit)
    out = LSMState(v, ref, i_e, i_i, spiked)
    if not steps:
        return out, np.zeros(0, np.int64), np.zeros(0, np.int64)
    return out, np.concatenate(steps), np.concatenate(neurons)


class LSM(Device):
    """``sim.lsm``: input ``u`` (n_inputs,), event stream ``spikes`` ``(t_ns, channel)``."""

    Params = LSMParams
    default_kind = "sim.lsm"
    clock = "stepped"
    params: LSMParams

    def __init__(self, name: str | None = None, *, mock: bool = False, **params: object) -> None:
        super().__init__(name or "lsm", mock=mock, **params)
        self._liquid: Liquid | None = None
        self._state = initial_state(self.params.n_neurons)
        self._pending = PendingChunk(np.zeros(0, EVENT_DTYPE))
        self._rng = np.random.default_rng(self.params.seed)
        #: synapses a spike reached, summed since construction (a cost figure: ``physres
        #: bench`` reports it per second of device time; resets do not clear it)
        self.synaptic_events = 0
        self._out_degree: np.ndarray | None = None

    def describe(self) -> Description:
        p = self.params
        return self._description(
            streams=[
                StreamSpec.events(
                    "spikes", EVENT_DTYPE, doc="one record per spike: device time (ns) and neuron"
                )
            ],
            inputs=[
                InputSpec.analog(
                    p.n_inputs,
                    rate_hz=p.rate_hz,
                    limit=p.input_limit,
                    doc="analog input, injected as current; one row per input sample",
                )
            ],
            meta={"n_channels": p.n_neurons, "params": p.model_dump()},
        )

    @property
    def liquid(self) -> Liquid:
        if self._liquid is None:
            self._liquid = make_liquid(self.params)
        return self._liquid

    def _connect(self) -> None:
        _ = self.liquid

    def _apply(self, inputs: dict[str, np.ndarray]) -> None:
        p, liq = self.params, self.liquid
        u = inputs["u"]
        sub = liq.substeps
        current = np.repeat(u @ liq.w_in.T, sub, axis=0) + liq.background
        if p.noise_na:
            current += self._rng.standard_normal(current.shape) * p.noise_na
        self._state, steps, neurons = run_chunk(self._state, current, liq)
        if self._out_degree is None:  # synapses leaving each neuron: columns of (post, pre)
            self._out_degree = np.asarray((liq.w_exc != 0).sum(0) + (liq.w_inh != 0).sum(0))[0]
        self.synaptic_events += int(self._out_degree[np.asarray(neurons, np.intp)].sum())
        dt_ns = p.dt_ms * 1e6
        ev = np.empty(len(steps), EVENT_DTYPE)
        ev["t_ns"] = self._clock_ns + np.rint(steps * dt_ns).astype(np.int64)
        ev["channel"] = neurons
        self._pending.add(ev, self._clock_ns)
        self._clock_ns += round(len(u) * 1e9 / p.rate_hz)

    def _read(self) -> dict[str, Chunk]:
        return {"spikes": self._pending.take(self._clock_ns)}

    def _reset(self, seed: int | None) -> None:
        self._state = initial_state(self.params.n_neurons)
        self._pending.clear()
        self._rng = np.random.default_rng(self.params.seed if seed is None else seed)
