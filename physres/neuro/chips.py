"""The chip models a configuration can name: sizes, slot limits, weight levels, speed.

Two families are modelled. ``dynapse`` follows DYNAP-SE (Moradi et al. 2018,
IEEE TBioCAS 12:106): 4 cores of 256 adaptive I&F neurons, 64 CAM entries
(input synapse slots) per neuron, four synapse types (fast/slow excitatory,
fast/slow inhibitory) whose time constants and weights are per-core biases,
biological time. ``brainscales2`` follows BrainScaleS-2 (Pehle et al. 2022,
Front. Neurosci. 16:795876): 512 neurons in two halves of 256, 256 synapse
rows per neuron, 6-bit weights, excitatory and inhibitory inputs, 1,000×
faster than biology. Both are configured through one schema (coarse/fine
biases per core, a connection list), so one YAML switches between them; the
emulator documents where BrainScaleS-2's own capacitor-memory cells differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CHIPS", "SYNAPSE_TYPES", "ChipModel", "ChipName"]

ChipName = Literal["dynapse", "brainscales2"]

#: synapse types by index (the ``syn`` field of an input event); DYNAP-SE names them
#: after the receptors they mimic: AMPA (fast exc.), NMDA (slow exc.), GABA_A (fast
#: inh.), GABA_B (slow inh.)
SYNAPSE_TYPES: tuple[str, ...] = ("ampa", "nmda", "gaba_a", "gaba_b")


@dataclass(frozen=True)
class ChipModel:
    """What a chip offers; every limit a configuration is checked against."""

    name: str
    n_cores: int
    neurons_per_core: int
    #: input synapse slots per neuron (DYNAP-SE: 64 CAM words; BrainScaleS-2: 256 rows)
    slots: int
    #: synapse types this chip has, a prefix-free subset of SYNAPSE_TYPES by index
    synapse_types: tuple[str, ...]
    #: the integer weight levels a connection may take (multiples of the core's weight bias)
    max_weight_level: int
    #: chip time per biological time: 1 for DYNAP-SE, 1,000 for BrainScaleS-2
    acceleration: float
    #: the emulator's integration step, in chip µs
    dt_us: float

    @property
    def n_neurons(self) -> int:
        return self.n_cores * self.neurons_per_core

    @property
    def weight_levels(self) -> range:
        return range(1, self.max_weight_level + 1)

    def syn_index(self, name: str) -> int:
        """Index of a synapse type on this chip (the ``syn`` field of an event)."""
        return self.synapse_types.index(name)


CHIPS: dict[str, ChipModel] = {
    # DYNAP-SE2 gives each CAM word a 4-bit weight mask over four weight biases; the
    # emulator keeps the sum as an integer level 1..15 times the core's weight bias
    "dynapse": ChipModel("dynapse", 4, 256, 64, SYNAPSE_TYPES, 15, 1.0, 500.0),
    "brainscales2": ChipModel("brainscales2", 2, 256, 256, ("ampa", "gaba_a"), 63, 1000.0, 0.5),
}
