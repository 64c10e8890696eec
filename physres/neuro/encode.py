"""Analog input rows → input address events: how a task's numbers reach a spiking chip.

A task drives a device with rows of numbers ``u`` (one per input sample); a
neuromorphic chip takes spikes. Each analog channel is one spike source
whose rate follows ``u``: ``u`` in [−1, 1] → 0 to ``max_rate_hz``
(biological Hz; an accelerated chip gets that many times more per chip
second). ``poisson`` draws a Poisson train per channel, ``regular`` fires
from an integrate-and-fire accumulator (deterministic; its phase carries over
between calls). A cochleagram's band energies become auditory-nerve-like
spike trains this way. Every spike of a channel is then expanded by the
configuration's input map (:meth:`RateEncoder.expand`) into input events on
its targets. The emulator's device and the bridge driver share this encoder,
so one config drives either the same way; spikes a caller already has (a
NIR network's input) go through :meth:`RateEncoder.expand` alone.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from physres.neuro.aer import INPUT_EVENT
from physres.neuro.chips import ChipModel
from physres.neuro.config import InputMap

__all__ = ["Encoding", "RateEncoder"]

Encoding = Literal["poisson", "regular"]


class RateEncoder:
    """Stateful encoder for one chip's input mapping (``reset()`` clears the phases)."""

    def __init__(
        self,
        maps: list[InputMap],
        model: ChipModel,
        *,
        max_rate_hz: float = 200.0,
        encoding: Encoding = "poisson",
    ) -> None:
        self.model = model
        self.max_rate_hz = float(max_rate_hz)
        self.encoding = encoding
        self.n_channels = 1 + max((m.channel for m in maps), default=-1)
        # per channel: the flat (target, syn) list, each repeated by its weight level
        tg: list[list[int]] = [[] for _ in range(self.n_channels)]
        sy: list[list[int]] = [[] for _ in range(self.n_channels)]
        for m in maps:
            s = model.syn_index(m.syn)
            for t in m.targets:
                tg[m.channel] += [t] * m.weight
                sy[m.channel] += [s] * m.weight
        self._targets = [np.asarray(t, np.int64) for t in tg]
        self._syn = [np.asarray(s, np.int64) for s in sy]
        self._phase = np.zeros(self.n_channels)

    def reset(self) -> None:
        self._phase[:] = 0.0

    def rates_hz(self, u: np.ndarray) -> np.ndarray:
        """Chip-time spike rate per sample and channel for ``u`` in [−1, 1] (clipped)."""
        frac = (np.clip(np.asarray(u, np.float64), -1.0, 1.0) + 1.0) / 2.0
        return frac * self.max_rate_hz * self.model.acceleration

    def spikes(
        self, u: np.ndarray, t0_us: float, sample_us: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Source spikes ``(t_us float, channel)`` for samples ``u`` (T, channels), sample k
        spanning ``[t0 + k·sample_us, t0 + (k+1)·sample_us)`` in chip µs."""
        u = np.asarray(u, np.float64).reshape(len(u), -1)
        if u.shape[1] > self.n_channels:
            raise ValueError(
                f"{u.shape[1]} input channels but the chip configuration maps only "
                f"{self.n_channels}"
            )
        rates = self.rates_hz(u)
        T = len(u)
        ts, cs = [], []
        for c in range(u.shape[1]):
            if self.encoding == "poisson":
                counts = rng.poisson(rates[:, c] * sample_us * 1e-6)
                k = np.repeat(np.arange(T), counts)
                t = t0_us + (k + rng.random(k.size)) * sample_us
            else:  # a spike at every whole crossing of the integrated rate
                acc = self._phase[c] + np.cumsum(rates[:, c] * sample_us * 1e-6)
                before = np.r_[self._phase[c], acc[:-1]]
                n = np.floor(acc).astype(np.int64) - np.floor(before).astype(np.int64)
                k = np.repeat(np.arange(T), n)
                level = np.floor(before[k]) + 1 + _within(n)
                frac = (level - before[k]) / np.maximum(acc[k] - before[k], 1e-12)
                t = t0_us + (k + frac) * sample_us
                if T:
                    self._phase[c] = acc[-1] - np.floor(acc[-1])
            ts.append(t)
            cs.append(np.full(t.size, c, np.int64))
        if not ts:
            return np.zeros(0), np.zeros(0, np.int64)
        return np.concatenate(ts), np.concatenate(cs)

    def expand(self, t_us: np.ndarray, channel: np.ndarray) -> np.ndarray:
        """Source spikes → input events on every mapped target, sorted by time."""
        t_us = np.floor(np.asarray(t_us, np.float64)).astype(np.int64)
        channel = np.asarray(channel, np.int64)
        if channel.size and (channel.min() < 0 or channel.max() >= self.n_channels):
            bad = channel[(channel < 0) | (channel >= self.n_channels)][0]
            raise ValueError(f"input channel {bad} is not mapped (0..{self.n_channels - 1})")
        fan = np.array([t.size for t in self._targets], np.int64)
        reps = fan[channel] if channel.size else np.zeros(0, np.int64)
        t = np.repeat(t_us, reps)
        g = np.concatenate([self._targets[c] for c in channel]) if t.size else t
        s = np.concatenate([self._syn[c] for c in channel]) if t.size else t
        order = np.argsort(t, kind="stable")
        ev = np.empty(t.size, INPUT_EVENT)
        ev["t_us"] = t[order]
        ev["core"] = g[order] // self.model.neurons_per_core
        ev["neuron"] = g[order] % self.model.neurons_per_core
        ev["syn"] = s[order]
        return ev

    def encode(
        self, u: np.ndarray, t0_us: float, sample_us: float, rng: np.random.Generator
    ) -> np.ndarray:
        """Input events for analog samples ``u``: :meth:`spikes`, then :meth:`expand`."""
        return self.expand(*self.spikes(u, t0_us, sample_us, rng))


def _within(n: np.ndarray) -> np.ndarray:
    """0, 1, …, n_k − 1 for each k, concatenated (the index of a spike within its sample)."""
    if not n.size or not n.sum():
        return np.zeros(0, np.int64)
    start = np.repeat(np.cumsum(n) - n, n)
    return np.arange(int(n.sum())) - start
