"""The parameters ``sim.neuromorphic`` and ``drivers.neuromorphic`` share.

One config line switches emulator and board, so both kinds take this model:
the chip configuration (a YAML path or the same data inline), how analog
task inputs become spikes, and the bridge link's budget. The fields marked
*emulator* describe the emulated chip's physics and are passed on to the
emulator behind the bridge when the driver talks to one; real silicon has
its own mismatch and noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from physres.device.spec import InputSpec, StreamSpec
from physres.neuro.aer import BUS_EVENT, INPUT_EVENT
from physres.neuro.config import ChipConfig, load_chip_config
from physres.neuro.encode import Encoding

__all__ = ["DEFAULT_CHIP", "LinkParams", "NeuroParams", "neuro_specs"]

#: the chip a config without ``config:`` gets: a 256-neuron E/I reservoir on core 0
#: (fan-in 32), quiet without input, and ``n_inputs`` input channels, each onto a
#: fifth of it (the settings of examples/neuromorphic_xor.yaml)
DEFAULT_CHIP: dict[str, Any] = {
    "reservoir": {"n_neurons": 256, "fan_in": 32, "weight_exc": 4, "weight_inh": 8},
    "inputs": {"n_channels": 1, "n_neurons": 256, "fraction": 0.2},
    "cores": {"dc": [2, 20]},
}


class LinkParams(BaseModel):
    """The bridge between host and chip: a FIFO drained at a fixed event rate.

    Defaults: a 1 Mevent/s link (a USB-FS or fast-UART bridge moving 4-byte
    events after framing), 100 µs latency, a 4,096-event output FIFO.
    Events beyond a full FIFO are dropped on the board and counted.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    events_per_s: float = Field(1.0e6, gt=0, allow_inf_nan=False)
    latency_us: float = Field(100.0, ge=0, allow_inf_nan=False)
    fifo_events: int = Field(4096, ge=1)


class NeuroParams(BaseModel):
    """Device parameters of both neuromorphic kinds."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: the task's input count fills n_inputs (registry.bind_task)
    task_inputs: ClassVar[str | None] = "n_inputs"

    #: the chip configuration: a YAML file path, or the same keys inline (None:
    #: DEFAULT_CHIP with one input channel per analog input)
    config: str | dict[str, Any] | None = None
    #: analog input channels the ``u`` input carries (≤ the configuration's input channels)
    n_inputs: int = Field(1, ge=1, le=1024)
    #: analog input samples per second of chip time (one row of ``u`` lasts 1/rate_hz)
    rate_hz: float = Field(100.0, gt=0, le=1e7, allow_inf_nan=False)
    #: spike rate of an input target at u = +1 (biological Hz; 0 at u = −1)
    max_rate_hz: float = Field(200.0, ge=0, le=5000, allow_inf_nan=False)
    encoding: Encoding = "poisson"
    #: |u| above this is refused before anything is encoded
    input_limit: float = Field(1.0, gt=0, allow_inf_nan=False)
    #: seed of input spike trains and temporal noise; reset(seed=) changes it
    seed: int = 0
    #: emulator: which chip (its fixed mismatch draw); another chip_seed is another die
    chip_seed: int = 0
    #: emulator: per-neuron fixed-pattern mismatch on every parameter (off for an ideal chip)
    mismatch: bool = True
    #: emulator: coefficient of variation of each mismatched parameter
    mismatch_cv: float = Field(0.15, ge=0, le=0.5, allow_inf_nan=False)
    #: emulator: temporal noise, the membrane current's stationary RMS relative to threshold
    noise: float = Field(0.1, ge=0, le=1, allow_inf_nan=False)
    link: LinkParams = Field(default_factory=LinkParams)

    _chip: ChipConfig | None = PrivateAttr(None)

    @property
    def chip(self) -> ChipConfig:
        """The validated chip configuration (loaded once)."""
        if self._chip is None:
            if self.config is None:
                data = {**DEFAULT_CHIP, "inputs": {**DEFAULT_CHIP["inputs"]}}
                data["inputs"]["n_channels"] = self.n_inputs
                self._chip = load_chip_config(data)
            else:
                self._chip = load_chip_config(
                    Path(self.config) if isinstance(self.config, str) else self.config
                )
        return self._chip

    @model_validator(mode="after")
    def _check(self) -> NeuroParams:
        try:
            chip = self.chip
        except Exception as e:  # a file's one-line ConfigError, kept whole
            raise ValueError(str(e)) from None
        if self.n_inputs > chip.n_input_channels:
            raise ValueError(
                f"n_inputs {self.n_inputs} but the chip configuration maps "
                f"{chip.n_input_channels} input channels (add inputs: to the config)"
            )
        return self


def neuro_specs(p: NeuroParams) -> tuple[list[StreamSpec], list[InputSpec], dict[str, Any]]:
    """Streams, inputs and meta of both kinds: one description, so one config line
    switches emulator and board."""
    chip = p.chip
    m = chip.model
    streams = [
        StreamSpec.events(
            "spikes", BUS_EVENT, doc="one record per output spike: chip time (ns) and global neuron"
        )
    ]
    inputs = [
        InputSpec.analog(
            p.n_inputs,
            rate_hz=p.rate_hz,
            limit=p.input_limit,
            doc="analog input, each channel a spike source at up to max_rate_hz",
        ),
        InputSpec(
            name="spikes_in",
            dtype=INPUT_EVENT.descr,
            shape=(),
            units="event",
            doc="address events (t_us since reset, core, neuron, syn), sorted by time",
        ),
    ]
    meta = {
        "n_channels": m.n_neurons,
        "chip": m.name,
        "acceleration": m.acceleration,
        "params": p.model_dump(mode="json", exclude={"config"}),
    }
    return streams, inputs, meta
