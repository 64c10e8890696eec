"""Controller inference cost: ms per control step on one CPU thread, earlier frames cached.

A control step with the cache runs the conv stem once (the new frame) and the
transformer over the window; without it every frame of the window goes through
the stem again. Both run the same checkpoint on the same random frames with
``torch.set_num_threads(1)``; time is this thread's CPU time (the honest figure
on a shared machine, where the wall clock also counts other processes' turns)
and the median over steps is reported.

    python bench/controller.py [--ckpt CKPT] [--steps 200]

Printed last: cached ms per step (the issue's goal: <= 10 ms) and the ratio
cached / uncached.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from physres.controller import SHIPPED_CHECKPOINT, Controller


def ms_per_step(ctrl: Controller, frames: np.ndarray, proprio: np.ndarray, cached: bool) -> float:
    ctrl.reset()
    times = []
    for img, p in zip(frames, proprio):
        t = time.thread_time()
        ctrl.step(img, p, cached=cached)
        times.append(time.thread_time() - t)
    warm = ctrl.cfg.history  # the window is full from here on
    return 1e3 * float(np.median(times[warm:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default=str(SHIPPED_CHECKPOINT))
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ctrl = Controller(args.ckpt)
    ctrl.set_prompt("pick the cube and place it in the bowl")
    size = int(ctrl.ck.camera.get("render_size", ctrl.cfg.image_size))
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (args.steps, size, size, 3), dtype=np.uint8)
    proprio = rng.normal(0, 0.1, (args.steps, ctrl.cfg.proprio_dim)).astype(np.float32)
    params = sum(p.numel() for p in ctrl.net.parameters())
    print(
        f"checkpoint {args.ckpt}: {params / 1e6:.2f} M parameters, history "
        f"{ctrl.cfg.history}, {size}² frames → {ctrl.cfg.image_size}², head {ctrl.cfg.head}"
    )
    uncached = ms_per_step(ctrl, frames, proprio, cached=False)
    cached = ms_per_step(ctrl, frames, proprio, cached=True)
    print(f"uncached: {uncached:.2f} ms per step (every frame of the window through the stem)")
    print(f"cached / uncached ratio: {cached / uncached:.2f}")
    print(f"cached: {cached:.2f} ms per control step on one thread (goal <= 10 ms)")


if __name__ == "__main__":
    main()
