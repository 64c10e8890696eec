"""``sim.neuromorphic`` as a device: analog rows or address events in, spike events out,
chip config from a file or inline, counters over the bus's command path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from physres import registry
from physres.errors import ConfigError, DataError
from physres.neuro import BUS_EVENT, input_events
from physres.neuro.chips import CHIPS

CHIP_YAML = """\
chip: dynapse
cores: {dc: [2, 20], w_ampa: [2, 40]}
reservoir: {n_neurons: 128, fan_in: 16, seed: 1}
inputs:
  - {channel: 0, targets: [0, 1, 2, 3, 4, 5, 6, 7], weight: 4}
outputs: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
"""


def test_analog_input_becomes_spikes_of_the_output_neurons_on_the_chip_clock(
    tmp_path: Path,
) -> None:
    f = tmp_path / "chip.yaml"
    f.write_text(CHIP_YAML)
    with registry.create("sim.neuromorphic", params={"config": str(f), "rate_hz": 100}) as dev:
        desc = dev.describe()
        assert set(desc.inputs) == {"u", "spikes_in"} and desc.meta["n_channels"] == 1024
        dev.apply({"u": np.ones((50, 1))})  # 0.5 s at the top rate
        chunk = dev.read()["spikes"]
        assert chunk.data.dtype == BUS_EVENT and len(chunk.data) > 50
        assert set(chunk.data["channel"].tolist()) <= set(range(10))  # outputs only
        assert chunk.data["t_ns"].min() >= 0 and chunk.data["t_ns"].max() < 500_000_000
        assert dev.now_ns() == 500_000_000
        counters = dev.call("counters")
        assert counters["in_events"] > 0 and counters["out_dropped"] == 0


def test_address_events_drive_the_chip_directly_and_bad_ones_are_refused() -> None:
    with registry.create("sim.neuromorphic") as dev:
        ev = input_events(np.array([100, 200]), np.array([5, 300]), 0, CHIPS["dynapse"])
        dev.apply({"spikes_in": ev})
        assert dev.call("counters")["in_events"] == 2
        assert dev.now_ns() >= 200_000
        bad = ev.copy()
        bad["neuron"][0] = 256
        with pytest.raises(DataError, match=r"neuron 256 does not exist on dynapse"):
            dev.apply({"spikes_in": bad})


def test_a_bad_chip_file_fails_at_config_time_naming_its_line(tmp_path: Path) -> None:
    f = tmp_path / "chip.yaml"
    f.write_text(CHIP_YAML.replace("weight: 4", "weight: 40"))
    with pytest.raises(ConfigError, match=r"chip.yaml:\d+: .*weight 40 is not one of dynapse's"):
        registry.create("sim.neuromorphic", params={"config": str(f)})
    with pytest.raises(ConfigError, match=r"config: .*No such file|cannot read config"):
        registry.create("sim.neuromorphic", params={"config": str(tmp_path / "missing.yaml")})
