"""The simulated culture's figures against the published ranges, and its fading memory.

Spontaneous activity of ``--seconds`` on each culture (seeds), every figure
beside its range and source (``physres.mea.ranges``); then the fading-memory
protocol (``physres.mea.memory``) on the culture and on the no-culture control.

Run:  python bench/mea_culture.py [--seconds 60] [--seeds 0,1,2] [--trials 60]
Prints the culture's memory 0.25 s after a pulse beside the no-culture control's LAST.
"""

from __future__ import annotations

import argparse

import numpy as np

from physres import registry
from physres.mea.activity import activity_stats
from physres.mea.memory import fading_memory
from physres.mea.ranges import CULTURE_RANGES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--trials", type=int, default=60)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = {r.key: [] for r in CULTURE_RANGES}
    for seed in seeds:
        with registry.create("sim.mea", params={"seed": seed}) as mea:
            mea.apply({"stim": np.zeros((100, 4))})  # settle
            mea.read()
            mea.apply({"stim": np.zeros((round(args.seconds * 100), 4))})
            c = mea.read()["spikes"]
        stats = activity_stats(c.data, 64, args.seconds, t0_ns=c.t_dev_ns)
        for r in CULTURE_RANGES:
            rows[r.key].append(getattr(stats, r.key))
    print(f"spontaneous activity, {args.seconds:g} s on cultures {seeds}:")
    for r in CULTURE_RANGES:
        vals = ", ".join(f"{v:.3g}" for v in rows[r.key])
        ok = all(r.low <= v <= r.high for v in rows[r.key])
        verdict = "ok" if ok else "OUT"
        print(f"  {r.key:18s} {vals:28s} range {r.low:g}–{r.high:g} {r.unit} {verdict}")
    lags = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
    acc = {}
    for culture in (True, False):
        p = {"stim_electrodes": [9, 54], "seed": seeds[0], "culture": culture}
        with registry.create("sim.mea", params=p) as mea:
            mea.apply({"stim": np.zeros((200, 2))})
            acc[culture] = fading_memory(mea, lags_s=lags, n_trials=args.trials, trial_s=3.0)
    print(f"fading memory ({args.trials} trials, which of 2 electrodes; chance 0.5):")
    for lag in lags:
        print(f"  {lag:4.2f} s after the pulse: culture {acc[True][lag]:.2f}, "
              f"no culture {acc[False][lag]:.2f}")  # fmt: skip
    print(f"memory 0.25 s after a pulse: culture {acc[True][0.25]:.2f} vs no-culture control "
          f"{acc[False][0.25]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
