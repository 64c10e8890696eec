"""``physres bench report``: one table and one page of plots across substrates.

The default suite runs the small report the issue names (ESN and LSM, XOR and
memory, ``--quick``) through the CLI and checks that every cell the table
promises is there; the full report over every registered simulator is
``slow``.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from physres.cli import main
from physres.errors import ConfigError
from physres.experiments.report import resolve_tasks


def _report(tmp_path: Path, *args: str) -> tuple[dict, str, str]:
    out = tmp_path / "report"
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["bench", "report", *args, "--out", str(out)])
    assert rc == 0
    assert (out / "report.png").stat().st_size > 10_000  # one page of plots, not blank
    return (
        json.loads((out / "report.json").read_text()),
        (out / "report.md").read_text(),
        buf.getvalue(),
    )


def test_a_quick_report_on_esn_and_lsm_has_scores_controls_margins_capacity_and_cost(
    tmp_path: Path,
) -> None:
    rep, md, printed = _report(
        tmp_path, "--substrates", "sim.esn,sim.lsm", "--tasks", "xor,memory", "--quick"
    )
    assert rep["tasks"] == ["xor", "memory_capacity"] and rep["quick"]
    for kind in ("sim.esn", "sim.lsm"):
        entry = rep["substrates"][kind]
        for row in entry["rows"]:
            lo, hi = row["score_ci95"]
            assert lo <= row["value"] <= hi
            m_lo, m_hi = row["margin_ci95"]
            assert m_lo <= row["margin"] <= m_hi
            assert row["control_raw_input"] is not None and row["control_baseline"] is not None
            assert row["cpu_per_device_s"] > 0
        cap = entry["characterise"]
        assert set(cap["ipc_by_degree"]) == {"1", "2", "3"} and cap["ipc_total"] > 0
    xor_esn = rep["substrates"]["sim.esn"]["rows"][0]
    assert xor_esn["task"] == "xor" and xor_esn["margin_ci95"][0] > 0.3  # ESN computes XOR
    lsm_xor = rep["substrates"]["sim.lsm"]["rows"][0]
    assert lsm_xor["synaptic_events_per_device_s"] > lsm_xor["events_per_device_s"] > 0
    # a delay line holds the memory task's answer: neither substrate beats it here
    for kind in ("sim.esn", "sim.lsm"):
        assert rep["substrates"][kind]["rows"][1]["margin_ci95"][1] < 0
    assert md.count("| xor | accuracy |") == 2 and md.count("| memory_capacity | mc |") == 2
    assert "| sim.lsm | 135 |" in md and "margin [95% CI]" in md
    assert "wrote" in printed


def test_tasks_are_named_exactly_or_by_a_unique_prefix() -> None:
    assert resolve_tasks(["memory", "xor"]) == ["memory_capacity", "xor"]
    with pytest.raises(ConfigError, match="spoken_digits, spoken_zero_one"):
        resolve_tasks(["spoken"])
    with pytest.raises(ConfigError, match="no such task"):
        resolve_tasks(["narma30"])


@pytest.mark.slow
def test_the_full_report_runs_every_task_on_every_simulated_reservoir(tmp_path: Path) -> None:
    rep, _, _ = _report(tmp_path, "--substrates", "sim.esn,sim.bucket,sim.lsm")
    assert set(rep["substrates"]) == {"sim.esn", "sim.bucket", "sim.lsm"}
    for entry in rep["substrates"].values():
        assert {r["task"] for r in entry["rows"]} >= set(rep["tasks"])
        assert all(
            r["margin_ci95"] is not None for r in entry["rows"] if "(free run" not in r["task"]
        )
