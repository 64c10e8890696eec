"""``physres characterise CONFIG|RECORDING --out DIR``: memory, nonlinearity, ranks, plots."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register"]


def _cmd(args: argparse.Namespace) -> int:
    from physres.characterise.report import (
        characterise,
        collect,
        load_recording,
        parse_delays,
        write_report,
    )
    from physres.errors import ConfigError
    from physres.experiments.artifacts import prepare_run_folder

    src = Path(args.source)
    if not src.exists():
        raise ConfigError(f"{src}: no such config or recording")
    delays = parse_delays(args.max_delay)
    out = Path(args.out)
    if src.suffix == ".mcap":
        drive = load_recording(src, args.device)
    else:
        drive = collect(
            src, samples=args.samples, seed=args.seed, washout=args.washout, max_delay=delays
        )
    metrics, res, nlm = characterise(drive, max_delay=delays, washout=args.washout)
    prepare_run_folder(out, overwrite=args.overwrite)
    write_report(out, metrics, res, nlm)
    ipc = metrics["ipc"]
    by = ", ".join(f"deg {d}: {c:.2f}" for d, c in ipc["by_degree"].items())
    print(f"{drive.source}: IPC {ipc['total']:.2f} of {ipc['n_features']} ({by})")
    print(
        f"kernel rank {metrics['kernel_rank']}, generalisation rank "
        f"{metrics['generalisation_rank']}, sin(x) NMSE {metrics['sinx_nmse']:.3g}"
    )
    if "nlt_nmse" in metrics:
        print("NLT NMSE " + json.dumps({k: round(v, 4) for k, v in metrics["nlt_nmse"].items()}))
    print(f"wrote {out / 'metrics.json'}, ipc.png, nonlinear_memory.png")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "characterise",
        help="information processing capacity, ranks, nonlinear memory, NLT of a device",
        description="Characterise a reservoir from a config (drives its device) or a "
        "recording made by `physres run` (its <device>/sent and <device>/state topics).",
    )
    p.add_argument("source", metavar="CONFIG|RECORDING", help="a run config or an .mcap recording")
    p.add_argument("--out", required=True, help="folder for metrics.json and the plots")
    p.add_argument("--overwrite", action="store_true", help="reuse a non-empty --out folder")
    p.add_argument("--samples", type=int, default=6000, help="i.i.d. drive length (config)")
    p.add_argument("--washout", type=int, default=100, help="samples dropped at the start")
    p.add_argument(
        "--max-delay", default="1=40,2=15,3=8", help="N, or largest delay per degree: 1=40,2=15"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="which recorded device (when a recording holds several)")
    p.set_defaults(func=_cmd)
