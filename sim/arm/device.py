"""``sim.arm``: the pybullet Panda on its tabletop as a physres Device.

The same contract as ``drivers.so101`` (a real servo arm), so a controller
node switches between them by one config line. Inputs (any subset per
``apply``; each row is one 10 Hz control period of 24 physics steps):
``ee`` — a top-down grasp-point pose ``(x, y, z, yaw)`` in the table frame,
solved by pybullet IK; ``joints`` — the seven arm joints (rad); ``gripper`` —
0 closed … 1 open. Streams: ``joints``, ``joint_vel``, ``ee``, ``gripper``
(state after each applied row), ``command`` (joint targets actually sent,
after safety) and, with ``camera=True``, ``image`` from the scene camera.

Safety runs before the simulator sees a command (``safety``: "clip" by
default, "refuse" or "off"), with the same pure functions as the real arm:
``ee`` poses stay inside the workspace box, joints inside the URDF limits and
no joint moves faster than its URDF velocity × ``speed_scale``. ``estop()``
holds the present pose and refuses motion until ``clear_fault()``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from physres.device import Chunk, Description, Device, InputSpec, Limits, StreamSpec, command
from physres.drivers.arm.safety import SafetyMode, limit_joint_step, limit_workspace
from physres.errors import DataError, DeviceError, SafetyError
from physres.sim.arm.scene import ARM_JOINTS, HOME_JOINTS, Scene
from physres.sim.arm.spec import ACTION_SPEC
from physres.sim.arm.tasks import TASKS, make_task

__all__ = ["SimArm", "SimArmParams"]

_JOINT_NAMES = tuple(f"panda_joint{i}" for i in range(1, 8))
# URDF values (franka_panda/panda.urdf): position limits and top speeds per joint
_Q_LOW = np.array([-2.9671, -1.8326, -2.9671, -3.1416, -2.9671, -0.0873, -2.9671])
_Q_HIGH = np.array([2.9671, 1.8326, 2.9671, 0.0, 2.9671, 3.8223, 2.9671])
_Q_SPEED = np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61])


class SimArmParams(BaseModel):
    """The world to load and the safety settings of the simulated Panda."""

    # nan/inf (however written) is refused at load: an infinite floor is no floor
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    #: which task layout to put on the table (objects to interact with)
    task: str = "pick_place"
    #: layout seed used by connect(); reset(seed=) overrides it
    seed: int = 0
    #: control rate: one apply row advances the physics by 1/rate_hz s
    rate_hz: float = Field(10.0, gt=0, le=240)
    camera: bool = False
    render_size: int = Field(64, ge=16, le=512)
    safety: SafetyMode = "clip"
    speed_scale: float = Field(1.0, gt=0, le=1)
    workspace_low: tuple[float, float, float, float] = (
        *ACTION_SPEC.workspace_low,
        -ACTION_SPEC.yaw_limit,
    )
    workspace_high: tuple[float, float, float, float] = (
        *ACTION_SPEC.workspace_high,
        ACTION_SPEC.yaw_limit,
    )

    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str) -> str:
        if v not in TASKS:
            raise TASKS.unknown(v)
        return v


class SimArm(Device):
    """The simulated Panda (see module docstring)."""

    Params = SimArmParams
    default_kind = "sim.arm"
    clock = "stepped"
    params: SimArmParams

    def __init__(self, name: str | None = None, *, mock: bool = False, **params: Any) -> None:
        super().__init__(name or "arm", mock=mock, **params)
        self._scene: Scene | None = None
        self._q_ref = np.asarray(HOME_JOINTS, dtype=float)
        self._rows: dict[str, list[np.ndarray]] = {}
        self._rows_t0 = 0
        self._ws_low = np.asarray(self.params.workspace_low, dtype=float)
        self._ws_high = np.asarray(self.params.workspace_high, dtype=float)

    # ------------------------------------------------------------ describe
    @property
    def max_speed(self) -> np.ndarray:
        return _Q_SPEED * self.params.speed_scale

    def describe(self) -> Description:
        p = self.params
        r = p.rate_hz
        streams = [
            StreamSpec(
                name="joints",
                shape=(7,),
                units="rad",
                rate_hz=r,
                kind="state",
                doc=f"joint angles {list(_JOINT_NAMES)}",
            ),
            StreamSpec(
                name="joint_vel",
                shape=(7,),
                units="rad/s",
                rate_hz=r,
                kind="state",
                doc="joint speeds",
            ),
            StreamSpec(
                name="ee",
                shape=(4,),
                units="m, m, m, rad",
                rate_hz=r,
                kind="state",
                doc="grasp-point pose (x, y, z, yaw) in the table frame",
            ),
            StreamSpec(
                name="gripper",
                shape=(),
                units="fraction open",
                rate_hz=r,
                kind="state",
                doc="finger opening, 0 closed … 1 open (8 cm)",
            ),
            StreamSpec(
                name="command",
                shape=(8,),
                units="rad, fraction open",
                rate_hz=r,
                doc="joint targets and gripper actually sent (after safety)",
            ),
        ]
        if p.camera:
            streams.append(
                StreamSpec(
                    name="image",
                    dtype="|u1",
                    shape=(p.render_size, p.render_size, 3),
                    rate_hz=r,
                    kind="frame",
                    units="rgb",
                    doc="fixed scene camera (tiny renderer)",
                )
            )
        return self._description(
            streams=streams,
            inputs=[
                InputSpec(
                    name="ee",
                    shape=(4,),
                    units="m, m, m, rad",
                    rate_hz=r,
                    limits=Limits(low=-math.pi, high=math.pi),
                    doc="top-down grasp-point pose (x, y, z, yaw), table frame",
                ),
                InputSpec(
                    name="joints",
                    shape=(7,),
                    units="rad",
                    rate_hz=r,
                    limits=Limits(low=float(_Q_LOW.min()), high=float(_Q_HIGH.max())),
                    doc=f"arm joint targets {list(_JOINT_NAMES)}",
                ),
                InputSpec(
                    name="gripper",
                    shape=(),
                    units="fraction open",
                    rate_hz=r,
                    limits=Limits(low=0.0, high=1.0),
                    doc="0 closed … 1 open",
                ),
            ],
            meta={
                "joint_names": list(_JOINT_NAMES),
                "joint_lower_rad": _Q_LOW.tolist(),
                "joint_upper_rad": _Q_HIGH.tolist(),
                "max_joint_speed_rad_s": self.max_speed.tolist(),
                "workspace": {
                    "low": list(p.workspace_low),
                    "high": list(p.workspace_high),
                    "axes": ["x m", "y m", "z m", "yaw rad"],
                    "frame": "table",
                },
                "safety": p.safety,
                "task": p.task,
                "physics_hz": ACTION_SPEC.physics_hz,
            },
        )

    # ------------------------------------------------------------ lifecycle
    def _connect(self) -> None:
        p = self.params
        self._scene = Scene(render_size=p.render_size)
        self._build(p.seed)

    def _disconnect(self) -> None:
        if self._scene is not None:
            self._scene.close()
        self._scene = None

    def _reset(self, seed: int | None) -> None:
        self._build(self.params.seed if seed is None else seed)

    def _build(self, seed: int) -> None:
        sc = self._require_scene()
        sc.build()
        make_task(self.params.task).build(sc, np.random.default_rng(seed))
        sc.step_physics(30)
        self._q_ref = np.asarray(HOME_JOINTS, dtype=float)
        self._fault = None
        self._rows = {}
        self._rows_t0 = self._clock_ns

    def _require_scene(self) -> Scene:
        if self._scene is None:
            raise DeviceError(f"{self.name}: no simulator; call connect() first")
        return self._scene

    # ---------------------------------------------------------------- apply
    def _apply(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        sc = self._require_scene()
        if self._fault is not None:
            raise DeviceError(
                f"{self.name} is faulted ({self._fault}); motion is refused until clear_fault()"
            )
        if "ee" in inputs and "joints" in inputs:
            raise DataError(f"{self.name}.apply(): give 'ee' or 'joints', not both")
        T = max(a.shape[0] for a in inputs.values())
        mode = self.params.safety
        plan: list[tuple[np.ndarray, float | None, np.ndarray | None]] = []
        ref = self._q_ref
        for t in range(T):  # every check before the first physics step

            def row(key: str, t: int = t) -> np.ndarray:
                a = inputs[key]
                return a[min(t, a.shape[0] - 1)]

            q, pose = ref.copy(), None
            if "ee" in inputs:
                pose = limit_workspace(
                    row("ee").astype(float), self._ws_low, self._ws_high, mode, f"{self.name}.ee"
                )
                q = sc.ik(pose[:3], float(pose[3]))
            elif "joints" in inputs:
                q = row("joints").astype(float)
                bad = np.flatnonzero((q < _Q_LOW) | (q > _Q_HIGH))
                if bad.size and mode == "refuse":
                    i = int(bad[0])
                    raise SafetyError(
                        f"{self.name}.joints: {_JOINT_NAMES[i]} = {q[i]:.4f} rad is outside "
                        f"[{_Q_LOW[i]:g}, {_Q_HIGH[i]:g}] rad; nothing was sent"
                    )
                if mode != "off":
                    q = np.clip(q, _Q_LOW, _Q_HIGH)
            q = limit_joint_step(
                q, ref, self.max_speed, 1.0 / self.params.rate_hz, mode, _JOINT_NAMES, self.name
            )
            g = float(row("gripper")) if "gripper" in inputs else None
            plan.append((q, g, pose))
            ref = q
        substeps = max(1, round(ACTION_SPEC.physics_hz / self.params.rate_hz))
        sent_q, sent_g, sent_ee = [], [], []
        for q, g, pose in plan:
            sc.set_arm_targets(q)
            if g is not None and (g < 0.5) != sc.gripper_closed:
                sc.set_gripper(g < 0.5)
            for k in range(substeps):
                sc.client.stepSimulation()
                if (k + 1) % 4 == 0:
                    sc.update_grasp()
            self._q_ref = q
            if not self._rows:
                self._rows_t0 = self._clock_ns
            self._clock_ns += round(1e9 / self.params.rate_hz)
            g_now = 0.0 if sc.gripper_closed else 1.0
            self._record(np.concatenate([q, [g_now]]))
            sent_q.append(q)
            sent_g.append(g_now if g is None else g)
            if pose is not None:
                sent_ee.append(pose)
        sent = {"joints": np.asarray(sent_q), "gripper": np.asarray(sent_g)}
        if sent_ee:
            sent["ee"] = np.asarray(sent_ee)
        return {k: v for k, v in sent.items() if k in inputs or k == "joints"}

    def _state(self) -> dict[str, np.ndarray]:
        sc = self._require_scene()
        states = sc.client.getJointStates(sc.robot, ARM_JOINTS)
        pos, yaw = sc.ee_pose()
        out = {
            "joints": np.array([s[0] for s in states]),
            "joint_vel": np.array([s[1] for s in states]),
            "ee": np.concatenate([pos, [yaw]]),
            "gripper": np.asarray(min(1.0, sc.finger_width() / 0.08)),
        }
        if self.params.camera:
            out["image"] = sc.render()
        return out

    def _record(self, command_row: np.ndarray) -> None:
        for key, value in {**self._state(), "command": command_row}.items():
            self._rows.setdefault(key, []).append(value)

    # ----------------------------------------------------------------- read
    def _read(self) -> dict[str, Chunk]:
        meta = {"fault": self._fault}
        if self._rows:
            rows, t0 = self._rows, self._rows_t0
        else:  # nothing applied since the last read: the present state, no commands
            rows = {k: [v] for k, v in self._state().items()}
            rows["command"] = []
            t0 = self._clock_ns
        self._rows = {}
        out = {}
        for spec in self.describe().streams.values():
            data = rows.get(spec.name, [])
            arr = (
                np.asarray(data, dtype=spec.np_dtype)
                if data
                else np.zeros((0, *spec.shape), dtype=spec.np_dtype)
            )
            out[spec.name] = Chunk(arr, t0, meta)
        return out

    # ------------------------------------------------------------- commands
    @command
    def estop(self) -> dict[str, Any]:
        """Stop now: hold the present joint angles and refuse motion until clear_fault()."""
        if self._scene is not None and not self.mock:
            q = np.array(
                [s[0] for s in self._scene.client.getJointStates(self._scene.robot, ARM_JOINTS)]
            )
            self._scene.set_arm_targets(q)
            self._q_ref = q
        self._fault = "e-stop"
        return self.status()

    @command
    def clear_fault(self) -> dict[str, Any]:
        """Clear a latched e-stop; motion is accepted again from the held pose."""
        self._fault = None
        return self.status()
