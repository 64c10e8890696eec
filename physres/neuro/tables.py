"""A chip configuration as the chip's memory holds it: bias registers and synapse rows.

What the bridge (``firmware/neuro_bridge``) uploads and reads back, and what
the emulated chip behind it (``physres.sim.neuromorphic.chip_bus``) stores, so
both sides of the chip bus share one layout:

* per core, :data:`BIAS_SLOTS` registers of (coarse, fine): the DAC biases in
  :data:`~physres.neuro.config.BIAS_NAMES` order, then the input-event weight
  level stored as ``(0, level)`` (the bridge writes the configuration's one
  ``input_weight`` into every core; the emulator reads core 0's);
* per neuron, one row of ``slots`` synapse slots (:data:`SYN_DTYPE`: source
  address, synapse type, weight level; weight 0 is an empty slot), filled in
  the configuration's connection order.

A neuron's address on the wire is ``core * 256 + neuron`` (:data:`WIRE_NPC`);
both modelled chips have 256 neurons per core, so it equals the global id.
Which neurons' spikes leave the chip (``outputs``) is not chip memory here:
the host keeps only those.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physres.errors import ConfigError
from physres.neuro.chips import ChipModel
from physres.neuro.config import BIAS_NAMES, ChipConfig, Connectivity, CoreBiases
from physres.wire.crc import crc16

__all__ = [
    "BIAS_SLOTS",
    "INPUT_WEIGHT_SLOT",
    "SYN_DTYPE",
    "WIRE_NPC",
    "ChipTables",
    "config_from_tables",
    "row_crc",
    "tables_from_config",
]

#: one synapse slot as the wire and the chip hold it (weight 0: empty)
SYN_DTYPE = np.dtype([("src", "<u2"), ("type", "u1"), ("weight", "u1")])
#: bias registers per core: the DAC biases, then the input weight level
BIAS_SLOTS = len(BIAS_NAMES) + 1
INPUT_WEIGHT_SLOT = len(BIAS_NAMES)
#: neurons per core in a wire address (core * WIRE_NPC + neuron)
WIRE_NPC = 256


@dataclass
class ChipTables:
    """``biases`` (n_cores, BIAS_SLOTS, 2) uint8; ``rows`` (n_cores·256, slots) SYN_DTYPE."""

    biases: np.ndarray
    rows: np.ndarray

    @classmethod
    def empty(cls, model: ChipModel) -> ChipTables:
        return cls(
            np.zeros((model.n_cores, BIAS_SLOTS, 2), np.uint8),
            np.zeros((model.n_cores * WIRE_NPC, model.slots), SYN_DTYPE),
        )

    def row_crcs(self) -> np.ndarray:
        """CRC-16 of every row, as the bridge's ROW_CRC reports them."""
        return np.array([row_crc(r) for r in self.rows], np.uint16)


def row_crc(row: np.ndarray) -> int:
    """CRC-16/CCITT-FALSE of one neuron's whole row of slots (the wire bytes)."""
    return crc16(np.ascontiguousarray(row, dtype=SYN_DTYPE).tobytes())


def _wire(g: np.ndarray, model: ChipModel) -> np.ndarray:
    return (g // model.neurons_per_core) * WIRE_NPC + g % model.neurons_per_core


def tables_from_config(cfg: ChipConfig) -> ChipTables:
    """The memory image of ``cfg``: biases and input weight per core, synapse rows."""
    m = cfg.model
    t = ChipTables.empty(m)
    t.biases[:, : len(BIAS_NAMES)] = cfg.bias_codes()
    t.biases[:, INPUT_WEIGHT_SLOT] = (0, cfg.input_weight)
    conn = cfg.connectivity()
    tgt = _wire(conn.target, m)
    order = np.argsort(tgt, kind="stable")  # each row in connection order
    tgt = tgt[order]
    first = np.searchsorted(tgt, tgt, side="left")
    slot = np.arange(len(tgt)) - first
    rows = t.rows
    rows["src"][tgt, slot] = _wire(conn.source[order], m)
    rows["type"][tgt, slot] = conn.syn[order]
    rows["weight"][tgt, slot] = conn.weight[order]
    return t


def config_from_tables(t: ChipTables, model: ChipModel) -> ChipConfig:
    """The configuration a chip's memory holds (the emulator behind a bridge runs it).

    Biases and the input weight come from the registers; the connectivity is
    every non-empty slot, row by row. A register no configuration can hold (a
    weight level off the chip's levels, say) is a :class:`ConfigError` naming it.
    """
    n_cores = model.n_cores
    cores = [
        CoreBiases(
            **{name: tuple(int(v) for v in t.biases[c, i]) for i, name in enumerate(BIAS_NAMES)}
        )
        for c in range(n_cores)
    ]
    try:
        cfg = ChipConfig(
            chip=model.name,
            cores=cores,
            input_weight=max(1, int(t.biases[0, INPUT_WEIGHT_SLOT, 1])),
        )  # type: ignore[arg-type]
    except ValueError as e:
        raise ConfigError(f"chip memory holds no valid configuration: {e}") from None
    rows = t.rows[: n_cores * WIRE_NPC]
    tgt, _ = np.nonzero(rows["weight"])
    used = rows[rows["weight"] > 0]
    src = used["src"].astype(np.int64)
    g_src = (src // WIRE_NPC) * model.neurons_per_core + src % WIRE_NPC
    g_tgt = (tgt // WIRE_NPC) * model.neurons_per_core + tgt % WIRE_NPC
    bad = (src // WIRE_NPC >= n_cores) | (src % WIRE_NPC >= model.neurons_per_core)
    bad |= (used["type"] >= len(model.synapse_types)) | (used["weight"] > model.max_weight_level)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ConfigError(
            f"chip memory: synapse of neuron {int(g_tgt[i])} holds source {int(src[i])}, "
            f"type {int(used['type'][i])}, weight {int(used['weight'][i])}: not a synapse "
            f"{model.name} can have"
        )
    # the rows are the configuration: they were range-checked above, slot by slot
    cfg._conn = Connectivity(
        g_src,
        g_tgt.astype(np.int64),
        used["type"].astype(np.int64),
        used["weight"].astype(np.int64),
    )
    return cfg
