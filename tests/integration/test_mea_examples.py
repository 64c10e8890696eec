"""The MEA examples run end to end with every control beside the culture's score.

A CI-sized variant of ``examples/mea_vowels.yaml`` (the first two speakers'
clips instead of eight) goes through ``physres run``'s whole path: the bus,
the recording, the events stage, the readout, the raw-bits and baseline
controls, ``sim.esn`` on the same bits and the no-culture control. The full
configs run in the ``slow`` variant.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from physres.bus.record import read_recording
from physres.config import load_config
from physres.experiments.run import run_experiment

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONTROLS = ("control_raw_input_", "control_baseline_", "control_substrate_", "reference_sim.esn_")


def _small(name: str, **task: object):
    cfg = load_config(EXAMPLES / f"{name}.yaml")
    return cfg.model_copy(
        update={"task": cfg.task.model_copy(update={"params": {**cfg.task.params, **task}})}
    )


def test_small_vowels_run_over_the_bus_with_every_control(tmp_path: Path) -> None:
    cfg = _small("mea_vowels", n_clips=60, n_test=12, gap_steps=20)
    result = run_experiment(cfg, tmp_path, progress=False)
    m = result["metrics"]
    assert result["status"] == "ok" and result["metric"] == "accuracy"
    for prefix in CONTROLS:
        assert 0.0 <= m[f"{prefix}accuracy"] <= 1.0, prefix
    assert m["control_substrate_name"] == "no_culture"
    lo, hi = m["accuracy_ci95"]
    assert lo <= m["accuracy"] <= hi
    assert m["accuracy"] >= 0.75  # two speakers: well above chance (0.5)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["metrics"]["control_substrate_accuracy"] == m["control_substrate_accuracy"]
    _, messages = read_recording(tmp_path / "recording.mcap", ["mea/spikes", "mea/pulses"])
    topics = {msg.topic for _, msg in messages}
    assert topics == {"mea/spikes", "mea/pulses"}  # the culture's events and every pulse


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mea_vowels", "mea_henon"])
def test_the_full_examples(name: str, tmp_path: Path) -> None:
    result = run_experiment(load_config(EXAMPLES / f"{name}.yaml"), tmp_path, progress=False)
    assert result["status"] == "ok"
    assert f"control_substrate_{result['metric']}" in result["metrics"]
