"""The readout benchmark's logic, run at toy sizes so it cannot rot.

The real figures come from ``python bench/readout.py`` (200,000 x 1,000);
here we check that every method runs on the same data, that the ratios are
computed from the measured times, that the memory figure is measured and
meets its goal, and that the last line printed is the physres / bare NumPy
ratio.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "readout.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_readout", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bare_numpy_baseline_solves_the_same_problem(bench) -> None:
    from physres.readout import RidgeReadout

    X, y = bench.make_data(3000, 30, 1)
    w = bench.bare_numpy(X, y)
    ours = RidgeReadout(alpha=bench.ALPHA, fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(ours.coef_, w.T, atol=1e-10)


def test_measure_reports_consistent_ratios_and_memory(bench) -> None:
    pytest.importorskip("reservoirpy", reason="the bench compares against ReservoirPy 0.4.2")
    r = bench.measure(40_000, 100, repeats=1, baselines=True)
    assert r["ratio_bare"] == pytest.approx(r["t_physres"] / r["t_bare"])
    assert r["ratio_cv"] == pytest.approx(r["t_physres_cv"] / r["t_physres"])
    assert r["ratio_sklearn"] == pytest.approx(r["t_physres"] / r["t_sklearn"])
    assert r["ratio_reservoirpy"] == pytest.approx(r["t_physres"] / r["t_reservoirpy"])
    # tracemalloc is deterministic: the streaming fit holds one chunk plus p x p arrays
    assert r["chunk_plus_gram_mb"] == pytest.approx((4000 * 100 + 100 * 100) * 8 / 2**20)
    assert 1.0 <= r["ratio_memory"] <= 1.5


def test_last_line_is_the_bare_numpy_ratio(bench, capsys) -> None:
    pytest.importorskip("reservoirpy", reason="the bench compares against ReservoirPy 0.4.2")
    bench.main(["--n", "3000", "--p", "40", "--repeats", "1", "--threads", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("physres / bare NumPy: ")
    assert "(goal <= 1.1)" in lines[-1]
    assert any(line.startswith("physres / ReservoirPy Ridge:") for line in lines)
    assert any(line.startswith("classifier, 270 sequences / the same rows") for line in lines)


def test_the_sequence_case_times_both_fits_of_the_same_rows(bench) -> None:
    r = bench.time_sequences(n_seq=30, rows=5, p=64, repeats=1)
    assert r["ratio_sequences"] == pytest.approx(r["t_sequences"] / r["t_stacked"])
    assert r["t_sequences"] > 0 and r["t_stacked"] > 0
