"""Scripted experts: IK-waypoint plans per task, read from privileged simulator state.

An expert turns the scene into a list of :class:`Waypoint` s (grasp-point
position, gripper yaw, gripper state) and each ``act(obs)`` moves the
commanded pose towards the current waypoint at a bounded speed, so actions are
always inside the action spec. It is closed-loop: deltas are recomputed every
step from the commanded and measured pose, so injected action noise (as in
``physres robot collect``) is corrected; a grasp that failed (the object is not
lifted) or a plan that ended without success (checked from simulator state)
triggers a re-plan from the current scene, up to ``max_replans`` times. After
the last waypoint it sends ``terminate``.

``make_expert(env)`` returns one :class:`Expert` that serves whichever task the
env's current episode runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from physres.sim.arm.env import TabletopEnv
from physres.sim.arm.tasks import PushBowl

__all__ = [
    "PLANNERS",
    "Expert",
    "ExpertResult",
    "StateExpert",
    "Waypoint",
    "evaluate_expert",
    "make_expert",
    "push_path",
    "run_episode",
]


@dataclass
class Waypoint:
    """Go to ``pos``/``yaw`` with the gripper ``closed`` or open, then ``wait`` steps.

    ``speed`` caps the per-step displacement (m); ``tol`` is how close the
    measured grasp point must come; ``check`` (if given) must hold when the
    waypoint is done, else the expert re-plans (a grasp that slipped);
    ``grasp`` names the object a closing waypoint grasps (a :class:`StateExpert`
    goes on past it once that object is held, whoever closed the gripper).
    """

    pos: np.ndarray
    yaw: float
    closed: bool
    speed: float = 0.045
    tol: float = 0.008
    wait: int = 0
    timeout: int = 40
    check: Callable[[TabletopEnv], bool] | None = None
    grasp: str | None = None


Plan = list[Waypoint]
Planner = Callable[[TabletopEnv], Plan]


def _wp(x: float, y: float, z: float, yaw: float, closed: bool, **kw: Any) -> Waypoint:
    return Waypoint(np.array([x, y, z], dtype=float), float(yaw), closed, **kw)


def _lifted(name: str, dz: float) -> Callable[[TabletopEnv], bool]:
    def check(env: TabletopEnv) -> bool:
        return bool(env.scene.holding(name) or env.scene.pose(name)[0][2] > dz)

    return check


# ------------------------------------------------------------------ plans
def plan_pick_place(env: TabletopEnv) -> Plan:
    sc = env.scene
    cube, _ = sc.pose("cube")
    yaw = sc.yaw_of("cube")
    # a cube is symmetric under quarter turns: take the one nearest the current yaw
    g = yaw + (math.pi / 2) * round((env.target_yaw - yaw) / (math.pi / 2))
    g = env.wrap_yaw(g)
    bowl, _ = sc.pose("bowl")
    edge = sc.objects["cube"].size["edge"]
    gz = max(cube[2] + 0.002, 0.02)
    high = _above_others(env, 0.17, edge, "cube", "bowl")
    return [
        _wp(cube[0], cube[1], 0.12, g, False, tol=0.012),
        _wp(cube[0], cube[1], gz, g, False, speed=0.03, tol=0.006),
        _wp(cube[0], cube[1], gz, g, True, wait=4, grasp="cube"),
        _wp(cube[0], cube[1], high, g, True, tol=0.02, check=_lifted("cube", edge / 2 + 0.05)),
        _wp(bowl[0], bowl[1], high, g, True, tol=0.015),
        _wp(bowl[0], bowl[1], 0.11, g, True, speed=0.03, tol=0.01),
        _wp(bowl[0], bowl[1], 0.11, g, False, wait=5),
        _wp(bowl[0], bowl[1], 0.18, g, False, tol=0.02),
    ]


def plan_lying_bottle(env: TabletopEnv) -> Plan:
    sc = env.scene
    c, _ = sc.pose("lying_bottle")
    axis = sc.z_axis("lying_bottle")
    g = env.wrap_yaw(math.atan2(axis[1], axis[0]))
    return [
        _wp(c[0], c[1], 0.14, g, False, tol=0.012),
        _wp(c[0], c[1], c[2] + 0.003, g, False, speed=0.03, tol=0.006),
        _wp(c[0], c[1], c[2] + 0.003, g, True, wait=4, grasp="lying_bottle"),
        _wp(c[0], c[1], 0.22, g, True, tol=0.02, check=_lifted("lying_bottle", 0.12)),
        _wp(c[0], c[1], 0.22, g, True, wait=2),
    ]


def plan_cup(env: TabletopEnv) -> Plan:
    sc = env.scene
    m, _ = sc.pose("cup")
    my = sc.yaw_of("cup")
    r = sc.objects["cup"].size["wall_radius"]  # the handle points along the mug's +y
    sides = [np.array([math.cos(my), math.sin(my)]) * s for s in (1.0, -1.0)]
    side = min(sides, key=lambda d: d[0])  # the wall nearer the robot: easiest to reach
    w = m[:2] + side * r
    g = env.wrap_yaw(my + math.pi / 2)
    rim = m[2] + sc.objects["cup"].size["height"]
    return [
        _wp(w[0], w[1], rim + 0.08, g, False, tol=0.012),
        _wp(w[0], w[1], rim - 0.022, g, False, speed=0.03, tol=0.006),
        _wp(w[0], w[1], rim - 0.022, g, True, wait=4, grasp="cup"),
        _wp(w[0], w[1], rim + 0.14, g, True, tol=0.02, check=_lifted("cup", m[2] + 0.06)),
        _wp(w[0], w[1], rim + 0.14, g, True, wait=2),
    ]


def plan_standing_bottle(env: TabletopEnv) -> Plan:
    sc = env.scene
    c, _ = sc.pose("bottle")
    s = sc.objects["bottle"].size
    neck = c + sc.z_axis("bottle") * (s["body_len"] / 2 + s["neck_len"] / 2)
    top = neck[2] + s["neck_len"] / 2
    g = env.wrap_yaw(env.target_yaw)
    return [
        _wp(neck[0], neck[1], top + 0.08, g, False, tol=0.01),
        _wp(neck[0], neck[1], neck[2], g, False, speed=0.03, tol=0.006),
        _wp(neck[0], neck[1], neck[2], g, True, wait=4, grasp="bottle"),
        _wp(neck[0], neck[1], top + 0.15, g, True, tol=0.02, check=_lifted("bottle", c[2] + 0.05)),
        _wp(neck[0], neck[1], top + 0.15, g, True, wait=2),
    ]


_PUSH_DIRS = {"left": (0.0, 1.0), "right": (0.0, -1.0), "far": (1.0, 0.0), "near": (-1.0, 0.0)}


def push_path(bowl: np.ndarray, side: str, outer: float) -> tuple[np.ndarray, np.ndarray]:
    """Where the pushing hand starts (behind the bowl) and stops (the bowl past the side's
    line), xy in metres; shared layouts keep this path clear."""
    d = np.array(_PUSH_DIRS[side])
    axis, sign, thr = PushBowl.zones[side]
    start = np.asarray(bowl, dtype=float)[:2] - d * (outer + 0.035)
    goal_centre = np.asarray(bowl, dtype=float)[:2].copy()
    goal_centre[axis] = thr + sign * 0.05
    return start, goal_centre - d * (outer + 0.012)


def plan_push(env: TabletopEnv) -> Plan:
    sc = env.scene
    b, _ = sc.pose("bowl")
    side = (env.task.params or {})["side"]  # type: ignore[union-attr]
    axis = PushBowl.zones[side][0]
    # fingers spread across the push direction: a wide, stable pusher
    g = env.wrap_yaw(0.0 if axis == 0 else math.pi / 2)
    start, end = push_path(b, side, sc.objects["bowl"].size["outer_radius"])
    z = 0.03
    return [
        _wp(start[0], start[1], 0.12, g, False, tol=0.012),
        _wp(start[0], start[1], z, g, False, speed=0.03, tol=0.008),
        _wp(end[0], end[1], z, g, False, speed=0.02, tol=0.01, timeout=60),
        _wp(end[0], end[1], 0.14, g, False, tol=0.02),
    ]


def _above_others(env: TabletopEnv, z: float, hang: float, *keep: str) -> float:
    """A transit height at least ``z`` that carries what hangs ``hang`` below the grasp point
    over every object but ``keep`` (the tall pedestals of a shared scene)."""
    sc = env.scene
    tops = [
        sc.client.getAABB(o.body)[1][2]
        for o in sc.objects.values()
        if o.name not in keep and not o.soft
    ]
    return max([z, *(t + hang + 0.03 for t in tops)])


def _held(name: str) -> Callable[[TabletopEnv], bool]:
    def check(env: TabletopEnv) -> bool:
        return env.scene.held == name

    return check


#: the cloth node the expert grasps: the middle of the 5 × 5 mesh
CLOTH_CENTRE_NODE = 12


def plan_wipe(env: TabletopEnv) -> Plan:
    """Pinch the cloth at its centre, then drag it in rows over the dirt, hand just above
    the table so the cloth lies flat around and behind it."""
    sc = env.scene
    c = sc.nodes("cloth")[CLOTH_CENTRE_NODE]
    task = env.task
    a = task.area_center  # type: ignore[union-attr]
    nx, ny = task.tiles_xy  # type: ignore[union-attr]
    tile = task.tile  # type: ignore[union-attr]
    g = env.wrap_yaw(0.0)
    half_x, half_y = nx * tile / 2, ny * tile / 2
    rows = np.linspace(a[0] - half_x + 0.03, a[0] + half_x - 0.03, 3)
    y0, y1 = a[1] - half_y - 0.01, a[1] + half_y + 0.01
    zw = 0.02
    # the cloth hangs up to half its diagonal below the hand
    high = _above_others(env, 0.06, sc.objects["cloth"].size["edge"] * 0.71)
    plan = [
        _wp(c[0], c[1], 0.10, g, False, tol=0.012),
        _wp(c[0], c[1], 0.014, g, False, speed=0.03, tol=0.008, timeout=25),
        _wp(c[0], c[1], 0.014, g, True, wait=3, grasp="cloth"),
        _wp(c[0], c[1], high, g, True, tol=0.02, check=_held("cloth")),
        _wp(rows[0], y0, high, g, True, tol=0.015),
    ]
    for k, x in enumerate(rows):
        ya, yb = (y0, y1) if k % 2 == 0 else (y1, y0)
        plan.append(_wp(x, ya, zw, g, True, speed=0.03, tol=0.01, timeout=20))
        plan.append(_wp(x, yb, zw, g, True, speed=0.02, tol=0.01, timeout=30))
    plan.append(_wp(rows[-1], plan[-1].pos[1], 0.08, g, True, tol=0.02))
    return plan


PLANNERS: dict[str, Planner] = {
    "wipe": plan_wipe,
    "pick_place": plan_pick_place,
    "lying_bottle_from_bowl": plan_lying_bottle,
    "cup_from_pedestal": plan_cup,
    "push_bowl": plan_push,
    "standing_bottle_from_pedestal": plan_standing_bottle,
    "pick_place_distractors": plan_pick_place,
}


class Expert:
    """Follows the plan for the env's current episode; ``act(obs)`` → action vector."""

    def __init__(self, env: TabletopEnv, *, max_replans: int = 2) -> None:
        self.env = env
        self.max_replans = max_replans
        self._episode = -1
        self.plan: Plan = []
        self.index = 0
        self.replans = 0

    def reset(self) -> None:
        """Forget the plan; the next ``act`` plans from the current scene."""
        self._episode = -1

    def _replan(self) -> None:
        env = self.env
        assert env.task is not None
        self.plan = PLANNERS[env.task.name](env)
        self.index = 0
        self._count = 0
        self._settled = 0

    @property
    def done(self) -> bool:
        return self.index >= len(self.plan)

    def act(self, obs: dict[str, Any] | None = None) -> np.ndarray:
        """Next action for the env's current state (``obs`` gives the measured pose)."""
        env = self.env
        assert env.task is not None, "reset the env before asking the expert"
        if env.episode != self._episode:
            self._episode = env.episode
            self.replans = 0
            self._replan()
        proprio = obs["proprio"] if obs is not None else env.proprio()
        measured = np.asarray(proprio[:3], dtype=float)
        while not self.done:
            wp = self.plan[self.index]
            reached = (
                np.linalg.norm(wp.pos - env.target_pos) < 1e-3
                and abs(wp.yaw - env.target_yaw) < 1e-2
                and env.scene.gripper_closed == wp.closed
            )
            if reached:
                self._count += 1
                near = np.linalg.norm(wp.pos - measured) < wp.tol
                self._settled = self._settled + 1 if near else self._settled
                if (near and self._settled > wp.wait) or self._count > wp.timeout:
                    if (
                        wp.check is not None
                        and not wp.check(env)
                        and self.replans < self.max_replans
                    ):
                        self.replans += 1
                        self._replan()
                        self.plan.insert(0, _wp(*env.target_pos[:2], 0.15, env.target_yaw, False))
                        continue
                    self.index += 1
                    self._count = self._settled = 0
                    continue
            break
        if self.done and not env.device.success() and self.replans < self.max_replans:
            self.replans += 1  # knocked off course (noise, a slip): try again from here
            self._replan()
            self.plan.insert(0, _wp(*env.target_pos[:2], 0.15, env.target_yaw, False))
            return self.act(obs)
        return self._finish() if self.done else self._toward(self.plan[self.index])

    def _finish(self) -> np.ndarray:
        """Hold still, keep the gripper as it is, and say ``terminate``."""
        a = np.zeros(self.env.action_spec.dim, dtype=np.float32)
        a[4] = 1.0 if self.env.scene.gripper_closed else -1.0
        a[5] = 1.0
        return a

    def _toward(self, wp: Waypoint) -> np.ndarray:
        """One bounded step of the commanded pose towards ``wp``, its gripper state set."""
        env = self.env
        spec = env.action_spec
        a = np.zeros(spec.dim, dtype=np.float32)
        d = wp.pos - env.target_pos
        n = float(np.linalg.norm(d))
        if n > wp.speed:
            d *= wp.speed / n
        a[:3] = np.clip(d, spec.low[:3], spec.high[:3])
        a[3] = float(np.clip(wp.yaw - env.target_yaw, spec.low[3], spec.high[3]))
        a[4] = 1.0 if wp.closed else -1.0
        return a


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, float) - np.asarray(b, float)))


