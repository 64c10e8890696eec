"""``TabletopEnv``: the gymnasium environment over the tabletop scene and task suite.

A thin gymnasium shell over :class:`~physres.sim.arm.SimArm`, the ``sim.arm``
device: ``step`` validates the action against the action spec and hands it to
the device's control loop, which integrates the commanded end-effector pose by
the action's deltas (clipped to the workspace box), solves IK for the Panda's
grasp point pointing down, and runs 24 physics steps at 240 Hz with position
control, updating the task's progress as it goes; success is the device's
verdict. See :mod:`physres.sim.arm.spec` for the action layout and how
out-of-bound actions are handled.

Observations (a ``Dict`` space):

* ``image`` — (S, S, 3) uint8 from the fixed scene camera (tiny renderer);
* ``wrist_image`` — the same from a hand camera, only with ``wrist_camera=True``;
* ``proprio`` — float32 ``[x, y, z, yaw, finger_width, gripper_closed, q1..q7]``
  (measured grasp-point pose in the table frame, metres/radians);
* ``prompt`` — the instruction (a gymnasium ``Text``).

``reset(seed=, options={"task": name, "prompt": text})`` with a wording the
router does not know builds ``name``'s scene and shows ``text`` as the prompt
(eval's unseen wordings from a file). ``reset(seed=, options={"prompt": ...})``
picks the task the prompt names
(:func:`~physres.sim.arm.tasks.parse_prompt`; the prompt is lower-cased and
characters outside the ``Text`` charset become spaces); ``options={"task":
name}`` or the constructor's ``task`` pick one without a prompt and a prompt is
drawn from its templates. A prompt overrides the constructor's task (unless both
share a goal, as pick-place with and without distractors do); an explicit
``options["task"]`` that contradicts the prompt is an error.

``layout`` (constructor or reset option): ``"own"`` lays out the task's own
scene; ``"shared"`` or a name in :data:`~physres.sim.arm.shared.SHARED_LAYOUTS`
puts the objects of several tasks on the table, drawn before the task so the
picture does not tell which task the prompt asks for (without a task or prompt,
the task is drawn among those the layout allows). ``info["layout"]`` and
``info["allowed"]`` say which layout and which tasks it allows.

Reward is 1.0 on steps where the task's success predicate holds; ``terminate``
in the action ends the episode; ``max_steps`` truncates it.
"""

from __future__ import annotations

import math
import string
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from physres.device import Chunk
from physres.errors import ConfigError
from physres.sim.arm.device import SimArm
from physres.sim.arm.scene import Scene
from physres.sim.arm.shared import Placement, check_layout, draw_placement
from physres.sim.arm.spec import ACTION_SPEC, ActionSpec
from physres.sim.arm.tasks import TASKS, ArmTask, PromptError, make_task, parse_prompt

__all__ = [
    "ENV_ID",
    "PROMPT_CHARSET",
    "PROPRIO_NAMES",
    "TabletopEnv",
    "check_layout",
    "normalize_prompt",
]

#: ``gymnasium.make(ENV_ID, task=..., render_size=...)`` builds a TabletopEnv
ENV_ID = "physres/Tabletop-v0"

PROMPT_CHARSET = frozenset(string.ascii_lowercase + string.digits + " ,.'-")
PROPRIO_NAMES = (
    "x",
    "y",
    "z",
    "yaw",
    "finger_width",
    "gripper_closed",
    "q1",
    "q2",
    "q3",
    "q4",
    "q5",
    "q6",
    "q7",
)
_MAX_PROMPT = 160


def normalize_prompt(prompt: Any) -> str:
    """Lower case, characters outside the Text space's charset dropped, spaces collapsed."""
    if not isinstance(prompt, str):
        raise ConfigError(f"prompt must be a string, got {type(prompt).__name__}: {prompt!r}")
    text = "".join(ch if ch in PROMPT_CHARSET else " " for ch in prompt.lower())
    text = " ".join(text.split())
    if len(text) > _MAX_PROMPT:
        raise ConfigError(f"prompt is {len(text)} characters long; at most {_MAX_PROMPT}")
    return text


