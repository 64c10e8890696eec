"""The action spec: what one control step of the tabletop arm means, saved with every dataset.

A policy trained on one spec must not silently run on another, so the spec is
plain data (``to_dict``/``from_dict``) that datasets and checkpoints store and
compare. One action is a float vector ``[dx, dy, dz, dyaw, gripper, terminate]``:

* ``dx, dy, dz`` — end-effector (grasp point) displacement in the table frame,
  metres per control step (x away from the robot base, y to the robot's left,
  z up; the table top is z = 0);
* ``dyaw`` — rotation of the gripper about the vertical axis, radians per step;
* ``gripper`` — ``> 0`` closes, ``<= 0`` opens (a sign, so a regressor's mean works);
* ``terminate`` — ``> 0.5`` ends the episode (the policy says "done").

Out-of-bound values are **clipped** to the bounds (``on_violation="clip"``, the
default, and what ``step`` reports back in ``info["action_applied"]``) or
**refused** with :class:`ActionError` (``"refuse"``). Non-finite values are
always refused: a NaN carries no safe interpretation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from physres.errors import SafetyError

__all__ = ["ACTION_SPEC", "ActionError", "ActionSpec"]


class ActionError(SafetyError):
    """An action is outside the action spec (refused) or malformed."""


@dataclass(frozen=True, kw_only=True)
class ActionSpec:
    """Layout, units and bounds of one tabletop action (see module docstring)."""

    names: tuple[str, ...] = ("dx", "dy", "dz", "dyaw", "gripper", "terminate")
    units: tuple[str, ...] = ("m", "m", "m", "rad", "sign", "flag")
    low: tuple[float, ...] = (-0.05, -0.05, -0.05, -0.25, -1.0, 0.0)
    high: tuple[float, ...] = (0.05, 0.05, 0.05, 0.25, 1.0, 1.0)
    frame: str = "table"
    control_hz: float = 10.0
    physics_hz: float = 240.0
    #: workspace box the commanded grasp point is clipped to: (x, y, z) low and high, metres
    workspace_low: tuple[float, float, float] = (0.25, -0.40, 0.005)
    workspace_high: tuple[float, float, float] = (0.80, 0.40, 0.45)
    #: commanded gripper yaw is clipped to ±yaw_limit (the gripper is symmetric under π)
    yaw_limit: float = 1.9
    gripper_threshold: float = 0.0
    terminate_threshold: float = 0.5
    version: int = 1

    @property
    def dim(self) -> int:
        return len(self.names)

    @property
    def low_array(self) -> np.ndarray:
        return np.asarray(self.low, dtype=np.float32)

    @property
    def high_array(self) -> np.ndarray:
        return np.asarray(self.high, dtype=np.float32)

    def validate(
        self, action: Any, *, on_violation: Literal["clip", "refuse"] = "clip"
    ) -> np.ndarray:
        """Return the action as float32 within bounds, clipped or refused per ``on_violation``."""
        try:
            a = np.asarray(action, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as e:
            raise ActionError(f"action {action!r} is not a numeric vector") from e
        if a.shape != (self.dim,):
            raise ActionError(
                f"action has {a.size} values, expected {self.dim}: {list(self.names)}"
            )
        if not np.isfinite(a).all():
            i = int(np.flatnonzero(~np.isfinite(a))[0])
            raise ActionError(f"action {self.names[i]} = {a[i]} is not finite")
        lo, hi = np.asarray(self.low), np.asarray(self.high)
        bad = np.flatnonzero((a < lo) | (a > hi))
        if bad.size and on_violation == "refuse":
            i = int(bad[0])
            raise ActionError(
                f"action {self.names[i]} = {a[i]:g} {self.units[i]} is outside "
                f"[{lo[i]:g}, {hi[i]:g}] {self.units[i]} (on_violation='refuse')"
            )
        return np.clip(a, lo, hi).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """JSON/msgpack-able form stored with datasets and checkpoints."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ActionSpec:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


#: The spec every TabletopEnv uses; datasets save ``ACTION_SPEC.to_dict()``.
ACTION_SPEC = ActionSpec()
