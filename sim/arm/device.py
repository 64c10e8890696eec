"""``sim.arm``: the pybullet Panda on its tabletop as a physres Device.

It keeps the arm contract of :mod:`physres.drivers.arm.schema`, as
``drivers.arm`` (a real servo arm) does, so a config switches between them by
``kind`` alone. Each row of an ``apply`` is one control period (24 physics
steps at 10 Hz): ``action`` moves the commanded grasp-point pose by its deltas
(table frame), ``ee`` sets it, ``joints`` sets the seven arm joints, ``gripper``
opens (1) or closes (0). Streams: ``joints``, ``joint_vel``, ``ee``,
``gripper`` (state after each row), ``command`` (targets actually sent, after
safety) and, with ``camera=True``, ``image`` from the scene camera.

This is the one control loop of the tabletop: :class:`~physres.sim.arm.TabletopEnv`
steps the scene through it, so workspace limits, task progress and success are
computed here and nowhere else.

Safety runs before the simulator sees a command (``safety``: "clip" by
default, "refuse" or "off"), with the same pure functions as the real arm:
``ee`` poses stay inside the workspace box, joints inside the URDF limits and
no joint moves faster than its URDF velocity × ``speed_scale``. ``estop()``
holds the present pose and refuses motion until ``clear_fault()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from physres.device import Chunk, Description, Device, StreamSpec, command
from physres.drivers.arm.safety import SafetyMode, limit_joint_step, limit_workspace
from physres.drivers.arm.schema import (
    FRAME,
    POSE_AXES,
    TERMINATE_THRESHOLD,
    arm_inputs,
    arm_streams,
)
from physres.errors import DataError, DeviceError, SafetyError
from physres.sim.arm.scene import ARM_JOINTS, HOME_JOINTS, Scene
from physres.sim.arm.shared import SHARED_LAYOUTS, Placement, check_layout, draw_placement
from physres.sim.arm.spec import ACTION_SPEC
from physres.sim.arm.tasks import TASKS, ArmTask, make_task

__all__ = ["SimArm", "SimArmParams"]

_JOINT_NAMES = tuple(f"panda_joint{i}" for i in range(1, 8))
# URDF values (franka_panda/panda.urdf): position limits and top speeds per joint
_Q_LOW = np.array([-2.9671, -1.8326, -2.9671, -3.1416, -2.9671, -0.0873, -2.9671])
_Q_HIGH = np.array([2.9671, 1.8326, 2.9671, 0.0, 2.9671, 3.8223, 2.9671])
_Q_SPEED = np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61])
#: physics steps between task progress (and grasp) updates inside one control period
_UPDATE_EVERY = 4


class SimArmParams(BaseModel):
    """The world to load and the safety settings of the simulated Panda."""

    # nan/inf (however written) is refused at load: an infinite floor is no floor
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    #: which task layout to put on the table (objects to interact with)
    task: str = "pick_place"
    #: layout seed used by connect(); reset(seed=) overrides it
    seed: int = 0
    #: "own" (the task's own scene), "shared" or a shared layout's name: the objects of
    #: several tasks on the table (physres.sim.arm.shared)
    layout: str = "own"
    #: control rate: one apply row advances the physics by 1/rate_hz s
    rate_hz: float = Field(ACTION_SPEC.control_hz, gt=0, le=240)
    physics_hz: float = Field(ACTION_SPEC.physics_hz, gt=0, le=10_000)
    camera: bool = False
    render_size: int = Field(64, ge=16, le=1024)
    #: a hand camera beside the scene camera (the env's ``wrist_image``)
    wrist_camera: bool = False
    #: draw the Panda with its collision meshes: the same physics, frames 2-4x faster
    low_poly: bool = True
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

    @field_validator("layout")
    @classmethod
    def _known_layout(cls, v: str) -> str:
        return check_layout(v)

    @model_validator(mode="after")
    def _layout_allows_task(self) -> SimArmParams:
        if self.layout in SHARED_LAYOUTS and self.task not in SHARED_LAYOUTS[self.layout].allowed:
            raise ValueError(
                f"task {self.task!r} is not allowed in shared layout {self.layout!r} "
                f"(allowed: {', '.join(SHARED_LAYOUTS[self.layout].allowed)})"
            )
        return self


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
        #: the task laid out now: its progress is updated and its success judged here
        self.task: ArmTask | None = None
        #: the grasp-point pose commanded last (x, y, z, yaw): ``action`` deltas add to it
        self.pose_ref = np.zeros(4)
        self._desc: tuple[tuple[str, str], Description] | None = None

    # ------------------------------------------------------------ describe
    @property
    def max_speed(self) -> np.ndarray:
        return _Q_SPEED * self.params.speed_scale

    def describe(self) -> Description:
        key = (self.kind, self.name)  # params are frozen: only these can change
        if self._desc is not None and self._desc[0] == key:
            return self._desc[1]
        p = self.params
        streams = arm_streams(_JOINT_NAMES, p.rate_hz)
        if p.camera:
            streams.append(
                StreamSpec(
                    name="image",
                    dtype="|u1",
                    shape=(p.render_size, p.render_size, 3),
                    rate_hz=p.rate_hz,
                    carries="frame",
                    units="rgb",
                    doc="fixed scene camera (tiny renderer)",
                )
            )
        desc = self._description(
            streams=streams,
            inputs=arm_inputs(_JOINT_NAMES, float(_Q_LOW.min()), float(_Q_HIGH.max()), p.rate_hz),
            meta={
                "joint_names": list(_JOINT_NAMES),
                "joint_lower_rad": _Q_LOW.tolist(),
                "joint_upper_rad": _Q_HIGH.tolist(),
                "max_joint_speed_rad_s": self.max_speed.tolist(),
                "workspace": {
                    "low": list(p.workspace_low),
                    "high": list(p.workspace_high),
                    "axes": list(POSE_AXES),
                    "frame": FRAME,
                },
                "safety": p.safety,
                "task": p.task,
                "layout": p.layout,
                "physics_hz": p.physics_hz,
            },
        )
        self._desc = (key, desc)
        return desc

    # ------------------------------------------------------------ lifecycle
    def _connect(self) -> None:
        p = self.params
        self._scene = Scene(
            render_size=p.render_size,
            wrist_camera=p.wrist_camera,
            low_poly=p.low_poly,
            physics_hz=p.physics_hz,
        )
        self._reset(p.seed)

    def _disconnect(self) -> None:
        if self._scene is not None:
            self._scene.close()
        self._scene = None

    def _reset(self, seed: int | None) -> None:
        seed = self.params.seed if seed is None else seed
        rng = np.random.default_rng(seed)
        task = make_task(self.params.task)
        if self.params.layout == "own":
            self.start_episode(task, rng)
        else:
            placement, task = draw_placement(self.params.layout, task, rng)
            self.start_episode(task, rng, placement)

    @property
    def scene(self) -> Scene:
        """The pybullet scene (connect() first)."""
        return self._require_scene()

    def start_episode(
        self, task: ArmTask, rng: np.random.Generator, placement: Placement | None = None
    ) -> None:
        """A fresh scene with ``task`` laid out from ``rng`` (or the shared ``placement``,
        drawn beforehand), the arm at home, faults cleared: what ``reset(seed)`` does with
        the configured task and the env does per episode."""
        sc = self._require_scene()
        if placement is None:
            sc.build(deformable=task.deformable)
            task.build(sc, rng)
        else:
            sc.build(deformable=placement.layout.deformable)
            placement.build(sc, task)
        sc.step_physics(30)  # let objects settle on their supports
        self.task = task
        self._q_ref = np.asarray(HOME_JOINTS, dtype=float)
        pos, yaw = sc.ee_pose()
        self.pose_ref = np.array([*pos, yaw])
        self._fault = None
        self._rows = {}
        self._rows_t0 = self._clock_ns

    def success(self) -> bool:
        """Whether the task's goal holds now, judged from simulator state only."""
        if self.task is None:
            raise DeviceError(f"{self.name}: no task laid out; call connect() first")
        return bool(self.task.success(self._require_scene()))

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
        motion = [k for k in ("ee", "joints", "action") if k in inputs]
        if len(motion) > 1:
            raise DataError(
                f"{self.name}.apply(): give one of 'ee', 'joints', 'action'; got {motion}"
            )
        T = max(a.shape[0] for a in inputs.values())
        plan = []
        ref, pose_ref = self._q_ref, self.pose_ref
        for t in range(T):  # every check before the first physics step
            q, pose, close = self._plan_row(inputs, t, ref, pose_ref, sc)
            plan.append((q, pose, close))
            ref = q
            pose_ref = pose_ref if pose is None else pose
        sent_q, sent_g, sent_ee = [], [], []
        for q, pose, close in plan:
            self._control_step(q, close)
            self._q_ref = q
            if pose is not None:
                self.pose_ref = pose
            if not self._rows:
                self._rows_t0 = self._clock_ns
            self._clock_ns += round(1e9 / self.params.rate_hz)
            g_now = 0.0 if sc.gripper_closed else 1.0
            self._record(np.concatenate([q, [g_now]]))
            sent_q.append(q)
            sent_g.append(g_now)
            if pose is not None:
                sent_ee.append(pose)
        if "joints" in inputs:  # the next pose deltas start where the joints put the hand
            pos, yaw = sc.ee_pose()
            self.pose_ref = np.array([*pos, yaw])
        sent = {"joints": np.asarray(sent_q), "gripper": np.asarray(sent_g)}
        if sent_ee:
            sent["ee"] = np.asarray(sent_ee)
        return sent  # as the real arm reports it: joints and gripper always, ee when asked

    def _plan_row(
        self,
        inputs: dict[str, np.ndarray],
        t: int,
        ref: np.ndarray,
        pose_ref: np.ndarray,
        sc: Scene,
    ) -> tuple[np.ndarray, np.ndarray | None, bool | None]:
        """Joint targets, commanded pose (for ee/action) and gripper (closed?) of row ``t``."""
        mode = self.params.safety

        def row(key: str) -> np.ndarray:
            a = inputs[key]
            return a[min(t, a.shape[0] - 1)].astype(float)

        q, pose, close = ref.copy(), None, None
        if "action" in inputs and row("action")[5] > TERMINATE_THRESHOLD:
            return q, pose_ref.copy(), close  # "done": the contract moves nothing
        if "ee" in inputs or "action" in inputs:
            key = "ee" if "ee" in inputs else "action"
            target = row("ee") if key == "ee" else pose_ref + row("action")[:4]
            pose = limit_workspace(target, self._ws_low, self._ws_high, mode, f"{self.name}.{key}")
            q = sc.ik(pose[:3], float(pose[3]))
        elif "joints" in inputs:
            q = row("joints")
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
        if "gripper" in inputs:
            close = bool(row("gripper") < 0.5)
        elif "action" in inputs:
            close = bool(row("action")[4] > ACTION_SPEC.gripper_threshold)
        return q, pose, close

    def _control_step(self, q: np.ndarray, close: bool | None) -> None:
        """One control period: targets, gripper, then the physics steps, with the task's
        progress and the grasp updated every few of them."""
        sc = self._require_scene()
        if close is not None and close != sc.gripper_closed:
            sc.set_gripper(close)
        sc.set_arm_targets(q)
        substeps = max(1, round(self.params.physics_hz / self.params.rate_hz))
        step = sc.client.stepSimulation  # BulletClient builds a wrapper on every lookup
        for k in range(substeps):
            step()
            if (k + 1) % _UPDATE_EVERY == 0:
                if self.task is not None:
                    self.task.update(sc)
                sc.update_grasp()

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
