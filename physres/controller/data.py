"""Demonstrations as training windows: whole episodes in memory, cut into non-overlapping windows.

One label per sliding window makes a transformer over ``H`` frames pay ``H``
stem passes per label; cutting each episode into non-overlapping windows of
``H`` frames (a fresh random phase every epoch) and putting a loss on every
position pays one stem pass per label. Padding only ever follows the real
frames of a window, so the frame-causal mask keeps it out of every real
position.

The controller's proprioception is the arm contract's: tool pose ``(x, y, z,
yaw)`` and gripper opening (0 closed … 1 open), so a controller trained on the
tabletop runs on any arm that publishes those streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from physres.datasets import DemoDataset
from physres.errors import DataError

__all__ = [
    "FUTURE_SCALE",
    "PANDA_MAX_OPENING",
    "EpisodeData",
    "contract_proprio",
    "future_targets",
    "load_episodes",
    "windows",
]

#: the dataset's ``finger_width`` at a fully open Panda hand (m): 0.04 m per finger
PANDA_MAX_OPENING = 0.08


def contract_proprio(proprio: np.ndarray) -> np.ndarray:
    """Dataset proprio ``[x, y, z, yaw, finger_width, ...]`` → ``[x, y, z, yaw, open]``."""
    p = np.asarray(proprio, np.float32)
    if p.shape[-1] < 5:
        raise DataError(f"proprio has {p.shape[-1]} values; need x, y, z, yaw, finger_width")
    opening = np.clip(p[..., 4:5] / PANDA_MAX_OPENING, 0.0, 1.0)
    return np.concatenate([p[..., :4], opening], axis=-1).astype(np.float32)


def resize_frames(images: np.ndarray, size: int) -> np.ndarray:
    """(T, S, S, 3) uint8 frames at ``size``² (area averaging: no aliasing)."""
    if images.shape[1:3] == (size, size):
        return images
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in images])


@dataclass
class EpisodeData:
    """One demonstration, ready to batch."""

    task: str
    prompt: str
    images: np.ndarray  # (T, S, S, 3) uint8
    proprio: np.ndarray  # (T, 5) float32, contract layout
    actions: np.ndarray  # (T, A) float32, the expert's clean labels
    #: the episode file (resolved): which episodes a checkpoint trained on or held out
    source: str = ""
    #: a policy drove it (DAgger): the labels are the expert's, the path is the driver's
    driven: bool = False

    def __len__(self) -> int:
        return len(self.actions)


def _refuse_plan_follower_labels(root: str | Path, ds: DemoDataset) -> None:
    """DAgger episodes labelled by the plan-following ``Expert`` carry wrong labels.

    Before ``StateExpert``, a collection with ``--policy`` asked the plan follower,
    which never passed its first waypoint under another driver: every label said
    "open, go above the object", even with the object lifted. Trained on, they
    taught the policy to stall; refused here so no one trains on them unknowingly.
    """
    bad = [
        info.path.name
        for info in ds.episodes
        if info.meta.get("driver", "expert") != "expert" and info.meta.get("expert") == "Expert"
    ]
    if bad:
        raise DataError(
            f"{root}: {len(bad)} episodes (first {bad[0]}) were driven by a policy and labelled "
            "by the plan-following Expert, whose labels there are wrong (it never passed its "
            "first waypoint); collect this DAgger round again (labelled by StateExpert)"
        )


def load_episodes(
    roots: Sequence[str | Path],
    image_size: int,
    *,
    label: str = "expert_action",
    per_task: int | None = None,
) -> tuple[list[EpisodeData], dict]:
    """Every complete episode of the datasets, and their (common) action spec.

    The spec dict also carries ``render_size``: the camera side the frames were
    rendered at (a controller's rollouts render at it and resize the same way).
    ``per_task`` keeps the first N episodes of each task (small-budget runs).
    """
    counts: dict[str, int] = {}
    episodes: list[EpisodeData] = []
    spec: dict | None = None
    for root in roots:
        ds = DemoDataset(root)
        if spec is None:
            spec = dict(ds.action_spec)
            spec["render_size"] = int(ds.header.get("info", {}).get("render_size", image_size))
        elif ds.action_spec != {k: v for k, v in spec.items() if k != "render_size"}:
            raise DataError(f"{root}: its action spec differs from {roots[0]}'s; not mixing them")
        _refuse_plan_follower_labels(root, ds)
        for i, info in enumerate(ds.episodes):
            counts[info.task] = counts.get(info.task, 0) + 1
            if per_task is not None and counts[info.task] > per_task:
                continue
            demo = ds.episode(i)
            if "obs.image" not in demo.arrays:
                raise DataError(f"{demo.info.path}: no obs.image (scene camera) to train on")
            episodes.append(
                EpisodeData(
                    task=demo.info.task,
                    prompt=demo.prompt,
                    images=resize_frames(demo["obs.image"], image_size),
                    proprio=contract_proprio(demo["obs.proprio"]),
                    actions=np.asarray(demo[label], np.float32),
                    source=str(Path(demo.info.path).resolve()),
                    driven=demo.info.meta.get("driver", "expert") != "expert",
                )
            )
    if not episodes or spec is None:
        raise DataError(f"no complete episodes in {', '.join(map(str, roots))}")
    return episodes, spec


#: metres per unit of the ``future`` target (a carry is ~0.2 m: targets stay near ±2)
FUTURE_SCALE = 0.1


def future_targets(ep: EpisodeData, horizons: Sequence[int]) -> np.ndarray:
    """(T, F, 3) the hand's displacement ``h`` steps on, clipped at the episode's end, / scale.

    Only an expert's path says where the task goes; a driven (DAgger) episode's
    path is its driver's, so the caller masks those out.
    """
    xyz = ep.proprio[:, :3]
    t = np.arange(len(xyz))
    out = [xyz[np.minimum(t + h, len(xyz) - 1)] - xyz for h in horizons]
    return (np.stack(out, axis=1) / FUTURE_SCALE).astype(np.float32)


def windows(
    lengths: Sequence[int], history: int, rng: np.random.Generator | None
) -> list[tuple[int, int, int]]:
    """``(episode, start, length)`` non-overlapping windows covering every step once.

    With ``rng`` each episode gets a random phase (the first window is shorter);
    without, windows start at 0, ``history``, ...
    """
    out: list[tuple[int, int, int]] = []
    for e, n in enumerate(lengths):
        phase = int(rng.integers(history)) if rng is not None else 0
        starts = ([0] if phase else []) + list(range(phase, n, history))
        for s, nxt in zip(starts, [*starts[1:], n]):
            out.append((e, s, min(nxt, n) - s))
    return out
