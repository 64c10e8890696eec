"""What every MEA kind is configured by and what it publishes: one interface for all.

``sim.mea``, ``drivers.cl1`` and ``drivers.openephys`` subclass
:class:`MEAParams` and build their streams with :func:`mea_io`, so a config
switches from the simulated culture to a rig by its ``kind:`` line and the
experiment (task, features, readout) reads the same streams:

* ``spikes`` — events, one ``(t_ns, channel)`` record per detected spike
  (:data:`SPIKE_DTYPE`, the dtype the ``events`` feature stage bins);
* ``pulses`` — events, one ``(t_ns, channel)`` record per biphasic pulse
  actually delivered (the stimulating electrode; for blanking, NWB intervals
  and the no-culture control's bookkeeping);
* ``raw`` (only with ``raw: true``) — float32 µV, ``(samples, channels)`` at
  :data:`RAW_RATE_HZ`;
* input ``stim`` — one row per step of ``step_ms``, one column per entry of
  ``stim_electrodes``: the pulse amplitude in µA to deliver on that electrode
  this step (0 = none). Each nonzero entry is one charge-balanced biphasic
  pulse of ``phase_us`` per phase (cathodic first); every kind runs it
  through :mod:`physres.mea.stim`'s safety check before anything is sent.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from physres.device.spec import InputSpec, Limits, StreamSpec
from physres.errors import ConfigError, RuleError
from physres.mea.layouts import Layout, layout

__all__ = ["RAW_RATE_HZ", "SPIKE_DTYPE", "MEAParams", "mea_io", "spread_electrodes"]

#: one spike (or pulse): device time in ns and the electrode's channel index
SPIKE_DTYPE = np.dtype([("t_ns", "<i8"), ("channel", "<i4")])
#: raw voltage sample rate (Hz): CL1, MEA2100 and Open Ephys acquisition boards all run 25 kHz
RAW_RATE_HZ = 25_000


class MEAParams(BaseModel):
    """Parameters shared by every MEA kind (simulated culture or rig)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: a task's input count fills n_stim (registry.bind_task): one electrode per input
    task_inputs: ClassVar[str | None] = "n_stim"

    #: electrode layout by name (:data:`physres.mea.layouts.LAYOUT_NAMES`)
    layout: str = "grid8x8"
    #: channels that may stimulate, in the order of the ``stim`` input's columns; the
    #: default is the four electrodes around the centre of the 8 × 8 grid
    stim_electrodes: list[int] = Field(default_factory=lambda: [27, 28, 35, 36])
    #: how many stimulating electrodes (a task's input count); without stim_electrodes,
    #: that many are spread over the array (:func:`spread_electrodes`)
    n_stim: int | None = Field(None, ge=1, le=1024)
    #: the largest pulse amplitude this config may send (µA per phase); the ``stim``
    #: input's limit, so a task's [-1, 1] drive maps onto [0, amplitude_ua]. The
    #: device's own ceiling (CL1: 11 µA, 3 nC per phase) is checked by physres.mea.stim
    amplitude_ua: float = Field(8.0, gt=0, le=1_000, allow_inf_nan=False)
    #: width of each phase of the biphasic pulse (µs); charge per phase = amplitude × width
    phase_us: float = Field(200.0, gt=0, le=10_000, allow_inf_nan=False)
    #: one apply/read step (ms): the ``stim`` input's period; at most one pulse per
    #: electrode per step, so it also caps the pulse rate at 1000 / step_ms Hz
    step_ms: float = Field(10.0, gt=0, le=1_000, allow_inf_nan=False)
    #: also publish raw voltage (25 kHz × channels, float32 µV): 25 MB per minute at 64
    #: channels, so off unless detection or artifacts are what is being studied
    raw: bool = False

    @model_validator(mode="before")
    @classmethod
    def _spread_for_n_stim(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("n_stim") is not None:
            if "stim_electrodes" not in data and isinstance(data["n_stim"], int):
                lay = layout(data.get("layout", "grid8x8"))
                n = min(data["n_stim"], lay.n_channels)
                data = {**data, "stim_electrodes": spread_electrodes(lay, n)}
        return data

    @field_validator("layout")
    @classmethod
    def _known_layout(cls, name: str) -> str:
        layout(name)  # raises ConfigError (a ValueError) naming the known layouts
        return name

    @model_validator(mode="after")
    def _stim_on_layout(self) -> MEAParams:
        if not self.stim_electrodes:
            raise RuleError("stim_electrodes", "stim_electrodes is empty; name at least one")
        if self.n_stim is not None and self.n_stim != len(self.stim_electrodes):
            raise RuleError(
                "stim_electrodes",
                f"stim_electrodes lists {len(self.stim_electrodes)} electrodes but n_stim (the "
                f"task's input count) is {self.n_stim}: give one electrode per task input",
            )
        try:
            self.electrodes.check_channels(self.stim_electrodes, "stim_electrodes")
        except ConfigError as e:
            raise RuleError("stim_electrodes", str(e)) from e
        per_step = self.step_ms * RAW_RATE_HZ / 1000
        if abs(per_step - round(per_step)) > 1e-6:
            raise RuleError(
                "step_ms",
                f"step_ms {self.step_ms:g} is not a whole number of raw samples at "
                f"{RAW_RATE_HZ} Hz (a multiple of 0.04 ms)",
            )
        return self

    def no_culture_control(self) -> dict[str, Any]:
        """The substrate-absent control every MEA result is reported beside.

        ``sim.mea`` with this config's array and stimulation and ``culture:
        false``: electrodes, noise and stimulation artifacts, no neurons (see
        :mod:`physres.experiments.substrate_control`). A rig's kind gets the
        shared fields; the simulator passes all of its own.
        """
        shared = {k: getattr(self, k) for k in MEAParams.model_fields}
        return {"name": "no_culture", "kind": "sim.mea", "params": {**shared, "culture": False}}

    @property
    def electrodes(self) -> Layout:
        """The :class:`~physres.mea.layouts.Layout` named by ``layout``."""
        return layout(self.layout)

    @property
    def n_channels(self) -> int:
        return self.electrodes.n_channels

    @property
    def rate_hz(self) -> float:
        """Steps per second (the ``stim`` input's rate)."""
        return 1000.0 / self.step_ms

    @property
    def step_ns(self) -> int:
        return round(self.step_ms * 1e6)

    @property
    def raw_per_step(self) -> int:
        """Raw samples per step (``step_ms`` must hold a whole number of them)."""
        return round(self.step_ms * RAW_RATE_HZ / 1000)


def spread_electrodes(lay: Layout, n: int) -> list[int]:
    """``n`` electrodes spread over ``lay``: the one nearest the centre, then farthest-first."""
    pos = lay.positions
    chosen = [int(np.argmin(np.hypot(*pos.T)))]
    dist = np.hypot(*(pos - pos[chosen[0]]).T)
    while len(chosen) < n:
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.hypot(*(pos - pos[nxt]).T))
    return chosen


