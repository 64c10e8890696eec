"""Shared-scene layouts: the objects of several tasks on one table, so only the prompt decides.

In a task's own scene the objects give the task away (a cup on a pedestal
means "pick the cup"): a policy could succeed without reading the prompt. A
shared layout puts the object groups of several tasks on the table at once
(cube, bowl, cup and bottle on pedestals, the cloth and its dirt) and draws
their places from the episode's generator *before* and *independently of*
the task, so the picture is the same whichever task the prompt asks for.
Each task's expert and success predicate work unchanged: objects have the
same names in every scene (``cube``, ``bowl``, ``lying_bottle``, ``cup`` on
``cup_pedestal``, ``bottle`` on ``bottle_pedestal``, ``cloth``).

:data:`SHARED_LAYOUTS` lists the layouts and the tasks each *allows*
(``allowed``): eval draws prompts among those, and chance for a policy that
ignores the prompt is :meth:`SharedLayout.chance`. Pushing the bowl needs a
clear path to the named side; a layout that allows ``push_bowl`` is redrawn
until at least one side is clear, and only clear sides are asked for
(:attr:`Placement.push_sides`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from physres.errors import ConfigError
from physres.sim.arm.scene import Scene
from physres.sim.arm.tasks import (
    FOOTPRINT,
    SIDES,
    TASKS,
    ArmTask,
    PushBowl,
    Wipe,
    make_task,
    place_bottle_in_bowl,
    place_bottle_on_pedestal,
    place_cup_on_pedestal,
)

__all__ = [
    "SHARED_LAYOUTS",
    "Placement",
    "SharedLayout",
    "check_layout",
    "draw_placement",
    "layouts_allowing",
    "push_corridor_clear",
    "shared_layout",
]

#: where shared layouts place objects: wider than a task's own region (x, y in metres)
SHARED_X = (0.32, 0.72)
SHARED_Y = (-0.28, 0.28)
#: the first group (a bowl) sits near the middle so it can be pushed to every side
CENTRE_X = (0.47, 0.57)
CENTRE_Y = (-0.05, 0.05)
#: free space kept between the footprints of two groups (the hand is wider than a cube)
GAP = 0.035


def _place_dirt_and_cloth(
    scene: Scene, task: ArmTask, pos: dict[str, np.ndarray], yaw: dict[str, float]
) -> None:
    wipe = task if isinstance(task, Wipe) else Wipe()  # the dirt belongs to a wipe either way
    wipe.place(scene, pos["dirt"], pos["cloth"], yaw["cloth"])


#: how each group is put on the table: (scene, the episode's task, places, yaws)
_PLACERS: dict[str, Callable[..., None]] = {
    "cube": lambda sc, t, q, y: sc.add_cube("cube", q["cube"], yaw=y["cube"]),
    "bowl": lambda sc, t, q, y: sc.add_bowl("bowl", q["bowl"]),
    "bottle_in_bowl": lambda sc, t, q, y: place_bottle_in_bowl(
        sc, q["bottle_in_bowl"], y["bottle_in_bowl"]
    ),
    "cup_on_pedestal": lambda sc, t, q, y: place_cup_on_pedestal(
        sc, q["cup_on_pedestal"], y["cup_on_pedestal"]
    ),
    "bottle_on_pedestal": lambda sc, t, q, y: place_bottle_on_pedestal(
        sc, q["bottle_on_pedestal"], y["bottle_on_pedestal"]
    ),
    "dirt": lambda sc, t, q, y: None,  # laid with the cloth
    "cloth": _place_dirt_and_cloth,
}
_RADIUS = {**FOOTPRINT, "dirt": Wipe.dirt_radius()}
#: groups that a pushed bowl would run into (the dirt is paint on the table)
_OBSTACLES = ("cube", "cup_on_pedestal", "bottle_on_pedestal", "cloth")


@dataclass(frozen=True)
class SharedLayout:
    """Object groups placed together and the tasks their objects allow."""

    name: str
    #: placed in this order; the first near the middle of the table
    groups: tuple[str, ...]
    allowed: tuple[str, ...]
    description: str = ""

    @property
    def deformable(self) -> bool:
        return "cloth" in self.groups

    def chance(self) -> float:
        """Expected success of a policy that ignores the prompt and always does one goal well:
        the largest share of the allowed tasks with one goal (prompts drawn uniformly among
        ``allowed``; pick-place with and without distractors is one goal here, and
        ``push_bowl`` counts as one task although its side comes from the prompt)."""
        goals = [TASKS[t].goal for t in self.allowed]
        return max(goals.count(g) for g in set(goals)) / len(goals)

    def sample(self, rng: np.random.Generator, tries: int = 200) -> Placement:
        """Places and yaws for every group, from ``rng`` only (never from the task)."""
        for _ in range(tries):
            pos = self._positions(rng)
            if pos is None:
                continue
            yaw = {g: float(rng.uniform(-math.pi, math.pi)) for g in self.groups}
            yaw["cube"] = float(rng.uniform(-math.pi / 4, math.pi / 4))
            yaw["cloth"] = float(rng.uniform(-math.pi / 4, math.pi / 4))
            sides = tuple(s for s in SIDES if push_corridor_clear(pos, s)) if "bowl" in pos else ()
            if "push_bowl" in self.allowed and not sides:
                continue
            return Placement(self, pos, yaw, sides)
        raise RuntimeError(  # pragma: no cover - the regions are sized so this cannot happen
            f"shared layout {self.name!r}: no placement found in {tries} tries"
        )

    def _positions(self, rng: np.random.Generator) -> dict[str, np.ndarray] | None:
        placed: dict[str, np.ndarray] = {}
        for k, g in enumerate(self.groups):
            x, y = (CENTRE_X, CENTRE_Y) if k == 0 else (SHARED_X, SHARED_Y)
            for _ in range(400):
                q = np.array([rng.uniform(*x), rng.uniform(*y)])
                if all(
                    np.linalg.norm(q - o) > _RADIUS[g] + _RADIUS[h] + GAP for h, o in placed.items()
                ):
                    placed[g] = q
                    break
            else:
                return None
        return placed


def check_layout(layout: object) -> str:
    """``layout`` if it names a layout choice; ConfigError listing the choices if not."""
    if layout in ("own", "shared") or layout in SHARED_LAYOUTS:
        return str(layout)
    raise ConfigError(
        f"layout {layout!r} unknown; expected 'own' (the task's own scene), 'shared' (a shared "
        f"layout that allows the task) or one of {', '.join(SHARED_LAYOUTS)}"
    )


def push_corridor_clear(pos: dict[str, np.ndarray], side: str) -> bool:
    """Whether the bowl can be pushed from where it is to ``side`` without meeting a group:
    the path of the bowl (and of the hand behind it) widened by the bowl's radius."""
    from physres.sim.arm.experts import push_path  # the expert's own path, not a copy

    start, end = push_path(pos["bowl"], side, FOOTPRINT["bowl"])
    ahead = (end - start) / np.linalg.norm(end - start)
    end = end + ahead * FOOTPRINT["bowl"]  # the bowl's centre runs ahead of the hand
    width = FOOTPRINT["bowl"] + 0.02
    seg = end - start
    for g in _OBSTACLES:
        if g not in pos:
            continue
        t = np.clip(np.dot(pos[g] - start, seg) / max(np.dot(seg, seg), 1e-12), 0.0, 1.0)
        if np.linalg.norm(pos[g] - (start + t * seg)) < width + _RADIUS[g]:
            return False
    return True


