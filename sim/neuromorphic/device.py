"""``sim.neuromorphic``: the emulated chip as a Device (stepped, chip time).

Inputs: ``u`` (analog rows at ``rate_hz``, each channel encoded as a spike
source by :class:`~physres.neuro.encode.RateEncoder`) and ``spikes_in``
(address events with chip-time stamps, µs since reset). Output: the
``spikes`` event stream ``(t_ns, channel)``, times on the chip's clock.
Params and description are :mod:`physres.neuro.params`'s, shared with
``drivers.neuromorphic``; the emulator's bridge link (bandwidth, latency,
FIFO) makes overflow real, and the ``counters`` command reports it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from physres.device import Chunk, Description, Device, PendingChunk, command
from physres.neuro.aer import BUS_EVENT, INPUT_EVENT, to_bus
from physres.neuro.encode import RateEncoder
from physres.neuro.params import NeuroParams, neuro_specs
from physres.sim.neuromorphic.chip import Chip

__all__ = ["NeuromorphicSim"]


class NeuromorphicSim(Device):
    """Emulated DYNAP-SE / BrainScaleS-2 chip behind an emulated bridge link."""

    Params = NeuroParams
    default_kind = "sim.neuromorphic"
    clock = "stepped"
    params: NeuroParams

    def __init__(self, name: str | None = None, *, mock: bool = False, **params: Any) -> None:
        super().__init__(name or "chip", mock=mock, **params)
        self._chip: Chip | None = None
        self._encoder: RateEncoder | None = None
        self._pending = PendingChunk(np.zeros(0, BUS_EVENT))
        self._rng = np.random.default_rng(self.params.seed)
        #: synapses a spike reached, summed since construction (resets do not clear it:
        #: ``physres bench`` reports it per second of device time, as for sim.lsm)
        self.synaptic_events = 0

    def describe(self) -> Description:
        streams, inputs, meta = neuro_specs(self.params)
        return self._description(streams=streams, inputs=inputs, meta=meta)

    @property
    def chip(self) -> Chip:
        """The emulated chip (built on first use: its circuit is the fixed 'hardware')."""
        if self._chip is None:
            p = self.params
            self._chip = Chip(
                p.chip,
                seed=p.seed,
                chip_seed=p.chip_seed,
                mismatch=p.mismatch,
                mismatch_cv=p.mismatch_cv,
                noise=p.noise,
                link=p.link,
            )
        return self._chip

    @property
    def encoder(self) -> RateEncoder:
        if self._encoder is None:
            p = self.params
            self._encoder = RateEncoder(
                p.chip.input_maps(),
                p.chip.model,
                max_rate_hz=p.max_rate_hz,
                encoding=p.encoding,
            )
        return self._encoder

    def _connect(self) -> None:
        _ = self.chip

    def _apply(self, inputs: dict[str, np.ndarray]) -> None:
        chip = self.chip
        now = chip.now_us
        until = now
        parts = []
        if "u" in inputs:
            u = inputs["u"]
            sample_us = 1e6 / self.params.rate_hz
            parts.append(self.encoder.encode(u, now, sample_us, self._rng))
            until = now + len(u) * sample_us
        if "spikes_in" in inputs:
            ev = inputs["spikes_in"]
            parts.append(ev)
            if len(ev):  # run past the last event so every one is delivered
                until = max(until, float(ev["t_us"].max()) + chip.dt_us, now + chip.dt_us)
        ev = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if len(parts) > 1:
            ev = ev[np.argsort(ev["t_us"], kind="stable")]
        syn0 = chip.counters.synaptic_events
        out, counters = chip.run(ev.astype(INPUT_EVENT, copy=False), until)
        self.synaptic_events += counters["synaptic_events"] - syn0
        self._pending.add(to_bus(out, chip.model), self._clock_ns)
        self._clock_ns = math.floor(chip.now_us * 1000)

    def _read(self) -> dict[str, Chunk]:
        return {"spikes": self._pending.take(self._clock_ns)}

    def _reset(self, seed: int | None) -> None:
        s = self.params.seed if seed is None else seed
        self.chip.reset(s)
        self.encoder.reset()
        self._pending.clear()
        self._rng = np.random.default_rng(s)

    @command
    def counters(self) -> dict[str, int]:
        """Events in and out, drops at the bridge FIFOs, late inputs, synaptic events."""
        return self.chip.counters.as_dict()
