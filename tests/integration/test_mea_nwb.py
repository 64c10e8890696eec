"""`physres export nwb RUN_DIR`: an MEA run folder becomes an NWB file that validates.

The runs here are real `physres run`s of a small classification task on
drivers.cl1 under cl-sdk (a replay file physres wrote), over the bus and
recorded. The export must pass pynwb's validator and nwbinspector with
nothing critical, hold exactly what the recording holds, place every episode
on one session clock although the device restarts its clock at each reset,
and survive the bad folders a lab will hand it: a damaged recording, a run
whose acquisition stopped mid-way, a folder that is no MEA run, a missing
run.json.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from physres.bus.record import read_recording
from physres.config import parse_config
from physres.errors import ConfigError, DataError, PhysresError, RunFolderError
from physres.experiments.run import run_experiment
from physres.mea.layouts import layout
from physres.mea.nwb import export_nwb

pytestmark = pytest.mark.usefixtures("cl_sdk")  # skipped, saying why, without cl-sdk

CONFIG = """
name: two_signals_cl1
seed: 0
devices:
  culture:
    kind: {kind}
    params: {{{replay}stim_electrodes: [27, 36], amplitude_ua: 6.0}}
task:
  kind: dataset
  params: {{path: "{data}", split: stratified, test_fraction: 0.34, normalise: minmax}}
features:
  - kind: events
    params: {{tau: [2.0]}}