@dataclass
class Placement:
    """One drawn shared layout: where every group goes, and which push sides are clear."""

    layout: SharedLayout
    positions: dict[str, np.ndarray]
    yaws: dict[str, float]
    push_sides: tuple[str, ...] = field(default=())

    def allows(self, task: ArmTask) -> bool:
        if task.name not in self.layout.allowed:
            return False
        if isinstance(task, PushBowl):
            side = (task.params or {}).get("side")
            return side is None or side in self.push_sides
        return True

    def sample_params(self, task: ArmTask, rng: np.random.Generator) -> None:
        """The task's free parameters, drawn among those this placement allows."""
        if isinstance(task, PushBowl) and task.params is not None and "side" not in task.params:
            task.params["side"] = self.push_sides[int(rng.integers(len(self.push_sides)))]
        task.sample_params(rng)

    def build(self, scene: Scene, task: ArmTask) -> None:
        """Put every group on a freshly built scene; ``task`` gets its state (the dirt)."""
        for g in self.layout.groups:
            _PLACERS[g](scene, task, self.positions, self.yaws)


#: name → layout. ``cube_bowl``: an empty bowl in the middle; ``bottle_bowl``: a bottle lying
#: in a wide bowl in the middle. Every task is allowed in at least one.
SHARED_LAYOUTS: dict[str, SharedLayout] = {
    lay.name: lay
    for lay in (
        SharedLayout(
            "cube_bowl",
            ("bowl", "cube", "cup_on_pedestal", "bottle_on_pedestal", "dirt", "cloth"),
            (
                "wipe",
                "pick_place",
                "cup_from_pedestal",
                "push_bowl",
                "standing_bottle_from_pedestal",
                "pick_place_distractors",
            ),
            "an empty bowl in the middle; cube, cup and bottle on pedestals, cloth and dirt",
        ),
        SharedLayout(
            "bottle_bowl",
            ("bottle_in_bowl", "cube", "cup_on_pedestal", "bottle_on_pedestal", "dirt", "cloth"),
            (
                "wipe",
                "lying_bottle_from_bowl",
                "cup_from_pedestal",
                "standing_bottle_from_pedestal",
            ),
            "a bottle lying in a bowl in the middle; cube, cup and bottle on pedestals, cloth "
            "and dirt",
        ),
    )
}


