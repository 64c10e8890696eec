"""``physres sweep``: one experiment over a grid of config values, each point a run folder.

A grid is ``KEY=V1,V2,...`` items whose keys are dotted config paths
(``devices.esn.params.spectral_radius``, ``task.params.n_train``); the points
are their product (or ``random_n`` of it, drawn with the config's seed).
Every point is checked whole, as ``physres check`` would, before anything
runs: a malformed grid is one :class:`~physres.errors.GridError`.

Points run on a Dask distributed cluster (a ``LocalCluster`` unless a
scheduler address is given); each writes ``points/<id>/`` exactly as
``physres run`` writes a folder. Rows stream into ``results.parquet/`` (one
Parquet file per finished point, written by this process as the point's
future completes, renamed into place whole), so a killed sweep resumes where it
stopped: a point whose row says ``ok`` is never run again, and a point rerun
after its worker died replaces nothing but its own row. A 2-D grid also gets
``heatmap.png``.

Hardware cannot be parallelised: a config naming a driver (a ``drivers.*``
kind, or a ``mock.*`` kind whose family has a driver, which runs the driver's
own code over its fake) runs its points one after another in this process,
on the host that owns the device, with no cluster at all.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from rich.console import Console

from physres import registry
from physres._messages import one_line, short
from physres.config import RunConfig, with_overrides
from physres.errors import ConfigError, GridError, PhysresError, RunFolderError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "Point",
    "SweepResult",
    "hardware_kinds",
    "parse_grid",
    "plan",
    "read_results",
    "run_point",
    "run_sweep",
]

#: the table: one Parquet file per point in this folder (pyarrow reads the folder as one table)
RESULTS = "results.parquet"
#: the base config the sweep runs; a resume must match it (its grid may grow)
SWEEP_JSON = "sweep.json"
#: most points a grid may expand to: validated one by one before anything runs
MAX_POINTS = 100_000


@dataclass(frozen=True)
class Point:
    """One grid point: its values, its position in the full grid, its config."""

    index: int
    values: dict[str, Any]
    cfg: RunConfig

    @property
    def id(self) -> str:
        """Stable across invocations: the same values give the same folder and row."""
        text = json.dumps(self.values, sort_keys=True, default=str)
        return "p" + hashlib.sha1(text.encode()).hexdigest()[:10]


@dataclass
class SweepResult:
    out: Path
    points: int
    ran: int = 0
    skipped: int = 0
    failed: int = 0
    serial: bool = False
    heatmap: Path | None = None
    errors: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------- the grid
def _value(text: str, item: str) -> Any:
    """One grid value as YAML reads it (0.8 → float, 500 → int, true → bool, else a string)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise GridError(
            f"--grid {short(item)}: value {short(text)} is not YAML: {one_line(str(e))}"
        ) from None


