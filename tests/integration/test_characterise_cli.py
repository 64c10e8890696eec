"""`physres characterise`: from a config, from a `physres run` recording, and its refusals."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from physres.bus.codec import encode
from physres.bus.record import RecordingWriter
from physres.cli import main

ESN = """\
name: esn_char
devices:
  esn:
    kind: sim.esn
    params: {n_units: 20, topology: orthogonal, activation: linear, spectral_radius: 0.9,
             input_scaling: 0.1}
"""


def test_characterise_a_config_writes_metrics_and_plots(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "esn.yaml"
    cfg.write_text(ESN)
    out = tmp_path / "char"
    assert main(["characterise", str(cfg), "--out", str(out), "--samples", "3000"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert 19.0 < m["ipc"]["total"] <= 20.0
    assert m["kernel_rank"] == 20
    assert m["generalisation_rank"] < m["kernel_rank"]
    assert set(m["nlt_nmse"]) == {"square_wave", "phase_shift", "double_frequency"}
    assert (out / "ipc.png").stat().st_size > 0
    assert (out / "nonlinear_memory.png").stat().st_size > 0
    assert "IPC" in capsys.readouterr().out


def test_characterise_a_recording_made_by_physres_run(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(ESN + "task:\n  kind: memory_capacity\n  params: {n_train: 1500, n_test: 500}\n")
    run = tmp_path / "run"
    bus = f"chr{uuid.uuid4().hex[:6]}"
    assert main(["run", str(cfg), "--out", str(run), "--quiet", "--bus", bus]) == 0
    out = tmp_path / "char"
    assert main(["characterise", str(run / "recording.mcap"), "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["samples"] == 2400  # train and test, each after its 200-sample washout
    assert 19.0 < m["ipc"]["total"] <= 20.0
    assert m["generalisation_rank"] is None and "nlt_missing" in m


def test_a_recording_without_the_topics_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = tmp_path / "other.mcap"
    w = RecordingWriter(rec)
    w.write(encode("cam", "frame", 0, {"frame": np.zeros((2, 2))}))
    w.close()
    assert main(["characterise", str(rec), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{rec}: characterise needs topics <device>/sent" in err
    assert "cam/frame" in err
    assert not (tmp_path / "c").exists()  # nothing written before the inputs were checked


@pytest.mark.parametrize("states_per_input", [1, 2])
def test_a_faster_state_stream_is_pooled_per_input_sample(
    tmp_path: Path, states_per_input: int
) -> None:
    from physres.characterise import load_recording

    rng = np.random.default_rng(0)
    rec = tmp_path / "r.mcap"
    w = RecordingWriter(rec)
    for i in range(4):
        u = rng.uniform(-1, 1, (50, 1))
        x = np.repeat(np.hstack([u, u**2]), states_per_input, axis=0)
        w.write(encode("dev", "sent", i, {"u": u}))
        w.write(encode("dev", "state", i, {"state": x}))
    w.close()
    d = load_recording(rec)
    assert d.u.shape == (200,) and d.X.shape == (200, 2)
    np.testing.assert_allclose(d.X[:, 0], d.u)
    assert "dev/sent" in d.source


def test_too_few_samples_for_a_config_fail_before_the_device_is_driven(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "esn.yaml"
    cfg.write_text(ESN)
    assert main(["characterise", str(cfg), "--out", str(tmp_path / "c"), "--samples", "150"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"{cfg}: 150 samples minus washout 100 and max delay 40 leave 10 rows" in err
