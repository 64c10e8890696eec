"""`physres run` always leaves a run folder that says how the run ended.

A device that raises mid-drive, a recorder that cannot open its file, Ctrl-C
in-process and SIGINT to a real `physres run` process: each leaves
``run.json`` (failed / interrupted, with the reason), a readable recording
where one was started, and a bus with nothing of the run left on it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq

from physres.bus import BusConfig, CommandClient
from physres.bus.record import read_recording
from physres.cli import main
from physres.config import parse_config
from physres.errors import RecordingError, RemoteError, RunFolderError
from physres.experiments.run import run_experiment
from physres.sim.esn import ESN

RUN = """\
name: lifecycle
seed: 3
devices:
  esn:
    kind: sim.esn
    params: {{n_units: 30}}
task:
  kind: narma10
  params: {{n_train: {n_train}, n_test: 200, washout: 20}}
drive:
  chunk: {chunk}
"""


def _bus() -> str:
    return f"lc{uuid.uuid4().hex[:8]}"


def _cfg(tmp_path: Path, *, n_train: int = 400, chunk: int = 50) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(RUN.format(n_train=n_train, chunk=chunk))
    return path


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _nothing_left_on(bus: str) -> bool:
    """The run's in-process broker is gone: nobody answers on its bus."""
    ctx = zmq.Context()
    client = CommandClient(ctx, BusConfig(name=bus))
    try:
        return not client.ping_broker(0.3)
    finally:
        client.close()
        ctx.destroy(linger=0)


def test_a_device_that_raises_mid_drive_leaves_a_failed_run_json_and_a_readable_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = ESN._apply

    def flaky(self: ESN, inputs: dict[str, np.ndarray]) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("pump jammed")
        real(self, inputs)

    monkeypatch.setattr(ESN, "_apply", flaky)
    out, bus = tmp_path / "run", _bus()
    code = main(["run", str(_cfg(tmp_path)), "--out", str(out), "--quiet", "--bus", bus])
    assert code == 2  # a remote device error is a physres error: one line, no traceback
    run = _json(out / "run.json")
    assert run["status"] == "failed" and "pump jammed" in run["reason"], run
    assert run["stopped"] >= run["started"]
    metrics = _json(out / "metrics.json")
    assert metrics["status"] == "failed" and "pump jammed" in metrics["reason"]
    info, msgs = read_recording(out / "recording.mcap")
    n_in = sum(1 for _, m in msgs if m.topic == "esn/in")  # info fills in as it is read
    assert not info.truncated and "pump jammed" in info.end_reason
    assert n_in >= 3, "the chunks sent before the fault are in the recording"
    assert run["recording"]["messages"] == len(list(read_recording(out / "recording.mcap")[1]))
    assert _nothing_left_on(bus)


def test_the_remote_error_reaches_the_caller_with_its_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: ESN, inputs: dict[str, np.ndarray]) -> None:
        raise RuntimeError("no water")

    monkeypatch.setattr(ESN, "_apply", broken)
    cfg = parse_config(_cfg(tmp_path).read_text(), "run.yaml")
    cfg = cfg.model_copy(update={"bus": BusConfig(name=_bus())})
    with pytest.raises(RemoteError, match="no water"):
        run_experiment(cfg, tmp_path / "r", progress=False)
    assert _json(tmp_path / "r" / "run.json")["status"] == "failed"


