"""Speed of the simulated culture: physres's numba kernel vs Brian2 cpp_standalone, same network.

1,000 Izhikevich neurons (80/20 E/I), the default ``sim.mea`` culture
(~100 synapses a neuron, axonal delays, AMPA/NMDA/GABA currents, short-term
depression, background events), dt = 0.1 ms, one core. physres runs it
through the Device (``apply`` of ``--seconds`` of empty stimulation: the
kernel, the background draws and the electrode events). Brian2 2.9.0 runs the
SAME network — the culture's neurons, synapses, weights and delays exported
from physres, background events of the same rate — as ``cpp_standalone`` C++
(compilation excluded, its own loop timer), in a pinned environment of its own
because Brian2 2.9.0 does not import with physres's numpy (``brian2_env.py``).
Both figures are CPU time on one core, the best of ``--repeats`` runs in
this same process run: physres's is this thread's CPU time
(``time.thread_time``), Brian2's its loop's own timer, which without OpenMP
is ``std::clock()``, the process's CPU time. Wall-clock figures on this shared
machine (load average above 20 on 2 cores) would measure the neighbours.

Run:  python bench/mea.py [--seconds 10] [--repeats 3]
Prints physres's real-time factor over Brian2's LAST.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as the requirement says

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import brian2_env  # noqa: E402

from physres import registry  # noqa: E402
from physres.sim.mea import SimMEA  # noqa: E402


def physres_rtf(seconds: float, repeats: int) -> tuple[float, int, SimMEA]:
    """Best real-time factor (CPU time) of ``repeats`` runs; neuron spikes of the last."""
    mea = registry.create("sim.mea").connect()
    mea.apply({"stim": np.zeros((100, 4))})  # compile and settle
    best = math.inf
    for _ in range(repeats):
        mea.reset()
        n0 = mea.neuron_spikes
        t = time.thread_time()
        mea.apply({"stim": np.zeros((round(seconds * 100), 4))})
        mea.read()
        best = min(best, time.thread_time() - t)
    return seconds / best, mea.neuron_spikes - n0, mea


def export(mea: SimMEA, seconds: float, path: Path) -> None:
    """The culture as arrays Brian2 builds the same network from."""
    c, p = mea.culture, mea.params
    pre = np.repeat(np.arange(c.n), np.diff(c.syn_ptr))
    out: dict[str, np.ndarray | float] = {k: getattr(c, k) for k in "abcd"}
    for kind, sel in (("exc", c.excitatory[pre]), ("inh", ~c.excitatory[pre])):
        out[f"{kind}_pre"], out[f"{kind}_post"] = pre[sel], c.syn_post[sel]
        out[f"{kind}_w"], out[f"{kind}_delay"] = c.syn_w[sel], c.syn_delay[sel]
    rng = np.random.default_rng(0)
    n_steps = round(seconds * 1000 / p.dt_ms)
    n_bg = rng.poisson(c.n * p.background_hz * seconds)
    out["bg_step"] = rng.integers(0, n_steps, n_bg)
    out["bg_neuron"] = rng.integers(0, c.n, n_bg)
    # Brian2's generator takes one spike per neuron per step: drop the rare duplicates
    _, keep = np.unique(out["bg_step"] * c.n + out["bg_neuron"], return_index=True)
    out["bg_step"], out["bg_neuron"] = out["bg_step"][keep], out["bg_neuron"][keep]
    out.update(
        dt_ms=p.dt_ms, tau_a=p.tau_ampa_ms, tau_n=p.tau_nmda_ms, tau_g=p.tau_gaba_ms,
        nmda=p.nmda_ratio * p.tau_ampa_ms / p.tau_nmda_ms, u_stp=p.stp_u,
        tau_rec=p.stp_tau_rec_ms, w_bg=p.w_background,
    )  # fmt: skip
    np.savez(path, **out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="simulated seconds per run")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ours, spikes, mea = physres_rtf(args.seconds, args.repeats)
    c = mea.culture
    print(f"network: {c.n} neurons, {c.n_synapses} synapses, dt {mea.params.dt_ms} ms")
    print(f"physres numba: {ours:.1f}x real time ({spikes / c.n / args.seconds:.2f} Hz a neuron)")
    with tempfile.TemporaryDirectory() as tmp:
        net = Path(tmp) / "culture.npz"
        export(mea, args.seconds, net)
        print("Brian2 2.9.0 cpp_standalone runs in its own pinned environment "
              f"({brian2_env.env_dir()}); compiling ...")  # fmt: skip
        script = Path(__file__).with_name("mea_brian2.py")
        b = brian2_env.run_script(script, [str(net), str(args.seconds), str(args.repeats)])
    theirs = args.seconds / b["run_s"]
    print(f"Brian2 cpp_standalone: {theirs:.1f}x real time "
          f"({b['spikes'] / c.n / args.seconds:.2f} Hz a neuron, {b['synapses']} synapses; "
          f"build + first run {b['build_and_run_s']:.0f} s)")  # fmt: skip
    print(f"physres / Brian2 cpp_standalone (same network, same run): {ours / theirs:.2f}x")


if __name__ == "__main__":
    main()
