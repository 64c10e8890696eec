"""Simulated STS servos: the control table a real one exposes and its motion.

The memory map follows the STS3215 (the servo in SO-100/SO-101 arms): 4096
steps a turn, goal position/time/speed at 42/44/46, present position/speed/
load at 56/58/60, torque enable at 40, acceleration (×100 step/s²) at 41.

Motion is a pure vectorised step, :func:`servo_step`, over all servos of a bus:
a trapezoidal velocity profile toward the goal, bounded by the smaller of the
goal speed register and the joint's own top speed (load and gearing make the
shoulder slower than the wrist), and by the acceleration register or the
joint's own acceleration limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ADDR",
    "STS3215_MODEL",
    "JointModel",
    "ServoState",
    "servo_step",
    "sign_magnitude",
]

STS3215_MODEL = 777

#: name → (address, size in bytes); the registers the emulator models explicitly
ADDR: dict[str, tuple[int, int]] = {
    "firmware_major": (0, 1),
    "firmware_minor": (1, 1),
    "model": (3, 2),
    "id": (5, 1),
    "baud_rate": (6, 1),
    "return_delay": (7, 1),
    "status_return_level": (8, 1),
    "min_angle_limit": (9, 2),
    "max_angle_limit": (11, 2),
    "max_temperature": (13, 1),
    "max_torque": (16, 2),
    "p_coefficient": (21, 1),
    "d_coefficient": (22, 1),
    "i_coefficient": (23, 1),
    "homing_offset": (31, 2),
    "operating_mode": (33, 1),
    "torque_enable": (40, 1),
    "acceleration": (41, 1),
    "goal_position": (42, 2),
    "goal_time": (44, 2),
    "goal_speed": (46, 2),
    "torque_limit": (48, 2),
    "lock": (55, 1),
    "present_position": (56, 2),
    "present_speed": (58, 2),
    "present_load": (60, 2),
    "present_voltage": (62, 1),
    "present_temperature": (63, 1),
    "moving": (66, 1),
    "present_current": (69, 2),
}
#: registers the host may not write (the servo ignores such writes, as the real one does)
READ_ONLY = frozenset(
    a for name in ("model", "present_position", "present_speed", "present_load",
                   "present_voltage", "present_temperature", "moving", "present_current",
                   "firmware_major", "firmware_minor")
    for a in range(ADDR[name][0], ADDR[name][0] + ADDR[name][1])
)


def sign_magnitude(value: int, bit: int = 15) -> int:
    """Encode a signed value the STS way: magnitude with the sign in ``bit``."""
    return (-value | (1 << bit)) if value < 0 else value


@dataclass(frozen=True)
class JointModel:
    """One joint's physical limits as the emulator enforces them."""

    max_speed: float = 3000.0  # steps/s the servo reaches under this joint's load
    max_accel: float = 20000.0  # steps/s² when the acceleration register is 0
    deadband: float = 1.0  # steps: within this of the goal the servo stops


@dataclass
class ServoState:
    """Vectorised state of all servos on one bus (index = position in the ID list)."""

    pos: np.ndarray  # steps (float)
    vel: np.ndarray  # steps/s

    @classmethod
    def at(cls, pos: np.ndarray) -> ServoState:
        pos = np.asarray(pos, dtype=np.float64)
        return cls(pos=pos.copy(), vel=np.zeros_like(pos))


def servo_step(
    state: ServoState,
    goal: np.ndarray,
    vmax: np.ndarray,
    amax: np.ndarray,
    enabled: np.ndarray,
    dt: float,
) -> ServoState:
    """Advance every servo by ``dt`` seconds toward ``goal`` (pure).

    The desired speed is ``min(vmax, sqrt(2 amax |err|))`` toward the goal, so
    the servo brakes in time and lands without overshoot; the actual speed
    follows it at most ``amax`` per second. Torque-off servos coast to a stop.
    """
    err = goal - state.pos
    v_des = np.sign(err) * np.minimum(vmax, np.sqrt(2.0 * amax * np.abs(err)))
    v_des = np.where(enabled, v_des, 0.0)
    dv = np.clip(v_des - state.vel, -amax * dt, amax * dt)
    vel = state.vel + dv
    pos = state.pos + vel * dt
    # landing: do not step past the goal within one step
    crossed = enabled & (np.sign(goal - pos) != np.sign(err)) & (err != 0)
    pos = np.where(crossed, goal, pos)
    vel = np.where(crossed, 0.0, vel)
    return ServoState(pos=pos, vel=vel)
