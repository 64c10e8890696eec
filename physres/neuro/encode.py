"""Analog input rows → input address events: how a task's numbers reach a spiking chip.

A task drives a device with rows of numbers ``u`` (one per input sample); a
neuromorphic chip takes spikes. The host turns each analog channel into a
spike rate on the neurons the configuration maps it to: ``u`` in
[−1, 1] → a rate from 0 to ``max_rate_hz`` (biological Hz; on an accelerated
chip the rate is that many times higher in chip time). ``poisson`` draws an
independent Poisson train per target (a cochleagram's band energies become
the spike trains of an auditory nerve this way), ``regular`` fires every
target of a channel together from one integrate-and-fire accumulator
(deterministic; the phase carries over between calls). Both the emulator's
device and the bridge driver use this one encoder, so a config drives either
the same way.
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
        max_rate_hz: float,
        encoding: Encoding = "poisson",
    ) -> None:
        self.model = model
        self.max_rate_hz = float(max_rate_hz)
        self.encoding = encoding
        self._maps = maps
        n_ch = 1 + max((m.channel for m in maps), default=-1)
        self.n_channels = n_ch
        self._targets = [np.zeros(0, np.int64) for _ in range(n_ch)]
        self._syn = np.zeros(n_ch, np.int64)
        for m in maps:
            self._targets[m.channel] = np.unique(np.r_[self._targets[m.channel], m.targets])
            self._syn[m.channel] = model.syn_index(m.syn)
        self._phase = np.zeros(n_ch)

    def reset(self) -> None:
        self._phase[:] = 0.0

    def rates_hz(self, u: np.ndarray) -> np.ndarray:
        """Chip-time spike rate per sample and channel for ``u`` in [−1, 1] (clipped)."""
        frac = (np.clip(np.asarray(u, np.float64), -1.0, 1.0) + 1.0) / 2.0
        return frac * self.max_rate_hz * self.model.acceleration

    def encode(
        self, u: np.ndarray, t0_us: float, sample_us: float, rng: np.random.Generator
    ) -> np.ndarray:
        """Events for samples ``u`` (T, n_channels), sample k spanning
        ``[t0 + k·sample_us, t0 + (k+1)·sample_us)`` in chip µs; sorted by time."""
        u = np.asarray(u, np.float64).reshape(len(u), -1)
        if u.shape[1] > self.n_channels:
            raise ValueError(
                f"{u.shape[1]} input channels but the chip configuration maps only "
                f"{self.n_channels} (inputs: ...)"
            )
        rates = self.rates_hz(u)  # (T, C)
        T = len(u)
        parts_t, parts_n, parts_s = [], [], []
        for c in range(u.shape[1]):
            tg = self._targets[c]
            if not tg.size:
                continue
            if self.encoding == "poisson":
                lam = rates[:, c] * sample_us * 1e-6
                counts = rng.poisson(np.repeat(lam, tg.size).reshape(T, tg.size))
                k, j = np.nonzero(counts)
                reps = counts[k, j]
                k, j = np.repeat(k, reps), np.repeat(j, reps)
                t = t0_us + (k + rng.random(k.size)) * sample_us
                parts_t.append(t)
                parts_n.append(tg[j])
            else:
                # integrate rate over each sample; a spike at every whole crossing
                acc = self._phase[c] + np.cumsum(rates[:, c] * sample_us * 1e-6)
                before = np.r_[self._phase[c], acc[:-1]]
                n_spk = np.floor(acc).astype(np.int64) - np.floor(before).astype(np.int64)
                k = np.repeat(np.arange(T), n_spk)
                level = np.floor(before[k]) + 1 + _within(n_spk)
                # linear interpolation of the crossing time inside the sample
                frac = (level - before[k]) / np.maximum(acc[k] - before[k], 1e-12)
                t = t0_us + (k + frac) * sample_us
                self._phase[c] = acc[-1] - np.floor(acc[-1]) if T else self._phase[c]
                parts_t.append(np.repeat(t, tg.size))
                parts_n.append(np.tile(tg, t.size))
            parts_s.append(np.full(parts_t[-1].size, self._syn[c]))
        if not parts_t:
            return np.zeros(0, INPUT_EVENT)
        t = np.floor(np.concatenate(parts_t)).astype(np.int64)
        g = np.concatenate(parts_n)
        s = np.concatenate(parts_s)
        order = np.argsort(t, kind="stable")
        ev = np.empty(t.size, INPUT_EVENT)
        ev["t_us"] = t[order]
        ev["core"] = g[order] // self.model.neurons_per_core
        ev["neuron"] = g[order] % self.model.neurons_per_core
        ev["syn"] = s[order]
        return ev


def _within(n: np.ndarray) -> np.ndarray:
    """0, 1, …, n_k − 1 for each k, concatenated (the index of a spike within its sample)."""
    if not n.size or not n.sum():
        return np.zeros(0, np.int64)
    start = np.repeat(np.cumsum(n) - n, n)
    return np.arange(int(n.sum())) - start
