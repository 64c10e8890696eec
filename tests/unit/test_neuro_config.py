"""The chip configuration is checked before anything reaches a chip: each error
names the neuron (or core and bias), the value and the limit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from physres.errors import ConfigError
from physres.neuro import (
    BIAS_NAMES,
    CHIPS,
    ChipConfig,
    NeuroParams,
    RandomReservoir,
    dac,
    load_chip_config,
)


def test_the_default_config_is_a_whole_dynapse_with_default_biases() -> None:
    cfg = ChipConfig()
    assert cfg.model.n_neurons == 1024 and cfg.model.slots == 64
    assert cfg.bias_codes().shape == (4, len(BIAS_NAMES), 2) == (4, 14, 2)
    assert len(cfg.connectivity()) == 0


def test_a_yaml_file_loads_and_a_bad_bias_names_file_line_core_value_and_range(
    tmp_path: Path,
) -> None:
    good = tmp_path / "chip.yaml"
    good.write_text(
        "chip: dynapse\n"
        "cores: {tau_mem: [0, 90], thr: [2, 60]}\n"
        "connections:\n"
        "  - {source: 0, target: 300, syn: nmda, weight: 3}\n"
        "inputs:\n"
        "  - {channel: 0, targets: [1, 2, 3]}\n"
    )
    cfg = load_chip_config(good)
    assert cfg.core_biases()[3].tau_mem == (0, 90)
    assert cfg.connectivity().syn.tolist() == [CHIPS["dynapse"].syn_index("nmda")]
    bad = tmp_path / "bad.yaml"
    bad.write_text("chip: dynapse\ncores:\n  tau_mem: [0, 300]\n")
    with pytest.raises(
        ConfigError,
        match=r"bad.yaml:\d+: .*core 0 bias tau_mem = \(0, 300\): "
        r"fine 300 outside the DAC range 0..255",
    ):
        load_chip_config(bad)


def test_a_coarse_code_past_the_ladder_is_refused_on_the_core_that_has_it() -> None:
    cores = [{}, {}, {"w_ampa": [8, 10]}, {}]
    with pytest.raises(
        ConfigError,
        match=r"core 2 bias w_ampa = \(8, 10\): coarse 8 outside"
        r" the DAC range 0..7",
    ):
        load_chip_config({"cores": cores})


def test_fan_in_over_the_slots_names_the_neuron_its_count_and_the_limit() -> None:
    conns = [{"source": s, "target": 517, "weight": 1} for s in range(60)]
    ok = load_chip_config({"connections": conns, "inputs": [{"channel": 0, "targets": [517]}]})
    assert np.bincount(ok.connectivity().target)[517] == 60
    conns += [{"source": s, "target": 517} for s in range(60, 64)]
    with pytest.raises(
        ConfigError,
        match=r"neuron 517 \(core 2, neuron 5\): fan-in 65 synapses over the limit of 64 slots",
    ):
        load_chip_config({"connections": conns, "inputs": [{"channel": 0, "targets": [517]}]})


def test_a_weight_off_the_chip_levels_or_a_missing_synapse_type_is_named() -> None:
    with pytest.raises(
        ConfigError,
        match=r"connection 0 \(1 → 2\): weight 16 is not one of "
        r"dynapse's weight levels 1..15",
    ):
        load_chip_config({"connections": [{"source": 1, "target": 2, "weight": 16}]})
    with pytest.raises(ConfigError, match=r"synapse type 'nmda' is not one of brainscales2's"):
        load_chip_config(
            {"chip": "brainscales2", "connections": [{"source": 1, "target": 2, "syn": "nmda"}]}
        )
    with pytest.raises(
        ConfigError,
        match=r"neuron 600 does not exist: brainscales2 has neurons "
        r"0..511",
    ):
        load_chip_config({"chip": "brainscales2", "outputs": [600]})


def test_a_random_reservoir_fills_exactly_fan_in_distinct_slots_without_self_loops() -> None:
    cfg = ChipConfig(reservoir=RandomReservoir(n_neurons=200, fan_in=20, seed=3))
    c = cfg.connectivity()
    assert np.all(np.bincount(c.target, minlength=200) == 20)
    assert not np.any(c.source == c.target)
    pairs = c.source * 1000 + c.target
    assert np.unique(pairs).size == pairs.size
    again = ChipConfig(reservoir=RandomReservoir(n_neurons=200, fan_in=20, seed=3))
    assert np.array_equal(again.connectivity().source, c.source)  # same seed, same chip
    with pytest.raises(ConfigError, match=r"fan_in 65 over the limit 64"):
        load_chip_config({"reservoir": {"n_neurons": 1024, "fan_in": 65}})


def test_dac_codes_map_to_currents_and_dpi_time_constants() -> None:
    assert dac.current(7, 255) == pytest.approx(24e-6)
    assert dac.current(2, 0) == 0.0
    i = dac.current(0, 97)
    tau = dac.time_constant("tau_mem", i)
    assert tau == pytest.approx(3.2e-12 * 0.025 / (0.7 * i))
    assert 0.015 < tau < 0.025  # the default membrane bias is a ~20 ms neuron
    assert dac.time_constant("tau_mem", i, acceleration=1000) == pytest.approx(tau / 1000)
    for want in (1e-3, 20e-3, 0.5):
        c, f = dac.fine_for("tau_ampa", want)
        got = dac.time_constant("tau_ampa", dac.current(c, f))
        assert got == pytest.approx(want, rel=0.02)
    assert dac.time_constant("tau_ampa", 0.0) == float("inf")
    with pytest.raises(ValueError, match="coarse code"):
        dac.current(9, 10)


def test_device_params_refuse_more_inputs_than_the_config_maps(tmp_path: Path) -> None:
    f = tmp_path / "chip.yaml"
    f.write_text("inputs: {n_channels: 2, n_neurons: 100}\n")
    assert NeuroParams(config=str(f), n_inputs=2).chip.n_input_channels == 2
    with pytest.raises(ValueError, match="n_inputs 3 but the chip configuration maps 2"):
        NeuroParams(config=str(f), n_inputs=3)
    f.write_text("inputs: {n_channels: 2, n_neurons: 100}\ninput_weight: 0\n")
    with pytest.raises(ValueError, match=r"chip.yaml:\d+: .*input_weight: weight 0"):
        NeuroParams(config=str(f), n_inputs=1)
