"""Brian2 side of ``bench/mea.py``: the same culture, run by Brian2 ``cpp_standalone``.

Runs inside Brian2's pinned environment (see ``brian2_env.py``); reads the
network that ``bench/mea.py`` exported (neurons' Izhikevich parameters,
synapses with weights and delays, background events) and prints one JSON line:
the simulation loop's time (Brian2's own ``_last_run_time``: ``std::clock()``,
CPU time, without OpenMP; compilation excluded), the spike count and the build time.
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
    SpikeGeneratorGroup,
    SpikeMonitor,
    Synapses,
    defaultclock,
    device,
    ms,
    prefs,
    set_device,
)


def main(path: str, seconds: float, repeats: int) -> None:
    net_file = np.load(path)
    with tempfile.TemporaryDirectory() as build:
        set_device("cpp_standalone", directory=build, build_on_run=False)
        prefs.devices.cpp_standalone.openmp_threads = 0  # one core, like physres
        defaultclock.dt = float(net_file["dt_ms"]) * ms
        consts = {k: float(net_file[k]) for k in ("tau_a", "tau_n", "tau_g", "nmda", "u_stp",
                                                   "tau_rec", "w_bg")}  # fmt: skip
        n = len(net_file["a"])
        eqs = """
        dv/dt = (0.04*v**2 + 5*v + 140 - u + ga + gn - gg) / ms : 1
        du/dt = a * (b*v - u) / ms : 1
        dga/dt = -ga / (tau_a*ms) : 1
        dgn/dt = -gn / (tau_n*ms) : 1
        dgg/dt = -gg / (tau_g*ms) : 1
        a : 1 (constant)
        b : 1 (constant)
        c : 1 (constant)
        d : 1 (constant)
        """
        g = NeuronGroup(n, eqs, threshold="v >= 30", reset="v = c; u += d", method="euler",
                        namespace=consts)  # fmt: skip
        for k in "abcd":
            setattr(g, k, net_file[k])
        g.v = -65.0
        g.u = net_file["b"] * -65.0
        depress = """
        x = 1 - (1 - x) * exp(-(t - tlast) / (tau_rec*ms))
        tlast = t
        """
        syn = []
        for kind, target in (("exc", "ga_post += w*u_stp*x\ngn_post += w*u_stp*x*nmda"),
                             ("inh", "gg_post += w*u_stp*x")):  # fmt: skip
            s = Synapses(g, g, "w : 1\nx : 1\ntlast : second",
                         on_pre=depress + target + "\nx -= u_stp*x", namespace=consts)  # fmt: skip
            s.connect(i=net_file[f"{kind}_pre"], j=net_file[f"{kind}_post"])
            s.w = net_file[f"{kind}_w"]
            s.x = 1.0
            s.delay = net_file[f"{kind}_delay"] * defaultclock.dt
            syn.append(s)
        bg = SpikeGeneratorGroup(n, net_file["bg_neuron"], net_file["bg_step"] * defaultclock.dt)
        feed = Synapses(bg, g, on_pre="ga_post += w_bg", namespace=consts)
        feed.connect(j="i")
        mon = SpikeMonitor(g)
        net = Network(g, *syn, bg, feed, mon)
        net.run(seconds * 1000 * ms)
        t0 = time.perf_counter()
        device.build(directory=build, compile=True, run=True)
        total = time.perf_counter() - t0
        runs = [float(device._last_run_time)]
        for _ in range(repeats - 1):  # the compiled binary again: best of the repeats
            device.run(directory=build, with_output=False, run_args=[])
            runs.append(float(device._last_run_time))
        run_s = min(runs)
        n_syn = int(sum(len(s) for s in syn))
        print(json.dumps({"run_s": run_s, "runs_s": runs, "build_and_run_s": total,
                          "spikes": int(mon.num_spikes), "synapses": n_syn}))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