def test_a_recorder_that_cannot_open_its_file_fails_the_run_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import physres.bus.record as record

    def full_disk(self: Any, path: Any, **kw: Any) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(record.RecordingWriter, "__init__", full_disk)
    out, bus = tmp_path / "run", _bus()
    assert main(["run", str(_cfg(tmp_path)), "--out", str(out), "--bus", bus]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "cannot record to" in err and "No space left on device" in err
    assert "Traceback" not in err
    run = _json(out / "run.json")
    assert run["status"] == "failed" and run["reason"].startswith("RecordingError: cannot record")
    assert _nothing_left_on(bus), "nodes and broker started before the recorder are stopped"
    with pytest.raises(RecordingError):  # the error type callers catch
        cfg = parse_config(_cfg(tmp_path).read_text(), "run.yaml")
        run_experiment(
            cfg.model_copy(update={"bus": BusConfig(name=_bus())}), tmp_path / "r2", progress=False
        )


def test_ctrl_c_in_process_is_recorded_as_interrupted_with_exit_code_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from physres.device.remote import RemoteDevice

    calls = {"n": 0}
    real = RemoteDevice.apply

    def interrupted(self: RemoteDevice, inputs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(self, inputs)

    monkeypatch.setattr(RemoteDevice, "apply", interrupted)
    out, bus = tmp_path / "run", _bus()
    assert main(["run", str(_cfg(tmp_path)), "--out", str(out), "--quiet", "--bus", bus]) == 130
    run = _json(out / "run.json")
    assert run["status"] == "interrupted" and "KeyboardInterrupt" in run["reason"]
    assert _json(out / "metrics.json")["status"] == "interrupted"
    info, msgs = read_recording(out / "recording.mcap")
    assert list(msgs) and not info.truncated and "KeyboardInterrupt" in info.end_reason
    assert _nothing_left_on(bus)


def test_a_second_ctrl_c_during_teardown_waits_until_the_recording_is_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from physres.bus.record import Recorder
    from physres.device.remote import RemoteDevice

    real_apply, real_stop = RemoteDevice.apply, Recorder.stop
    calls = {"n": 0}

    def interrupted(self: RemoteDevice, inputs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_apply(self, inputs)

    def impatient(self: Recorder, reason: str = "stopped") -> None:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C again while the file is being finished
        time.sleep(0.05)
        real_stop(self, reason)

    monkeypatch.setattr(RemoteDevice, "apply", interrupted)
    monkeypatch.setattr(Recorder, "stop", impatient)
    out = tmp_path / "run"
    assert main(["run", str(_cfg(tmp_path)), "--out", str(out), "--quiet", "--bus", _bus()]) == 130
    info, msgs = read_recording(out / "recording.mcap")
    assert list(msgs) and not info.truncated and "KeyboardInterrupt" in info.end_reason
    assert _json(out / "run.json")["status"] == "interrupted"
    # a run that completed but was interrupted during teardown is not called ok
    monkeypatch.setattr(RemoteDevice, "apply", real_apply)
    out2 = tmp_path / "run2"
    assert main(["run", str(_cfg(tmp_path)), "--out", str(out2), "--quiet", "--bus", _bus()]) == 130
    info, msgs = read_recording(out2 / "recording.mcap")
    assert list(msgs) and not info.truncated and info.end_reason == "completed"
    assert _json(out2 / "run.json")["status"] == "interrupted"


@pytest.mark.parametrize(
    ("sig", "code", "reason"),
    [
        (signal.SIGINT, 130, "KeyboardInterrupt"),
        (signal.SIGTERM, 143, "Terminated: SIGTERM"),
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_to_a_physres_run_process_leaves_an_interrupted_run_and_an_intact_recording(
    tmp_path: Path, sig: signal.Signals, code: int, reason: str
) -> None:
    # one bus round trip per task step: long enough (tens of seconds) to interrupt mid-drive
    cfg = _cfg(tmp_path, n_train=100_000, chunk=1)
    out, bus = tmp_path / "run", _bus()
    proc = subprocess.Popen(
        [sys.executable, "-m", "physres.cli", "run", str(cfg), "--out", str(out), "--bus", bus],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "120"},
    )
    try:
        rec = out / "recording.mcap"
        deadline = time.monotonic() + 60
        while not (rec.exists() and rec.stat().st_size > 20_000):  # mid-drive: data flowing
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never started recording"
            time.sleep(0.1)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err.decode()
    assert "Traceback" not in err.decode()
    run = _json(out / "run.json")
    assert run["status"] == "interrupted" and reason in run["reason"], run
    info, msgs = read_recording(out / "recording.mcap")
    topics = {m.topic for _, m in msgs}
    assert not info.truncated and not info.problem and not info.corrupt
    assert reason in info.end_reason and {"esn/in", "esn/state"} <= topics
    assert run["recording"]["messages"] == sum(1 for _ in read_recording(rec)[1])
    assert _nothing_left_on(bus)


# ---------------------------------------------------------------- --out
def test_out_into_a_non_empty_folder_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["run", str(_cfg(tmp_path)), "--out", str(out), "--quiet", "--bus", _bus()]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "not empty" in err and "--overwrite" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"], "nothing written or removed"


def test_overwrite_replaces_an_earlier_run_and_leaves_none_of_its_files(tmp_path: Path) -> None:
    out, cfg = tmp_path / "run", str(_cfg(tmp_path))
    assert main(["run", cfg, "--out", str(out), "--quiet", "--bus", _bus()]) == 0
    first = _json(out / "run.json")["started"]
    (out / "frames.png").write_text("a plot only the earlier run made")
    assert main(["run", cfg, "--out", str(out), "--quiet", "--bus", _bus()]) == 2
    assert main(["run", cfg, "--out", str(out), "--quiet", "--overwrite", "--bus", _bus()]) == 0
    assert not (out / "frames.png").exists()
    run = _json(out / "run.json")
    assert run["status"] == "ok" and (run["started"] >= first)
    metrics = _json(out / "metrics.json")
    assert metrics["status"] == "ok" and "n_train" not in metrics
    assert (metrics["n_train_sequences"], metrics["n_train_samples"]) == (1, 420)


def test_overwrite_never_clears_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    from physres.experiments.artifacts import prepare_run_folder

    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    with pytest.raises(RunFolderError, match="not a physres run folder"):
        prepare_run_folder(home, overwrite=True)
    assert (home / "thesis.tex").read_text() == "years of work"
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="not a folder"):
        prepare_run_folder(tmp_path / "file", overwrite=True)
    assert prepare_run_folder(tmp_path / "new" / "deep").is_dir()


@pytest.mark.parametrize("where", ["under_a_file", "symlink_to_a_run"])
def test_an_out_folder_that_cannot_be_made_or_cleared_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    (tmp_path / "afile").write_text("mine")
    run = tmp_path / "earlier"
    run.mkdir()
    (run / "run.json").write_text("{}")
    (tmp_path / "link").symlink_to(run)
    out = tmp_path / "afile" / "sub" if where == "under_a_file" else tmp_path / "link"
    args = ["run", str(_cfg(tmp_path)), "--out", str(out), "--quiet", "--overwrite"]
    assert main([*args, "--bus", _bus()]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith(f"error: --out {out}:") and "Traceback" not in err
    assert (tmp_path / "afile").read_text() == "mine" and (run / "run.json").exists()
