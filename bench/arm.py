"""Rendering speed of the tabletop env: env steps/s with one 128×128 frame per step, one core.

Each step is one 10 Hz control period: IK, 24 physics steps at 240 Hz and one
scene-camera frame from the tiny renderer. The baseline is the same env with
the stock Panda visual meshes (~60k vertices); ours renders the Panda's
collision meshes (~4k). Both run the scripted experts on the same seeds of
every task, pinned to one CPU core; only ``step()`` is timed (resets are not),
by the wall clock and by this thread's CPU time (the honest figure on a shared
machine, where the wall clock also counts other processes' turns on the core).

    python bench/arm.py [--steps 300] [--size 128] [--worlds]

``--worlds`` also measures what pybullet's deformable world (needed for the
wipe task's cloth) would cost the six rigid tasks if every scene used it:
the same low-poly runs with ``ArmTask.deformable`` forced on, as a ratio to
the rigid world. The key figure (low-poly env steps/s) is printed last; the
issue asks ≥ 60.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from physres.sim.arm.env import TabletopEnv
from physres.sim.arm.experts import make_expert
from physres.sim.arm.tasks import TASKS, ArmTask


def steps_per_second(
    low_poly: bool,
    steps_per_task: int,
    size: int,
    repeats: int,
    tasks: tuple[str, ...] = tuple(TASKS),
) -> tuple[float, float]:
    """Medians over repeats of timed steps / wall time and / CPU time spent in step().

    CPU time (this thread) is what one core costs; on a shared machine the wall
    clock also counts the time other processes held the core.
    """
    wall_rates, cpu_rates = [], []
    for _ in range(repeats):
        n, wall, cpu = 0, 0.0, 0.0
        for k, task in enumerate(tasks):
            env = TabletopEnv(task, render_size=size, low_poly=low_poly)
            expert = make_expert(env)
            obs, _ = env.reset(seed=k)
            for _ in range(steps_per_task):
                action = expert.act(obs)
                t0, c0 = time.perf_counter(), time.thread_time()
                obs, _, terminated, truncated, _ = env.step(action)
                wall += time.perf_counter() - t0
                cpu += time.thread_time() - c0
                n += 1
                if terminated or truncated:
                    obs, _ = env.reset(seed=k + 100 * n)
            env.close()
        wall_rates.append(n / wall)
        cpu_rates.append(n / cpu)
    return float(np.median(wall_rates)), float(np.median(cpu_rates))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60, help="timed steps per task")
    ap.add_argument("--size", type=int, default=128, help="camera frame edge (pixels)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--core", type=int, default=None, help="CPU to pin to (default: the last)")
    ap.add_argument(
        "--worlds", action="store_true", help="also time the rigid tasks in the deformable world"
    )
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        core = args.core if args.core is not None else cpus[-1]
        os.sched_setaffinity(0, {core})
        print(f"pinned to CPU {core}")
    if args.worlds:
        rigid_tasks = tuple(t for t in TASKS if not TASKS[t].deformable)
        rigid = steps_per_second(True, args.steps, args.size, args.repeats, rigid_tasks)
        ArmTask.deformable = True  # every scene in pybullet's deformable world
        try:
            deform = steps_per_second(True, args.steps, args.size, args.repeats, rigid_tasks)
        finally:
            ArmTask.deformable = False
        print(
            f"{len(rigid_tasks)} rigid tasks: {rigid[1]:.1f} env steps per CPU-second in the "
            f"rigid world, {deform[1]:.1f} in the deformable world "
            f"(ratio {deform[1] / rigid[1]:.2f})"
        )
    base = steps_per_second(False, args.steps, args.size, args.repeats)
    ours = steps_per_second(True, args.steps, args.size, args.repeats)
    px = f"{args.size}x{args.size}"
    for label, (wall, cpu) in (
        ("stock-mesh Panda (baseline)", base),
        ("low-poly Panda (ours)", ours),
    ):
        print(f"{label:<28} {wall:7.1f} env steps/s wall, {cpu:7.1f} per CPU-second at {px}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"load average during the run: {load:.2f} (wall-clock rates drop when the core is shared)"
    )
    print(f"speed-up vs stock meshes: {ours[0] / base[0]:.2f}x wall, {ours[1] / base[1]:.2f}x CPU")
    print(
        f"env steps/s (one {px} frame per step, one core): {ours[0]:.1f} wall-clock, "
        f"{ours[1]:.1f} per CPU-second"
    )


if __name__ == "__main__":
    main()