def layouts_allowing(task: str) -> list[str]:
    """Names of the shared layouts whose objects allow ``task``."""
    if task not in TASKS:
        raise TASKS.unknown(task)
    return [n for n, lay in SHARED_LAYOUTS.items() if task in lay.allowed]


def shared_layout(name: str) -> SharedLayout:
    """A layout by name; ConfigError naming the known ones if unknown."""
    if name not in SHARED_LAYOUTS:
        raise ConfigError(
            f"unknown shared layout {name!r}; known: {', '.join(SHARED_LAYOUTS)} (or 'shared': "
            "any layout that allows the task)"
        )
    return SHARED_LAYOUTS[name]


def draw_placement(
    layout: str, task: ArmTask | None, rng: np.random.Generator
) -> tuple[Placement, ArmTask]:
    """A placement of ``layout`` (``"shared"``: one of the layouts that allow ``task``) and
    the task with its free parameters: drawn among the allowed ones when ``task`` is None.

    The placement comes from a seed drawn first from ``rng``, so one seed gives one
    picture whichever task is asked for; it is redrawn only while it cannot hold
    ``task`` (a push towards a blocked side).
    """
    seed = int(rng.integers(2**31))
    if layout == "shared":
        names = layouts_allowing(task.name) if task is not None else list(SHARED_LAYOUTS)
    else:
        names = [shared_layout(layout).name]
        if task is not None and task.name not in SHARED_LAYOUTS[layout].allowed:
            raise ConfigError(
                f"task {task.name!r} is not allowed in shared layout {layout!r} "
                f"(allowed: {', '.join(SHARED_LAYOUTS[layout].allowed)})"
            )
    chosen = SHARED_LAYOUTS[names[int(rng.integers(len(names)))]]
    for k in range(50):
        placement = chosen.sample(np.random.default_rng([seed, k]))
        if task is None:
            allowed = chosen.allowed
            task = make_task(allowed[int(rng.integers(len(allowed)))])
        if placement.allows(task):
            placement.sample_params(task, rng)
            return placement, task
    raise ConfigError(  # pragma: no cover - every side is clear in some draws
        f"shared layout {chosen.name!r}: no draw of 50 allows {task.name} {task.params}"
    )
