"""Runs on one machine never cross-talk: each gets its own bus unless told to join one."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from physres.bus import BusConfig, bus_for_run
from physres.config import load_config

RUN = """\
name: iso_xor
seed: 1
devices:
  esn:
    kind: sim.esn
    params: {n_units: 40, bias_scaling: 0.5}
task:
  kind: xor
"""


def test_two_physres_runs_at_once_each_succeed_on_a_bus_of_their_own(tmp_path: Path) -> None:
    """Before: both took bus `default`; the second used the first one's in-process
    broker and died 35 s after the first ended, with no word about the broker."""
    cfg = tmp_path / "run.yaml"
    cfg.write_text(RUN)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "physres.cli", "run", str(cfg), "--out", str(tmp_path / d)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        for d in ("a", "b")
    ]
    outs = [p.communicate(timeout=110)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    buses = []
    for d, out in zip(("a", "b"), outs, strict=True):
        m = re.search(r"bus '(run-\d+-[0-9a-f]+)': broker started in this process", out)
        assert m, out  # each run says which bus it used, and that it serves it itself
        buses.append(m.group(1))
        assert json.loads((tmp_path / d / "metrics.json").read_text())["status"] == "ok"
    assert buses[0] != buses[1]


def test_a_run_joins_a_bus_only_when_one_is_named(tmp_path: Path) -> None:
    unnamed = bus_for_run(BusConfig())
    assert unnamed.name.startswith("run-") and unnamed.name != bus_for_run(BusConfig()).name
    assert bus_for_run(BusConfig(name="lab")).name == "lab"
    assert bus_for_run(BusConfig(name="default")).name == "default"  # named on purpose
    assert bus_for_run(BusConfig(transport="tcp")).name == "default"  # an address is a choice
    f = tmp_path / "c.yaml"
    f.write_text(RUN)
    assert bus_for_run(load_config(f).bus).name.startswith("run-")
    f.write_text(yaml.safe_dump({**yaml.safe_load(RUN), "bus": {"name": "shared"}}))
    assert bus_for_run(load_config(f).bus).name == "shared"
    f.write_text(yaml.safe_dump({**yaml.safe_load(RUN), "bus": {"heartbeat_s": 1.0}}))
    assert bus_for_run(load_config(f).bus).name.startswith("run-")
