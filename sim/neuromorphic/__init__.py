"""``sim.neuromorphic``: an emulated mixed-signal spiking chip (DYNAP-SE or BrainScaleS-2).

:class:`Chip` is the stable Python API (configuration in, address events in
and out, counters); :class:`NeuromorphicSim` is the Device shell the registry
builds; :mod:`.kernels` holds the numba step.
"""

from physres.sim.neuromorphic.chip import Chip, ChipCounters, Circuit, build_circuit
from physres.sim.neuromorphic.device import NeuromorphicSim

__all__ = ["Chip", "ChipCounters", "Circuit", "NeuromorphicSim", "build_circuit"]
