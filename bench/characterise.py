"""Characterisation metrics: physres against RCbench 1.0.10 on the same state matrices.

Both libraries get the same sim.esn states (i.i.d. uniform drive, a sine
drive, final states after distinct and after noisy-repeated streams) and
compute information processing capacity, nonlinear memory, the NLT tasks,
sin(x), kernel rank and generalisation rank.

Two comparisons:

* **same definitions** — physres's shared fit (:func:`fit_targets`) run with
  RCbench's estimator (ridge alpha 1, first 80 % fit, last 20 % scored;
  IPC as squared correlation, the rest as 1 − NMSE or NMSE) over RCbench's
  exact targets: every figure must agree to ``TOL_SAME`` (1e-8): the two
  compute the same numbers.
* **defaults** — physres's own estimators (IPC in-sample on orthonormalised
  targets with the χ² threshold, delay 0 and products of any number of
  delays; ridge 1e-9 relative) against RCbench's defaults: totals agree to
  ``TOL_IPC`` (5 % of N) on this ESN; the README says why they differ.

Timing: physres's defaults (a superset of RCbench's targets) against
RCbench's evaluators on the same states, each the best of ``--repeats``,
interleaved. The last line printed is physres time / RCbench time (goal ≤ 0.5).

    python bench/characterise.py              # N=50, T=6000
    python bench/characterise.py --small      # N=20, T=3000, seconds
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import numpy as np

from physres import registry
from physres.characterise import (
    effective_rank,
    ipc,
    legendre_targets,
    nlt,
    nlt_targets,
    nonlinear_memory,
    rank_inputs,
    sine_drive,
    sinx,
    sinx_target,
)
from physres.characterise._fit import fit_targets
from physres.experiments.drive import collect_states
from physres.tasks.base import Episode
from physres.tasks.registry import create

TOL_SAME = 1e-8
TOL_IPC = 0.05  # of N
MAX_DELAY = 8
TAUS = [1, 2, 3, 4, 5, 6, 7, 8]
NUS = [0.1, 0.3, 1.0, 3.0, 10.0]
RC_ALPHA = 1.0  # RCbench's default ridge
SCALE_FREE_ALPHA = 1e-9  # RCbench with a negligible ridge: its figures no longer depend on units
TRAIN = 0.8


def make_states(n: int, T: int, *, activation: str = "tanh", seed: int = 0) -> dict[str, Any]:
    """Every state matrix both libraries need, from one sim.esn."""
    params = dict(n_units=n, activation=activation, spectral_radius=0.9, input_scaling=0.5)
    dev = registry.create("sim.esn", params=registry.bind_task("sim.esn", params, 1))
    task = create("memory_capacity")
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1, 1, T)
    s = sine_drive(T)
    distinct, repeats = rank_inputs(2 * n, 100, seed=seed)

    def ep(x: np.ndarray) -> Episode:
        return Episode(x[:, None], x[:, None], {})

    with dev:
        X, Xs = collect_states(dev, [ep(u), ep(s)], task, seed=seed)
        fin = collect_states(dev, [ep(x) for x in (*distinct, *repeats)], task, seed=seed)
    last = np.stack([f[-1] for f in fin])
    return {"u": u, "X": X, "s": s, "Xs": Xs, "distinct": last[: 2 * n], "repeats": last[2 * n :]}


def rcbench_figures(d: dict[str, Any], alpha: float = RC_ALPHA) -> dict[str, Any]:
    """RCbench 1.0.10's evaluators with their defaults (all features, no selection).

    ``alpha`` is RCbench's ridge (its default 1.0; a tiny one makes its
    figures independent of the states' units, as physres's are).
    """
    from rcbench.tasks.generalizationrank import GeneralizationRankEvaluator
    from rcbench.tasks.ipc import IPCEvaluator
    from rcbench.tasks.kernelrank import KernelRankEvaluator
    from rcbench.tasks.nlt import NltEvaluator
    from rcbench.tasks.nonlinearmemory import NonlinearMemoryEvaluator
    from rcbench.tasks.sinx import SinxEvaluator

    logging.getLogger("rcbench").setLevel(logging.ERROR)
    u, X = d["u"], d["X"]
    ev = IPCEvaluator(u, X, max_delay=MAX_DELAY, max_degree=3)
    r = ev.calculate_total_capacity(
        feature_selection_method="pca", num_features="all", regression_alpha=alpha
    )
    keys = list(ev.basis_functions)
    out: dict[str, Any] = {
        "ipc_keys": keys,
        "ipc": np.array([r["all_results"][k]["capacity"] for k in keys]),
        "ipc_total": r["total_capacity"],
        "ipc_by_degree": {int(k): float(v) for k, v in r["capacity_by_degree"].items()},
    }
    nm = NonlinearMemoryEvaluator(u, X, tau_values=TAUS, nu_values=NUS)
    out["nlm"] = nm.run_parameter_sweep(
        feature_selection_method="kbest", num_features="all", regression_alpha=alpha
    )["capacity_matrix"]
    nl = NltEvaluator(d["s"], d["Xs"], time_array=np.arange(len(d["s"])), waveform_type="sine")
    names = {"square_wave": "square_wave", "pi_half_shifted": "phase_shift"}
    names["double_frequency"] = "double_frequency"
    out["nlt"] = {
        ours: float(
            nl.run_evaluation(theirs, num_features="all", regression_alpha=alpha)["accuracy"]
        )
        for theirs, ours in names.items()
    }
    out["sinx"] = float(
        SinxEvaluator(u, X).run_evaluation(num_features="all", regression_alpha=alpha)["accuracy"]
    )
    out["kernel_rank"] = int(KernelRankEvaluator(d["distinct"]).run_evaluation()["kernel_rank"])
    gr = GeneralizationRankEvaluator(d["repeats"]).run_evaluation()
    out["generalisation_rank"] = int(gr["generalization_rank"])
    return out


def physres_same_definitions(d: dict[str, Any], keys: list) -> dict[str, Any]:
    """physres's shared fit with RCbench's estimator and targets (the 'same definitions' run)."""
    u, X = d["u"], d["X"]
    ours = [tuple(sorted(k)) for k in keys]
    Z = legendre_targets(u, ours, MAX_DELAY)
    fit = fit_targets(X[MAX_DELAY:], Z, alpha=RC_ALPHA, train_fraction=TRAIN)
    tmax = max(TAUS)
    T = len(u)
    Zn = np.stack([np.sin(nu * u[tmax - t : T - t]) for t in TAUS for nu in NUS], axis=1)
    fn = fit_targets(X[tmax:], Zn, alpha=RC_ALPHA, train_fraction=TRAIN)
    Zt = np.stack(list(nlt_targets(d["s"]).values()), axis=1)
    ft = fit_targets(d["Xs"], Zt, alpha=RC_ALPHA, train_fraction=TRAIN)
    fs = fit_targets(X, sinx_target(u)[:, None], alpha=RC_ALPHA, train_fraction=TRAIN)
    return {
        "ipc": np.clip(fit.r2, 0, 1),
        "nlm": np.clip(fn.capacity, 0, 1).reshape(len(TAUS), len(NUS)),
        "nlt": {k: float(1 - c) for k, c in zip(nlt_targets(d["s"]), ft.capacity)},
        "sinx": float(1 - fs.capacity[0]),
        "kernel_rank": effective_rank(d["distinct"]),
        "generalisation_rank": effective_rank(d["repeats"]),
    }


def physres_defaults(d: dict[str, Any]) -> dict[str, Any]:
    """physres's own estimators: what ``physres characterise`` reports."""
    u, X = d["u"], d["X"]
    r = ipc(u, X, max_delay=MAX_DELAY, max_degree=3)
    return {
        "ipc": r,
        "nlm": nonlinear_memory(u, X, taus=TAUS, nus=NUS).capacity,
        "nlt": nlt(d["s"], d["Xs"]),
        "sinx": sinx(u, X),
        "kernel_rank": effective_rank(d["distinct"]),
        "generalisation_rank": effective_rank(d["repeats"]),
    }


