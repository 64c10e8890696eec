"""Arm safety as pure functions: workspace box and joint speed, clip or refuse.

They run on the host before any byte is written, so a refused command never
reaches a servo and a clipped one is what the servos get (and what ``apply``
returns and the recorder stores).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from physres.errors import SafetyError

__all__ = [
    "WIRE_TOLERANCE_M",
    "SafetyMode",
    "box_excess",
    "limit_joint_step",
    "limit_workspace",
    "no_worse",
]

#: "clip": bring the command inside the limit; "refuse": raise SafetyError; "off": trust it.
SafetyMode = Literal["clip", "refuse", "off"]

#: Rounding a joint target to whole servo steps (0.0015 rad) moves the tcp by at most
#: about 0.7 mm: a vector checked exactly may reach the wire this far outside its box.
WIRE_TOLERANCE_M = 1e-3


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


def box_excess(pose: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per axis, how far ``pose`` lies outside ``low..high`` (0 inside)."""
    return np.maximum(0.0, np.maximum(low - pose, pose - high))


def no_worse(pose: np.ndarray, before: np.ndarray, low: np.ndarray, high: np.ndarray) -> bool:
    """Whether the tool at ``pose`` may follow the tool at ``before`` (x, y, z first).

    An arm inside the box must stay inside it; one outside (parked upright at
    power-on) may only come closer to it, by distance; and the tool never goes
    lower while below the floor ``low[2]`` (nor below it from above).
    """
    ex_new, ex_old = (
        box_excess(pose[:3], low[:3], high[:3]),
        box_excess(before[:3], low[:3], high[:3]),
    )
    closer = float(np.linalg.norm(ex_new)) <= float(np.linalg.norm(ex_old)) + 1e-9
    floor = low[2] - pose[2] <= max(0.0, low[2] - before[2]) + 1e-9
    return bool(closer and floor)
