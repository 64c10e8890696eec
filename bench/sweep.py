"""Sweep scaling: 16 points of sim.esn NARMA10 on 2 Dask workers vs one after another.

The points are ``examples/esn_narma10.yaml`` (500 units, 4,000 train / 2,000
test, driven over a private bus each) over a 4 × 4 grid of spectral radius and
input scaling. The serial baseline runs the same points in this process, one
after another, through the function a worker calls (:func:`run_point`: a
``physres run`` into a folder each); the sweep runs them with
``run_sweep(workers=2)`` on a fresh ``LocalCluster``, its start-up and
shutdown included. Both write every run folder. The last line printed is
sweep time / serial time (goal ≤ 0.6 on 2 cores).

    python bench/sweep.py                 # 16 points
    python bench/sweep.py --small         # 4 points of a 100-unit ESN, seconds
    python bench/sweep.py --units 1000    # the same 16 points on a 1,000-unit ESN
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from physres.config import load_config, with_overrides
from physres.experiments.sweep import parse_grid, plan, read_results, run_point, run_sweep

ROOT = Path(__file__).resolve().parents[1]
GRID = [
    "devices.esn.params.spectral_radius=0.8,0.9,0.95,1.0",
    "devices.esn.params.input_scaling=0.5,0.75,1.0,1.25",
]
SMALL = ["devices.esn.params.spectral_radius=0.9,0.95", "devices.esn.params.input_scaling=0.5,1.0"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="4 points of a 100-unit ESN")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--units",
        type=int,
        help="reservoir size (default: the example's 500); bigger points "
        "show the scaling with the cluster's fixed start-up and shutdown amortised",
    )
    args = ap.parse_args()
    cfg = load_config(ROOT / "examples/esn_narma10.yaml")
    if args.small:
        cfg = with_overrides(cfg, {"devices.esn.params.n_units": 100, "task.params.n_train": 1000})
    if args.units:
        cfg = with_overrides(cfg, {"devices.esn.params.n_units": args.units})
    grid = parse_grid(SMALL if args.small else GRID)
    points = plan(cfg, grid)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for p in points:
            data = p.cfg.model_dump(mode="json", exclude_unset=True)
            row = run_point(data, str(Path(tmp, "serial", p.id)), p.id)
            assert row["status"] == "ok", row
        serial = time.perf_counter() - t0

        t0 = time.perf_counter()
        res = run_sweep(cfg, grid, Path(tmp, "sweep"), workers=args.workers, progress=False)
        swept = time.perf_counter() - t0
        table = read_results(Path(tmp, "sweep"))
    assert (res.ran, res.failed, table.num_rows) == (len(points), 0, len(points)), res
    best = min(table.to_pylist(), key=lambda r: r["value"])
    units = cfg.devices["esn"].params["n_units"]
    print(
        f"{len(points)} points of {cfg.name} ({units} units); best NRMSE {best['value']:.4f} at "
        + ", ".join(f"{k.rsplit('.', 1)[-1]} {best[k]}" for k in grid)
    )
    print(f"serial (one after another, this process): {serial:.1f} s")
    print(f"sweep ({args.workers} Dask workers, LocalCluster start-up included): {swept:.1f} s")
    print(f"sweep / serial: {swept / serial:.2f} (goal <= 0.6 with 2 workers on 2 cores)")


if __name__ == "__main__":
    main()
