"""``sim.mea``'s parameters: the shared MEA ones plus the culture's biology and the recording.

Defaults give a culture that behaves like a dissociated cortical culture of
2–4 weeks in vitro on the ranges the README documents (sparse spontaneous
firing, network bursts of a few hundred ms every few seconds, recruiting most
electrodes); ``culture: false`` is the no-culture control (the same array,
noise and stimulation artifacts, no neurons).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, model_validator

from physres.errors import RuleError
from physres.mea.params import MEAParams

__all__ = ["THRESHOLD_K", "SimMEAParams"]

#: spike detection threshold in multiples of the channel noise (rms)
THRESHOLD_K = 5.0


class SimMEAParams(MEAParams):
    """A simulated culture on the array (units: ms, µm, µA, µV; currents in Izhikevich units)."""

    #: neurons in the dish (Izhikevich 2003 regular-spiking E, fast-spiking I)
    n_neurons: int = Field(1000, ge=10, le=20_000)
    inhibitory_fraction: float = Field(0.2, ge=0, lt=1)
    #: False: the no-culture control (electrodes, noise, artifacts; no neurons)
    culture: bool = True
    #: integration step (ms): 0.1 resolves spike timing and a 100 µs stimulation phase
    dt_ms: float = Field(0.1, gt=0, le=1, allow_inf_nan=False)
    #: neurons are spread uniformly over the array plus this margin on each side (µm)
    dish_margin_um: float = Field(150.0, ge=0, le=5_000, allow_inf_nan=False)
    #: connection probability p0 · exp(−d / λ): λ (µm) and p0; ~100 synapses a neuron
    connect_lambda_um: float = Field(300.0, gt=0, allow_inf_nan=False)
    connect_p0: float = Field(0.8, gt=0, le=1, allow_inf_nan=False)
    #: axonal conduction speed (µm/ms = mm/s) and the synaptic delay on top (ms)
    conduction_um_per_ms: float = Field(200.0, gt=0, allow_inf_nan=False)
    synaptic_delay_ms: float = Field(0.5, ge=0, le=20, allow_inf_nan=False)
    #: synaptic current per spike (excitatory, inhibitory) before depression
    w_exc: float = Field(10.0, ge=0, allow_inf_nan=False)
    w_inh: float = Field(8.0, ge=0, allow_inf_nan=False)
    #: current decay times (ms): AMPA-like, NMDA-like (the slow one that sustains
    #: 100–500 ms bursts), GABA_A-like
    tau_ampa_ms: float = Field(5.0, gt=0, allow_inf_nan=False)
    tau_nmda_ms: float = Field(100.0, gt=0, allow_inf_nan=False)
    tau_gaba_ms: float = Field(10.0, gt=0, allow_inf_nan=False)
    #: NMDA-like charge relative to AMPA-like for one excitatory spike
    nmda_ratio: float = Field(1.0, ge=0, allow_inf_nan=False)
    #: short-term depression (Tsodyks–Markram): fraction used per spike, recovery (ms)
    stp_u: float = Field(0.2, gt=0, le=1, allow_inf_nan=False)
    stp_tau_rec_ms: float = Field(800.0, gt=0, allow_inf_nan=False)
    #: spontaneous synaptic events per neuron per second (minis, background input)
    background_hz: float = Field(3.0, ge=0, le=10_000, allow_inf_nan=False)
    #: current of one background event (AMPA-like decay)
    w_background: float = Field(4.0, ge=0, allow_inf_nan=False)
    #: pair-based STDP on excitatory synapses (off: weights stay as drawn)
    stdp: bool = False
    stdp_a_plus: float = Field(0.01, ge=0, allow_inf_nan=False)
    stdp_a_minus: float = Field(0.012, ge=0, allow_inf_nan=False)
    stdp_tau_ms: float = Field(20.0, gt=0, allow_inf_nan=False)
    #: raw signal: channel noise (µV rms) and the peak of a spike at the electrode (µV)
    noise_uv: float = Field(6.0, ge=0, allow_inf_nan=False)
    spike_peak_uv: float = Field(150.0, ge=0, allow_inf_nan=False)
    #: a spike's amplitude falls as exp(−d / this) with distance to the electrode (µm)
    spike_decay_um: float = Field(30.0, gt=0, allow_inf_nan=False)
    #: recruitment: rheobase at the electrode (µA) doubles every ``stim_d0_um``²
    #: (I_th = rheobase · (1 + (d/d0)²), Stoney's r² law) with Weiss's charge law
    #: Q_th = I_th · (phase + chronaxie)
    stim_rheobase_ua: float = Field(0.8, gt=0, allow_inf_nan=False)
    stim_d0_um: float = Field(50.0, gt=0, allow_inf_nan=False)
    stim_chronaxie_us: float = Field(200.0, gt=0, allow_inf_nan=False)
    #: detections an artifact leaves after blanking: the amplifier's recovery (ms)
    artifact_tau_ms: float = Field(0.35, gt=0, allow_inf_nan=False)
    seed: int = 0

    @model_validator(mode="after")
    def _whole_steps(self) -> SimMEAParams:
        per = self.step_ms / self.dt_ms
        if abs(per - round(per)) > 1e-6:
            raise RuleError(
                "dt_ms", f"step_ms {self.step_ms:g} is not a whole number of dt_ms {self.dt_ms:g}"
            )
        return self

    def no_culture_control(self) -> dict[str, Any]:
        """This very config without its neurons (None when it is the control already)."""
        if not self.culture:
            return {}
        return {**super().no_culture_control(), "params": {**self.model_dump(), "culture": False}}

    @property
    def detect_radius_um(self) -> float:
        """Farthest a neuron's spike still crosses the detection threshold (µm).

        Where ``spike_peak_uv · exp(−d / spike_decay_um)`` falls to
        ``THRESHOLD_K × noise_uv``, at most 4 decay lengths (the raw signal's reach):
        the event output is what a detector on the raw signal would see.
        """
        reach = 4 * self.spike_decay_um
        if self.noise_uv == 0 or self.spike_peak_uv == 0:
            return reach if self.spike_peak_uv else 0.0
        ratio = self.spike_peak_uv / (THRESHOLD_K * self.noise_uv)
        return min(reach, self.spike_decay_um * math.log(ratio)) if ratio > 1 else 0.0

    @property
    def substeps(self) -> int:
        """Integration steps per ``step_ms``."""
        return round(self.step_ms / self.dt_ms)
