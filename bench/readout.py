"""Readout fit speed and memory against the BLAS floor, in one run.

Figures (issue 4), all measured here on the same data in the same process:

* physres ``RidgeReadout.fit`` time / bare NumPy normal equations
  (``X.T @ X`` + ``scipy.linalg.solve(assume_a='pos')``): goal <= 1.1.
* physres / ``sklearn.linear_model.Ridge`` and physres / ReservoirPy 0.4.2
  ``Ridge`` (reported, no goal; below 1 means physres is faster).
* peak traced memory of ``partial_fit`` over 10 chunks / (one chunk + XᵀX):
  goal <= 1.5 (tracemalloc sees NumPy's allocations).
* ``RidgeCVReadout`` over 20 alphas (5 blocked folds) / one fit: goal <= 2.
* ``RidgeClassifierReadout`` on 270 short sequences (20 rows x 1,024 camera
  features each, one label per sequence) / the same rows stacked into one
  per-row fit: goal <= 1.5 (one sequence at a time it was 10-20 s vs 0.3 s).

Each time is the best of ``--repeats`` runs, methods interleaved so that
load from other processes hits all of them alike. The last line printed is
the physres / bare NumPy ratio.

    python bench/readout.py            # 200,000 x 1,000 float64 (a few minutes)
    python bench/readout.py --small    # 20,000 x 200, seconds
    python bench/readout.py --threads 1  # one BLAS thread: steadier on a shared machine
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg as sla

ALPHA = 1.0


def make_data(n: int, p: int, n_out: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """ESN-scale features (bounded, non-zero mean) and a noisy linear target."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    X *= 0.3
    X += 0.1
    w = rng.standard_normal((p, n_out)) / np.sqrt(p)
    y = X @ w + 0.01 * rng.standard_normal((n, n_out))
    return X, y