def compare(d: dict[str, Any]) -> dict[str, Any]:
    """Largest differences, same definitions and defaults."""
    rc = rcbench_figures(d)
    same = physres_same_definitions(d, rc["ipc_keys"])
    rc0 = rcbench_figures(d, alpha=SCALE_FREE_ALPHA)
    dflt = physres_defaults(d)
    sub = {tuple(sorted(k)) for k in rc["ipc_keys"]}  # RCbench's basis inside physres's
    ours_sub = sum(float(c) for k, c in zip(dflt["ipc"].keys, dflt["ipc"].capacities) if k in sub)
    return {
        "same_ipc": float(np.max(np.abs(same["ipc"] - rc["ipc"]))),
        "same_nlm": float(np.max(np.abs(same["nlm"] - rc["nlm"]))),
        "same_nlt": max(abs(same["nlt"][k] - rc["nlt"][k]) for k in rc["nlt"]),
        "same_sinx": abs(same["sinx"] - rc["sinx"]),
        "same_ranks": (same["kernel_rank"], same["generalisation_rank"])
        == (rc["kernel_rank"], rc["generalisation_rank"]),
        "n": d["X"].shape[1],
        "rc_total": rc["ipc_total"],
        "rc_by_degree": rc["ipc_by_degree"],
        "physres_total_on_rc_basis": ours_sub,
        "physres_total": dflt["ipc"].total,
        "physres_by_degree": dflt["ipc"].by_degree,
        "default_nlm": float(np.max(np.abs(dflt["nlm"] - rc["nlm"]))),
        "rc0_total": rc0["ipc_total"],
        "rc0_by_degree": rc0["ipc_by_degree"],
        "scale_free_nlm": float(np.max(np.abs(dflt["nlm"] - rc0["nlm"]))),
        "scale_free_nlt": max(abs(dflt["nlt"][k] - rc0["nlt"][k]) for k in rc0["nlt"]),
        "scale_free_sinx": abs(dflt["sinx"] - rc0["sinx"]),
        "ranks": (rc["kernel_rank"], rc["generalisation_rank"]),
        "rc_nlt": rc["nlt"],
        "rc_sinx": rc["sinx"],
    }


