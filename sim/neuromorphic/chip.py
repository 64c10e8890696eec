"""The emulated chip: configuration → circuit parameters with mismatch → clocked run.

:class:`Chip` is the Python API both neuromorphic kinds stand on, and it is
**stable**: the bridge side (``drivers.neuromorphic``'s tests put the bridge
firmware in front of an emulator) calls ``Chip(config, seed=, chip_seed=,
mismatch=, ...)``, ``run(in_events, until_us) -> (out_events, counters)``,
``reset(seed=)`` and reads ``now_us``; add to it, do not change those.

Biases become currents through the DAC model (:mod:`physres.neuro.dac`),
currents become time constants, thresholds and weights. **Device
mismatch** is a fixed draw per chip (``chip_seed``): every bias current
reaching a neuron is multiplied by a log-normal factor with the configured
coefficient of variation (transistor mismatch in subthreshold circuits is
multiplicative on currents; 10–20 % is typical of DYNAP-SE, Zendrikov et al.
2023), drawn independently per neuron and per parameter; ``mismatch=False``
gives the ideal chip. **Temporal noise** is white noise on the membrane
current with a stationary RMS of ``noise`` × threshold, seeded by ``seed``.

The optional **link** is the bridge between host and chip (events per
second, latency, FIFO depth): input events queue for it (a full FIFO drops
them, counted as ``in_dropped``; an event that gets through after its
timestamp is ``in_late``), output spikes queue for it the other way
(``out_dropped``) and reach the host ``latency_us`` after leaving.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from physres.errors import DataError
from physres.neuro import dac
from physres.neuro.aer import INPUT_EVENT, OUTPUT_EVENT, check_input_events
from physres.neuro.chips import SYNAPSE_TYPES
from physres.neuro.config import BIAS_NAMES, ChipConfig
from physres.neuro.params import LinkParams
from physres.sim.neuromorphic.kernels import advance, fifo

__all__ = ["Chip", "ChipCounters", "Circuit", "build_circuit"]

#: noise table length past the neuron count: offsets drawn per step from this many
_NOISE_SPAN = 1 << 16


@dataclass
class ChipCounters:
    """Event counts since the last reset (all ints; ``asdict`` for the bus and logs)."""

    in_events: int = 0  # input events offered by the host
    in_dropped: int = 0  # lost at a full input FIFO
    in_late: int = 0  # delivered after their timestamp (link too slow, or sent late)
    spikes: int = 0  # spikes fired on the chip, every neuron
    out_events: int = 0  # spikes of output neurons offered to the link
    out_dropped: int = 0  # lost at a full output FIFO (board overflow)
    synaptic_events: int = 0  # synapses a spike reached

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Circuit:
    """Per-neuron float32 parameters (after mismatch) and the synapse table."""

    a_mem: np.ndarray
    thr: np.ndarray  # pA
    ref_steps: np.ndarray  # int32
    dc: np.ndarray  # pA
    a_ahp: np.ndarray
    w_ahp: np.ndarray  # pA per spike
    a_syn: np.ndarray  # (4, n), rows in SYNAPSE_TYPES order; absent types stay 0
    w_syn: np.ndarray  # (4, n) pA per weight level
    #: chip synapse-type index → row of the kernel's four (SYNAPSE_TYPES order)
    rows: np.ndarray
    noise_amp: np.ndarray  # pA of drive per unit normal draw (zeros: no noise)
    indptr: np.ndarray  # CSR by source
    syn_tgt: np.ndarray
    syn_type: np.ndarray
    syn_dw: np.ndarray  # pA
    tau_mem_s: np.ndarray = field(repr=False)
    tau_syn_s: np.ndarray = field(repr=False)  # (types, n)


def _factor(rng: np.random.Generator, cv: float, n: int) -> np.ndarray:
    """Log-normal multipliers with mean 1 and coefficient of variation ``cv``."""
    if cv <= 0:
        return np.ones(n)
    s2 = math.log1p(cv * cv)
    return rng.lognormal(-s2 / 2, math.sqrt(s2), n)


def build_circuit(
    cfg: ChipConfig, *, chip_seed: int, mismatch: bool, cv: float, noise: float
) -> Circuit:
    """Currents per neuron from the biases, one mismatch factor each, then the step constants."""
    m = cfg.model
    n = m.n_neurons
    core = np.arange(n) // m.neurons_per_core
    codes = cfg.bias_codes()
    amps = dac.current(codes[..., 0], codes[..., 1])  # (cores, biases) A
    rng = np.random.default_rng(np.random.SeedSequence([chip_seed, 0x6D69736D]))  # "mism"
    cur: dict[str, np.ndarray] = {}
    for b, name in enumerate(BIAS_NAMES):  # every bias gets its own draw, in a fixed order
        f = _factor(rng, cv if mismatch else 0.0, n)
        cur[name] = amps[core, b] * f
    dt = m.dt_us * 1e-6
    acc = m.acceleration

    def tau(name: str) -> np.ndarray:
        return np.array([dac.time_constant(name, i, acc) for i in cur[name]])

    def decay(t: np.ndarray) -> np.ndarray:
        return np.exp(-dt / t).astype(np.float32)

    tau_mem = tau("tau_mem")
    t_ref = tau("refractory")
    types = m.synapse_types
    rows = np.array([SYNAPSE_TYPES.index(s) for s in types], np.int64)
    tau_syn = np.full((len(SYNAPSE_TYPES), n), np.inf)
    w_syn = np.zeros((len(SYNAPSE_TYPES), n), np.float32)
    for r, s in zip(rows, types):
        tau_syn[r] = tau(f"tau_{s}")
        w_syn[r] = cur[f"w_{s}"] * 1e12
    thr = (cur["thr"] * 1e12).astype(np.float32)
    a_mem = decay(tau_mem)
    conn = cfg.connectivity()
    order = np.argsort(conn.source, kind="stable")
    src = conn.source[order]
    tgt = conn.target[order]
    styp = rows[conn.syn[order]]
    dw = (conn.weight[order] * w_syn[styp, tgt]).astype(np.float32)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    # the drive's noise term, scaled so the membrane's stationary RMS is noise × threshold
    a64 = a_mem.astype(np.float64)
    noise_amp = (noise * thr * np.sqrt(1 - a64**2) / np.maximum(1 - a64, 1e-12)).astype(np.float32)
    return Circuit(
        a_mem=a_mem,
        thr=thr,
        ref_steps=np.rint(np.minimum(t_ref / dt, 2**30)).astype(np.int32),
        dc=(cur["dc"] * 1e12).astype(np.float32),
        a_ahp=decay(tau("tau_ahp")),
        w_ahp=(cur["w_ahp"] * 1e12).astype(np.float32),
        a_syn=decay(tau_syn),
        w_syn=w_syn,
        rows=rows,
        noise_amp=noise_amp,
        indptr=indptr,
        syn_tgt=tgt.astype(np.int32),
        syn_type=styp.astype(np.int32),
        syn_dw=dw,
        tau_mem_s=tau_mem,
        tau_syn_s=tau_syn,
    )


class _Link:
    """One direction of the bridge: FIFO state carried across calls."""

    def __init__(self, p: LinkParams) -> None:
        self.period_us = 1e6 / p.events_per_s
        self.latency_us = p.latency_us
        self.ring = np.zeros(p.fifo_events)
        self.state = np.zeros(3)

    def pass_(self, t_us: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """(kept mask, departure times, dropped count) for arrivals ``t_us``."""
        keep = np.zeros(t_us.size, np.bool_)
        depart = np.zeros(t_us.size)
        dropped = fifo(t_us.astype(np.float64), self.period_us, self.ring, self.state, keep, depart)
        return keep, depart, int(dropped)


class Chip:
    """One emulated chip (see the module docstring; the API is stable)."""

    def __init__(
        self,
        config: ChipConfig,
        *,
        seed: int = 0,
        chip_seed: int = 0,
        mismatch: bool = True,
        mismatch_cv: float = 0.15,
        noise: float = 0.02,
        link: LinkParams | None = None,
    ) -> None:
        self.config = config
        self.model = config.model
        self.circuit = build_circuit(
            config, chip_seed=chip_seed, mismatch=mismatch, cv=mismatch_cv, noise=noise
        )
        self._link_params = link
        outs = np.zeros(self.model.n_neurons, np.bool_)
        outs[config.output_neurons()] = True
        self._is_output = outs
        c = self.circuit
        self._in_w = (config.input_weight * c.w_syn).astype(np.float32)  # (types, n)
        cap = max(4 * self.model.n_neurons, 1 << 16)
        self._out_step = np.zeros(cap, np.int64)
        self._out_neuron = np.zeros(cap, np.int32)
        self.reset(seed)

    # ------------------------------------------------------------ lifecycle
    def reset(self, seed: int | None = None) -> None:
        """Zero every state variable, counter and queue; ``seed`` reseeds the noise."""
        if seed is not None:
            self.seed = int(seed)
        n = self.model.n_neurons
        self._i_mem = np.zeros(n, np.float32)
        self._i_syn = np.zeros((len(SYNAPSE_TYPES), n), np.float32)
        self._i_ahp = np.zeros(n, np.float32)
        self._ref = np.zeros(n, np.int32)
        gen = np.random.default_rng(np.random.SeedSequence([self.seed, 0x6E6F6973]))  # "nois"
        span = _NOISE_SPAN if self.circuit.noise_amp.any() else 0
        self._noise_table = gen.standard_normal(n + span).astype(np.float32)
        self._rng = np.array([gen.integers(1, 2**63)], np.uint64)
        self._spk_prev = np.zeros(n, np.int32)
        self._n_prev = 0
        self._step = 0
        self._pending_in = np.zeros(0, INPUT_EVENT)
        self._pending_out = np.zeros(0, OUTPUT_EVENT)
        self._pending_due = np.zeros(0)
        lp = self._link_params
        self._link_in = _Link(lp) if lp else None
        self._link_out = _Link(lp) if lp else None
        self.counters = ChipCounters()

    @property
    def dt_us(self) -> float:
        return self.model.dt_us

    @property
    def now_us(self) -> float:
        """Chip time reached so far (µs since reset)."""
        return self._step * self.model.dt_us

    # ------------------------------------------------------------------ run
    def run(self, in_events: np.ndarray, until_us: float) -> tuple[np.ndarray, dict[str, int]]:
        """Deliver ``in_events`` (INPUT_EVENT, sorted by t_us), run to ``until_us``.

        Returns the output events that reached the host by ``until_us`` (their
        ``t_us`` is when the neuron fired, on the chip's clock) and the
        counters since reset. Events timed at or after ``until_us`` wait for the
        next call; events timed before ``now_us`` are applied at once and
        counted late.
        """
        ev = np.asarray(in_events)
        if ev.dtype != INPUT_EVENT:
            raise DataError(f"Chip.run: in_events must have dtype {INPUT_EVENT.descr}")
        check_input_events(ev, self.model)
        m = self.model
        cnt = self.counters
        cnt.in_events += len(ev)
        t = ev["t_us"].astype(np.float64)
        if self._link_in is not None and len(ev):
            keep, depart, dropped = self._link_in.pass_(np.maximum(t, self.now_us))
            cnt.in_dropped += dropped
            ev, t = ev[keep], np.maximum(t[keep], depart[keep] - self._link_in.period_us)
        if len(self._pending_in):
            pt = self._pending_in["t_us"].astype(np.float64)
            ev = np.concatenate([self._pending_in, ev])
            t = np.concatenate([pt, t])
            order = np.argsort(t, kind="stable")
            ev, t = ev[order], t[order]
        end_step = max(self._step, math.floor(until_us / m.dt_us + 1e-9))
        now = self._step
        step_of = np.floor(t / m.dt_us + 1e-9).astype(np.int64)
        late = step_of < now
        # an event on time is one that lands in the step its timestamp names
        cnt.in_late += int(late.sum()) + int((t > ev["t_us"] + m.dt_us).sum())
        step_of = np.maximum(step_of, now)
        due = step_of < end_step
        self._pending_in = ev[~due]
        ev, step_of = ev[due], step_of[due]
        g = ev["core"].astype(np.int64) * m.neurons_per_core + ev["neuron"]
        in_type = self.circuit.rows[ev["syn"]].astype(np.int32)
        in_w = self._in_w[in_type, g]
        in_step = step_of - now
        in_tgt = g.astype(np.int32)
        steps_out, neurons_out = [], []
        c = self.circuit
        done = 0
        ie = 0
        while done < end_step - now:
            k, n_out, self._n_prev, n_syn, used = advance(
                end_step - now - done,
                self._rng,
                self._i_mem,
                self._i_syn,
                self._i_ahp,
                self._ref,
                c.a_mem,
                c.thr,
                c.ref_steps,
                c.dc,
                c.a_ahp,
                c.w_ahp,
                c.a_syn,
                c.noise_amp,
                self._noise_table,
                c.indptr,
                c.syn_tgt,
                c.syn_type,
                c.syn_dw,
                in_step[ie:] - done,
                in_tgt[ie:],
                in_type[ie:],
                in_w[ie:],
                self._spk_prev,
                self._n_prev,
                self._out_step,
                self._out_neuron,
            )
            steps_out.append(self._out_step[:n_out] + now + done)
            neurons_out.append(self._out_neuron[:n_out].copy())
            cnt.synaptic_events += int(n_syn)
            ie += int(used)
            done += int(k)
        self._step = end_step
        step = np.concatenate(steps_out) if steps_out else np.zeros(0, np.int64)
        nrn = np.concatenate(neurons_out) if neurons_out else np.zeros(0, np.int32)
        cnt.spikes += len(step)
        sel = self._is_output[nrn]
        step, nrn = step[sel], nrn[sel]
        cnt.out_events += len(step)
        out = np.empty(len(step), OUTPUT_EVENT)
        t_fire = step * m.dt_us
        out["t_us"] = np.floor(t_fire + 1e-9).astype(np.uint64)
        out["core"] = nrn // m.neurons_per_core
        out["neuron"] = nrn % m.neurons_per_core
        if self._link_out is None:
            return out, cnt.as_dict()
        keep, depart, dropped = self._link_out.pass_(t_fire)
        cnt.out_dropped += dropped
        ready = np.concatenate([self._pending_out, out[keep]])
        due_t = np.concatenate([self._pending_due, depart[keep] + self._link_out.latency_us])
        now_us = self.now_us
        arrived = due_t <= now_us
        self._pending_out, self._pending_due = ready[~arrived], due_t[~arrived]
        return ready[arrived], cnt.as_dict()
