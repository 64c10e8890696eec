"""``physres export nwb RUN_DIR``: an MEA run folder as an NWB file (physres.export group)."""

from __future__ import annotations

import argparse

__all__ = ["register_nwb"]


def _cmd_nwb(args: argparse.Namespace) -> int:
    from physres.mea.nwb import export_nwb

    r = export_nwb(args.run_dir, args.out, age=args.age, species=args.species, sex=args.sex)
    print(f"wrote {r.out}: {r.spikes} spikes, {r.pulses} stimulation pulses, {r.trials} trials")
    for note in r.notes:
        print(f"note: {note}")
    return 0


def register_nwb(formats: argparse._SubParsersAction) -> None:
    p = formats.add_parser(
        "nwb",
        help="an MEA run folder as NWB: electrodes, spikes per channel, stimulation, trials",
        description="Export any MEA run folder (sim.mea, drivers.cl1, drivers.openephys) as "
        "an NWB file (pynwb), with the run's provenance. A damaged recording exports its intact "
        "records and says what was skipped.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by `physres run`")
    p.add_argument("--out", help="the .nwb file (default: RUN_DIR/recording.nwb)")
    p.add_argument(
        "--age", default="P0D/", help="the culture's age in vitro, ISO 8601 (P21D); default unknown"
    )
    p.add_argument("--species", help="the culture's species, e.g. 'Homo sapiens'")
    p.add_argument("--sex", default="U", choices=["F", "M", "U", "O"], help="NWB subject sex")
    p.set_defaults(func=_cmd_nwb)
