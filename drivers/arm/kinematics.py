"""Forward and inverse kinematics on the arm's own URDF.

End-effector commands are top-down poses ``(x, y, z, yaw)`` of the ``tcp``
link in the arm's base frame: the gripper points straight down and ``yaw`` is
its rotation about the vertical (0 when the pan and roll joints are at 0).

Forward kinematics composes the URDF's joint origins and axes (any serial
chain). Inverse kinematics is closed-form for the SO-101 structure (pan about
z; lift, elbow and wrist flex about parallel y axes; roll about the tool
axis), with link lengths taken from the same URDF, so it is exact and takes
microseconds; a pose that needs a joint beyond its limits is refused by name.
"""

from __future__ import annotations

import math

import numpy as np

from physres.drivers.arm.model import ArmModel, Joint
from physres.errors import ConfigError, SafetyError

__all__ = ["Kinematics"]


def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues: rotation matrix about a unit ``axis``."""
    x, y, z = axis / np.linalg.norm(axis)
    c, s = math.cos(angle), math.sin(angle)
    C = 1 - c
    return np.array(
        [
            [c + x * x * C, x * y * C - z * s, x * z * C + y * s],
            [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
            [z * x * C - y * s, z * y * C + x * s, c + z * z * C],
        ]
    )


def _rot4(axis: tuple[float, ...], angle: float) -> np.ndarray:
    """4×4 homogeneous rotation about a unit ``axis`` (Rodrigues), built from floats."""
    x, y, z = axis
    c, s = math.cos(angle), math.sin(angle)
    C = 1 - c
    return np.array(
        [
            [c + x * x * C, x * y * C - z * s, x * z * C + y * s, 0.0],
            [y * x * C + z * s, c + y * y * C, y * z * C - x * s, 0.0],
            [z * x * C - y * s, z * y * C + x * s, c + z * z * C, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def _origin(j: Joint) -> np.ndarray:
    r, p, yw = j.rpy
    T = np.eye(4)
    T[:3, :3] = (
        _rot(np.array([0.0, 0, 1]), yw)
        @ _rot(np.array([0.0, 1, 0]), p)
        @ _rot(np.array([1.0, 0, 0]), r)
    )
    T[:3, 3] = j.xyz
    return T


class Kinematics:
    """FK for the URDF chain, closed-form top-down IK for SO-101-like arms."""

    def __init__(self, model: ArmModel) -> None:
        self.model = model
        self._origins = [_origin(j) for j in model.chain]
        # unit axes of the revolute joints (None for fixed ones), normalised once: FK runs
        # on every vector bound for the wire, several times per control period
        self._axes = [
            tuple(float(v) for v in np.array(j.axis) / np.linalg.norm(j.axis))
            if j.type == "revolute"
            else None
            for j in model.chain
        ]
        arm = model.arm
        axes = [tuple(round(a, 6) for a in j.axis) for j in arm]
        if (
            len(arm) != 5
            or axes[0] != (0, 0, 1)
            or axes[4] != (0, 0, 1)
            or any(a != (0, 1, 0) for a in axes[1:4])
            or any(any(j.rpy) for j in model.chain)
        ):
            raise ConfigError(
                f"{model.urdf}: closed-form IK needs pan(z), lift/elbow/flex(y), roll(z) with "
                f"zero rpy; got axes {axes}"
            )
        xyz = {j.name: np.array(j.xyz) for j in model.chain}
        names = [j.name for j in arm]
        after_roll = [j for j in model.chain[model.chain.index(arm[4]) + 1 :]]
        # in-plane geometry, measured in the pan-rotated frame (r forward, z up)
        self._shoulder = xyz[names[0]] + xyz[names[1]]  # lift axis at q_pan=0
        self._l1 = float(xyz[names[2]][2])
        self._l2 = float(xyz[names[3]][2])
        self._d = float(xyz[names[4]][2] + sum(j.xyz[2] for j in after_roll))
        lateral = [xyz[n][:2] for n in names[2:]] + [np.array(j.xyz[:2]) for j in after_roll]
        if self._shoulder[1] or any(np.any(v) for v in lateral):
            raise ConfigError(
                f"{model.urdf}: closed-form IK needs the links along z after the lift"
            )
        self.lower = model.lower[: model.n_arm]
        self.upper = model.upper[: model.n_arm]

    def fk_matrix(self, q_arm: np.ndarray) -> np.ndarray:
        """4×4 pose of the tcp link for arm joint angles (rad), composed from the URDF."""
        T = np.eye(4)
        k = 0
        for origin, axis in zip(self._origins, self._axes):
            T = T @ origin
            if axis is not None:
                T = T @ _rot4(axis, float(q_arm[k]))
                k += 1
        return T

    def fk(self, q_arm: np.ndarray) -> np.ndarray:
        """``(x, y, z, yaw)`` of the tcp; yaw read from the tool x-axis (top-down convention)."""
        T = self.fk_matrix(q_arm)
        # at a top-down pose the tool x-axis is (-cos yaw, -sin yaw, 0)
        return np.array([*T[:3, 3], math.atan2(-T[1, 0], -T[0, 0])])

    def ik(self, pose: np.ndarray) -> np.ndarray:
        """Arm joint angles (elbow up) putting the tcp at ``pose``, pointing down.

        Raises :class:`SafetyError` naming the pose when it is out of reach or
        needs a joint beyond its URDF limits.
        """
        x, y, z, yaw = (float(v) for v in pose)
        pan = math.atan2(y, x)
        r = math.hypot(x, y)
        dx = r - float(self._shoulder[0])
        dz = z + self._d - float(self._shoulder[2])
        l1, l2 = self._l1, self._l2
        c2 = (dx * dx + dz * dz - l1 * l1 - l2 * l2) / (2 * l1 * l2)
        if not -1.0 <= c2 <= 1.0:
            raise SafetyError(
                f"arm pose {np.round(pose, 4).tolist()} (x, y, z m, yaw rad) is out of reach: the "
                f"wrist would be {math.hypot(dx, dz):.4f} m from the shoulder, the arm spans "
                f"{abs(l1 - l2):.4f}..{l1 + l2:.4f} m"
            )
        elbow = math.acos(c2)
        lift = math.atan2(dx, dz) - math.atan2(l2 * math.sin(elbow), l1 + l2 * math.cos(elbow))
        flex = math.pi - lift - elbow
        roll = math.remainder(pan - yaw, 2 * math.pi)
        q = np.array([pan, lift, elbow, flex, roll])
        bad = np.flatnonzero((q < self.lower - 1e-9) | (q > self.upper + 1e-9))
        if bad.size:
            i = int(bad[0])
            raise SafetyError(
                f"arm pose {np.round(pose, 4).tolist()} needs joint {self.model.arm[i].name} = "
                f"{q[i]:.3f} rad, outside its limits [{self.lower[i]:g}, {self.upper[i]:g}] rad"
            )
        return q