class TabletopEnv(gym.Env):
    """Panda on a table, one of the prompt tasks per episode (see module docstring).

    ``task``: a task name, ``"all"`` to draw one per reset, or ``None`` (same as
    ``"all"`` unless the reset's prompt names one).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        task: str | None = "pick_place",
        *,
        render_size: int = 128,
        wrist_camera: bool = False,
        render_mode: str | None = None,
        max_steps: int | None = None,
        on_violation: Literal["clip", "refuse"] = "clip",
        terminate_on_success: bool = False,
        low_poly: bool = True,
        action_spec: ActionSpec = ACTION_SPEC,
        layout: str = "own",
    ) -> None:
        if task is not None and task != "all" and task not in TASKS:
            raise ConfigError(f"unknown task {task!r}; known tasks: all, {', '.join(TASKS)}")
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"render_mode {render_mode!r}: only 'rgb_array' or None")
        if on_violation not in ("clip", "refuse"):
            raise ConfigError(f"on_violation {on_violation!r}: expected 'clip' or 'refuse'")
        if not 16 <= int(render_size) <= 1024:
            raise ConfigError(f"render_size {render_size} outside 16..1024 pixels")
        self.task_name = task
        self.render_mode = render_mode
        self._action_spec = action_spec
        self.on_violation = on_violation
        self.terminate_on_success = terminate_on_success
        self._max_steps_override = max_steps
        self.device = SimArm(
            "tabletop",
            task=task if task in TASKS else "pick_place",
            rate_hz=action_spec.control_hz,
            physics_hz=action_spec.physics_hz,
            render_size=int(render_size),
            wrist_camera=wrist_camera,
            low_poly=low_poly,
            safety="clip",  # the action was clipped or refused already; the box clips
            workspace_low=(*action_spec.workspace_low, -action_spec.yaw_limit),
            workspace_high=(*action_spec.workspace_high, action_spec.yaw_limit),
        ).connect()
        s = int(render_size)
        obs: dict[str, spaces.Space] = {
            "image": spaces.Box(0, 255, (s, s, 3), np.uint8),
            "proprio": spaces.Box(-10.0, 10.0, (len(PROPRIO_NAMES),), np.float32),
            "prompt": spaces.Text(max_length=_MAX_PROMPT, min_length=1, charset=PROMPT_CHARSET),
        }
        if wrist_camera:
            obs["wrist_image"] = spaces.Box(0, 255, (s, s, 3), np.uint8)
        self.observation_space = spaces.Dict(obs)
        self.action_space = spaces.Box(
            action_spec.low_array, action_spec.high_array, dtype=np.float32
        )
        self.task: ArmTask | None = None
        self.placement: Placement | None = None
        self.layout = check_layout(layout)
        self.prompt = ""
        self.episode = 0
        self.steps = 0

    @property
    def scene(self) -> Scene:
        """The device's pybullet scene."""
        return self.device.scene

    @property
    def target_pos(self) -> np.ndarray:
        """The grasp-point position commanded last (table frame, m)."""
        return self.device.pose_ref[:3]

    @property
    def target_yaw(self) -> float:
        """The gripper yaw commanded last (rad)."""
        return float(self.device.pose_ref[3])

    # ------------------------------------------------------------ gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"prompt", "task", "layout"}
        if unknown:
            raise ConfigError(
                f"reset options {sorted(unknown)} unknown; expected 'prompt', 'task', 'layout'"
            )
        rng = self.np_random
        layout = check_layout(options.get("layout", self.layout))
        prompt = options.get("prompt")
        asked = options.get("task")
        if asked is not None and asked not in TASKS:
            raise ConfigError(f"reset option task={asked!r} unknown; known: {', '.join(TASKS)}")
        if prompt is not None:
            prompt = normalize_prompt(prompt)
            try:
                cls, params = parse_prompt(prompt)
            except PromptError:
                if asked is None:
                    raise
                # a wording the router does not know: the task option builds the scene
                cls, params = TASKS[asked], {}
            if asked is not None and TASKS[asked].goal != cls.goal:
                raise ConfigError(
                    f"reset options disagree: task={asked!r} but the prompt {prompt!r} asks "
                    f"for {cls.name!r}; give one of them"
                )
            name = cls.name
            fixed = asked or self.task_name
            if fixed not in (None, "all") and TASKS[fixed].goal == cls.goal:
                name = fixed  # "put the cube in the bowl" is also the distractor task's goal
            task: ArmTask | None = make_task(name, params)
        else:
            name = asked or self.task_name
            if name in (None, "all"):
                name = None if layout != "own" else tuple(TASKS)[int(rng.integers(len(TASKS)))]
            task = make_task(name) if name is not None else None
        placement = None
        if layout == "own":
            assert task is not None
            task.sample_params(rng)
        else:
            placement, task = draw_placement(layout, task, rng)
        if prompt is None:
            prompt = normalize_prompt(task.prompt(rng))
        self.task, self.prompt, self.placement = task, prompt, placement
        self.device.start_episode(task, rng, placement)
        self.episode += 1
        self.steps = 0
        return self._obs(), self._info()

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self.task is None:
            raise ConfigError("TabletopEnv.step() before reset(): call reset() first")
        a = self._action_spec.validate(action, on_violation=self.on_violation)
        sp = self._action_spec
        end = bool(a[5] > sp.terminate_threshold)
        state = None
        if not end:  # the device's control loop: workspace box, IK, physics, task progress
            self.device.apply({"action": a.astype(np.float64)})
            state = self.device.read()  # the state it recorded after the step
        self.steps += 1
        success = self.device.success()
        terminated = end or (self.terminate_on_success and success)
        truncated = (not terminated) and self.steps >= self.max_steps
        info = self._info(success=success)
        info["action_applied"] = a
        return self._obs(state), float(success), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self.scene.render()
        return None

    def close(self) -> None:
        self.device.disconnect()

    # ------------------------------------------------------------ helpers
    @property
    def max_steps(self) -> int:
        if self._max_steps_override is not None:
            return self._max_steps_override
        return self.task.max_steps if self.task is not None else 200

    @property
    def action_spec(self) -> ActionSpec:
        return self._action_spec

    def proprio(self, state: dict[str, Chunk] | None = None) -> np.ndarray:
        """``PROPRIO_NAMES`` now; from the device's last recorded row when ``state`` is given
        (the same pybullet values, not fetched twice)."""
        if state is None:
            pos, yaw = self.scene.ee_pose()
            ee, q = np.array([*pos, yaw]), self.scene.joints()[:7]
        else:
            ee, q = state["ee"].data[-1], state["joints"].data[-1]
        grip = [self.scene.finger_width(), float(self.scene.gripper_closed)]
        return np.concatenate([ee, grip, q]).astype(np.float32)

    def _obs(self, state: dict[str, Chunk] | None = None) -> dict[str, Any]:
        obs: dict[str, Any] = {
            "image": self.scene.render(),
            "proprio": self.proprio(state),
            "prompt": self.prompt,
        }
        if self.scene.wrist_camera:
            obs["wrist_image"] = self.scene.render_wrist()
        return obs

    def _info(self, success: bool | None = None) -> dict[str, Any]:
        assert self.task is not None
        if success is None:
            success = self.device.success()
        pl = self.placement
        return {
            "task": self.task.name,
            "task_params": dict(self.task.params or {}),
            "layout": pl.layout.name if pl is not None else "own",
            # the tasks this scene's objects allow: what eval's chance is computed among
            "allowed": pl.layout.allowed if pl is not None else (self.task.name,),
            "success": bool(success),
            "progress": self.task.progress(self.scene),
            "step": self.steps,
            "held": self.scene.held,
        }

    def wrap_yaw(self, yaw: float) -> float:
        """Nearest equivalent gripper yaw (mod π) to the current command, within the limit."""
        best = yaw + math.pi * round((self.target_yaw - yaw) / math.pi)
        lim = self._action_spec.yaw_limit
        while best > lim:
            best -= math.pi
        while best < -lim:
            best += math.pi
        return best


if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point="physres.sim.arm.env:TabletopEnv")
