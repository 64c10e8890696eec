"""Every MEA result carries the no-culture control; other substrates declare none."""

from __future__ import annotations

import pytest

from physres import registry, tasks
from physres.errors import ConfigError
from physres.experiments.protocol import run_protocol
from physres.experiments.substrate_control import substrate_control

EVENTS = [{"kind": "events", "params": {"tau": [1.0]}}, {"kind": "pool", "params": {"how": "mean"}}]


def _small_vowels() -> tuple[object, object]:
    task = tasks.create("brainoware_vowels", n_clips=40, n_test=10, gap_steps=5)
    return task, task.generate(seed=0)


def test_an_mea_run_reports_its_no_culture_twin_beside_its_own_score() -> None:
    task, data = _small_vowels()
    params = {"stim_electrodes": list(range(12)), "n_neurons": 300, "seed": 0}
    with registry.create("sim.mea", params=params) as mea:
        twin = mea.describe().meta["substrate_control"]
        assert twin["kind"] == "sim.mea" and twin["params"]["culture"] is False
        assert twin["params"]["stim_electrodes"] == list(range(12))  # the same array and pulses
        res = run_protocol(mea, task, data, features=EVENTS)
    m = res.metrics
    assert m["control_substrate_name"] == "no_culture"
    assert 0.0 <= m["control_substrate_accuracy"] <= 1.0
    assert "control_raw_input_accuracy" in m


def test_the_control_itself_and_other_substrates_declare_no_twin() -> None:
    task, data = _small_vowels()
    with registry.create("sim.mea", params={"culture": False}) as control:
        assert not control.describe().meta["substrate_control"]
    with registry.create("sim.esn", params={"n_units": 20, "n_inputs": 12}) as esn:
        assert substrate_control(esn, task, data) == {}


def test_a_malformed_declaration_is_a_config_error_naming_the_device() -> None:
    class Odd:
        name = "odd"

        def describe(self) -> object:
            return type("D", (), {"meta": {"substrate_control": {"kind": "sim.mea"}}})()

    task, data = _small_vowels()
    with pytest.raises(ConfigError, match="odd: meta substrate_control must be"):
        substrate_control(Odd(), task, data)  # type: ignore[arg-type]
