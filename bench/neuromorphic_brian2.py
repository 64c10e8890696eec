"""Brian2 side of ``bench/neuromorphic.py``: the same emulated chip, run by ``cpp_standalone``.

Runs inside Brian2's pinned environment (``brian2_env.py``); reads the
circuit ``bench/neuromorphic.py`` exported (per-neuron constants after
mismatch, synapses per type with their current jumps) and prints one JSON
line: the loop's time (``device._last_run_time``: ``std::clock()``, CPU time,
no OpenMP; compilation excluded), the spike count and the build time.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import numpy as np
from brian2 import (
    Network,
    NeuronGroup,
    SpikeMonitor,
    Synapses,
    defaultclock,
    device,
    prefs,
    second,
    set_device,
)

TYPES = (("ampa", "ga", 1), ("nmda", "gn", 1), ("gaba_a", "gA", -1), ("gaba_b", "gB", -1))


def main(path: str, seconds: float, repeats: int) -> None:
    f = np.load(path)
    with tempfile.TemporaryDirectory() as build:
        set_device("cpp_standalone", directory=build, build_on_run=False)
        prefs.devices.cpp_standalone.openmp_threads = 0  # one core, like physres
        defaultclock.dt = float(f["dt_s"]) * second
        n = len(f["thr"])
        eqs = """
        dI/dt = (-I + dc + ga + gn - gA - gB - h) / tau_mem
                + sigma * sqrt(2 / tau_mem) * xi : 1 (unless refractory)
        dga/dt = -ga / tau_ga : 1
        dgn/dt = -gn / tau_gn : 1
        dgA/dt = -gA / tau_gA : 1
        dgB/dt = -gB / tau_gB : 1
        dh/dt = -h / tau_ahp : 1
        tau_mem : second (constant)
        tau_ga : second (constant)
        tau_gn : second (constant)
        tau_gA : second (constant)
        tau_gB : second (constant)
        tau_ahp : second (constant)
        t_ref : second (constant)
        thr : 1 (constant)
        dc : 1 (constant)
        w_ahp : 1 (constant)
        sigma : 1 (constant)
        """
        g = NeuronGroup(
            n,
            eqs,
            threshold="I >= thr",
            reset="I = 0\nh += w_ahp",
            refractory="t_ref",
            method="euler",
        )
        g.tau_mem = f["tau_mem"] * second
        g.tau_ahp = f["tau_ahp"] * second
        g.t_ref = f["t_ref"] * second
        for k in ("thr", "dc", "w_ahp", "sigma"):
            setattr(g, k, f[k])
        syn = []
        for name, var, _sign in TYPES:
            setattr(g, f"tau_{var}", f[f"tau_{name}"] * second)
            if not len(f[f"{name}_pre"]):
                continue
            s = Synapses(g, g, "w : 1", on_pre=f"{var}_post += w")
            s.connect(i=f[f"{name}_pre"], j=f[f"{name}_post"])
            s.w = f[f"{name}_w"]
            syn.append(s)
        mon = SpikeMonitor(g)
        net = Network(g, *syn, mon)
        net.run(seconds * second)
        t0 = time.perf_counter()
        device.build(directory=build, compile=True, run=True)
        total = time.perf_counter() - t0
        runs = [float(device._last_run_time)]
        for _ in range(repeats - 1):  # the compiled binary again: best of the repeats
            device.run(directory=build, with_output=False, run_args=[])
            runs.append(float(device._last_run_time))
        print(json.dumps({"run_s": min(runs), "runs_s": runs, "build_and_run_s": total,
                          "spikes": int(mon.num_spikes),
                          "synapses": int(sum(len(s) for s in syn))}))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
