"""Real-time factor of the simulated wave tank: plain NumPy vs fused numba kernels.

Same model, same 128×128 grid, same 25 fps camera, one core: the plain-NumPy
statement of the model (``physres.sim.bucket.reference``) is the baseline; the
fused numba kernels (physics substeps + render, noise drawn ahead of time) are
the figure. Each figure is the median over repeats of the thread's CPU time
(one core; the best repeat and the wall-clock figure are printed beside it);
the NumPy and numba runs alternate so the speed-up is a median of
back-to-back pairs. Also shown:
the same with the camera's feature path (32×32 INTER_AREA block means fused into
the render, then the frame difference)
and the XOR check (linear physics, raw height vs rendered frames).

Run:  python bench/bucket.py [--seconds 20] [--repeats 7] [--no-xor] [--speech]
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


def _features(frames: np.ndarray) -> np.ndarray:
    """Camera feature path after the 32×32 INTER_AREA frames: |difference| frame to frame."""
    return np.abs(np.diff(frames.astype(np.int16), axis=0)).astype(np.uint8)


def _duty(p: BucketParams, seconds: float) -> np.ndarray:
    n = round(seconds * p.motor_rate_hz)
    t = np.arange(n) / p.motor_rate_hz
    return np.clip(0.5 + 0.4 * np.sin(2 * np.pi * 0.3 * t[:, None] + np.arange(p.n_motors)),
                   0, 1)


class Timer:
    """Runs one model on one backend, one repeat at a time, from a warmed-up state.

    Each repeat is timed in *this thread's CPU time* (``time.thread_time``):
    that is what "on one core" means, and it does not count the moments the
    scheduler gives the core to another process on this shared machine. Wall
    time is kept beside it for the record.
    """

    def __init__(self, model: TankModel, backend: str, seconds: float,
                 features: bool = False) -> None:
        self.model, self.backend, self.seconds, self.features = model, backend, seconds, features
        self.state = new_state(model, 0)
        self.duty = _duty(model.params, seconds)
        advance(model, self.state, self.duty[:4], backend=backend)  # compile / warm caches
        self.cpu: list[float] = []  # real-time factors per CPU second, one per repeat
        self.wall: list[float] = []
        self.us_per_frame: list[float] = []

    def once(self) -> float:
        c0, w0 = time.thread_time(), time.perf_counter()
        frames, _ = advance(self.model, self.state, self.duty, backend=self.backend,
                            frame_shape=(32, 32) if self.features else None)
        if self.features:
            _features(frames)
        cpu, wall = time.thread_time() - c0, time.perf_counter() - w0
        self.cpu.append(self.seconds / cpu)
        self.wall.append(self.seconds / wall)
        self.us_per_frame.append(cpu / max(len(frames), 1) * 1e6)
        return self.cpu[-1]

    def line(self, label: str) -> str:
        return (f"{label:<32}{np.median(self.us_per_frame):8.1f} us/frame  "
                f"{np.median(self.cpu):7.1f}x real time (median of {len(self.cpu)} CPU-time "
                f"repeats, best {max(self.cpu):.1f}x; wall median {np.median(self.wall):.1f}x)")


def xor_check() -> tuple[float, float, float, float]:
    """Held-out XOR accuracy: raw height of a linear tank, its frames, raw inputs, sim.esn.

    The general path: the ``xor`` task (one second per step, bits ±1 → duty
    0 / 1), the drive loop (each step read at its end), the task's readout.
    """
    from physres import tasks
    from physres.experiments import collect_states
    from physres.sim.bucket import Bucket
    from physres.sim.esn import ESN

    task = tasks.create("xor", delay=0, n_train=160, n_test=80, washout=2, hold=50,
                        gain=0.5, offset=0.5, alpha=1e-2)
    data = task.generate(1)
    splits = (data.train, data.test)
    drive = {"reset_between": False, "seed": 1, "pool": "last", "flatten": False}

    def grid(x: np.ndarray) -> np.ndarray:
        return np.stack([cv2.resize(f.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
                         for f in x]).reshape(len(x), -1).astype(np.float64)

    states = {}
    for stream, scale in (("height", 1e3), ("frame", 1 / 255)):
        with Bucket(nonlinearity=0.0, height_stream=True) as tank:
            states[stream] = [grid(collect_states(tank, eps, task, stream=stream, **drive)[0])
                              * scale for eps in splits]
    states["raw"] = [eps[0].u for eps in splits]
    with ESN(n_units=100, n_inputs=2, leak_rate=0.5, bias_scaling=0.2, rate_hz=50.0) as esn:
        states["esn"] = [collect_states(esn, eps, task, **drive)[0] for eps in splits]
    return tuple(  # type: ignore[return-value]
        task.evaluate(s[:1], data.train, s[1:], data.test, data)["accuracy"]
        for s in states.values()
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0,
                    help="simulated seconds per repeat (NumPy: at most 4)")
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

        res = evaluate_zero_one()  # the spoken_zero_one task through the general drive loop
        w, r, d, e = res["water"], res["raw"], res["difference"], res["esn"]
        print(f"spoken zero/one, {res['n']} words, leave-two-voices-out: water "
              f"{w['accuracy']:.1%} (95% CI {w['ci95'][0]:.1%}-{w['ci95'][1]:.1%}), raw inputs "
              f"{r['accuracy']:.1%} ({r['ci95'][0]:.1%}-{r['ci95'][1]:.1%}), sim.esn "
              f"{e['accuracy']:.1%} ({e['ci95'][0]:.1%}-{e['ci95'][1]:.1%}); difference "
              f"{d['water_minus_raw']:+.1%} (paired bootstrap 95% CI {d['ci95'][0]:+.1%} to "
              f"{d['ci95'][1]:+.1%})")
    import numba

    print(f"numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} thread(s), one core")
    default = model
    base = Timer(default, "numpy", min(args.seconds, 4.0))
    fast = Timer(default, "numba", args.seconds)
    ratios = []
    for _ in range(args.repeats):  # back to back, so both see the same machine load
        ratios.append(fast.once() / base.once())
    print(base.line("plain NumPy (baseline):"))
    feat = Timer(default, "numba", args.seconds, features=True)
    plain = Timer(TankModel.build(BucketParams(dispersion="none")), "numba", args.seconds)
    for _ in range(args.repeats):
        feat.once()
        plain.once()
    print(feat.line("numba + 32x32 features + diff:"))
    print(plain.line("numba, dispersion: none:"))
    print(f"numba over NumPy: {np.median(ratios):.1f}x faster (median of {len(ratios)} "
          "back-to-back pairs of CPU-time ratios)")
    print(fast.line("numba fused physics + render:") + " on one core")


if __name__ == "__main__":
    main()