readout: {{kind: classifier, params: {{alpha: 1.0}}}}
drive: {{via: bus}}
"""


def _data(folder: Path) -> Path:
    """Twelve two-input sequences of two classes, 8-11 steps each (the README's CSV form)."""
    rng = np.random.default_rng(0)
    rows = ["sequence,time,pressure,flow,label"]
    for s in range(12):
        label = ("calm", "gusty")[s % 2]
        f = 0.2 if label == "calm" else 0.9
        for t in range(int(rng.integers(8, 12))):
            rows.append(f"s{s},{t},{np.sin(f * t):.3f},{rng.normal():.3f},{label}")
    path = folder / "signals.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _run(folder: Path, replay: Path | None, kind: str = "drivers.cl1") -> dict:
    data = _data(folder.parent)
    param = f'replay: "{replay}", ' if replay else ""
    text = CONFIG.format(kind=kind, replay=param, data=data)
    cfg = parse_config(text, "two_signals_cl1.yaml")
    return run_experiment(cfg, folder, progress=False)


@pytest.fixture(scope="module")
def cl1_run(cl1_replay, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "run"
    result = _run(out, cl1_replay.path)
    assert result["status"] == "ok"
    return out


def _recorded(folder: Path, stream: str) -> np.ndarray:
    _, messages = read_recording(folder / "recording.mcap", [f"culture/{stream}"])
    parts = [msg.data for _, msg in messages if msg.stream == stream]
    return np.concatenate(parts) if parts else np.zeros(0)


def _inspect(path: Path) -> list:
    import nwbinspector

    return [
        m
        for m in nwbinspector.inspect_nwbfile(nwbfile_path=path)
        if m is not None and m.importance.name == "CRITICAL"
    ]


def test_the_export_validates_and_holds_what_was_recorded(cl1_run: Path, tmp_path: Path) -> None:
    import pynwb

    assert json.loads((cl1_run / "run.json").read_text())["nwb"]["file"] == "recording.nwb"

    r = export_nwb(cl1_run, tmp_path / "run.nwb")
    assert pynwb.validate(path=str(r.out)) == []
    assert _inspect(r.out) == []
    spikes, pulses = _recorded(cl1_run, "spikes"), _recorded(cl1_run, "pulses")
    sent = _recorded(cl1_run, "sent")
    assert (r.spikes, r.pulses) == (len(spikes), len(pulses)) and r.pulses > 0
    with pynwb.NWBHDF5IO(str(r.out), "r") as io:
        f = io.read()
        el = f.electrodes.to_dataframe()
        np.testing.assert_allclose(el[["rel_x", "rel_y"]].to_numpy(), layout("grid8x8").positions)
        assert el["stimulating"].sum() == 2 and bool(el["stimulating"][27])
        units = f.units.to_dataframe()
        assert len(units) == 64
        per_channel = np.bincount(spikes["channel"], minlength=64)
        assert [len(t) for t in units["spike_times"]] == per_channel.tolist()
        stim = f.intervals["stimulation"].to_dataframe()
        assert sorted(stim["electrode"]) == sorted(pulses["channel"].tolist())
        assert np.allclose(stim["stop_time"] - stim["start_time"], 400e-6)  # 2 × 200 µs
        assert set(stim["amplitude_ua"]) <= set(np.unique(sent[sent > 0]).tolist())
        trials = f.trials.to_dataframe()
        assert len(trials) == 12 and set(trials["split"]) == {"train", "test"}
        assert set(trials["label"]) == {0, 1}
        # every episode restarted the device clock; on the session clock they follow each other
        starts, stops = trials["start_time"].to_numpy(), trials["stop_time"].to_numpy()
        assert np.all(stops > starts) and np.all(starts[1:] >= stops[:-1] - 1e-9)
        times = np.concatenate(list(units["spike_times"]))
        assert times.min() >= 0 and times.max() <= stops.max() + 0.01
        assert json.loads(f.notes)["status"] == "ok"
        assert "drivers.cl1" in f.protocol


def test_the_command_writes_next_to_the_run(cl1_run: Path, tmp_path: Path, capsys) -> None:
    from physres.cli import main

    run = tmp_path / "copy"
    shutil.copytree(cl1_run, run)
    (run / "recording.nwb").unlink()  # the run wrote one itself; write it again
    assert main(["export", "nwb", str(run), "--age", "P21D", "--species", "Homo sapiens"]) == 0
    assert (run / "recording.nwb").is_file()
    assert "stimulation pulses" in capsys.readouterr().out


def test_a_damaged_recording_exports_its_intact_records(cl1_run: Path, tmp_path: Path) -> None:
    import pynwb

    run = tmp_path / "damaged"
    shutil.copytree(cl1_run, run)
    rec = run / "recording.mcap"
    data = bytearray(rec.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4096] = b"\x00" * 4096  # a zeroed block in the middle
    rec.write_bytes(bytes(data))
    r = export_nwb(run)
    assert any("damaged" in n and "intact records only" in n for n in r.notes), r.notes
    assert 0 < r.spikes < len(_recorded(cl1_run, "spikes"))
    assert pynwb.validate(path=str(r.out)) == [] and _inspect(r.out) == []


def test_acquisition_that_stops_mid_run_leaves_run_json_recording_and_nwb(
    cl1_replay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pynwb
    from cl.neurons import Neurons

    real_read, reads = Neurons.read, [0]

    def stops_after_a_while(self, frame_count, from_timestamp):
        if frame_count == 250:  # the loop's ticks (the replay's rewind reads more at once)
            reads[0] += 1
            if reads[0] > 60:
                raise Exception("read did not succeed")
        return real_read(self, frame_count, from_timestamp)

    monkeypatch.setattr(Neurons, "read", stops_after_a_while)
    out = tmp_path / "stopped"
    with pytest.raises(PhysresError) as e:
        _run(out, cl1_replay.path)
    assert "acquisition stopped at step" in str(e.value)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "failed" and "acquisition stopped at step" in run["reason"]
    info, messages = read_recording(out / "recording.mcap")
    assert sum(1 for _ in messages) > 0 and not info.is_damaged
    # the run itself left the NWB file of what it recorded, and said so in run.json
    nwb = run["nwb"]
    assert nwb["file"] == "recording.nwb" and nwb["spikes"] > 0 and 0 < nwb["trials"] < 12
    assert any("not (completely) driven" in n for n in nwb["notes"])
    path = out / "recording.nwb"
    assert pynwb.validate(path=str(path)) == [] and _inspect(path) == []


@pytest.mark.slow  # a whole sim.mea run (~30 s); `pytest -m slow` runs it
def test_a_sim_mea_run_exports_the_same_way(tmp_path: Path) -> None:
    """Any MEA kind's run folder: the simulated culture's exports and validates too."""
    import pynwb

    out = tmp_path / "sim"
    assert _run(out, None, kind="sim.mea")["status"] == "ok"
    r = export_nwb(out)
    assert r.trials == 12 and r.spikes == len(_recorded(out, "spikes"))
    assert r.pulses == len(_recorded(out, "pulses")) > 0
    assert pynwb.validate(path=str(r.out)) == [] and _inspect(r.out) == []


def test_folders_that_are_no_mea_run_are_refused_saying_why(cl1_run: Path, tmp_path: Path) -> None:
    no_json = tmp_path / "no_json"
    shutil.copytree(cl1_run, no_json)
    (no_json / "run.json").unlink()
    with pytest.raises(RunFolderError, match="no run.json"):
        export_nwb(no_json)
    esn = tmp_path / "esn"
    shutil.copytree(cl1_run, esn)
    (esn / "config.yaml").write_text(
        "name: e\ndevices:\n  esn: {kind: sim.esn, params: {n_units: 10}}\ntask: {kind: xor}\n"
    )
    with pytest.raises(DataError, match=r"not an MEA run: its devices \(esn: sim.esn\)"):
        export_nwb(esn)
    with pytest.raises(RunFolderError, match="not a folder"):
        export_nwb(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"ending in \.nwb"):
        export_nwb(cl1_run, tmp_path / "x.h5")
