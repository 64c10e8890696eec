"""Where the emulated GUI's samples come from: a simulated culture, or synthetic spikes in noise."""

from __future__ import annotations

from typing import Any

import numpy as np

from physres.sim.openephys.signals import spike_waveform

__all__ = ["CultureSource", "SyntheticSource"]


class SyntheticSource:
    """Endless synthetic raw, block by block: Gaussian noise and Poisson spikes (µV)."""

    def __init__(
        self,
        n_channels: int,
        *,
        rate_hz: float = 25_000.0,
        spike_rate_hz: float = 5.0,
        amplitude_uv: float = 80.0,
        noise_uv: float = 6.0,
        seed: int = 0,
    ) -> None:
        self.n_channels = n_channels
        self.rate_hz = rate_hz
        self.p = spike_rate_hz / rate_hz
        self.noise_uv = noise_uv
        self.wave, self.trough = spike_waveform(rate_hz, amplitude_uv)
        self.seed = seed
        self.rewind()

    def rewind(self) -> None:
        """Back to the first sample: the same recording plays again."""
        self.rng = np.random.default_rng(self.seed)
        self._carry = np.zeros((len(self.wave), self.n_channels), np.float32)

    def __call__(self, n: int) -> np.ndarray:
        w = len(self.wave)
        out = np.zeros((n + w, self.n_channels), np.float32)
        out[:w] += self._carry
        out[:n] += self.rng.normal(0.0, self.noise_uv, (n, self.n_channels)).astype(np.float32)
        starts, chans = np.nonzero(self.rng.random((n, self.n_channels)) < self.p)
        for s, c in zip(starts, chans):
            out[s : s + w, c] += self.wave
        self._carry = out[n:].copy()
        return out[:n]


class CultureSource:
    """The simulated culture (``sim.mea`` with ``raw: true``) as the GUI's acquisition board.

    It runs unstimulated (Open Ephys records only); ``n`` must be whole steps of
    the culture's ``step_ms``.
    """

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        from physres.sim.mea import SimMEA

        self.device = SimMEA("culture", **{**(params or {}), "raw": True}).connect()
        p = self.device.params
        self.n_channels = p.n_channels
        self.per_step = p.raw_per_step
        self._zero = np.zeros((1, len(p.stim_electrodes)))

    def rewind(self) -> None:
        """The culture restarts from its initial state (same seed: the same activity)."""
        self.device.reset()

    def __call__(self, n: int) -> np.ndarray:
        if n % self.per_step:
            raise ValueError(f"culture blocks are whole steps of {self.per_step} samples, not {n}")
        self.device.apply({"stim": np.repeat(self._zero, n // self.per_step, axis=0)})
        return self.device.read()["raw"].data
