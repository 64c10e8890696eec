"""Two checkpoints open loop on the same held-out demonstrations (e.g. RT-1 tokens vs ACT chunks).

The two heads train on different losses (cross-entropy over 256 bins, L1 on
normalised chunks), so their validation losses cannot be compared. This script
runs each checkpoint the way a rollout does (:meth:`Controller.step`: chunks
temporally ensembled, tokens decoded to bin centres) over the recorded frames
of the episodes its training held out (the same split: data, seed and
``val_fraction`` come from the checkpoint) and scores every step against the
expert's label in the spec's own units: position error in mm, yaw in degrees,
gripper and terminate agreement. The frames are the expert's, so this is the
open-loop error; closed-loop success is ``physres robot eval``'s job.

It also scores the **carry**: steps whose label moves a closed gripper
sideways above 10 cm (an object held, on its way to where it goes). A network
that does not know where it is going answers them with the median, no motion:
the carry ratio (mean predicted sideways step / the label's) shows it, and
the carry cosine (mean cosine between the predicted and labelled sideways
steps: 1 is the right direction, 0 none) whether what motion there is heads
for the place.

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
    pred, true, prop = [], [], []
    for i in val:
        e = episodes[i]
        ctrl.set_prompt(e.prompt)
        pred += [ctrl.step(img, p) for img, p in zip(e.images, e.proprio)]
        true.append(e.actions)
        prop.append(e.proprio)
    p, t, q = np.asarray(pred), np.concatenate(true), np.concatenate(prop)
    side_p, side_t = np.linalg.norm(p[:, :2], axis=1), np.linalg.norm(t[:, :2], axis=1)
    carry = (t[:, 4] > 0) & (q[:, 2] > 0.1) & (side_t > 0.005)
    dot = (p[carry, :2] * t[carry, :2]).sum(1)
    cosine = dot / np.maximum(side_p[carry] * side_t[carry], 1e-9)
    return {
        "carry_steps": int(carry.sum()),
        "carry_cosine": float(cosine.mean()) if carry.any() else 0.0,
        "carry_ratio": float(side_p[carry].mean() / side_t[carry].mean()) if carry.any() else 0.0,
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
        "| checkpoint | head | held-out steps | position (mm) | yaw (deg) | gripper | terminate "
        "| carry steps | carry ratio | carry cosine |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c, head, s in rows:
        print(
            f"| {c} | {head} | {s['steps']} | {s['position_mm']:.2f} | {s['yaw_deg']:.2f} | "
            f"{100 * s['gripper_agree']:.1f} % | {100 * s['terminate_agree']:.1f} % | "
            f"{s['carry_steps']} | {s['carry_ratio']:.2f} | {s['carry_cosine']:.2f} |"
        )
    a, b = rows[0][2]["position_mm"], rows[1][2]["position_mm"]
    print(f"position error {rows[1][1]} / {rows[0][1]}: {b / a:.2f}")


if __name__ == "__main__":
    main()
