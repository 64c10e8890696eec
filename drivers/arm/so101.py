"""``drivers.arm`` (alias ``drivers.so101``): an SO-101-class arm on a Feetech STS bus.

It keeps the arm contract of :mod:`physres.drivers.arm.schema`, as ``sim.arm``
does: ``action`` (tool deltas from the pose commanded last, gripper, terminate),
``ee`` (a top-down tool pose), ``joints`` (the five arm joints), ``gripper``
(0 closed … 1 open), all in the table frame (``base_pose`` places the arm's
base on the table; the URDF's kinematics map poses to joints). Streams:
``joints``, ``joint_vel``, ``ee``, ``gripper`` read back from the servos, and
``command`` (what was actually sent since the last read).

Safety runs on the host before a byte is written (``safety``: "clip" by
default, or "refuse", or "off"), on every vector that goes on the wire, not
only on the target: ``ee``/``action`` poses and every step toward them stay
inside the workspace box (a shortened step follows the straight tcp line),
every joint inside its URDF limits, joint commands and every step toward them
keep the tcp above the workspace floor, and no joint's commanded goal moves
faster than its URDF velocity (``speed_scale`` of it) over wall time, however
often ``apply`` is called; the servos' goal-speed registers carry the same
limit, so the servos enforce it too.

A servo that stops answering raises :class:`DeviceTimeout` naming it and the
port; the driver then commands every servo to hold where it last was, latches
the fault (``status()["fault"]``) and refuses motion until ``clear_fault()``
finds every servo answering again. ``estop()`` holds (or drops torque) and
latches the same way.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from physres.device import Chunk, Description, Device, command
from physres.drivers.arm.kinematics import Kinematics
from physres.drivers.arm.model import SO101_URDF, ArmModel, load_model
from physres.drivers.arm.safety import (
    SafetyMode,
    box_excess,
    limit_joint_step,
    limit_workspace,
    no_worse,
)
from physres.drivers.arm.schema import (
    FRAME,
    POSE_AXES,
    TERMINATE_THRESHOLD,
    arm_inputs,
    arm_streams,
)
from physres.drivers.arm.sts import STS, StsBus
from physres.errors import DataError, DeviceError, RuleError, SafetyError

__all__ = ["SO101", "SO101Params"]

_RAD_PER_STEP = 2 * math.pi / STS.STEPS_PER_TURN


class SO101Params(BaseModel):
    """Port, servo IDs, calibration and safety of one SO-101-class arm."""

    # nan/inf anywhere (however written: 'nan', '-inf', 1e400) is refused at load: an
    # infinite floor would let the tool be commanded through the table
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    #: any path the SDK can open: /dev/ttyACM0 on the bench, the emulator's pty in CI
    port: str = "/dev/ttyACM0"
    baudrate: int = 1_000_000
    #: servo IDs in URDF joint order (shoulder_pan … wrist_roll, gripper last)
    ids: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    #: reply timeout per transaction; a silent servo is reported after (retries+1) of these
    timeout_s: float = Field(0.02, gt=0, le=2.0)
    retries: int = Field(1, ge=0, le=5)
    #: control period the joint speed limit is measured over (one apply row = 1/rate_hz s)
    rate_hz: float = Field(10.0, gt=0, le=1000)
    safety: SafetyMode = "clip"
    #: tool box in the table frame: x, y, z (m), yaw (rad); the default is reachable top-down
    workspace_low: tuple[float, float, float, float] = (0.10, -0.12, 0.0, -1.57)
    workspace_high: tuple[float, float, float, float] = (0.22, 0.12, 0.10, 1.57)
    #: fraction of the URDF joint velocity limits the driver allows
    speed_scale: float = Field(1.0, gt=0, le=1)
    #: servo steps at joint angle 0, and +1/-1 when the servo turns against the URDF axis
    homing_offset: tuple[int, ...] = (2048, 2048, 2048, 2048, 2048, 2048)
    direction: tuple[int, ...] = (1, 1, 1, 1, 1, 1)
    #: model number every servo must report on ping (777: STS3215); None skips the check
    expect_model: int | None = STS.MODEL_STS3215
    #: the arm base in the table frame (x, y, z m, yaw rad): poses in and out, and the
    #: workspace, are in the table frame, as the simulated arm's are
    base_pose: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    #: e-stop holds position (safe for an arm that would fall) or drops torque
    estop_mode: Literal["hold", "torque_off"] = "hold"
    urdf: str | None = None

    @model_validator(mode="after")
    def _fits_the_arm(self) -> SO101Params:
        """One servo ID, offset and direction per URDF joint; a box that is not inside out."""
        model = load_model(SO101_URDF if self.urdf is None else Path(self.urdf))
        n = len(model.joint_names)
        for key in ("ids", "homing_offset", "direction"):
            if len(getattr(self, key)) != n:
                raise RuleError(
                    key,
                    f"{key} has {len(getattr(self, key))} entries, "
                    f"the arm has {n} joints {list(model.joint_names)}",
                )
        if any(d not in (1, -1) for d in self.direction):
            raise RuleError("direction", f"direction must be ±1, got {self.direction}")
        if any(lo > hi for lo, hi in zip(self.workspace_low, self.workspace_high)):
            raise RuleError(
                "workspace_low",
                f"workspace_low {self.workspace_low} is above workspace_high {self.workspace_high}",
            )
        return self


class SO101(Device):
    """An SO-101-class arm: Feetech STS servos through ``scservo_sdk``."""

    Params = SO101Params
    default_kind = "drivers.so101"
    clock = "wall"
    #: mock mode runs this driver over the servo-bus emulator, in memory (see _connect)
    mock_transport = True
    params: SO101Params

    def __init__(self, name: str | None = None, *, mock: bool = False, **params: Any) -> None:
        super().__init__(name or "arm", mock=mock, **params)
        p = self.params
        self.model: ArmModel = load_model(SO101_URDF if p.urdf is None else Path(p.urdf))
        n = len(self.model.joint_names)
        self.kin = Kinematics(self.model)
        self._bus: StsBus | None = None
        self._mock_url: str | None = None  # servobus:// address while connected in mock mode
        self._port_open = p.port  # the address actually opened (the emulator's in mock mode)
        self.emulator: Any = None  # mock mode: the in-memory ServoBus under the SDK
        self._io = threading.RLock()
        self._q_ref = np.zeros(n)  # last commanded target (rad): the speed limit's reference
        self._q_present = np.zeros(n)  # last read positions (rad): where a hold holds
        self._sent: list[np.ndarray] = []
        self._sent_t0 = 0
        #: the time the last goal vector stands for (never after it was written): the
        #: speed limit's clock
        self._t_sent = time.monotonic()
        self._ws_low = np.array(p.workspace_low)
        self._ws_high = np.array(p.workspace_high)

    # ------------------------------------------------------------ describe
    @property
    def max_speed(self) -> np.ndarray:
        """Allowed joint speeds (rad/s): URDF velocity limits × ``speed_scale``."""
        return self.model.max_speed * self.params.speed_scale

    def describe(self) -> Description:
        p, m = self.params, self.model
        na = m.n_arm
        arm = m.joint_names[:na]
        lo, hi = float(m.lower[:na].min()), float(m.upper[:na].max())
        return self._description(
            streams=arm_streams(arm, p.rate_hz),
            inputs=arm_inputs(arm, lo, hi, p.rate_hz),
            meta={
                "joint_names": list(m.joint_names),
                "servo_ids": list(p.ids),
                "joint_lower_rad": m.lower.tolist(),
                "joint_upper_rad": m.upper.tolist(),
                "max_joint_speed_rad_s": self.max_speed.tolist(),
                "workspace": {
                    "low": list(p.workspace_low),
                    "high": list(p.workspace_high),
                    "axes": list(POSE_AXES),
                    "frame": FRAME,
                },
                "base_pose": list(p.base_pose),
                "safety": p.safety,
                "port": p.port,
                "urdf": str(m.urdf),
            },
        )

    # ----------------------------------------------------------- frames
    def _fk(self, q_arm: np.ndarray) -> np.ndarray:
        """Tool pose in the table frame for arm joint angles."""
        x, y, z, yaw = self.kin.fk(q_arm)
        bx, by, bz, byaw = self.params.base_pose
        c, s = math.cos(byaw), math.sin(byaw)
        return np.array(
            [bx + c * x - s * y, by + s * x + c * y, bz + z, math.remainder(yaw + byaw, math.tau)]
        )

    def _ik(self, pose: np.ndarray) -> np.ndarray:
        """Arm joint angles for a tool pose in the table frame (SafetyError if unreachable)."""
        x, y, z, yaw = (float(v) for v in pose)
        bx, by, bz, byaw = self.params.base_pose
        c, s = math.cos(byaw), math.sin(byaw)
        dx, dy = x - bx, y - by
        return self.kin.ik(
            np.array(
                [c * dx + s * dy, -s * dx + c * dy, z - bz, math.remainder(yaw - byaw, math.tau)]
            )
        )

    # ----------------------------------------------------------- conversions
    def _to_steps(self, q: np.ndarray) -> np.ndarray:
        p = self.params
        steps = np.array(p.homing_offset) + np.array(p.direction) * q / _RAD_PER_STEP
        return np.clip(np.round(steps), 0, STS.STEPS_PER_TURN - 1).astype(int)

    def _to_rad(self, steps: np.ndarray) -> np.ndarray:
        p = self.params
        return (steps - np.array(p.homing_offset)) * np.array(p.direction) * _RAD_PER_STEP

    def _gripper_rad(self, fraction: float) -> float:
        lo, hi = self.model.lower[-1], self.model.upper[-1]
        return float(lo + np.clip(fraction, 0.0, 1.0) * (hi - lo))

    # ------------------------------------------------------------ lifecycle
    def _connect(self) -> None:
        """Open the configured port; in mock mode, this driver, the SDK and the emulator's
        servos with the bytes in memory (``servobus://``) instead of on a pty, so clipping,
        refusing, faults and e-stop behave exactly as on the real port (``self.emulator``
        is those servos)."""
        if not self.mock:
            self._open(self.params.port)
            return
        # a name never attached: the URL handler (beyond the wire) makes a fresh bus for it
        self._mock_url = f"servobus://{self.name}-{secrets.token_hex(4)}"
        self._open(self._mock_url)
        assert self._bus is not None
        self.emulator = getattr(self._bus.serial, "bus", None)

    def _open(self, port: str) -> None:
        p = self.params
        self._port_open = port
        bus = StsBus(port, p.baudrate, p.timeout_s, p.retries)
        bus.open()
        try:
            for sid in p.ids:
                model = bus.ping(sid)
                if p.expect_model is not None and model != p.expect_model:
                    raise DeviceError(
                        f"servo {sid} on {port} is model {model}, expected {p.expect_model} "
                        "(set expect_model to accept it)"
                    )
            self._bus = bus
            q = self._read_present()[0]
            self._q_ref = q.copy()
            self._send(q)  # goal := present, speed limits set: nothing moves on connect
            self._t_sent = time.monotonic()
            bus.sync_write(STS.TORQUE_ENABLE, {sid: [1] for sid in p.ids})
        except Exception:
            self._bus = None
            bus.close()
            raise
        self._fault = None
        self._sent = []

    def _disconnect(self) -> None:
        if self._bus is not None:
            self._bus.close()
            self._bus = None
        self._mock_url = None  # its emulator went with the port

    def _reset(self, seed: int | None) -> None:
        """A real arm has no seed: forget pending commands and re-anchor at the present pose."""
        with self._io:
            self._sent = []
            if self._fault is None:
                self._q_ref = self._read_present()[0]

    # ------------------------------------------------------------- bus I/O
    def _read_present(self) -> tuple[np.ndarray, np.ndarray]:
        assert self._bus is not None
        ids = self.params.ids
        try:
            raw = self._bus.sync_read(STS.PRESENT_POSITION, 4, ids)
        except DeviceError as e:
            self._trip(str(e))
            raise
        pos = np.array([int.from_bytes(raw[s][0:2], "little") for s in ids], dtype=float)
        spd = np.array([_signed(int.from_bytes(raw[s][2:4], "little")) for s in ids], dtype=float)
        q = self._to_rad(pos)
        self._q_present = q
        return q, spd * np.array(self.params.direction) * _RAD_PER_STEP

    def _send(self, q: np.ndarray) -> None:
        """One sync write: goal position, goal time 0, goal speed = the joint's speed limit."""
        assert self._bus is not None
        steps = self._to_steps(q)
        speed = np.maximum(1, np.round(self.max_speed / _RAD_PER_STEP)).astype(int)
        payload = {
            sid: [*_le16(int(steps[i])), 0, 0, *_le16(int(speed[i]))]
            for i, sid in enumerate(self.params.ids)
        }
        try:
            self._bus.sync_write(STS.GOAL_POSITION, payload)
        except DeviceError as e:
            self._trip(str(e))
            raise

    def _trip(self, reason: str) -> None:
        """Latch a fault and command every servo to hold where it last was (best effort)."""
        self._fault = reason
        if self._bus is None:
            return
        steps = self._to_steps(self._q_present)
        with contextlib.suppress(DeviceError):  # if the bus itself is gone, the fault stands
            self._bus.sync_write(
                STS.GOAL_POSITION,
                {sid: list(_le16(int(steps[i]))) for i, sid in enumerate(self.params.ids)},
            )

    # --------------------------------------------------------------- apply
    def _apply(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._io:
            if self._fault is not None:
                raise DeviceError(
                    f"{self.name} on {self._port_open} is faulted ({self._fault}); motion is "
                    "refused until clear_fault() succeeds"
                )
            motion = [k for k in ("ee", "joints", "action") if k in inputs]
            if len(motion) > 1:
                raise DataError(
                    f"{self.name}.apply(): give one of 'ee', 'joints', 'action'; got {motion}"
                )
            T = max(a.shape[0] for a in inputs.values())
            na = self.model.n_arm
            period = 1.0 / self.params.rate_hz
            # the speed limit is over wall time: the first row may move only as far as max
            # speed covers from the last vector's time to now (at most one period, so an
            # idle arm banks nothing), each later row one period; and no row is written
            # before its time, so the goals on the wire never run ahead of that clock
            t0 = time.monotonic()
            dt = min(period, max(0.0, t0 - self._t_sent))
            q_rows, ee_rows = [], []
            q_prev = self._q_ref
            for t in range(T):  # plan and check every row before anything is sent
                q = self._plan_row(inputs, t, q_prev, dt)
                q_rows.append(q)
                ee_rows.append(self._fk(q[:na]))
                q_prev, dt = q, period
            w0 = time.monotonic()  # row 0 goes out now; row t not before w0 + t periods
            for t, q in enumerate(q_rows):
                if t:
                    time.sleep(max(0.0, w0 + t * period - time.monotonic()))
                self._send(q)
                self._t_sent = w0 + t * period if t else t0
                if not self._sent:
                    self._sent_t0 = self.now_ns()
                self._sent.append(q)
                self._q_ref = q
            qs = np.array(q_rows)
            sent = {"joints": qs[:, :na], "gripper": self._fraction(qs[:, na])}
            if "ee" in inputs or "action" in inputs:
                sent["ee"] = np.array(ee_rows)  # the pose actually commanded, after all limits
            return sent

    def _fraction(self, g: np.ndarray) -> np.ndarray:
        lo, hi = self.model.lower[-1], self.model.upper[-1]
        return (g - lo) / (hi - lo)

    def _plan_row(
        self, inputs: dict[str, np.ndarray], t: int, q_prev: np.ndarray, dt: float
    ) -> np.ndarray:
        """The vector for row ``t``: limits applied to its target, then a step from
        ``q_prev`` no longer than ``dt`` of max speed, then the wire guard on that step."""
        p, m = self.params, self.model
        na = m.n_arm
        q = q_prev.copy()

        def row(key: str) -> np.ndarray:
            a = inputs[key]
            return a[min(t, a.shape[0] - 1)].astype(float)

        if "action" in inputs and row("action")[5] > TERMINATE_THRESHOLD:
            return q  # "done": the contract moves nothing on a terminating row
        if "ee" in inputs or "action" in inputs:
            key = "ee" if "ee" in inputs else "action"
            if key == "ee":
                target = row("ee")
            else:  # the sim's action layout: deltas from the pose commanded last
                target = self._fk(q_prev[:na]) + row("action")[:4]
            where = f"{self.name}.{key}"
            pose = limit_workspace(target, self._ws_low, self._ws_high, p.safety, where)
            q[:na] = self._arm_step(self._ik(pose), pose, q_prev[:na], dt, where)
        elif "joints" in inputs:
            qa = row("joints")
            lo, hi = m.lower[:na], m.upper[:na]
            bad = np.flatnonzero((qa < lo) | (qa > hi))
            if bad.size and p.safety == "refuse":
                i = int(bad[0])
                raise SafetyError(
                    f"{self.name}.joints: {m.joint_names[i]} = {qa[i]:.4f} rad is outside its "
                    f"limits [{lo[i]:g}, {hi[i]:g}] rad; nothing was sent"
                )
            if p.safety != "off":
                qa = np.clip(qa, lo, hi)
                z = self._fk(qa)[2]
                if z < self._ws_low[2]:
                    raise SafetyError(
                        f"{self.name}.joints {np.round(qa, 4).tolist()} put the tcp at z = "
                        f"{z:.4f} m, below the workspace floor {self._ws_low[2]:.4f} m; "
                        "nothing was sent"
                    )
            q[:na] = self._arm_step(qa, None, q_prev[:na], dt, f"{self.name}.joints")
        if "gripper" in inputs:
            q[na] = self._gripper_rad(float(row("gripper")))
        elif "action" in inputs:
            q[na] = self._gripper_rad(0.0 if row("action")[4] > 0 else 1.0)  # > 0 closes
        q[na:] = limit_joint_step(
            q[na:], q_prev[na:], self.max_speed[na:], dt, p.safety, m.joint_names[na:], self.name
        )
        return q

    def _arm_step(
        self,
        goal: np.ndarray,
        pose: np.ndarray | None,
        q_prev: np.ndarray,
        dt: float,
        where: str,
    ) -> np.ndarray:
        """One step of the arm joints toward ``goal`` (from tcp ``pose`` when given).

        A step the speed limit shortens goes along the straight tcp line to
        ``pose`` (a box is convex, so every point on it is inside), else along
        the joint-space line; either way :meth:`_guard` checks the vector itself.
        """
        mode = self.params.safety
        if mode == "off":
            return goal
        names = self.model.joint_names[: self.model.n_arm]
        vmax = self.max_speed[: self.model.n_arm]
        step = limit_joint_step(goal, q_prev, vmax, dt, mode, names, self.name)
        if pose is not None and not np.array_equal(step, goal):
            line = self._along_tcp_line(pose, q_prev, vmax * dt)
            step = step if line is None else line
        return self._guard(step, q_prev, where, in_box=pose is not None)

    def _along_tcp_line(
        self, pose: np.ndarray, q_prev: np.ndarray, allowed: np.ndarray
    ) -> np.ndarray | None:
        """Joints at the farthest point toward ``pose`` on the straight tcp line from the
        present command that ``allowed`` (rad per joint) reaches; None when the present
        command is no top-down pose (after a joint command) or no point is reachable."""
        p0 = self._fk(q_prev)
        try:
            if np.abs(self._ik(p0) - q_prev).max() > 1e-6:
                return None
        except SafetyError:
            return None
        best, lo, hi = None, 0.0, 1.0
        for _ in range(20):  # bisection: to 1e-6 of the line, microseconds per IK
            mid = (lo + hi) / 2
            try:
                q = self._ik(p0 + mid * (pose - p0))
            except SafetyError:
                hi = mid
                continue
            if (np.abs(q - q_prev) <= allowed + 1e-12).all():
                best, lo = q, mid
            else:
                hi = mid
        return best

    def _guard(self, q: np.ndarray, q_prev: np.ndarray, where: str, in_box: bool) -> np.ndarray:
        """Check the very vector bound for the wire, not only the command's target.

        Its tcp (x, y, z; yaw cannot hit anything) must stay above the floor and,
        for tcp commands, inside the box, or come closer to it when the arm starts
        outside (:func:`no_worse`). Clip shortens the step until it is; refuse raises.
        """
        if in_box:
            low, high = self._ws_low, self._ws_high
        else:
            low = np.array([-np.inf, -np.inf, self._ws_low[2], -np.inf])
            high = np.full(4, np.inf)
        before = self._fk(q_prev)
        pose = self._fk(q)
        if no_worse(pose, before, low, high):
            return q
        if self.params.safety == "refuse":
            i = int(np.argmax(box_excess(pose[:3], low[:3], high[:3])))
            raise SafetyError(
                f"{where}: a step on the way would put the tcp at {'xyz'[i]} = {pose[i]:.4f} m, "
                f"outside the workspace [{low[i]:.4f}, {high[i]:.4f}] m; nothing was sent"
            )
        lo, hi = 0.0, 1.0  # q_prev itself is always acceptable: shorten toward it
        for _ in range(20):
            mid = (lo + hi) / 2
            if no_worse(self._fk(q_prev + mid * (q - q_prev)), before, low, high):
                lo = mid
            else:
                hi = mid
        return q_prev + lo * (q - q_prev)

    # ---------------------------------------------------------------- read
    def _read(self) -> dict[str, Chunk]:
        with self._io:
            t = self.now_ns()
            q, qd = self._read_present()
            na = self.model.n_arm
            ee = self._fk(q[:na])
            sent = np.array(self._sent) if self._sent else np.zeros((0, na + 1))
            sent[:, na] = self._fraction(sent[:, na])  # the gripper as the contract has it
            t_sent = self._sent_t0 if self._sent else t
            self._sent = []
            meta = {"fault": self._fault}
            return {
                "joints": Chunk(q[None, :na], t, meta),
                "joint_vel": Chunk(qd[None, :na], t, meta),
                "ee": Chunk(ee[None], t, meta),
                "gripper": Chunk(self._fraction(q[None, na]), t, meta),
                "command": Chunk(sent, t_sent, meta),
            }

    # ------------------------------------------------------------- commands
    @command
    def estop(self) -> dict[str, Any]:
        """Stop now: hold the present pose (or drop torque) and refuse motion until cleared."""
        with self._io:
            if self._bus is not None:
                if self.params.estop_mode == "torque_off":
                    self._bus.sync_write(STS.TORQUE_ENABLE, {sid: [0] for sid in self.params.ids})
                else:
                    with contextlib.suppress(DeviceError):  # else hold the last known pose
                        self._read_present()
                    self._trip("e-stop")
            self._fault = "e-stop"
            return self.status()

    @command
    def clear_fault(self) -> dict[str, Any]:
        """Clear a latched fault once every servo answers again; re-anchor at the present pose."""
        with self._io:
            if self._bus is not None:
                for sid in self.params.ids:
                    self._bus.ping(sid)  # raises DeviceTimeout naming a servo still silent
                q = self._read_present()[0]
                self._q_ref = q.copy()
                self._fault = None
                self._send(q)
                self._t_sent = time.monotonic()
                self._bus.sync_write(STS.TORQUE_ENABLE, {sid: [1] for sid in self.params.ids})
            self._fault = None
            return self.status()


def _signed(v: int) -> int:
    """STS sign-magnitude (bit 15) to a Python int."""
    return -(v & 0x7FFF) if v & 0x8000 else v


def _le16(v: int) -> tuple[int, int]:
    return v & 0xFF, (v >> 8) & 0xFF
