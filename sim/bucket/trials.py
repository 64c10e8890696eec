"""Trial-based experiments on the tank: hold motor levels per trial, cut frames per trial.

The 2003 experiments present one input pattern per trial (two bits for XOR, a
spoken word's band energies for speech), let the water respond, and read the
last frames of the trial. These helpers build the duty schedule (within the
motor board's slew limit, so the same schedule is legal on hardware), drive
any ``sim.bucket``-like device with it, and cut the camera's frames back into
per-trial episodes for a readout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physres.device import Device
from physres.device.spec import slew_limit

__all__ = ["TrialRun", "drive", "trial_episodes", "xor_bits"]


def xor_bits(n_trials: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Balanced random bit pairs (n, 2) and their XOR labels (n,)."""
    rng = np.random.default_rng(seed)
    pairs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    idx = np.concatenate([rng.permutation(4) for _ in range(math.ceil(n_trials / 4))])[:n_trials]
    bits = pairs[idx]
    return bits, bits[:, 0] ^ bits[:, 1]


@dataclass(frozen=True)
class TrialRun:
    """What one drive produced: frames, optional heights, and the trial of each frame."""

    frames: np.ndarray  # (F, H, W) uint8
    heights: np.ndarray | None  # (F, ny, nx) float32 when the device publishes them
    frame_trial: np.ndarray  # (F,) trial index of each frame
    duty: np.ndarray  # (T, M) the schedule actually applied


def drive(device: Device, levels: np.ndarray, samples_per_trial: int, *,
          chunk_trials: int = 50) -> TrialRun:
    """Hold ``levels[i]`` (n_trials, M) for ``samples_per_trial`` motor samples each.

    The device must be connected; transitions are slew-limited to its declared
    ``duty`` limit. Frames are assigned to the trial whose duty was last applied
    when the frame was taken.
    """
    desc = device.describe()
    spec = desc.inputs["duty"]
    max_step = spec.limits.max_step or 1.0
    target = np.repeat(np.asarray(levels, np.float64), samples_per_trial, axis=0)
    duty = slew_limit(target, max_step, np.zeros(target.shape[1]), margin=1e-9)  # from rest
    frames, heights = [], []
    step = chunk_trials * samples_per_trial
    for i in range(0, len(duty), step):
        device.apply({"duty": duty[i:i + step]})
        out = device.read()
        frames.append(out["frame"].data)
        if "height" in out:
            heights.append(out["height"].data)
    fr = np.concatenate(frames)
    fps = desc.streams["frame"].rate_hz
    rate = spec.rate_hz
    assert fps and rate
    j = np.arange(1, len(fr) + 1)  # frame j is taken at j / fps
    last_sample = np.ceil(j * rate / fps - 1e-9).astype(np.int64) - 1
    return TrialRun(frames=fr, heights=np.concatenate(heights) if heights else None,
                    frame_trial=last_sample // samples_per_trial, duty=duty)


def trial_episodes(features: np.ndarray, frame_trial: np.ndarray, n_trials: int,
                   window: int) -> list[np.ndarray]:
    """The last ``window`` feature rows of each trial, as a list of (window, F) episodes."""
    eps = []
    for i in range(n_trials):
        rows = np.flatnonzero(frame_trial == i)
        if len(rows) < window:
            raise ValueError(f"trial {i} has {len(rows)} frames, fewer than window={window}")
        eps.append(features[rows[-window:]])
    return eps
