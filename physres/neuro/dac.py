"""Bias DACs: a (coarse, fine) code → a current → a time constant, threshold or weight.

On DYNAP-SE every analog parameter of a core is one bias current from an
on-chip generator: a coarse code 0–7 picks a current range, a fine code 0–255
scales it linearly (libcaer's ``caer_bias_dynapse``). The coarse currents here
step by about 8 from 15 pA to 24 µA (Rockpool's DYNAP-SE1 bias-generator
table). A differential-pair integrator (DPI) with capacitance C turns a leak
current I_τ into the time constant τ = C·U_T / (κ·I_τ) (Bartolozzi & Indiveri
2007; Chicca et al. 2014, Proc. IEEE 102:1367), U_T ≈ 25 mV, κ ≈ 0.7.
The capacitances are the DYNAP-SE circuit's (a few pF for the membrane, tens
of pF for the synapses). BrainScaleS-2 runs 1,000× faster: its time constants
are those divided by the chip's acceleration.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CAPACITANCE_F",
    "COARSE_A",
    "FINE_MAX",
    "KAPPA",
    "U_T",
    "current",
    "fine_for",
    "time_constant",
]

#: the coarse ranges' top currents in ampere, coarse code 0..7
COARSE_A: tuple[float, ...] = (15e-12, 105e-12, 820e-12, 6.5e-9, 50e-9, 400e-9, 3.2e-6, 24e-6)
FINE_MAX = 255
U_T = 0.025  # thermal voltage, V
KAPPA = 0.7  # subthreshold slope factor

#: capacitance behind each time-constant bias (F): membrane, refractory, adaptation, synapses
CAPACITANCE_F: dict[str, float] = {
    "tau_mem": 3.2e-12,
    "refractory": 1.0e-12,
    "tau_ahp": 40e-12,
    "tau_ampa": 24e-12,
    "tau_nmda": 28e-12,
    "tau_gaba_a": 27e-12,
    "tau_gaba_b": 28e-12,
}


def current(coarse: int | np.ndarray, fine: int | np.ndarray) -> np.ndarray | float:
    """The bias current (A) of a (coarse, fine) code: ``COARSE_A[coarse] · fine / 255``."""
    c = np.asarray(coarse)
    f = np.asarray(fine)
    if c.size and (c.min() < 0 or c.max() >= len(COARSE_A)):
        raise ValueError(f"coarse code {c.min()}..{c.max()} outside 0..{len(COARSE_A) - 1}")
    if f.size and (f.min() < 0 or f.max() > FINE_MAX):
        raise ValueError(f"fine code {f.min()}..{f.max()} outside 0..{FINE_MAX}")
    out = np.asarray(COARSE_A)[c] * f / FINE_MAX
    return float(out) if out.ndim == 0 else out


def time_constant(bias: str, i_amp: float, acceleration: float = 1.0) -> float:
    """τ (s) of a DPI whose leak bias ``bias`` carries ``i_amp``; inf when the bias is off."""
    if i_amp <= 0:
        return float("inf")
    return CAPACITANCE_F[bias] * U_T / (KAPPA * i_amp) / acceleration


def fine_for(bias: str, tau_s: float, acceleration: float = 1.0) -> tuple[int, int]:
    """The (coarse, fine) code whose τ is nearest ``tau_s``, preferring the finest range."""
    want = CAPACITANCE_F[bias] * U_T / (KAPPA * tau_s * acceleration)
    best: tuple[float, int, int] | None = None
    for c, top in enumerate(COARSE_A):
        f = int(np.clip(round(want / top * FINE_MAX), 1, FINE_MAX))
        err = abs(np.log(top * f / FINE_MAX / want))
        if best is None or err < best[0] - 1e-12:
            best = (err, c, f)
    assert best is not None
    return best[1], best[2]
