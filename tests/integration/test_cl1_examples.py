"""The Brainoware vowels config switched to drivers.cl1 runs end to end under cl-sdk.

The story a CL1 user follows: physres writes a simulated culture as a cl-sdk
replay file (`physres mea replay-file`), cl-sdk's own variable points at it,
and `examples/mea_vowels_cl1.yaml` (mea_vowels.yaml with `kind: drivers.cl1`)
runs unchanged: pulses through the CL1 safety guard into `neurons.stim`,
spikes back, the same readout, the reference and the no-culture control
beside it; then the run folder exports to NWB. A short version of the task
(40 clips, two speakers) keeps the default suite fast; the full run is
`physres run examples/mea_vowels_cl1.yaml`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from physres.bus.record import read_recording
from physres.config import parse_config
from physres.experiments.run import run_experiment

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.usefixtures("cl_sdk")  # skipped, saying why, without cl-sdk


def _short(name: str) -> dict:
    cfg = yaml.safe_load((EXAMPLES / name).read_text())
    cfg["task"]["params"].update(n_clips=40, n_test=10, gap_steps=5, frame_steps=1)
    cfg["reference"]["params"]["n_units"] = 50
    return cfg


def test_the_cl1_variant_differs_from_the_simulated_one_by_its_kind_line() -> None:
    sim, cl1 = _short("mea_vowels.yaml"), _short("mea_vowels_cl1.yaml")
    assert sim["devices"]["mea"]["kind"] == "sim.mea"
    assert cl1["devices"]["mea"]["kind"] == "drivers.cl1"
    sim["devices"]["mea"]["params"].pop("seed")  # a simulator's seed; a culture has none
    for cfg in (sim, cl1):
        cfg.pop("name")
        cfg["devices"]["mea"].pop("kind")
    assert sim == cl1


def test_mea_vowels_on_drivers_cl1_runs_under_cl_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import pynwb

    from physres.cli import main
    from physres.mea.nwb import export_nwb

    replay = tmp_path / "culture.h5"
    assert main(["mea", "replay-file", str(replay), "--seconds", "3", "--seed", "2"]) == 0
    monkeypatch.setenv("CL_MOCK_REPLAY_PATH", str(replay))
    cfg = parse_config(yaml.safe_dump(_short("mea_vowels_cl1.yaml")), "mea_vowels_cl1.yaml")
    out = tmp_path / "run"
    result = run_experiment(cfg, out, progress=False)
    m = result["metrics"]
    assert result["status"] == "ok" and result["kind"] == "drivers.cl1"
    assert 0.0 <= m["accuracy"] <= 1.0
    # every MEA result carries its controls: raw bits, no culture, and the reference
    assert {"control_raw_input_accuracy", "control_substrate_accuracy"} <= set(m)
    assert m["control_substrate_name"] == "no_culture"
    assert "reference_sim.esn_accuracy" in m
    _, messages = read_recording(out / "recording.mcap", ["mea/pulses", "mea/spikes"])
    got = {"pulses": [], "spikes": []}
    for _, msg in messages:
        got[msg.stream].append(msg.data)
    pulses = np.concatenate(got["pulses"])
    electrodes = set(cfg.devices["mea"].params["stim_electrodes"])
    assert len(pulses) > 50 and set(pulses["channel"].tolist()) <= electrodes
    assert sum(len(s) for s in got["spikes"]) > 0
    r = export_nwb(out)
    assert r.trials == 40 and r.pulses == len(pulses)
    assert pynwb.validate(path=str(r.out)) == []
