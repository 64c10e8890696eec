"""The arm's own model, read from its URDF: the joint chain, limits, top speeds.

Parsed with the standard library (no physics engine), so ``describe()`` can
declare the limits while disconnected, and forward kinematics is the URDF's
own chain of joint origins and axes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from physres.errors import ConfigError

__all__ = ["SO101_URDF", "ArmModel", "Joint", "load_model"]

SO101_URDF = Path(__file__).with_name("so101.urdf")


@dataclass(frozen=True)
class Joint:
    """One URDF joint: origin (xyz, rpy) in its parent link, axis, limits."""

    name: str
    type: str
    parent: str
    child: str
    xyz: tuple[float, float, float]
    rpy: tuple[float, float, float]
    axis: tuple[float, float, float]
    lower: float = 0.0
    upper: float = 0.0
    velocity: float = 0.0


@dataclass(frozen=True)
class ArmModel:
    """The chain base → tcp plus the gripper joint; revolute joints in chain order."""

    urdf: Path
    chain: tuple[Joint, ...]  # every joint from the base to the tcp link, fixed ones included
    gripper_joint: Joint
    tcp_link: str

    @property
    def arm(self) -> tuple[Joint, ...]:
        return tuple(j for j in self.chain if j.type == "revolute")

    @property
    def joint_names(self) -> tuple[str, ...]:
        """Arm joints then the gripper: the servo order (IDs 1..n)."""
        return (*(j.name for j in self.arm), self.gripper_joint.name)

    @property
    def n_arm(self) -> int:
        return len(self.arm)

    @property
    def lower(self) -> np.ndarray:
        return np.array([j.lower for j in (*self.arm, self.gripper_joint)])

    @property
    def upper(self) -> np.ndarray:
        return np.array([j.upper for j in (*self.arm, self.gripper_joint)])

    @property
    def max_speed(self) -> np.ndarray:
        return np.array([j.velocity for j in (*self.arm, self.gripper_joint)])


def _floats(text: str | None, n: int, where: str) -> tuple[float, ...]:
    vals = tuple(float(v) for v in (text or " ".join(["0"] * n)).split())
    if len(vals) != n:
        raise ConfigError(f"{where}: expected {n} numbers, got {text!r}")
    return vals


@lru_cache(maxsize=8)
def load_model(
    urdf: Path = SO101_URDF, gripper: str = "gripper", tcp_link: str = "tcp"
) -> ArmModel:
    """Parse the chain from the root link to ``tcp_link`` and the ``gripper`` joint."""
    try:
        root = ET.parse(urdf).getroot()
    except (OSError, ET.ParseError) as e:
        raise ConfigError(f"arm URDF {urdf}: cannot parse: {e}") from e
    by_child: dict[str, Joint] = {}
    joints: dict[str, Joint] = {}
    for el in root.iter("joint"):
        name = el.get("name", "")
        where = f"arm URDF {urdf}: joint {name!r}"
        origin, axis, lim = el.find("origin"), el.find("axis"), el.find("limit")
        kind = el.get("type", "")
        if kind == "revolute" and lim is None:
            raise ConfigError(f"{where} is revolute but has no <limit>")
        j = Joint(
            name=name,
            type=kind,
            parent=el.find("parent").get("link", ""),  # type: ignore[union-attr]
            child=el.find("child").get("link", ""),  # type: ignore[union-attr]
            xyz=_floats(None if origin is None else origin.get("xyz"), 3, where),  # type: ignore[arg-type]
            rpy=_floats(None if origin is None else origin.get("rpy"), 3, where),  # type: ignore[arg-type]
            axis=_floats(None if axis is None else axis.get("xyz"), 3, where)
            if axis is not None
            else (1.0, 0.0, 0.0),  # type: ignore[arg-type]
            lower=float(lim.get("lower", 0)) if lim is not None else 0.0,
            upper=float(lim.get("upper", 0)) if lim is not None else 0.0,
            velocity=float(lim.get("velocity", 0)) if lim is not None else 0.0,
        )
        by_child[j.child] = j
        joints[name] = j
    if gripper not in joints:
        raise ConfigError(
            f"arm URDF {urdf}: no gripper joint {gripper!r}; joints are {sorted(joints)}"
        )
    chain: list[Joint] = []
    link = tcp_link
    while link in by_child:
        chain.append(by_child[link])
        link = by_child[link].parent
    if not chain:
        raise ConfigError(f"arm URDF {urdf}: no joint leads to the tcp link {tcp_link!r}")
    return ArmModel(urdf, tuple(reversed(chain)), joints[gripper], tcp_link)