class StateExpert(Expert):
    """The expert as a feedback policy on the world's state: the labeller for DAgger.

    :class:`Expert` moves on to its next waypoint when its own *commanded* pose
    has reached the current one. Under another driver (a policy being
    corrected) that never happens exactly, so it stayed on its first waypoint
    for the whole episode: at a cube the policy had already grasped and lifted,
    its label was "open and go back above the cube". This one replans from the
    scene at every step and picks the waypoint from the state: the approach by
    where the hand is, the carry once the plan's ``grasp`` object is held
    (whoever closed the gripper), the last waypoint and then ``terminate`` once
    the task's success predicate holds. What it does at each waypoint is
    :class:`Expert`'s, so its labels agree with the demonstrations.
    """

    #: a closing gripper this near the grasp point (m) is left to close
    GRASP_RADIUS = 0.02
    #: fingers shut to less than this width (m) hold nothing
    EMPTY_WIDTH = 0.004
    #: a hand pushing the bowl stays this near (m) the point behind it where pushes start
    PUSH_RADIUS = 0.04

    def __init__(self, env: TabletopEnv) -> None:
        super().__init__(env, max_replans=0)
        self._stage = 0  # how far the current carry (or push) has got; 0 = none
        self._count = 0  # steps spent heading for the current carry waypoint
        self._carry: Plan | None = None  # the plan as it was when the object was grasped

    def act(self, obs: dict[str, Any] | None = None) -> np.ndarray:
        env = self.env
        assert env.task is not None, "reset the env before asking the expert"
        if env.episode != self._episode:
            self._episode, self._stage, self._carry, self._count = env.episode, 0, None, 0
        proprio = obs["proprio"] if obs is not None else env.proprio()
        here = np.asarray(proprio[:3], dtype=float)
        plan = PLANNERS[env.task.name](env)
        gi = next((i for i, wp in enumerate(plan) if wp.grasp), None)
        if gi is not None and env.scene.holding(str(plan[gi].grasp)):
            # carried, the object's pose moves with the hand: heights planned from it
            # would rise with the hand, so the carry follows the plan made at the grasp
            self._carry = plan = self._carry or plan
            self.index = self._carried(plan, gi, here)
        elif env.device.success():  # released where it belongs, or pushed there
            self._carry, self._stage = None, 0
            self.index = len(plan) - 1
        else:
            self._carry = None
            self.index = self._approach(plan, gi, here, float(proprio[4]))
        last = self.index == len(plan) - 1
        if last and env.device.success() and _dist(here, plan[-1].pos) < plan[-1].tol:
            self.index = len(plan)
            return self._finish()
        return self._toward(plan[self.index])

    def _carried(self, plan: Plan, gi: int, here: np.ndarray) -> int:
        """On through the plan from the grasp, never back past where this carry has got
        to; a waypoint the hand cannot reach (a cloth dragging) is left after its timeout."""
        k = max(self._stage, gi + 1)
        self._count = self._count + 1 if k == self._stage else 0
        while k < len(plan) - 1 and (
            (
                _dist(here, plan[k].pos) < plan[k].tol
                and self.env.scene.gripper_closed == plan[k].closed
            )
            or self._count > plan[k].timeout
        ):
            k, self._count = k + 1, 0
        self._stage = k
        return k

    def _approach(self, plan: Plan, gi: int | None, here: np.ndarray, width: float) -> int:
        """Nothing held, the task not done: above the object, down to it, then close (or push)."""
        engage = 2 if gi is None else gi  # every plan starts: above it, down to it, engage
        above, down = plan[engage - 2], plan[engage - 1]
        if gi is None and self._stage == engage:
            # pushing: the bowl moves ahead of the hand, and the start point with it
            if _dist(here, down.pos) < self.PUSH_RADIUS and here[2] < down.pos[2] + down.tol:
                return engage
        self._stage = 0
        if gi is not None and self.env.scene.gripper_closed:
            # closing at the object: let it close; shut on air or elsewhere: open, start over
            at = _dist(here, plan[gi].pos) < self.GRASP_RADIUS
            return gi if at and width > self.EMPTY_WIDTH else 0
        if _dist(here, down.pos) < down.tol:
            self._stage = engage if gi is None else 0
            return engage
        beside = _dist(here[:2], down.pos[:2]) < above.tol
        return engage - 1 if beside and here[2] < above.pos[2] + above.tol else 0


