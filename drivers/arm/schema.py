"""The arm contract: the inputs and streams every arm kind declares, in one place.

``sim.arm`` (the pybullet Panda) and ``drivers.arm``/``drivers.so101`` (a servo
arm) take the same inputs in the same frame and publish the same streams, so a
config switches between them by ``kind`` alone and ``mock.arm`` is one thing.
Only the joint count differs: it is declared, not assumed.

Frame: poses are ``(x, y, z, yaw)`` of the tool's grasp point in the *table*
frame (x away from the robot, y to its left, z up from the table top; yaw about
the vertical), the tool pointing straight down.

Inputs (any subset per ``apply``, one of ``action``/``ee``/``joints``):

* ``action`` — ``[dx, dy, dz, dyaw, gripper, terminate]``: tool deltas from the
  pose commanded last (m, rad), gripper ``> 0`` closes, terminate ``> 0.5``
  says the episode is done (the caller's business: no motion);
* ``ee`` — an absolute tool pose; ``joints`` — arm joint targets (rad);
* ``gripper`` — 0 closed … 1 open.

Streams: ``joints``/``joint_vel`` (arm joints, read back), ``ee`` (the tool pose
from them), ``gripper`` (opening), ``command`` (arm joint targets and gripper
opening actually sent, after safety).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from physres.device import InputSpec, Limits, StreamSpec

__all__ = [
    "ACTION_NAMES",
    "FRAME",
    "POSE_AXES",
    "TERMINATE_THRESHOLD",
    "arm_inputs",
    "arm_streams",
]

ACTION_NAMES = ("dx", "dy", "dz", "dyaw", "gripper", "terminate")
#: an action row whose terminate is above this moves nothing (the tabletop spec's value)
TERMINATE_THRESHOLD = 0.5
POSE_AXES = ("x m", "y m", "z m", "yaw rad")
FRAME = "table"


def arm_inputs(
    joint_names: Sequence[str], lower: float, upper: float, rate_hz: float
) -> list[InputSpec]:
    """The inputs of an arm with these joints (``lower``/``upper``: the widest joint range)."""
    r = rate_hz
    return [
        InputSpec(
            name="action",
            shape=(6,),
            units="m, m, m, rad, sign, flag",
            rate_hz=r,
            limits=Limits(low=-1.0, high=1.0),
            doc=f"{list(ACTION_NAMES)}: tool deltas in the {FRAME} frame from the pose "
            "commanded last; gripper > 0 closes; terminate > 0.5 ends the episode (no motion)",
        ),
        InputSpec(
            name="ee",
            shape=(4,),
            units="m, m, m, rad",
            rate_hz=r,
            limits=Limits(low=-math.pi, high=math.pi),
            doc=f"top-down tool pose (x, y, z, yaw) in the {FRAME} frame",
        ),
        InputSpec(
            name="joints",
            shape=(len(joint_names),),
            units="rad",
            rate_hz=r,
            limits=Limits(low=lower, high=upper),
            doc=f"arm joint targets {list(joint_names)}",
        ),
        InputSpec(
            name="gripper",
            shape=(),
            units="fraction open",
            rate_hz=r,
            limits=Limits(low=0.0, high=1.0),
            doc="0 closed … 1 open",
        ),
    ]


def arm_streams(joint_names: Sequence[str], rate_hz: float) -> list[StreamSpec]:
    """The streams of an arm with these joints (a camera is each kind's own extra)."""
    n, r = len(joint_names), rate_hz
    return [
        StreamSpec(
            name="joints",
            shape=(n,),
            units="rad",
            rate_hz=r,
            carries="state",
            doc=f"arm joint angles {list(joint_names)}",
        ),
        StreamSpec(
            name="joint_vel",
            shape=(n,),
            units="rad/s",
            rate_hz=r,
            carries="state",
            doc="arm joint speeds",
        ),
        StreamSpec(
            name="ee",
            shape=(4,),
            units="m, m, m, rad",
            rate_hz=r,
            carries="state",
            doc=f"tool pose (x, y, z, yaw) in the {FRAME} frame, from the joints",
        ),
        StreamSpec(
            name="gripper",
            shape=(),
            units="fraction open",
            rate_hz=r,
            carries="state",
            doc="gripper opening, 0 closed … 1 open",
        ),
        StreamSpec(
            name="command",
            shape=(n + 1,),
            units="rad, fraction open",
            rate_hz=r,
            doc="arm joint targets and gripper opening actually sent (after safety)",
        ),
    ]