def parse_grid(items: Iterable[str]) -> dict[str, list[Any]]:
    """``["KEY=V1,V2", ...]`` → ``{key: [v1, v2]}``, in order; malformed items raise GridError."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, eq, values = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise GridError(f"--grid {short(item)}: expected KEY=V1,V2,... (a dotted config key)")
        if key in grid:
            raise GridError(f"--grid {short(item)}: key {key!r} is given twice")
        tokens = [t.strip() for t in values.split(",")]
        if not any(tokens):
            raise GridError(f"--grid {short(item)}: empty list of values for {key!r}")
        if not all(tokens):
            raise GridError(f"--grid {short(item)}: an empty value in the list for {key!r}")
        vals = [_value(t, item) for t in tokens]
        if len({json.dumps(v, default=str) for v in vals}) < len(vals):
            raise GridError(f"--grid {short(item)}: a value repeats in the list for {key!r}")
        grid[key] = vals
    if not grid:
        raise GridError("--grid: give at least one KEY=V1,V2,... item")
    return grid


def plan(cfg: RunConfig, grid: dict[str, list[Any]], *, random_n: int | None = None) -> list[Point]:
    """The points to run, each config validated whole; GridError before anything runs.

    Each value is checked alone first (the message names that ``KEY=VALUE``),
    then every selected point (rules across fields name the point).
    """
    for key, vals in grid.items():
        for v in vals:
            try:
                with_overrides(cfg, {key: v}, f"--grid {key}={v}")
            except ConfigError as e:
                raise GridError(str(e)) from e
    size = int(np.prod([len(v) for v in grid.values()], dtype=float))
    if size > MAX_POINTS:
        raise GridError(f"--grid: {size:,} points; a sweep is at most {MAX_POINTS:,}")
    combos = list(itertools.product(*grid.values()))
    indices = list(range(size))
    if random_n is not None:
        if not 1 <= random_n <= size:
            raise GridError(f"--random {random_n}: the grid has {size} points; expected 1..{size}")
        rng = np.random.default_rng(cfg.seed)  # the same command draws the same points
        indices = sorted(rng.choice(size, size=random_n, replace=False).tolist())
    points = []
    for i in indices:
        values = dict(zip(grid, combos[i]))
        label = " ".join(f"{k}={v}" for k, v in values.items())
        try:
            points.append(Point(i, values, with_overrides(cfg, values, f"--grid point {label}")))
        except ConfigError as e:
            raise GridError(str(e)) from e
    return points


def hardware_kinds(cfg: RunConfig) -> list[str]:
    """Device kinds in ``cfg`` that are hardware: a driver, or a driver's mock.

    A ``mock.<family>`` whose family has a driver runs that driver's own code
    over a per-host fake (firmware on a pty, an emulated servo bus), so it
    counts as hardware too: its points run serially, like the real device's.
    """
    kinds = [d.kind for d in cfg.devices.values()]
    if cfg.reference is not None:
        kinds.append(cfg.reference.kind)
    return [k for k in kinds if registry.DEVICES.real_name(k).startswith("drivers.")]


# ------------------------------------------------------------------- one point
def run_point(cfg_data: dict[str, Any], folder: str, point: str) -> dict[str, Any]:
    """Run one point into ``folder`` (a worker calls this); returns its table row.

    The folder belongs to the sweep: a partial one left by a killed worker is
    replaced. A point that fails still returns a row (``status`` failed and the
    reason); only the process dying loses it, and then the point runs again.
    """
    from physres.experiments.run import run_experiment

    cfg = RunConfig.model_validate(cfg_data)
    out = Path(folder)
    if out.exists():
        shutil.rmtree(out)
    t0 = time.time()
    row: dict[str, Any] = {"point": point, "pid": os.getpid(), "started": t0}
    try:
        res = run_experiment(cfg, out, progress=False)
    except Exception as e:
        row.update(status="failed", reason=one_line(f"{type(e).__name__}: {e}"))
    else:
        row.update(
            status=res.get("status", "failed"),
            reason=res.get("reason", ""),
            metric=res.get("metric"),
            value=res.get("value"),
            metrics=json.dumps(res.get("metrics", {})),
        )
    row["elapsed_s"] = time.time() - t0
    return row


# ------------------------------------------------------------------- the table
def _column_type(values: list[Any]) -> pa.DataType:
    import pyarrow as pa

    if all(isinstance(v, bool) for v in values):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pa.int64()
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return pa.float64()
    return pa.string()


def _schema(grid: dict[str, list[Any]]) -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("point", pa.string()),
            ("index", pa.int64()),
            *[(k, _column_type(v)) for k, v in grid.items()],
            ("status", pa.string()),
            ("metric", pa.string()),
            ("value", pa.float64()),
            ("metrics", pa.string()),
            ("reason", pa.string()),
            ("run", pa.string()),
            ("worker", pa.string()),
            ("pid", pa.int64()),
            ("started", pa.timestamp("us", tz="UTC")),
            ("elapsed_s", pa.float64()),
        ]
    )


def _cell(v: Any, t: pa.DataType) -> Any:
    import pyarrow as pa

    if v is None:
        return None
    if t == pa.string() and not isinstance(v, str):
        return json.dumps(v, default=str)
    if t == pa.float64():
        return float(v)
    return v


def _write_row(out: Path, schema: pa.Schema, row: dict[str, Any]) -> None:
    """One point's row as its own Parquet file, renamed into place whole."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    row = {**row, "started": dt.datetime.fromtimestamp(row["started"], dt.UTC)}
    table = pa.table({f.name: [_cell(row.get(f.name), f.type)] for f in schema}, schema=schema)
    folder = out / RESULTS
    folder.mkdir(exist_ok=True)
    tmp = folder / f".{row['point']}.tmp"  # dot-files are not part of the table
    pq.write_table(table, tmp)
    os.replace(tmp, folder / f"{row['point']}.parquet")


