"""Characterise a reservoir: how much memory and nonlinearity its states hold.

Pure functions on an input ``u`` and the states ``X`` it produced, sharing
one ridge factorisation of the states across all targets:

* :func:`ipc` — information processing capacity (Dambre et al. 2012):
  orthonormal Legendre targets over delays and degrees, per degree and total,
  with the finite-data threshold; the total is at most N.
* :func:`effective_rank` — kernel rank (distinct inputs) and generalisation
  rank (noisy repeats of one input); :func:`rank_inputs` makes the streams.
* :func:`nonlinear_memory` — capacity for ``sin(ν·u(t−τ))`` over a grid.
* :func:`nlt` (square wave, π/2 shift, doubled frequency from a sine) and :func:`sinx`.
* :func:`characterise`, :func:`collect`, :func:`load_recording`,
  :func:`write_report` — what ``physres characterise`` runs.
"""

from physres.characterise.ipc import IPCResult, ipc, ipc_basis, legendre_targets
from physres.characterise.nlt import NLT_TARGETS, nlt, nlt_targets, sine_drive, sinx, sinx_target
from physres.characterise.nonlinear import NonlinearMemory, nonlinear_memory
from physres.characterise.rank import effective_rank, rank_inputs
from physres.characterise.report import (
    DEFAULT_DELAYS,
    Drive,
    characterise,
    collect,
    load_recording,
    to_unit,
    write_report,
)

__all__ = [
    "DEFAULT_DELAYS",
    "NLT_TARGETS",
    "Drive",
    "IPCResult",
    "NonlinearMemory",
    "characterise",
    "collect",
    "effective_rank",
    "ipc",
    "ipc_basis",
    "legendre_targets",
    "load_recording",
    "nlt",
    "nlt_targets",
    "nonlinear_memory",
    "rank_inputs",
    "sine_drive",
    "sinx",
    "sinx_target",
    "to_unit",
    "write_report",
]
