"""The neuromorphic examples run end to end over the bus on the emulated chip: delayed
XOR and memory capacity beat their raw-input controls, and the ideal chip (no
mismatch) runs the same config by one flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from physres.bus.record import read_recording
from physres.config import load_config, with_overrides
from physres.experiments.run import run_experiment

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("name", "metric", "margin"),
    [("neuromorphic_xor", "accuracy", 0.1), ("neuromorphic_memory", "mc", 1.0)],
)
def test_the_example_runs_over_the_bus_on_spike_events_and_beats_raw_input(
    name: str, metric: str, margin: float, tmp_path: Path
) -> None:
    cfg = with_overrides(load_config(EXAMPLES / f"{name}.yaml"), {"reference": None})
    result = run_experiment(cfg, tmp_path, progress=False)
    m = result["metrics"]
    assert result["status"] == "ok" and result["metric"] == metric
    assert m[metric] > m[f"control_raw_input_{metric}"] + margin, m
    _, messages = read_recording(tmp_path / "recording.mcap", ["chip/spikes"])
    n_spikes = sum(len(msg.data) for _, msg in messages)
    assert n_spikes > 2_000  # the spikes themselves crossed the bus and were recorded


def test_the_ideal_chip_is_one_flag_away(tmp_path: Path) -> None:
    cfg = with_overrides(
        load_config(EXAMPLES / "neuromorphic_xor.yaml"),
        {
            "reference": None,
            "drive.via": "local",
            "devices.chip.params.mismatch": False,
            "task.params.n_train": 300,
            "task.params.n_test": 100,
        },
    )
    result = run_experiment(cfg, tmp_path, progress=False)
    assert result["status"] == "ok"
    assert 0.3 <= result["metrics"]["accuracy"] <= 1
    assert "mismatch: false" in (tmp_path / "config.yaml").read_text()