def read_results(out: str | Path) -> pa.Table:
    """The sweep's table, every point's row (one per point), in grid order."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    files = sorted((Path(out) / RESULTS).glob("*.parquet"))
    if not files:
        return pa.table({})
    schema = pa.unify_schemas([pq.read_schema(f) for f in files])
    table = ds.dataset([str(f) for f in files], schema=schema, format="parquet").to_table()
    return table.sort_by("index")


def _finished(out: Path) -> set[str]:
    table = read_results(out)
    if table.num_rows == 0:
        return set()
    return {p for p, s in zip(table["point"].to_pylist(), table["status"].to_pylist()) if s == "ok"}


def _claim_folder(out: Path, cfg: RunConfig) -> None:
    """``out`` is new, or holds a sweep of this same config (then it resumes)."""
    mine = {"config": cfg.model_dump(mode="json")}
    record = out / SWEEP_JSON
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not record.is_file():
            raise RunFolderError(
                f"--out {out}: folder is not empty and holds no {SWEEP_JSON}; choose another"
            )
        if json.loads(record.read_text()).get("config") != mine["config"]:
            raise RunFolderError(
                f"--out {out}: holds a sweep of a different config; its finished points would "
                "not be this config's: choose another folder"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{SWEEP_JSON}.tmp"
    tmp.write_text(json.dumps(mine, indent=2))
    os.replace(tmp, record)


# -------------------------------------------------------------------- the sweep
Runner = Callable[[dict[str, Any], str, str], dict[str, Any]]


def run_sweep(
    cfg: RunConfig,
    grid: dict[str, list[Any]],
    out: str | Path,
    *,
    random_n: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    console: Console | None = None,
    progress: bool = True,
    runner: Runner = run_point,
) -> SweepResult:
    """Run every point of ``grid`` not yet finished in ``out``; returns what happened.

    ``scheduler``: a Dask scheduler address (``tcp://host:8786``) whose workers
    see ``out`` at the same path; None starts a ``LocalCluster`` of ``workers``
    processes (default: one per core, at most one per point). ``runner`` runs
    one point on a worker (tests wrap :func:`run_point` to kill a worker mid-point).
    """
    from physres.progress import progress_bar

    console = console or Console(quiet=not progress)
    out = Path(out)
    points = plan(cfg, grid, random_n=random_n)  # GridError before anything is touched
    _claim_folder(out, cfg)
    schema = _schema(grid)
    done = _finished(out)
    todo = [p for p in points if p.id not in done]
    hw = hardware_kinds(cfg)
    result = SweepResult(out, len(points), skipped=len(points) - len(todo), serial=bool(hw))
    if hw:
        console.print(
            f"hardware ({', '.join(sorted(set(hw)))}): {len(todo)} points run one "
            f"after another on this host ({socket.gethostname()})"
        )
    if result.skipped:
        console.print(f"{result.skipped} of {len(points)} points already finished in {out}")

    # only what was set: an unset bus name must stay unset, so each point gets a private bus
    args = [
        (p, p.cfg.model_dump(mode="json", exclude_unset=True), str(out / "points" / p.id))
        for p in todo
    ]
    with ExitStack() as stack:
        # the cluster first: its workers fork from this process, before the bar's thread runs
        client = (
            None
            if hw or not todo
            else stack.enter_context(_dask_client(scheduler, workers, len(args), console))
        )
        bars = stack.enter_context(progress_bar(console, disable=not progress))
        bar = bars.add_task(
            f"sweep {cfg.name}", total=len(points), completed=result.skipped, unit="points"
        )

        def finished(point: Point, row: dict[str, Any], worker: str) -> None:
            row = {
                **row,
                "index": point.index,
                **point.values,
                "worker": worker,
                "run": f"points/{point.id}",
            }
            _write_row(out, schema, row)
            result.ran += 1
            if row["status"] != "ok":
                result.failed += 1
                result.errors.append(f"{point.id} {point.values}: {row.get('reason')}")
            value = row.get("value")
            last = f" last {row.get('metric')} {value:.4g}" if value is not None else ""
            bars.update(bar, advance=1, description=f"sweep {cfg.name}{last}")

        if client is None:
            host = f"local:{socket.gethostname()}"
            for p, data, folder in args:
                finished(p, runner(data, folder, p.id), host)
        else:
            _on_dask(client, args, runner, finished)

    table = read_results(out)
    if len(grid) == 2 and table.num_rows:
        result.heatmap = _heatmap(out, cfg, grid, table)
    return result


#: how a LocalCluster starts its workers: forked from a fork server, a clean process that
#: imported :data:`PRELOAD` once, with one BLAS thread (Dask's pre-spawn environment).
#: Plain fork copies this process's BLAS pool (two threads per worker on two cores: points
#: 1.4x slower here); spawn imports physres in every worker (2-3 s each)
START_METHOD = "forkserver"

#: what every point needs, imported once by the fork server rather than once per worker
PRELOAD = [
    "physres.experiments.run",
    "physres.experiments.sweep",
    "matplotlib.figure",
    "mcap.writer",
    "zstandard",
]


def _start_forkserver() -> None:
    """Start the fork server now, with :data:`PRELOAD` and Dask's pre-spawn environment.

    Dask sets ``OMP_NUM_THREADS=1`` and friends only for processes it spawns; a
    fork server inherits this process's environment when it first starts, so the
    variables are set around that start. A server already running is reused.
    """
    import multiprocessing.forkserver

    import dask
    from distributed.utils import get_mp_context

    ctx = get_mp_context()  # distributed's own preload list first
    ours = getattr(multiprocessing.forkserver._forkserver, "_preload_modules", [])
    ctx.set_forkserver_preload([*ours, *(m for m in PRELOAD if m not in ours)])
    env = {k: str(v) for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _dask_client(
    scheduler: str | None, workers: int | None, n_points: int, console: Console
) -> Iterator[Any]:
    """A client of the scheduler at ``scheduler``, or of a LocalCluster started here."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="5s")
        except (OSError, TimeoutError, ValueError) as e:
            raise PhysresError(
                f"--scheduler {scheduler}: no Dask scheduler answers at {scheduler} "
                f"({one_line(str(e))}); start one with `dask scheduler`"
            ) from e
        with client:
            n_workers = len(client.scheduler_info().get("workers", {}))
            console.print(f"Dask scheduler {scheduler}: {n_workers} workers")
            yield client
        return
    n = workers or min(n_points, os.cpu_count() or 1)
    # a worker restarted later (one that died) starts the default way: slower, as correct
    with dask.config.set({"distributed.worker.multiprocessing-method": START_METHOD}):
        if START_METHOD == "forkserver":
            _start_forkserver()
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: two sweeps on one host coexist
            silence_logs=logging.ERROR,
        )
    with cluster, Client(cluster) as client:
        console.print(
            f"local Dask cluster: {n} worker processes, dashboard {client.dashboard_link}",
            markup=False,
            highlight=False,
        )
        yield client


