"""``physres sweep``: grids checked before anything runs, points on a 2-worker LocalCluster,
a killed worker's point rerun, resume, and hardware points run serially on this host."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

from physres import registry
from physres.cli import main
from physres.config import parse_config
from physres.errors import GridError, PhysresError, RunFolderError
from physres.experiments.sweep import (
    hardware_kinds,
    parse_grid,
    plan,
    read_results,
    run_point,
    run_sweep,
)

CONFIG = """
name: tiny
seed: {seed}
devices:
  esn:
    kind: {kind}
    params: {{n_units: 40, spectral_radius: 0.9}}
task:
  kind: narma10
  params: {{n_train: 300, n_test: 200}}
drive: {{via: {via}, chunk: 250}}
record: {{enabled: false}}
"""
SR = "devices.esn.params.spectral_radius"


def _cfg(kind: str = "sim.esn", via: str = "local", seed: int = 0):
    return parse_config(CONFIG.format(kind=kind, via=via, seed=seed))


# ------------------------------------------------------------------ malformed grids
@pytest.mark.parametrize(
    ("item", "says"),
    [
        ("devices.esn.params.spectral_radus=0.8", "did you mean 'spectral_radius'"),
        ("devices.esm.params.spectral_radius=0.8", "unknown key"),
        ("task.parms.n_train=100", "did you mean 'task.params'"),
        (f"{SR}=", "empty list"),
        (f"{SR}=0.8,,0.9", "an empty value"),
        (f"{SR}=0.8,abc", "valid number"),
        ("task.params.n_train=100,1.5", "valid integer"),
        ("drive.chunk=0", "greater than or equal to 1"),
        (SR, "expected KEY=V1,V2"),
        (f"{SR}=0.8,0.8", "repeats"),
    ],
)
def test_a_malformed_grid_is_one_typed_line_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], item: str, says: str
) -> None:
    with pytest.raises(GridError, match=says):
        plan(_cfg(), parse_grid([item]))
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(CONFIG.format(kind="sim.esn", via="local", seed=0))
    out = tmp_path / "sweep"
    assert main(["sweep", str(cfg_file), "--grid", item, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and says in err
    assert not out.exists()  # nothing ran, no folder was made


def test_random_draws_distinct_points_with_the_config_seed() -> None:
    grid = parse_grid([f"{SR}=0.5,0.6,0.7,0.8", "task.params.n_train=100,200,300"])
    a = [p.index for p in plan(_cfg(seed=3), grid, random_n=5)]
    assert a == [p.index for p in plan(_cfg(seed=3), grid, random_n=5)]
    assert len(set(a)) == 5 and all(0 <= i < 12 for i in a)
    with pytest.raises(GridError, match="the grid has 12 points"):
        plan(_cfg(), grid, random_n=13)


# ---------------------------------------------------------------- cluster, resume
def test_points_run_on_two_workers_and_a_rerun_resumes(tmp_path: Path) -> None:
    grid = parse_grid([f"{SR}=0.7,0.9", "task.params.n_train=200,300"])
    res = run_sweep(_cfg(via="bus"), grid, tmp_path, workers=2, progress=False)
    assert (res.ran, res.skipped, res.failed, res.serial) == (4, 0, 0, False)
    table = read_results(tmp_path)
    assert table["index"].to_pylist() == [0, 1, 2, 3]
    assert set(table["status"].to_pylist()) == {"ok"}
    assert table[SR].to_pylist() == [0.7, 0.7, 0.9, 0.9]
    for run in table["run"].to_pylist():  # each point is a `physres run` folder
        assert (tmp_path / run / "metrics.json").is_file()
    assert res.heatmap is not None and res.heatmap.stat().st_size > 0
    parts = {p: p.stat().st_mtime_ns for p in (tmp_path / "results.parquet").glob("*")}

    grid[SR].append(0.8)  # the same sweep with one more value: only its points run
    res = run_sweep(_cfg(via="bus"), grid, tmp_path, workers=2, progress=False)
    assert (res.ran, res.skipped, res.failed) == (2, 4, 0)
    assert all(p.stat().st_mtime_ns == t for p, t in parts.items())
    assert read_results(tmp_path).num_rows == 6


def test_a_folder_of_another_config_is_refused(test_rig: str, tmp_path: Path) -> None:
    grid = parse_grid([f"{SR}=0.7"])
    run_sweep(_cfg(kind=test_rig), grid, tmp_path, progress=False, runner=_fake_point)
    with pytest.raises(RunFolderError, match="different config"):
        run_sweep(_cfg(kind=test_rig, seed=1), grid, tmp_path, progress=False)


def test_an_unreachable_scheduler_is_one_line(tmp_path: Path) -> None:
    grid = parse_grid([f"{SR}=0.7"])
    with pytest.raises(PhysresError, match="no Dask scheduler answers at tcp://127.0.0.1:9"):
        run_sweep(_cfg(), grid, tmp_path, scheduler="tcp://127.0.0.1:9", progress=False)


def _fake_point(cfg_data: dict, folder: str, point: str) -> dict:
    return {"point": point, "status": "ok", "value": 1.0, "started": 0.0, "pid": os.getpid()}


# -------------------------------------------------------------------- faults
def _die_once(cfg_data: dict, folder: str, point: str) -> dict:
    """The first point to start kills its own worker process mid-point (SIGKILL)."""
    flag = Path(folder).parents[1] / "killed"
    try:
        fd = os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return run_point(cfg_data, folder, point)
    os.write(fd, point.encode())
    os.close(fd)
    Path(folder).mkdir(parents=True)
    (Path(folder) / "half-written").write_text("the worker dies here")
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def test_a_killed_worker_s_point_is_rerun_and_the_table_holds_every_point_once(
    tmp_path: Path,
) -> None:
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers can't import tests/
    try:
        grid = parse_grid([f"{SR}=0.6,0.7,0.8,0.9"])
        res = run_sweep(_cfg(), grid, tmp_path, workers=2, progress=False, runner=_die_once)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    killed = (tmp_path / "killed").read_text()
    table = read_results(tmp_path)
    assert (res.ran, res.failed) == (4, 0)
    assert sorted(table["point"].to_pylist()) == sorted(p.id for p in plan(_cfg(), grid))
    assert set(table["status"].to_pylist()) == {"ok"}
    assert killed in table["point"].to_pylist()
    folder = tmp_path / "points" / killed
    assert (folder / "metrics.json").is_file() and not (folder / "half-written").exists()


# ------------------------------------------------------------------ hardware
@pytest.fixture
def test_rig(monkeypatch: pytest.MonkeyPatch) -> str:
    """A driver kind for the test (the ESN's class under a drivers.* name)."""
    monkeypatch.setitem(registry.DEVICES._table, "drivers.testrig", "physres.sim.esn:ESN")
    return "drivers.testrig"


def test_what_counts_as_hardware(test_rig: str) -> None:
    assert hardware_kinds(_cfg(kind=test_rig)) == [test_rig]
    assert hardware_kinds(_cfg(kind="mock.testrig")) == ["mock.testrig"]  # the driver's own code
    assert hardware_kinds(_cfg(kind="mock.esn")) == hardware_kinds(_cfg()) == []
    assert registry.DEVICES.real_name("mock.bucket") == "drivers.bucket"


@pytest.mark.parametrize("kind", ["drivers.testrig", "mock.testrig"])
def test_hardware_points_run_serially_on_this_host(
    test_rig: str, kind: str, tmp_path: Path
) -> None:
    grid = parse_grid([f"{SR}=0.7,0.8,0.9"])
    # an address nothing answers at: a hardware sweep never contacts a cluster
    res = run_sweep(_cfg(kind=kind), grid, tmp_path, scheduler="tcp://127.0.0.1:9", progress=False)
    assert res.serial and (res.ran, res.failed) == (3, 0)
    table = read_results(tmp_path).sort_by("started")
    assert set(table["pid"].to_pylist()) == {os.getpid()}
    assert all(w.startswith("local:") for w in table["worker"].to_pylist())
    starts = [t.timestamp() for t in table["started"].to_pylist()]
    ends = [s + e for s, e in zip(starts, table["elapsed_s"].to_pylist())]
    assert all(ends[i] <= starts[i + 1] for i in range(len(starts) - 1))  # one after another


def test_a_point_config_sets_only_its_keys() -> None:
    """Defaults stay unset: an unset bus name gives each point's run a private bus."""
    from physres.config import with_overrides

    cfg = with_overrides(_cfg(via="bus"), {SR: 0.5, "bus.sndhwm": 10})
    assert cfg.bus.model_fields_set == {"sndhwm"} and cfg.devices["esn"].params[SR[-15:]] == 0.5
    assert "drive" in cfg.model_dump(exclude_unset=True)  # written in the config: kept


def _blas_threads(cfg_data: dict, folder: str, point: str) -> dict:
    """A point that reports how many BLAS threads its worker would use (status says)."""
    from threadpoolctl import threadpool_info

    n = max((p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"), default=1)
    ok = "ok" if n == 1 else "failed"
    return {"point": point, "status": ok, "reason": f"{n} BLAS threads", "started": 0.0}


def test_workers_start_with_physres_loaded_and_one_blas_thread_each(tmp_path: Path) -> None:
    """Two workers on two cores must not each start a BLAS pool as wide as the machine: the
    fork server that starts them sets Dask's one-thread environment before numpy loads."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        grid = parse_grid([f"{SR}=0.6,0.7"])
        res = run_sweep(_cfg(), grid, tmp_path, workers=2, progress=False, runner=_blas_threads)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert (res.ran, res.failed) == (2, 0), res.errors
