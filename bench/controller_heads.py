"""Action heads compared on the same held-out demonstrations: RT-1 tokens vs ACT chunks.

The two heads train on different losses (cross-entropy over 256 bins, L1 on
normalised chunks), so their validation losses cannot be compared. This script
runs each checkpoint the way a rollout does (:meth:`Controller.step`: chunks
temporally ensembled, tokens decoded to bin centres) over the recorded frames
of the episodes its training held out (the same split: data, seed and
``val_fraction`` come from the checkpoint) and scores every step against the
expert's label in the spec's own units: position error in mm, yaw in degrees,
gripper and terminate agreement. The frames are the expert's, so this is the
open-loop error; closed-loop success is ``physres robot eval``'s job.

    python bench/controller_heads.py --data DIR [DIR ...] --ckpt chunk.pt tokens.pt

Printed last: the ratio of the two checkpoints' mean position errors (second / first).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from physres.controller import Checkpoint, Controller
from physres.controller.data import load_episodes
from physres.controller.train import held_out


def score(path: str, data: list[str]) -> dict[str, float]:
    """Open-loop errors of one checkpoint on its own held-out episodes."""
    ck = Checkpoint.load(path)
    settings = ck.info.get("settings", {})
    episodes, _ = load_episodes(
        data, ck.config.image_size, per_task=settings.get("episodes_per_task")
    )
    val = held_out(episodes, settings.get("val_fraction", 0.1), settings.get("seed", 0))
    ctrl = Controller(ck)
    pred, true = [], []
    for i in val:
        e = episodes[i]
        ctrl.set_prompt(e.prompt)
        pred += [ctrl.step(img, p) for img, p in zip(e.images, e.proprio)]
        true.append(e.actions)
    p, t = np.asarray(pred), np.concatenate(true)
    return {
        "episodes": len(val),
        "steps": len(t),
        "position_mm": 1e3 * float(np.abs(p[:, :3] - t[:, :3]).mean()),
        "yaw_deg": float(np.degrees(np.abs(p[:, 3] - t[:, 3]).mean())),
        "gripper_agree": float(np.mean(np.sign(p[:, 4]) == np.sign(t[:, 4]))),
        "terminate_agree": float(np.mean((p[:, 5] > 0.5) == (t[:, 5] > 0.5))),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", required=True, help="the datasets both were trained on")
    ap.add_argument("--ckpt", nargs=2, required=True, help="two checkpoints (e.g. chunk, tokens)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [(c, Checkpoint.load(c).config.head, score(c, args.data)) for c in args.ckpt]
    print(
        "| checkpoint | head | held-out steps | position (mm) | yaw (deg) | gripper | terminate |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for c, head, s in rows:
        print(
            f"| {c} | {head} | {s['steps']} | {s['position_mm']:.2f} | {s['yaw_deg']:.2f} | "
            f"{100 * s['gripper_agree']:.1f} % | {100 * s['terminate_agree']:.1f} % |"
        )
    a, b = rows[0][2]["position_mm"], rows[1][2]["position_mm"]
    print(f"position error {rows[1][1]} / {rows[0][1]}: {b / a:.2f}")


if __name__ == "__main__":
    main()
