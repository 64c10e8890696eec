"""physres's characterisation against RCbench 1.0.10 on the same sim.esn states.

Runs ``bench/characterise.py``'s comparison at a small size (about 2 s once
RCbench is imported; importing it costs under a second beside scikit-learn).
Skipped where the ``bench`` extra (``rcbench``) is not installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "characterise.py"


@pytest.fixture(scope="module")
def bench():
    pytest.importorskip("rcbench", reason="the comparison needs RCbench 1.0.10 (bench extra)")
    spec = importlib.util.spec_from_file_location("bench_characterise", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def comparison(bench):
    return bench.compare(bench.make_states(20, 2000))


def test_same_definitions_give_the_same_figures(bench, comparison) -> None:
    """With RCbench's estimator and targets, every figure matches to rounding."""
    c = comparison
    for key in ("same_ipc", "same_nlm", "same_nlt", "same_sinx"):
        assert c[key] <= bench.TOL_SAME, key
    assert c["same_ranks"]


def test_physres_defaults_agree_with_scale_free_rcbench(bench, comparison) -> None:
    """physres's own estimators vs RCbench with a negligible ridge, on RCbench's targets."""
    c = comparison
    assert abs(c["physres_total_on_rc_basis"] - c["rc0_total"]) <= bench.TOL_IPC * c["n"]
    assert c["scale_free_nlm"] <= 0.02
    assert c["scale_free_nlt"] <= 0.02
    assert c["scale_free_sinx"] <= 0.02
    # physres's wider basis (delay 0, three-delay products) finds more, never more than N
    assert c["physres_total_on_rc_basis"] <= c["physres_total"] <= c["n"]


def test_last_line_is_the_speed_ratio(bench, capsys) -> None:
    bench.main(["--n", "10", "--T", "1000", "--repeats", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("physres / RCbench: ")
    assert lines[-1].endswith("(goal <= 0.5)")