def bare_numpy(X: np.ndarray, y: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """The floor: normal equations, no centring, one LAPACK solve."""
    G = X.T @ X
    G.flat[:: G.shape[0] + 1] += alpha
    return sla.solve(G, X.T @ y, assume_a="pos")


def _best(fn: Callable[[], Any]) -> float:
    gc.collect()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def time_methods(methods: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` wall time per method, interleaved round by round."""
    best = {k: np.inf for k in methods}
    for _ in range(repeats):
        for k, fn in methods.items():
            best[k] = min(best[k], _best(fn))
    return best


def peak_partial_fit(n: int, p: int, n_out: int, n_chunks: int) -> tuple[float, float]:
    """(peak traced bytes during a 10-chunk partial_fit, one chunk + XᵀX bytes)."""
    from physres.readout import RidgeReadout

    rows = n // n_chunks
    est = RidgeReadout(alpha=ALPHA)
    rng = np.random.default_rng(1)
    w = rng.standard_normal((p, n_out))
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(n_chunks):
            Xc = rng.standard_normal((rows, p))
            yc = Xc @ w
            est.partial_fit(Xc, yc)
            del Xc, yc
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return float(peak), float(rows * p * 8 + p * p * 8)


def time_fits(
    X: np.ndarray, y: np.ndarray, *, repeats: int, n_alphas: int, baselines: bool
) -> dict[str, float]:
    """Best-of times of the bare solve, physres (single fit and CV) and the baselines."""
    from physres.readout import RidgeCVReadout, RidgeReadout

    alphas = np.logspace(-6, 3, n_alphas)
    methods: dict[str, Callable[[], Any]] = {
        "bare": lambda: bare_numpy(X, y),
        "physres": lambda: RidgeReadout(alpha=ALPHA).fit(X, y),
        "physres_cv": lambda: RidgeCVReadout(alphas=alphas, n_folds=5).fit(X, y),
    }
    if baselines:
        from reservoirpy.nodes import Ridge as RpyRidge
        from sklearn.linear_model import Ridge

        methods["sklearn"] = lambda: Ridge(alpha=ALPHA).fit(X, y)
        methods["reservoirpy"] = lambda: RpyRidge(ridge=ALPHA).fit(X, y)
    return time_methods(methods, repeats)


def time_sequences(
    n_seq: int = 270, rows: int = 20, p: int = 1024, *, repeats: int = 3
) -> dict[str, float]:
    """Classifier on many short labelled sequences vs one stacked per-row fit of the same rows."""
    from physres.readout import RidgeClassifierReadout

    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, n_seq)
    eps = [rng.random((rows, p)) + 0.05 * lab for lab in labels]
    X, y = np.concatenate(eps), np.repeat(labels, rows)
    t = time_methods(
        {
            "sequences": lambda: RidgeClassifierReadout(0.01, pooling="mean").fit(eps, labels),
            "stacked": lambda: RidgeClassifierReadout(0.01).fit(X, y),
        },
        repeats,
    )
    return {
        "t_sequences": t["sequences"],
        "t_stacked": t["stacked"],
        "ratio_sequences": t["sequences"] / t["stacked"],
    }


def measure(
    n: int,
    p: int,
    *,
    n_out: int = 1,
    repeats: int = 3,
    n_chunks: int = 10,
    n_alphas: int = 20,
    baselines: bool = True,
) -> dict[str, float]:
    """All figures for one size; ``baselines=False`` skips sklearn and ReservoirPy."""
    t = time_fits(*make_data(n, p, n_out), repeats=repeats, n_alphas=n_alphas, baselines=baselines)
    gc.collect()
    out = {f"t_{k}": v for k, v in t.items()}
    out["ratio_bare"] = t["physres"] / t["bare"]
    out["ratio_cv"] = t["physres_cv"] / t["physres"]
    if baselines:
        out["ratio_sklearn"] = t["physres"] / t["sklearn"]
        out["ratio_reservoirpy"] = t["physres"] / t["reservoirpy"]
    peak, budget = peak_partial_fit(n, p, n_out, n_chunks)
    out["peak_mb"], out["chunk_plus_gram_mb"] = peak / 2**20, budget / 2**20
    out["ratio_memory"] = peak / budget
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="20,000 x 200 instead of 200,000 x 1,000")
    ap.add_argument("--n", type=int, help="rows (overrides the size)")
    ap.add_argument("--p", type=int, help="features (overrides the size)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="limit BLAS threads for every method (steadier ratios on a busy machine)",
    )
    args = ap.parse_args(argv)
    n, p = (20_000, 200) if args.small else (200_000, 1_000)
    n, p = args.n or n, args.p or p
    limit = contextlib.nullcontext()
    if args.threads:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(args.threads, user_api="blas")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"readout fit, {n:,} x {p:,} float64, alpha={ALPHA}, best of {args.repeats}, "
        f"BLAS threads {args.threads or 'default'}, "
        f"load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    with limit:
        r = measure(n, p, repeats=args.repeats)
        seq = time_sequences(repeats=args.repeats)  # the size at every --small/--n
    for k in ("bare", "physres", "sklearn", "reservoirpy", "physres_cv"):
        print(f"  time {k:<12} {r['t_' + k]:8.3f} s")
    print(f"physres / sklearn Ridge:       {r['ratio_sklearn']:.3f}  (reported; < 1 is faster)")
    print(f"physres / ReservoirPy Ridge:   {r['ratio_reservoirpy']:.3f}  (reported; < 1 is faster)")
    print(
        f"partial_fit peak memory / (chunk + XtX): {r['ratio_memory']:.3f}  (goal <= 1.5; "
        f"{r['peak_mb']:.0f} MB vs {r['chunk_plus_gram_mb']:.0f} MB)"
    )
    print(f"alpha selection, 20 alphas / one fit: {r['ratio_cv']:.3f}  (goal <= 2)")
    print(
        f"classifier, 270 sequences / the same rows stacked: {seq['ratio_sequences']:.3f}  "
        f"(goal <= 1.5; {seq['t_sequences']:.3f} s vs {seq['t_stacked']:.3f} s)"
    )
    print(f"physres / bare NumPy: {r['ratio_bare']:.3f}  (goal <= 1.1)")


if __name__ == "__main__":
    main()
