"""The pybullet tabletop arm: scene, prompt task suite, gymnasium Env, scripted experts.

Public API::

    from physres.sim.arm import TabletopEnv, ACTION_SPEC, make_expert
    env = TabletopEnv(task="pick_place", render_size=128, wrist_camera=False)  # layout="shared"
    obs, info = env.reset(seed=0, options={"prompt": "put the cube in the bowl"})
    expert = make_expert(env)
    obs, reward, terminated, truncated, info = env.step(expert.act(obs))

``SimArm`` (kind ``sim.arm``) is the tabletop's one control loop, a physres Device
with the arm contract of ``physres.drivers.arm.schema``; ``TabletopEnv`` is a thin
gymnasium shell over it.
"""

from physres.sim.arm.device import SimArm, SimArmParams
from physres.sim.arm.env import ENV_ID, PROMPT_CHARSET, PROPRIO_NAMES, TabletopEnv
from physres.sim.arm.experts import Expert, StateExpert, Waypoint, make_expert
from physres.sim.arm.scene import Scene, SceneObject, panda_urdf
from physres.sim.arm.shared import SHARED_LAYOUTS, SharedLayout
from physres.sim.arm.spec import ACTION_SPEC, ActionError, ActionSpec
from physres.sim.arm.tasks import (
    TASKS,
    ArmTask,
    PromptError,
    heldout_prompts,
    make_task,
    parse_prompt,
    training_prompts,
)

__all__ = [
    "ACTION_SPEC",
    "ENV_ID",
    "PROMPT_CHARSET",
    "PROPRIO_NAMES",
    "SHARED_LAYOUTS",
    "TASKS",
    "ActionError",
    "ActionSpec",
    "ArmTask",
    "Expert",
    "PromptError",
    "Scene",
    "SceneObject",
    "SharedLayout",
    "SimArm",
    "SimArmParams",
    "StateExpert",
    "TabletopEnv",
    "Waypoint",
    "heldout_prompts",
    "make_expert",
    "make_task",
    "panda_urdf",
    "parse_prompt",
    "training_prompts",
]
