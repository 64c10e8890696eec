"""The chip configuration: biases, connectivity, input and output mappings, in YAML.

What a lab writes to program a mixed-signal board, checked before anything is
uploaded: every bias is a (coarse, fine) DAC code inside the chip's range,
every connection names neurons that exist, a synapse type the chip has and
one of its weight levels, and no neuron subscribes to more sources than it
has synapse slots. Each error names the neuron (global id and core/neuron),
the value and the limit. The emulator (``sim.neuromorphic``) and the bridge
driver (``drivers.neuromorphic``) read the same model, so one config file
programs either.

Neurons are addressed by a global id ``core · neurons_per_core + neuron``.
Large random reservoirs need not be listed edge by edge: ``reservoir`` draws
an E/I network from a seed (fixed fan-in per neuron, the way CAM slots are
filled on DYNAP-SE), ``connections`` adds explicit edges, and the two are
merged before the slot check. ``inputs`` says which neurons each analog input
channel drives (the host encodes the channel as spikes onto them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from physres.errors import ConfigError
from physres.neuro.chips import CHIPS, ChipModel, ChipName
from physres.neuro.dac import COARSE_A, FINE_MAX

__all__ = [
    "BIAS_NAMES",
    "ChipConfig",
    "Connection",
    "Connectivity",
    "CoreBiases",
    "InputMap",
    "RandomInputs",
    "RandomReservoir",
    "load_chip_config",
]

Code = tuple[int, int]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CoreBiases(_Strict):
    """One core's bias codes (coarse 0–7, fine 0–255). The defaults give a neuron
    with τ_mem 20 ms, a 257 pA threshold, a 2 ms refractory period, 200 ms
    adaptation (off: w_ahp 0), AMPA 5 ms, NMDA 100 ms, GABA_A 10 ms, GABA_B
    100 ms (``dac.fine_for`` finds the code for a time constant)."""

    #: membrane leak (DYNAP-SE IF_TAU1_N): τ_mem
    tau_mem: Code = (0, 97)
    #: spike threshold current the membrane current must reach (IF_THR_N)
    thr: Code = (2, 80)
    #: refractory period after a spike (IF_RFR_N)
    refractory: Code = (1, 43)
    #: constant input current into every neuron of the core (IF_DC_P)
    dc: Code = (0, 0)
    #: spike-frequency adaptation: after-hyperpolarisation time constant and jump
    tau_ahp: Code = (0, 121)
    w_ahp: Code = (0, 0)
    #: per synapse type: leak (time constant) and weight (current jump per level)
    tau_ampa: Code = (2, 53)
    w_ampa: Code = (1, 60)
    tau_nmda: Code = (0, 170)
    w_nmda: Code = (1, 20)
    tau_gaba_a: Code = (2, 30)
    w_gaba_a: Code = (1, 80)
    tau_gaba_b: Code = (0, 170)
    w_gaba_b: Code = (1, 30)


#: every bias a core has, in the order a bridge uploads them
BIAS_NAMES: tuple[str, ...] = tuple(CoreBiases.model_fields)


class Connection(_Strict):
    """One synapse: ``source`` neuron → ``target`` neuron on a slot of type ``syn``."""

    source: int = Field(ge=0)
    target: int = Field(ge=0)
    syn: str = "ampa"
    #: integer weight level: the synapse's current jump is level × the core's weight bias
    weight: int = 1


class RandomReservoir(_Strict):
    """An E/I network drawn from ``seed``: each of the first ``n_neurons`` neurons
    receives ``fan_in`` synapses from distinct other neurons of that set."""

    n_neurons: int = Field(ge=2)
    fan_in: int = Field(ge=0)
    inhibitory_fraction: float = Field(0.2, ge=0, le=1)
    syn_exc: str = "ampa"
    syn_inh: str = "gaba_a"
    weight_exc: int = 2
    weight_inh: int = 4
    seed: int = 0


class InputMap(_Strict):
    """Input ``channel``'s spikes reach ``targets`` on synapse type ``syn``.

    A channel is one spike source (as an FPGA spike generator's virtual neuron
    on DYNAP-SE): each of its spikes becomes ``weight`` input events on every
    target at the same time (a weight level is the number of CAM entries that
    subscribe the target to the source). Each (channel, target) pair takes
    one slot.
    """

    channel: int = Field(ge=0)
    targets: list[int]
    syn: str = "ampa"
    weight: int = 1


class RandomInputs(_Strict):
    """``n_channels`` inputs, each onto a random ``fraction`` of the first ``n_neurons``."""

    n_channels: int = Field(ge=1, le=1024)
    n_neurons: int = Field(ge=1)
    fraction: float = Field(0.3, gt=0, le=1)
    syn: str = "ampa"
    seed: int = 0


@dataclass(frozen=True)
class Connectivity:
    """All synapses as parallel arrays (explicit connections, then the reservoir's)."""

    source: np.ndarray  # int64 global ids
    target: np.ndarray
    syn: np.ndarray  # int64 synapse-type index on the chip
    weight: np.ndarray  # int64 levels

    def __len__(self) -> int:
        return len(self.source)


class ChipConfig(_Strict):
    """A whole chip's programming; see the module docstring for the rules checked."""

    chip: ChipName = "dynapse"
    #: one bias set for every core, or one per core
    cores: CoreBiases | list[CoreBiases] = Field(default_factory=CoreBiases)
    reservoir: RandomReservoir | None = None
    connections: list[Connection] = Field(default_factory=list)
    inputs: list[InputMap] | RandomInputs = Field(default_factory=list)
    #: weight level of every external input event (an input event carries no weight)
    input_weight: int = 8
    #: neurons whose spikes leave the chip (None: all); the rest save link bandwidth
    outputs: list[int] | None = None

    _conn: Connectivity | None = PrivateAttr(None)

    # -------------------------------------------------------------- derived
    @property
    def model(self) -> ChipModel:
        return CHIPS[self.chip]

    def core_biases(self) -> list[CoreBiases]:
        """One bias set per core."""
        if isinstance(self.cores, CoreBiases):
            return [self.cores] * self.model.n_cores
        return list(self.cores)

    def bias_codes(self) -> np.ndarray:
        """(n_cores, n_biases, 2) int codes, biases in BIAS_NAMES order."""
        return np.array(
            [[getattr(b, n) for n in BIAS_NAMES] for b in self.core_biases()], np.int64
        ).reshape(self.model.n_cores, len(BIAS_NAMES), 2)

    def connectivity(self) -> Connectivity:
        """Every synapse, explicit ones first (computed once, validated at load)."""
        if self._conn is None:
            self._conn = self._build_connectivity()
        return self._conn

    def input_maps(self) -> list[InputMap]:
        """The input mapping as explicit lists (a RandomInputs is drawn here)."""
        if not isinstance(self.inputs, RandomInputs):
            return list(self.inputs)
        r = self.inputs
        rng = np.random.default_rng(r.seed)
        k = max(1, round(r.fraction * r.n_neurons))
        return [
            InputMap(
                channel=c,
                targets=sorted(int(t) for t in rng.choice(r.n_neurons, k, replace=False)),
                syn=r.syn,
            )
            for c in range(r.n_channels)
        ]

    @property
    def n_input_channels(self) -> int:
        maps = self.input_maps()
        return 1 + max(m.channel for m in maps) if maps else 0

    def output_neurons(self) -> np.ndarray:
        """Sorted global ids whose spikes leave the chip."""
        if self.outputs is None:
            return np.arange(self.model.n_neurons)
        return np.array(sorted(set(self.outputs)), np.int64)

    def where(self, neuron: int) -> str:
        """``neuron 517 (core 2, neuron 5)``: how every message names a neuron."""
        npc = self.model.neurons_per_core
        return f"neuron {neuron} (core {neuron // npc}, neuron {neuron % npc})"

    def to_yaml_data(self) -> dict[str, Any]:
        """Plain data that loads back into an equal config (for files and NIR metadata)."""
        return self.model_dump(mode="json", exclude_defaults=False)

    # ---------------------------------------------------------- validation
    def _build_connectivity(self) -> Connectivity:
        m = self.model
        parts = [
            (
                np.array([c.source for c in self.connections], np.int64),
                np.array([c.target for c in self.connections], np.int64),
                np.array([m.syn_index(c.syn) for c in self.connections], np.int64),
                np.array([c.weight for c in self.connections], np.int64),
            )
        ]
        r = self.reservoir
        if r is not None and r.fan_in:
            rng = np.random.default_rng(r.seed)
            n = r.n_neurons
            inh = np.zeros(n, bool)
            inh[rng.choice(n, round(r.inhibitory_fraction * n), replace=False)] = True
            # fan_in distinct sources per target, never itself: shift a draw from n - 1
            draw = np.argsort(rng.random((n, n - 1)), axis=1)[:, : r.fan_in]
            tgt = np.repeat(np.arange(n), r.fan_in)
            src = draw.reshape(-1)
            src = src + (src >= tgt)
            is_inh = inh[src]
            syn = np.where(is_inh, m.syn_index(r.syn_inh), m.syn_index(r.syn_exc))
            w = np.where(is_inh, r.weight_inh, r.weight_exc)
            parts.append((src, tgt, syn.astype(np.int64), w.astype(np.int64)))
        src, tgt, syn, w = (np.concatenate(a) for a in zip(*parts))
        return Connectivity(src, tgt, syn, w)

    @model_validator(mode="after")
    def _check(self) -> ChipConfig:
        m = self.model
        n = m.n_neurons
        _check_biases(self, m)
        _check_level(self.input_weight, m, "input_weight")

        def neuron_ok(i: int, what: str) -> None:
            if not 0 <= i < n:
                raise ValueError(
                    f"{what}: neuron {i} does not exist: {m.name} has neurons 0..{n - 1} "
                    f"({m.n_cores} cores × {m.neurons_per_core})"
                )

        def syn_ok(s: str, what: str) -> None:
            if s not in m.synapse_types:
                raise ValueError(
                    f"{what}: synapse type {s!r} is not one of {m.name}'s "
                    f"{', '.join(m.synapse_types)}"
                )

        for i, c in enumerate(self.connections):
            what = f"connection {i} ({c.source} → {c.target})"
            neuron_ok(c.source, what)
            neuron_ok(c.target, what)
            syn_ok(c.syn, what)
            _check_level(c.weight, m, what)
        if self.reservoir is not None:
            r = self.reservoir
            if r.n_neurons > n:
                raise ValueError(f"reservoir: n_neurons {r.n_neurons} over {m.name}'s {n}")
            if r.fan_in > min(m.slots, r.n_neurons - 1):
                raise ValueError(
                    f"reservoir: fan_in {r.fan_in} over the limit "
                    f"{min(m.slots, r.n_neurons - 1)} ({m.slots} slots per neuron, "
                    f"{r.n_neurons - 1} other neurons)"
                )
            syn_ok(r.syn_exc, "reservoir.syn_exc")
            syn_ok(r.syn_inh, "reservoir.syn_inh")
            _check_level(r.weight_exc, m, "reservoir.weight_exc")
            _check_level(r.weight_inh, m, "reservoir.weight_inh")
        if isinstance(self.inputs, RandomInputs) and self.inputs.n_neurons > n:
            raise ValueError(f"inputs: n_neurons {self.inputs.n_neurons} over {m.name}'s {n}")
        maps = self.input_maps()
        for k, im in enumerate(maps):
            syn_ok(im.syn, f"inputs[{k}] (channel {im.channel})")
            _check_level(im.weight, m, f"inputs[{k}] (channel {im.channel})")
            for t in im.targets:
                neuron_ok(t, f"inputs[{k}] (channel {im.channel})")
        for t in self.outputs or []:
            neuron_ok(t, "outputs")
        conn = self.connectivity()
        # slots: every recurrent synapse and every input channel a neuron listens to
        fan_in = np.bincount(conn.target, minlength=n)
        for im in maps:
            np.add.at(fan_in, np.unique(np.asarray(im.targets, np.int64)), 1)
        over = np.flatnonzero(fan_in > m.slots)
        if over.size:
            i = int(over[0])
            more = f" (and {over.size - 1} more neurons)" if over.size > 1 else ""
            raise ValueError(
                f"{self.where(i)}: fan-in {int(fan_in[i])} synapses over the limit of "
                f"{m.slots} slots per neuron on {m.name}{more}"
            )
        return self


def _check_level(level: int, m: ChipModel, what: str) -> None:
    if not 1 <= level <= m.max_weight_level:
        raise ValueError(
            f"{what}: weight {level} is not one of {m.name}'s weight levels 1..{m.max_weight_level}"
        )


def _check_biases(cfg: ChipConfig, m: ChipModel) -> None:
    if isinstance(cfg.cores, list) and len(cfg.cores) != m.n_cores:
        raise ValueError(
            f"cores: {len(cfg.cores)} bias sets for {m.name}'s {m.n_cores} cores "
            "(give one set for all cores, or one per core)"
        )
    for k, b in enumerate(cfg.core_biases()):
        for name in BIAS_NAMES:
            coarse, fine = getattr(b, name)
            if not 0 <= coarse < len(COARSE_A):
                raise ValueError(
                    f"core {k} bias {name} = ({coarse}, {fine}): coarse {coarse} outside the "
                    f"DAC range 0..{len(COARSE_A) - 1}"
                )
            if not 0 <= fine <= FINE_MAX:
                raise ValueError(
                    f"core {k} bias {name} = ({coarse}, {fine}): fine {fine} outside the "
                    f"DAC range 0..{FINE_MAX}"
                )


def load_chip_config(source: str | Path | dict[str, Any] | ChipConfig) -> ChipConfig:
    """A ChipConfig from a YAML path, plain data (an inline config) or itself.

    Errors are one line: ``file:line: key.path: ...`` for a file, the key path
    for inline data.
    """
    from pydantic import ValidationError

    from physres._messages import issues
    from physres.config import load_model

    if isinstance(source, ChipConfig):
        return source
    if isinstance(source, (str, Path)):
        return load_model(source, ChipConfig)
    try:
        return ChipConfig.model_validate(source)
    except ValidationError as e:
        raise ConfigError(
            "; ".join(
                f"chip config: {'.'.join(loc) or '(top)'}: {text}"
                for loc, text in issues(e, ChipConfig)
            )
        ) from None
