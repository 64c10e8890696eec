"""Arm drivers (``physres.drivers.arm``): an SO-101-class arm on Feetech STS servos.

``drivers.arm`` (alias ``drivers.so101``) talks to the servos through the vendor's
``feetech-servo-sdk``; CI drives it against :mod:`physres.sim.servobus` on a
pseudo-terminal, and mock mode over the same emulator in memory (``servobus://``).
:mod:`physres.drivers.arm.schema` declares the contract it shares with ``sim.arm``. The
arm's URDF (``so101.urdf``) gives the joint limits, top speeds and the
kinematics end-effector commands go through.
"""

from physres.drivers.arm.kinematics import Kinematics
from physres.drivers.arm.model import SO101_URDF, ArmModel, load_model
from physres.drivers.arm.safety import SafetyMode, limit_joint_step, limit_workspace
from physres.drivers.arm.so101 import SO101, SO101Params
from physres.drivers.arm.sts import STS, StsBus

__all__ = [
    "SO101",
    "SO101_URDF",
    "STS",
    "ArmModel",
    "Kinematics",
    "SO101Params",
    "SafetyMode",
    "StsBus",
    "limit_joint_step",
    "limit_workspace",
    "load_model",
]