def measure(d: dict[str, Any], repeats: int = 3) -> dict[str, float]:
    t_ours, t_rc = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        physres_defaults(d)
        t1 = time.perf_counter()
        rcbench_figures(d)
        t2 = time.perf_counter()
        t_ours.append(t1 - t0)
        t_rc.append(t2 - t1)
    return {"t_physres": min(t_ours), "t_rcbench": min(t_rc), "ratio": min(t_ours) / min(t_rc)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="N=20, T=3000")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--T", type=int, default=6000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    n, T = (20, 3000) if a.small else (a.n, a.T)
    d = make_states(n, T)
    c = compare(d)
    print(f"sim.esn tanh, N={n}, T={T}; RCbench 1.0.10 vs physres on the same states")
    print(
        "same definitions, largest |difference|: "
        f"IPC {c['same_ipc']:.1e}, nonlinear memory {c['same_nlm']:.1e}, "
        f"NLT {c['same_nlt']:.1e}, sin(x) {c['same_sinx']:.1e}, "
        f"ranks equal: {c['same_ranks']} (tolerance {TOL_SAME:g})"
    )
    print(
        f"defaults: IPC total RCbench {c['rc_total']:.2f} "
        f"({', '.join(f'{k}: {v:.2f}' for k, v in sorted(c['rc_by_degree'].items()))}); "
        f"physres on RCbench's targets {c['physres_total_on_rc_basis']:.2f}, "
        f"on all its targets {c['physres_total']:.2f} "
        f"({', '.join(f'{k}: {v:.2f}' for k, v in c['physres_by_degree'].items())}) of N={n}"
    )
    print(f"defaults: nonlinear-memory map largest |difference| {c['default_nlm']:.3f}")
    print(
        f"RCbench with ridge {SCALE_FREE_ALPHA:g}: IPC total {c['rc0_total']:.2f} "
        f"({', '.join(f'{k}: {v:.2f}' for k, v in sorted(c['rc0_by_degree'].items()))}) vs "
        f"physres {c['physres_total_on_rc_basis']:.2f} on the same targets; largest |difference|"
        f" nonlinear memory {c['scale_free_nlm']:.3f}, NLT {c['scale_free_nlt']:.3f}, "
        f"sin(x) {c['scale_free_sinx']:.3f}"
    )
    r = measure(d, a.repeats)
    print(f"time: physres {r['t_physres']:.3f} s, RCbench {r['t_rcbench']:.3f} s")
    print(f"physres / RCbench: {r['ratio']:.3f} (goal <= 0.5)")


if __name__ == "__main__":
    main()
