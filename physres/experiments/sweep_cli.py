"""``physres sweep CONFIG --grid KEY=V1,V2 ...``: every point on a Dask cluster, one table."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["register"]


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 1")
    return n


def _cmd(args: argparse.Namespace) -> int:
    from rich.console import Console

    from physres.config import load_config
    from physres.experiments.sweep import parse_grid, run_sweep

    console = Console()  # the summary is printed even with --quiet (no bar, no chatter)
    cfg = load_config(args.config)
    grid = parse_grid(args.grid)
    out = (
        Path(args.out)
        if args.out
        else Path("sweeps") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    res = run_sweep(
        cfg,
        grid,
        out,
        random_n=args.random,
        scheduler=args.scheduler,
        workers=args.workers,
        console=Console(quiet=args.quiet),
        progress=not args.quiet,
    )
    console.print(
        f"{res.points} points: {res.ran} ran, {res.skipped} already finished, "
        f"{res.failed} failed; table {out / 'results.parquet'}"
        + (f", heat-map {res.heatmap}" if res.heatmap else ""),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for line in res.errors[:5]:
        console.print(f"failed: {line}", markup=False, highlight=False)
    return 1 if res.failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a config over a grid of values on a Dask cluster; one Parquet table",
        description="Every point of the grid is a `physres run` into OUT/points/<id>/, run on "
        "a Dask cluster (a LocalCluster unless --scheduler names one); rows stream into "
        "OUT/results.parquet/ as points finish. Run the same command again to resume: "
        "finished points are not rerun. A config naming a driver (drivers.*, or the mock of "
        "a driver's family) runs its points one after another on this host.",
    )
    p.add_argument("config", help="YAML run config (see examples/)")
    p.add_argument(
        "--grid",
        action="append",
        required=True,
        metavar="KEY=V1,V2,...",
        help="a dotted config key and its values, e.g. devices.esn.params.spectral_radius=0.8,0.9"
        " (repeat for more keys: the grid is their product)",
    )
    p.add_argument(
        "--random", type=_positive, metavar="N", help="N points drawn from the grid (config seed)"
    )
    p.add_argument(
        "--scheduler", metavar="ADDR", help="Dask scheduler address, e.g. tcp://host:8786"
    )
    p.add_argument(
        "--workers", type=_positive, help="local worker processes (default: one per core)"
    )
    p.add_argument("--out", help="sweep folder (default: sweeps/<name>-<time>); reuse to resume")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd)