def _on_dask(
    client: Any,
    args: list[tuple[Point, dict[str, Any], str]],
    runner: Runner,
    finished: Callable[[Point, dict[str, Any], str], None],
) -> None:
    """Submit every point; write each row as its future completes (whatever the order)."""
    from distributed import as_completed

    futures = {
        client.submit(runner, data, folder, p.id, key=f"point-{p.id}", pure=False): p
        for p, data, folder in args
    }
    for fut in as_completed(list(futures)):
        point = futures[fut]
        try:
            row = fut.result()
        except Exception as e:  # KilledWorker: it killed worker after worker; not rerun
            row = {
                "point": point.id,
                "status": "failed",
                "started": time.time(),
                "reason": one_line(f"{type(e).__name__}: {e}"),
            }
        who = client.who_has(fut).get(fut.key) or ()
        finished(point, row, ",".join(who) or "dask")
        fut.release()


# --------------------------------------------------------------------- heat-map
def _heatmap(out: Path, cfg: RunConfig, grid: dict[str, list[Any]], table: pa.Table) -> Path:
    """The headline metric over a 2-D grid; cells not run (or failed) are blank."""
    from matplotlib.figure import Figure

    (kx, xs), (ky, ys) = grid.items()
    z = np.full((len(ys), len(xs)), np.nan)
    rows = table.to_pylist()
    key = {json.dumps(v, default=str): i for i, v in enumerate(xs)}
    keyy = {json.dumps(v, default=str): i for i, v in enumerate(ys)}
    metric = None
    for r in rows:
        if r.get("status") != "ok" or kx not in r or ky not in r:
            continue
        ix = key.get(json.dumps(r[kx], default=str))
        iy = keyy.get(json.dumps(r[ky], default=str))
        if ix is not None and iy is not None:
            z[iy, ix] = r["value"]
            metric = r["metric"]
    fig = Figure(figsize=(1.2 + 0.9 * len(xs), 1.2 + 0.6 * len(ys)), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(z, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    ax.set_yticks(range(len(ys)), [str(v) for v in ys])
    ax.set_xlabel(kx)
    ax.set_ylabel(ky)
    for (iy, ix), v in np.ndenumerate(z):
        if np.isfinite(v):
            ax.text(ix, iy, f"{v:.3g}", ha="center", va="center", color="w", fontsize=8)
    fig.colorbar(im, ax=ax, label=metric or "value")
    ax.set_title(f"{cfg.name}: {metric or 'value'} per point")
    path = out / "heatmap.png"
    fig.savefig(path, dpi=100)
    return path