def make_expert(env: Any, *, follow: str = "command", **kw: Any) -> Expert:
    """The scripted expert for ``env`` (a TabletopEnv, possibly wrapped).

    ``follow="command"``: it drives, advancing when its own commands reach each
    waypoint (demonstrations). ``follow="state"``: a :class:`StateExpert`, which
    labels the states another driver reaches (DAgger).
    """
    base = getattr(env, "unwrapped", env)
    if not isinstance(base, TabletopEnv):
        raise TypeError(f"make_expert needs a TabletopEnv, got {type(base).__name__}")
    if follow == "state":
        if kw:  # it never re-plans on a schedule: it replans every step
            raise ValueError(f"make_expert follow='state' takes no options, got {sorted(kw)}")
        return StateExpert(base)
    if follow != "command":
        raise ValueError(f"make_expert follow={follow!r}: expected 'command' or 'state'")
    return Expert(base, **kw)


@dataclass
class ExpertResult:
    """How the scripted expert did on one task over a set of seeds."""

    task: str
    seeds: list[int]
    successes: list[bool]
    steps: list[int]
    seconds: float

    @property
    def rate(self) -> float:
        return sum(self.successes) / max(1, len(self.successes))

    @property
    def failed_seeds(self) -> list[int]:
        return [s for s, ok in zip(self.seeds, self.successes) if not ok]

    @property
    def steps_per_s(self) -> float:
        return sum(self.steps) / self.seconds if self.seconds > 0 else float("nan")


