"""Spike events go through `physres run` end to end: the LSM examples beat their controls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from physres.bus.record import read_recording
from physres.config import load_config
from physres.experiments.run import run_experiment

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("name", "metric", "margin"), [("lsm_xor", "accuracy", 0.1), ("lsm_memory", "mc", 1.0)]
)
def test_lsm_example_runs_over_the_bus_and_beats_the_raw_input_control(
    name: str, metric: str, margin: float, tmp_path: Path
) -> None:
    cfg = load_config(EXAMPLES / f"{name}.yaml")
    result = run_experiment(cfg, tmp_path, progress=False)
    m = result["metrics"]
    assert result["status"] == "ok" and result["metric"] == metric
    assert m[metric] > m[f"control_raw_input_{metric}"] + margin, m
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert (
        saved["n_train_sequences"] == 1
        and saved["n_train_scored_samples"] == cfg.task.params["n_train"]
    )
    _, messages = read_recording(tmp_path / "recording.mcap", ["liquid/spikes"])
    n_events = sum(len(msg.data) for _, msg in messages)
    assert n_events > 1000  # the events themselves crossed the bus and were recorded
