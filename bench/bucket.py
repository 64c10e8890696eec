"""Real-time factor of the simulated wave tank: plain NumPy vs fused numba kernels.

Same model, same 128×128 grid, same 25 fps camera, one core: the plain-NumPy
statement of the model (``physres.sim.bucket.reference``) is the baseline; the
fused numba kernels (physics substeps + render, noise drawn ahead of time) are
the figure. Each timing is the best of several repeats of the thread's CPU
time (one core; the wall-clock figure is printed beside it). Also shown:
the same with the camera's feature path (32×32 INTER_AREA + frame difference)
and the XOR check (linear physics, raw height vs rendered frames).

Run:  python bench/bucket.py [--seconds 8] [--repeats 7] [--no-xor] [--speech]
Prints the numba real-time factor LAST.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as the requirement says

import argparse  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from physres.sim.bucket import BucketParams, TankModel, advance, new_state  # noqa: E402

cv2.setNumThreads(1)


def _features(frames: np.ndarray, prev: np.ndarray | None) -> np.ndarray:
    """Camera feature path: 32×32 INTER_AREA, then |difference| with the previous frame."""
    out = None
    for f in frames:
        small = cv2.resize(f, (32, 32), interpolation=cv2.INTER_AREA)
        out = small if prev is None else cv2.absdiff(small, prev)
        prev = small
    return out if out is not None else np.zeros((32, 32), np.uint8)


def real_time_factor(model: TankModel, backend: str, seconds: float, repeats: int,
                     features: bool = False) -> tuple[float, float]:
    """(real-time factor, µs per frame) per second of *this thread's CPU time*, best of repeats.

    CPU time (``time.thread_time``) is what "on one core" means and does not
    count the moments the scheduler gives the core to someone else; on a
    shared machine the wall-clock figure is printed beside it.
    """
    p = model.params
    state = new_state(model, 0)
    n = round(seconds * p.motor_rate_hz)
    t = np.arange(n) / p.motor_rate_hz
    duty = np.clip(0.5 + 0.4 * np.sin(2 * np.pi * 0.3 * t[:, None] + np.arange(p.n_motors)),
                   0, 1)
    advance(model, state, duty[:4], backend=backend)  # compile / warm caches
    best_cpu = best_wall = float("inf")
    n_frames = 0
    for _ in range(repeats):
        c0, w0 = time.thread_time(), time.perf_counter()
        frames, _ = advance(model, state, duty, backend=backend)
        if features:
            _features(frames, None)
        best_cpu = min(best_cpu, time.thread_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
        n_frames = len(frames)
    WALL[backend, features] = seconds / best_wall
    return seconds / best_cpu, best_cpu / max(n_frames, 1) * 1e6


#: wall-clock real-time factors of the same runs, for the record
WALL: dict[tuple[str, bool], float] = {}


def xor_check() -> tuple[float, float, float, float]:
    """Held-out XOR accuracy: raw height of a linear tank, its frames, raw inputs, sim.esn."""
    from physres.sim.bucket import Bucket
    from physres.sim.bucket.trials import drive, trial_episodes, xor_bits

    from physres.readout import RidgeClassifierReadout

    n_train, n_test, per_trial, window = 160, 80, 50, 10
    bits, y = xor_bits(n_train + n_test, seed=1)
    with Bucket(nonlinearity=0.0, height_stream=True) as tank:
        run = drive(tank, bits.astype(np.float64), per_trial)
    assert run.heights is not None

    def grid(a: np.ndarray) -> np.ndarray:
        return np.stack([cv2.resize(x, (32, 32), interpolation=cv2.INTER_AREA)
                         for x in a]).reshape(len(a), -1).astype(np.float64)

    j = np.arange(1, len(run.frames) + 1)
    raw = run.duty[np.ceil(j * 50 / 25 - 1e-9).astype(int) - 1]
    from physres.sim.esn import ESN

    with ESN(n_units=100, n_inputs=2, leak_rate=0.5, bias_scaling=0.2, rate_hz=25.0) as esn:
        esn.apply({"u": 2.0 * raw - 1.0})  # the same duties at the same frame times
        states = esn.read()["state"].data
    scores = []
    for feats, alpha in ((grid(run.heights) * 1e3, 1e-2), (grid(run.frames) / 255, 1e-2),
                         (raw, 1e-2), (states, 1e-2)):
        eps = trial_episodes(feats, run.frame_trial, n_train + n_test, window)
        r = RidgeClassifierReadout(alpha, pooling="mean").fit(eps[:n_train], y[:n_train])
        scores.append(float(r.score(eps[n_train:], y[n_train:])))
    return scores[0], scores[1], scores[2], scores[3]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="simulated seconds per repeat")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-xor", action="store_true", help="skip the XOR accuracy check")
    ap.add_argument("--speech", action="store_true",
                    help="also run spoken zero/one (water vs raw inputs, about 30 s)")
    args = ap.parse_args()

    model = TankModel.build(BucketParams())
    s = model.summary()
    print(f"tank 128x128, dx {s['dx_m'] * 1e3:.2f} mm, dt {s['dt_s'] * 1e3:.2f} ms, "
          f"{s['substeps_per_frame']} substeps/frame at 25 fps, dispersion fit error "
          f"{s['dispersion_max_rel_error'] * 100:.1f} % over the motors' band")
    if not args.no_xor:
        h, f, r, e = xor_check()
        print(f"XOR held-out accuracy (linear tank): raw height {h:.1%}, rendered frames {f:.1%},"
              f" raw inputs {r:.1%}, sim.esn {e:.1%}")
    if args.speech:
        from physres.sim.bucket.speech import evaluate_zero_one

        res = evaluate_zero_one()
        w, r, d, e = res["water"], res["raw"], res["difference"], res["esn"]
        print(f"spoken zero/one, {res['n']} words, leave-two-voices-out: water "
              f"{w['accuracy']:.1%} (95% CI {w['ci95'][0]:.1%}-{w['ci95'][1]:.1%}), raw inputs "
              f"{r['accuracy']:.1%} ({r['ci95'][0]:.1%}-{r['ci95'][1]:.1%}), sim.esn "
              f"{e['accuracy']:.1%} ({e['ci95'][0]:.1%}-{e['ci95'][1]:.1%}); difference "
              f"{d['water_minus_raw']:+.1%} (paired bootstrap 95% CI {d['ci95'][0]:+.1%} to "
              f"{d['ci95'][1]:+.1%})")
    rt_np, us_np = real_time_factor(model, "numpy", min(args.seconds, 4.0),
                                    max(2, args.repeats // 2))
    print(f"plain NumPy (baseline):         {us_np:8.1f} us/frame  {rt_np:7.1f}x real time "
          f"per CPU second (wall {WALL['numpy', False]:.1f}x)")
    rt_nbf, us_nbf = real_time_factor(model, "numba", args.seconds, args.repeats, features=True)
    print(f"numba + 32x32 features + diff:  {us_nbf:8.1f} us/frame  {rt_nbf:7.1f}x real time "
          f"per CPU second (wall {WALL['numba', True]:.1f}x)")
    plain = TankModel.build(BucketParams(dispersion="none"))
    rt_nd, us_nd = real_time_factor(plain, "numba", args.seconds, args.repeats)
    print(f"numba, dispersion: none:        {us_nd:8.1f} us/frame  {rt_nd:7.1f}x real time "
          f"per CPU second (wall {WALL['numba', False]:.1f}x)")
    rt_nb, us_nb = real_time_factor(model, "numba", args.seconds, args.repeats)
    print(f"numba over NumPy: {rt_nb / rt_np:.1f}x faster")
    print(f"numba fused physics + render:   {us_nb:8.1f} us/frame  {rt_nb:7.1f}x real time "
          f"on one core (wall {WALL['numba', False]:.1f}x)")


if __name__ == "__main__":
    main()