def mea_io(p: MEAParams) -> tuple[list[StreamSpec], list[InputSpec], dict[str, Any]]:
    """The streams, inputs and ``meta`` of an MEA kind's :class:`~physres.device.Description`.

    ``meta`` carries ``n_channels`` (the ``events`` feature stage's channel
    count), the layout's name, positions and labels, and the stimulating
    electrodes, so a run folder alone can be exported (NWB) or replotted.
    """
    lay = p.electrodes
    streams = [
        StreamSpec(name=name, dtype=SPIKE_DTYPE.descr, shape=(), carries="events", doc=doc)
        for name, doc in (
            ("spikes", "one record per detected spike: device time (ns) and electrode channel"),
            ("pulses", "one record per biphasic pulse delivered: onset (ns) and its electrode"),
        )
    ]
    if p.raw:
        streams.append(
            StreamSpec(
                name="raw",
                dtype="<f4",
                shape=(lay.n_channels,),
                units="uV",
                rate_hz=float(RAW_RATE_HZ),
                carries="continuous",
                doc="extracellular voltage per electrode (noise, spikes, stimulation artifacts)",
            )
        )
    inputs = [
        InputSpec(
            name="stim",
            dtype="<f8",
            shape=(len(p.stim_electrodes),),
            units="uA",
            rate_hz=p.rate_hz,
            limits=Limits(low=0.0, high=p.amplitude_ua),
            doc=(
                "per stimulating electrode, the pulse amplitude this step (0 = none); each "
                f"nonzero entry is one charge-balanced biphasic pulse of {p.phase_us:g} µs "
                "per phase"
            ),
        )
    ]
    meta = {
        "n_channels": lay.n_channels,
        "layout": lay.name,
        "electrode_positions_um": lay.positions.tolist(),
        "electrode_labels": list(lay.labels),
        "stim_electrodes": list(p.stim_electrodes),
        "step_ms": p.step_ms,
        "params": p.model_dump(),
        "substrate_control": p.no_culture_control(),
    }
    return streams, inputs, meta
