"""Arm safety as pure functions: workspace box and joint speed, clip or refuse.

They run on the host before any byte is written, so a refused command never
reaches a servo and a clipped one is what the servos get (and what ``apply``
returns and the recorder stores).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from physres.errors import SafetyError

__all__ = ["SafetyMode", "limit_joint_step", "limit_workspace"]

#: "clip": bring the command inside the limit; "refuse": raise SafetyError; "off": trust it.
SafetyMode = Literal["clip", "refuse", "off"]


def limit_workspace(
    pose: np.ndarray, low: np.ndarray, high: np.ndarray, mode: SafetyMode, where: str
) -> np.ndarray:
    """Clip (or refuse) an ``(x, y, z, yaw)`` pose to the box ``low..high`` (4 values each)."""
    if mode == "off":
        return pose
    out = (pose < low) | (pose > high)
    if out.any() and mode == "refuse":
        i = int(np.flatnonzero(out)[0])
        axis = ["x", "y", "z", "yaw"][i]
        unit = "rad" if i == 3 else "m"
        raise SafetyError(
            f"{where}: {axis} = {pose[i]:.4f} {unit} is outside the workspace "
            f"[{low[i]:.4f}, {high[i]:.4f}] {unit}; nothing was sent"
        )
    return np.clip(pose, low, high)


def limit_joint_step(
    target: np.ndarray,
    reference: np.ndarray,
    max_speed: np.ndarray,
    dt: float,
    mode: SafetyMode,
    names: tuple[str, ...],
    where: str,
) -> np.ndarray:
    """Bound the move from ``reference`` to ``target`` to ``max_speed * dt`` per joint.

    Clipping scales the whole move by one factor, so the arm still heads for
    the commanded pose (in joint space), only slower.
    """
    if mode == "off":
        return target
    delta = target - reference
    allowed = max_speed * dt
    ratio = np.abs(delta) / np.where(allowed > 0, allowed, np.inf)
    worst = int(np.argmax(ratio))
    if ratio[worst] <= 1.0:
        return target
    if mode == "refuse":
        raise SafetyError(
            f"{where}: joint {names[worst]} would move at {abs(delta[worst]) / dt:.3f} rad/s, "
            f"above its limit {max_speed[worst]:.3f} rad/s; nothing was sent"
        )
    return reference + delta / ratio[worst]
