"""Address events: what crosses the bridge, and how it meets the bus's spike streams.

On the board side an event is an address (core, neuron, and for input
events the synapse type) with a device timestamp in µs of chip time. On the
bus, spikes are the structured ``(t_ns, channel)`` records ``sim.lsm``
publishes and the readout's ``events`` stage bins; ``channel`` is the global
neuron id ``core · neurons_per_core + neuron``. These helpers convert both
ways and check what comes from outside (an address that does not exist is
refused naming the event's index, the field, the value and the limit).
"""

from __future__ import annotations

import numpy as np

from physres.errors import DataError
from physres.neuro.chips import ChipModel

__all__ = [
    "BUS_EVENT",
    "INPUT_EVENT",
    "OUTPUT_EVENT",
    "check_input_events",
    "from_bus",
    "input_events",
    "to_bus",
]

#: an event into the chip: time (µs, chip clock), target core, neuron and synapse type
INPUT_EVENT = np.dtype([("t_us", "<u8"), ("core", "u1"), ("neuron", "<u2"), ("syn", "u1")])
#: a spike out of the chip: time (µs, chip clock), source core and neuron
OUTPUT_EVENT = np.dtype([("t_us", "<u8"), ("core", "u1"), ("neuron", "<u2")])
#: the bus's spike record (the same as sim.lsm's): device time in ns, global neuron id
BUS_EVENT = np.dtype([("t_ns", "<i8"), ("channel", "<i4")])


def input_events(
    t_us: np.ndarray, neuron: np.ndarray, syn: np.ndarray | int, model: ChipModel
) -> np.ndarray:
    """Input events for global neuron ids, sorted by time (stable)."""
    t = np.asarray(t_us, np.int64)
    g = np.asarray(neuron, np.int64)
    order = np.argsort(t, kind="stable")
    ev = np.empty(len(t), INPUT_EVENT)
    ev["t_us"] = t[order]
    ev["core"] = g[order] // model.neurons_per_core
    ev["neuron"] = g[order] % model.neurons_per_core
    ev["syn"] = np.broadcast_to(np.asarray(syn), t.shape)[order]
    return ev


def check_input_events(events: np.ndarray, model: ChipModel, where: str = "input events") -> None:
    """Refuse events whose address is off the chip or whose times go backwards."""
    if events.dtype != INPUT_EVENT:
        raise DataError(f"{where}: expected dtype {INPUT_EVENT.descr}, got {events.dtype}")
    for field, limit in (
        ("core", model.n_cores),
        ("neuron", model.neurons_per_core),
        ("syn", len(model.synapse_types)),
    ):
        bad = np.flatnonzero(events[field] >= limit)
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"{where}[{i}]: {field} {int(events[field][i])} does not exist on {model.name} "
                f"(0..{limit - 1})"
            )
    if len(events) > 1:
        back = np.flatnonzero(np.diff(events["t_us"].astype(np.int64)) < 0)
        if back.size:
            i = int(back[0]) + 1
            raise DataError(
                f"{where}[{i}]: t_us {int(events['t_us'][i])} is before the previous event's "
                f"{int(events['t_us'][i - 1])}; events must be sorted by time"
            )


def to_bus(events: np.ndarray, model: ChipModel, t0_ns: int = 0) -> np.ndarray:
    """Output events → bus records ``(t_ns, channel)``; ``t0_ns`` is the chip's t = 0."""
    out = np.empty(len(events), BUS_EVENT)
    out["t_ns"] = t0_ns + events["t_us"].astype(np.int64) * 1000
    out["channel"] = events["core"].astype(np.int32) * model.neurons_per_core + events["neuron"]
    return out


def from_bus(records: np.ndarray, model: ChipModel, syn: int = 0, t0_ns: int = 0) -> np.ndarray:
    """Bus records ``(t_ns, channel)`` → input events on synapse type ``syn`` (µs, floor)."""
    names = records.dtype.names or ()
    if "t_ns" not in names or "channel" not in names:
        raise DataError(f"bus events need t_ns and channel fields, got {records.dtype}")
    ch = records["channel"].astype(np.int64)
    bad = np.flatnonzero((ch < 0) | (ch >= model.n_neurons))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"bus event {i}: channel {int(ch[i])} is not a neuron of {model.name} "
            f"(0..{model.n_neurons - 1})"
        )
    t = records["t_ns"].astype(np.int64) - t0_ns
    if t.size and t.min() < 0:
        i = int(np.argmin(t))
        raise DataError(f"bus event {i}: t_ns {int(records['t_ns'][i])} is before t0 {t0_ns}")
    return input_events(t // 1000, ch, syn, model)
