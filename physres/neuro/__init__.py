"""Shared vocabulary of the neuromorphic board: the emulator and the bridge driver
both import it (address events, chip models, bias DACs, the configuration).

``sim.neuromorphic`` (physres.sim.neuromorphic) emulates the chip;
``drivers.neuromorphic`` talks to the bridge firmware in front of a chip.
"""

from physres.neuro.aer import (
    BUS_EVENT,
    INPUT_EVENT,
    OUTPUT_EVENT,
    check_input_events,
    from_bus,
    input_events,
    to_bus,
)
from physres.neuro.chips import CHIPS, SYNAPSE_TYPES, ChipModel
from physres.neuro.config import (
    BIAS_NAMES,
    ChipConfig,
    Connection,
    Connectivity,
    CoreBiases,
    InputMap,
    RandomInputs,
    RandomReservoir,
    load_chip_config,
)
from physres.neuro.encode import RateEncoder
from physres.neuro.params import LinkParams, NeuroParams

__all__ = [
    "BIAS_NAMES",
    "BUS_EVENT",
    "CHIPS",
    "INPUT_EVENT",
    "OUTPUT_EVENT",
    "SYNAPSE_TYPES",
    "ChipConfig",
    "ChipModel",
    "Connection",
    "Connectivity",
    "CoreBiases",
    "InputMap",
    "LinkParams",
    "NeuroParams",
    "RandomInputs",
    "RandomReservoir",
    "RateEncoder",
    "check_input_events",
    "from_bus",
    "input_events",
    "load_chip_config",
    "to_bus",
]
