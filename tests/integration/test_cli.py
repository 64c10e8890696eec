"""The `physres` command: help everywhere, a run into a folder, checks, ls, clear errors."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import zmq

from physres.bus import Broker, BusConfig, Node
from physres.bus.record import read_recording
from physres.cli import build_parser, main

MOCK_RUN = """\
name: mock_xor
seed: 1
devices:
  esn:
    kind: {kind}
    params: {{n_units: 40, bias_scaling: 0.5}}
task:
  kind: xor
"""


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


@pytest.mark.parametrize("cmd", subcommands())
def test_every_command_has_help(cmd: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0
    assert "usage: physres" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["sim.esn", "mock.esn"])
def test_run_writes_metrics_provenance_and_a_readable_recording(kind: str, tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(MOCK_RUN.format(kind=kind))
    out = tmp_path / "run"
    bus = f"cli{uuid.uuid4().hex[:6]}"
    assert main(["run", str(cfg), "--out", str(out), "--quiet", "--bus", bus]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    run = json.loads((out / "run.json").read_text())
    assert metrics["status"] == "ok" and metrics["metric"] == "accuracy"
    m = metrics["metrics"]
    assert m["control_raw_input_accuracy"] < 0.6 and m["control_baseline_accuracy"] < 0.6
    assert m["margin_ci95"][0] <= m["margin_over_baseline"] <= m["margin_ci95"][1]
    if kind == "sim.esn":
        assert metrics["value"] > 0.9  # the reservoir does the XOR
        assert m["margin_ci95"][0] > 0.2  # ... and beats the best linear model of the inputs
    else:
        assert metrics["value"] < 0.75  # noise does not
    assert run["status"] == "ok" and run["seed"] == 1 and run["versions"]["physres"]
    assert run["recording"]["dropped"] == 0
    info, msgs = read_recording(out / "recording.mcap")
    topics = {m.topic for _, m in msgs}
    assert {"esn/in", "esn/state", "esn/sent"} <= topics and info.end_reason == "completed"
    assert (out / "config.yaml").exists()


def test_a_bad_config_exits_2_naming_file_key_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(MOCK_RUN.format(kind="sim.esn").replace("n_units: 40", "n_units: many"))
    assert main(["run", str(cfg), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:6" in err and "devices.esn.params.n_units" in err and "many" in err
    assert not (tmp_path / "r").exists(), "nothing is created for a config that does not validate"


def test_check_runs_the_conformance_suite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(MOCK_RUN.format(kind="mock.esn"))
    assert main(["check", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS") >= 5 and "FAIL" not in out


def test_ls_lists_live_nodes(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = BusConfig(name=f"ls{uuid.uuid4().hex[:6]}", heartbeat_s=0.1)
    ctx = zmq.Context()
    with Broker(cfg, ctx):
        node = Node("camera", cfg, ctx, kind="drivers.bucket_camera")
        node.declare_stream("frame", dtype="|u1", shape=[32, 32], rate_hz=25.0)
        assert main(["ls", "--bus", cfg.name, "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert rows[0]["name"] == "camera" and rows[0]["alive"]
        assert main(["ls", "--bus", cfg.name]) == 0
        assert "camera" in capsys.readouterr().out
        node.close()
    ctx.destroy(linger=0)


def test_ls_without_a_broker_says_how_to_start_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "--bus", f"none{uuid.uuid4().hex[:6]}", "--timeout", "0.3"]) == 2
    assert "physres bus" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay", "r.mcap", "--speed=-1"], "expected a finite number >= 0"),
        (["replay", "r.mcap", "--speed", "nan"], "expected a finite number >= 0"),
        (["record", "--out", "r.mcap", "--flush", "0"], "expected a finite number > 0"),
        (["record", "--out", "r.mcap", "--duration", "soon"], "is not a number"),
        (["ls", "--tcp", "127.0.0.1:80"], "greater than or equal to 1024"),
        (["ls", "--tcp", "127.0.0.1:http"], "numeric port, got port 'http'"),
    ],
)
def test_bad_arguments_exit_2_saying_what_was_expected(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse refuses before any command runs
        code = e.code
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert message in err and "Traceback" not in err


def test_run_uses_an_external_broker_when_one_is_running(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from physres.bus import CommandClient

    bus = f"ext{uuid.uuid4().hex[:6]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "physres.cli", "bus", "--bus", bus], stdout=subprocess.DEVNULL
    )
    ctx = zmq.Context()
    client = CommandClient(ctx, BusConfig(name=bus))
    try:
        deadline = time.monotonic() + 20
        while not client.ping_broker(0.2):
            assert time.monotonic() < deadline, "physres bus did not come up"
        cfg = tmp_path / "run.yaml"
        cfg.write_text(MOCK_RUN.format(kind="mock.esn"))
        assert main(["run", str(cfg), "--out", str(tmp_path / "r"), "--quiet", "--bus", bus]) == 0
        assert client.ping_broker(0.5), "the run must not stop a broker it did not start"
    finally:
        client.close()
        ctx.destroy(linger=0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