def run_episode(env: TabletopEnv, expert: Expert, seed: int, **reset_kw: Any) -> tuple[bool, int]:
    """One expert episode; (success when it ended, steps taken)."""
    obs, info = env.reset(seed=seed, **reset_kw)
    steps = 0
    while True:
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        steps += 1
        if terminated or truncated:
            return bool(info["success"]), steps


def evaluate_expert(
    task: str,
    seeds: range | list[int],
    *,
    render_size: int = 128,
    layout: str = "own",
    follow: str = "command",
    on_episode: Callable[[bool], None] | None = None,
) -> ExpertResult:
    """Run the expert for ``task`` on every seed (random layouts) and count successes.

    ``layout``: the task's own scene, or ``"shared"`` / a shared layout's name;
    ``follow``: which expert (:func:`make_expert`).
    ``on_episode(success)`` is called after every episode (progress display).
    """
    import time

    env = TabletopEnv(task, render_size=render_size, layout=layout)
    expert = make_expert(env, follow=follow)
    seeds = list(seeds)
    ok: list[bool] = []
    steps: list[int] = []
    t0 = time.perf_counter()
    try:
        for seed in seeds:
            s, n = run_episode(env, expert, seed)
            ok.append(s)
            steps.append(n)
            if on_episode is not None:
                on_episode(s)
    finally:
        env.close()
    return ExpertResult(task, seeds, ok, steps, time.perf_counter() - t0)
