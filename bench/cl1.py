"""drivers.cl1 on cl-sdk: the driver's cost over a bare ``cl`` loop on the same replay.

    python bench/cl1.py            # 3 pairs × 500 ticks of 10 ms, a pulse every 10th tick
    python bench/cl1.py --quick    # 1 pair × 100 ticks

Both sides replay the same recording (a 4 s bursting culture written by
``physres mea replay-file`` from ``sim.mea``) in cl-sdk's accelerated time and
deliver the same pulses: the bare side is the script a CL1 user would write
(``neurons.loop`` ticks, ``neurons.stim`` with a ``ChannelSet`` and a
``StimDesign``, spikes gathered into a list); the driver side is
``drivers.cl1.apply`` (every row through the CL1 safety guard) and ``read``
(spike, pulse and raw arrays). Also printed: each side's real-time factor.
The last line is the driver's time / the bare loop's (median of the pairs;
goal ≤ 1.3: the guard and the arrays cost little beside cl-sdk's own tick).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from physres import registry
from physres.drivers.mea.cl1_replay import write_replay
from physres.drivers.mea.cl_api import load_cl
from physres.drivers.mea.cli import record_source

STIM = [27, 28, 35, 36]


def bare(cl, ticks: int) -> float:
    """The user's own loop: a pulse on electrode 27 every 10th tick, spikes gathered."""
    spikes = []
    design = cl.StimDesign(200, -4.0, 200, 4.0)
    with cl.open() as neurons:
        t0 = time.perf_counter()
        for tick in neurons.loop(100, stop_after_ticks=ticks, ignore_jitter=True):
            if tick.iteration % 10 == 0:
                neurons.stim(cl.ChannelSet(27), design)
            spikes.extend((s.timestamp, s.channel) for s in tick.analysis.spikes)
        return time.perf_counter() - t0


def driver(replay: Path, ticks: int) -> float:
    u = np.zeros((ticks, len(STIM)))
    u[::10, 0] = 4.0
    with registry.create("drivers.cl1", "cl1", {"replay": str(replay), "raw": True}) as dev:
        t0 = time.perf_counter()
        for k in range(0, ticks, 100):
            dev.apply({"stim": u[k : k + 100]})
            dev.read()
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    pairs, ticks = (1, 100) if args.quick else (3, 500)
    with tempfile.TemporaryDirectory() as tmp:
        raw, spikes, prov = record_source("sim.mea", 4.0, seed=1)
        rep = write_replay(Path(tmp) / "culture.h5", raw, spikes, attributes=prov)
        print(f"replay: {rep.seconds:g} s of sim.mea, {rep.spikes} spikes (cl-sdk, accelerated)")
        cl = load_cl(rep.path)
        os.environ["CL_MOCK_ACCELERATED_TIME"] = "1"  # both sides: as fast as they are driven
        ratios = []
        for i in range(pairs):
            order = ("bare", "driver") if i % 2 == 0 else ("driver", "bare")
            took = {}
            for side in order:
                took[side] = bare(cl, ticks) if side == "bare" else driver(rep.path, ticks)
            device_s = ticks * 0.01
            print(
                f"pair {i + 1}: bare cl loop {device_s / took['bare']:.2f}× real time, "
                f"drivers.cl1 {device_s / took['driver']:.2f}× real time"
            )
            ratios.append(took["driver"] / took["bare"])
    print(f"drivers.cl1 time / bare cl loop time: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
