"""The prompt task suite: layouts, success predicates from simulator state, prompts.

Each task is a class with a randomised ``build`` (a layout drawn from the
episode's generator), a ``success`` predicate computed from pybullet state
(never from the policy's claims), prompt templates with synonyms, and a
``parse`` that maps free text back to the task (and its parameters, such as
the side of the table for pushing). :func:`parse_prompt` tries every task and
raises :class:`PromptError` listing the known tasks when none matches.

Sides are named from the robot's point of view: *left* is +y, *right* is -y,
*far* is away from the robot (+x) and *near* towards it.
"""

from __future__ import annotations

import itertools
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from physres.errors import ConfigError
from physres.registry import Registry
from physres.sim.arm.scene import TABLE_RGBA, Scene

__all__ = [
    "TASKS",
    "ArmTask",
    "CupFromPedestal",
    "LyingBottleFromBowl",
    "PickPlace",
    "PickPlaceDistractors",
    "PromptError",
    "PushBowl",
    "StandingBottleFromPedestal",
    "Wipe",
    "heldout_prompts",
    "make_task",
    "parse_prompt",
    "training_prompts",
]

#: colour of the dirt tiles the wipe task cleans
DIRT_RGBA = (0.40, 0.25, 0.12, 1.0)
#: the cloth's footprint radius (half its 14 cm diagonal, plus room), metres
CLOTH_RADIUS = 0.1

#: x, y ranges of the table area where layouts are drawn (metres, table frame)
REGION_X = (0.38, 0.66)
REGION_Y = (-0.25, 0.25)


class PromptError(ConfigError):
    """A prompt names no known task; the message lists the tasks with an example each."""


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9 ]", " ", text.lower())).strip()


#: words that name the bowl in prompts, for every task's parser
BOWL_WORDS = ("bowl", "dish", "container", "basin")


def _has(text: str, *words: str) -> bool:
    return any(re.search(rf"\b{w}\b", text) for w in words)


def _fill(template: str, rng: np.random.Generator, slots: dict[str, tuple[str, ...]]) -> str:
    def pick(m: re.Match[str]) -> str:
        options = slots[m.group(1)]
        return options[int(rng.integers(len(options)))]

    return re.sub(r"\{(\w+)\}", pick, template)


def _sample_layout(
    rng: np.random.Generator,
    radii: list[float],
    *,
    x: tuple[float, float] = REGION_X,
    y: tuple[float, float] = REGION_Y,
    tries: int = 2000,
) -> list[np.ndarray]:
    """Non-overlapping xy positions for discs of the given radii (rejection sampling)."""
    placed: list[np.ndarray] = []
    for r in radii:
        for _ in range(tries):
            q = np.array([rng.uniform(*x), rng.uniform(*y)])
            if all(np.linalg.norm(q - o) > r + ro + 0.02 for o, ro in zip(placed, radii)):
                placed.append(q)
                break
        else:  # pragma: no cover - the regions are sized so this cannot happen
            raise RuntimeError(f"could not place {len(radii)} objects without overlap")
    return placed


# ------------------------------------------------------------ object groups
#: footprint radius (m) of each group of objects a layout places: own scenes and shared ones
FOOTPRINT: dict[str, float] = {
    "cube": 0.035,
    "bowl": 0.085,
    "bottle_in_bowl": 0.11,
    "cup_on_pedestal": 0.08,
    "bottle_on_pedestal": 0.08,
    "cloth": CLOTH_RADIUS,
}


def place_bottle_in_bowl(scene: Scene, q: np.ndarray, yaw: float) -> None:
    """A wide bowl ``bowl`` with the bottle ``lying_bottle`` lying in it, centred."""
    scene.add_bowl("bowl", q, inner_radius=0.095, height=0.045)
    axis = np.array([math.sin(yaw), -math.cos(yaw)])
    bottle = scene.add_bottle("lying_bottle", q, lying=True, yaw=yaw, base_z=0.009)
    # centre the whole bottle (body + neck) in the bowl, not its body
    pos, orn = scene.pose("lying_bottle")
    pos[:2] = np.asarray(q) - axis * bottle.size["neck_len"] / 2
    scene.client.resetBasePositionAndOrientation(bottle.body, pos, orn)


def place_cup_on_pedestal(scene: Scene, q: np.ndarray, yaw: float) -> None:
    """The coffee cup ``cup`` on the pedestal ``cup_pedestal``."""
    ped = scene.add_pedestal("cup_pedestal", q, radius=0.055, height=0.08)
    scene.add_mug("cup", q, yaw=yaw, base_z=ped.size["height"])


def place_bottle_on_pedestal(scene: Scene, q: np.ndarray, yaw: float) -> None:
    """The bottle ``bottle`` standing on the pedestal ``bottle_pedestal``."""
    ped = scene.add_pedestal("bottle_pedestal", q, radius=0.05, height=0.08)
    scene.add_bottle("bottle", q, lying=False, yaw=yaw, base_z=ped.size["height"])


@dataclass
class ArmTask(ABC):
    """A tabletop goal for the arm (not a reservoir benchmark, ``physres.tasks.Task``);
    subclasses set the class attributes and override the hooks."""

    name: ClassVar[str] = ""
    #: tasks with the same goal accept each other's prompts (pick_place ± distractors)
    goal: ClassVar[str] = ""
    description: ClassVar[str] = ""
    templates: ClassVar[tuple[str, ...]] = ()
    slots: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: wordings kept out of training data (see :func:`heldout_prompts`), with their own slots
    heldout: ClassVar[tuple[str, ...]] = ()
    heldout_slots: ClassVar[dict[str, tuple[str, ...]]] = {}
    max_steps: ClassVar[int] = 200
    #: the layout holds a soft body (the cloth): the scene needs pybullet's deformable world
    deformable: ClassVar[bool] = False
    params: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.params = dict(self.params or {})

    # prompts ---------------------------------------------------------------
    @classmethod
    @abstractmethod
    def parse(cls, text: str) -> dict[str, Any] | None:
        """Parameters if ``text`` (normalised) asks for this task, else None."""

    def sample_params(self, rng: np.random.Generator) -> None:
        """Draw parameters the prompt did not fix (e.g. the side to push to)."""

    def prompt(self, rng: np.random.Generator) -> str:
        """A training wording: one of ``templates`` with its slots filled from ``rng``."""
        template = self.templates[int(rng.integers(len(self.templates)))]
        return _fill(template, rng, {**self.slots, **self._param_slots()})

    def heldout_prompt(self, rng: np.random.Generator) -> str:
        """A held-out wording (never in training data): one of ``heldout``, filled."""
        template = self.heldout[int(rng.integers(len(self.heldout)))]
        return _fill(template, rng, {**self.heldout_slots, **self._param_slots()})

    def _param_slots(self) -> dict[str, tuple[str, ...]]:
        return {}

    @classmethod
    def example(cls) -> str:
        return _fill(
            cls.templates[0],
            np.random.default_rng(0),
            {k: v[:1] for k, v in cls.slots.items()} | {"side": ("left",)},
        )

    # world -----------------------------------------------------------------
    @abstractmethod
    def build(self, scene: Scene, rng: np.random.Generator) -> None:
        """Add this task's objects to a freshly built scene, laid out from ``rng``."""

    def update(self, scene: Scene) -> None:
        """Called several times per control step (progress that must be tracked, e.g. wiping)."""

    @abstractmethod
    def success(self, scene: Scene) -> bool:
        """Whether the goal holds now, judged from simulator state only."""

    def progress(self, scene: Scene) -> float:
        """A 0–1 measure for logs; success() is the definition."""
        return float(self.success(scene))


# ----------------------------------------------------------------- 1 wipe
@dataclass
class Wipe(ArmTask):
    """Wipe the dirt (a patch of brown tiles) off the table with a thin cloth.

    The cloth is a 25-node mass-spring soft body (:meth:`Scene.add_cloth`): the
    expert grasps it at its centre and drags it over the dirt, so it lies on the
    table around and behind the hand. A tile is wiped once a point of the cloth
    lying on the table (a node or a triangle's centroid, under ``contact_z``)
    comes inside it; success is ``coverage_needed`` of the tiles wiped.
    """

    name: ClassVar[str] = "wipe"
    goal: ClassVar[str] = "wipe"
    description: ClassVar[str] = "wipe the dirt off the table with the thin cloth"
    templates: ClassVar[tuple[str, ...]] = (
        "wipe the {mark} with the {cloth}",
        "{clean} the {mark} using the {cloth}",
        "use the {cloth} to {clean} the {mark}",
        "wipe the table with the {cloth}",
    )
    slots: ClassVar[dict[str, tuple[str, ...]]] = {
        "mark": ("marked area", "stain", "dirty spot", "spill", "brown patch", "dirt"),
        "cloth": ("cloth", "thin cloth", "orange cloth", "rag"),
        "clean": ("clean", "wipe", "scrub"),
    }
    heldout: ClassVar[tuple[str, ...]] = (
        "please tidy up the {mess} on the table with the {cloth}",
        "the table is dirty, go over it with the {cloth}",
        "polish the {mess} off the tabletop using a {cloth}",
        "could you get rid of the {mess} with that {cloth}",
    )
    heldout_slots: ClassVar[dict[str, tuple[str, ...]]] = {
        "mess": ("mess", "smudge", "grime", "muck"),
        "cloth": ("towel", "piece of fabric", "thin cloth", "duster"),
    }
    max_steps: ClassVar[int] = 260
    deformable: ClassVar[bool] = True
    #: tiles of the dirt along x and y, and the tile edge (metres)
    tiles_xy: ClassVar[tuple[int, int]] = (4, 3)
    tile: ClassVar[float] = 0.04
    coverage_needed: ClassVar[float] = 0.9
    #: a cloth point below this height (m) lies on the table and wipes what it is over
    contact_z: ClassVar[float] = 0.012

    @classmethod
    def parse(cls, text: str) -> dict[str, Any] | None:
        words = ("wipe", "wiping", "clean", "scrub", "mop", "dust", "dirt", "dirty", "mess")
        tools = ("cloth", "rag", "towel", "fabric", "duster")
        return (
            {} if _has(text, *words, *tools, "smudge", "grime", "muck", "polish", "tidy") else None
        )

    @classmethod
    def dirt_radius(cls) -> float:
        nx, ny = cls.tiles_xy
        return math.hypot(nx * cls.tile / 2, ny * cls.tile / 2)

    def build(self, scene: Scene, rng: np.random.Generator) -> None:
        area, cloth = _sample_layout(
            rng, [self.dirt_radius(), FOOTPRINT["cloth"]], x=(0.42, 0.62), y=(-0.22, 0.22)
        )
        self.place(scene, area, cloth, float(rng.uniform(-math.pi / 4, math.pi / 4)))

    def place(self, scene: Scene, area: np.ndarray, cloth: np.ndarray, yaw: float) -> None:
        """The dirt centred on ``area`` and the cloth flat at ``cloth`` (shared layouts too)."""
        nx, ny = self.tiles_xy
        self.area_center = np.asarray(area, dtype=float)
        self.tile_centers = np.array(
            [
                [area[0] + (i - (nx - 1) / 2) * self.tile, area[1] + (j - (ny - 1) / 2) * self.tile]
                for i in range(nx)
                for j in range(ny)
            ]
        )
        self.wiped = np.zeros(len(self.tile_centers), dtype=bool)
        self.tile_bodies = [
            scene.add_marker((self.tile / 2 - 0.001,) * 2, c, DIRT_RGBA) for c in self.tile_centers
        ]
        scene.add_cloth("cloth", cloth, yaw=yaw)

    def update(self, scene: Scene) -> None:
        pts = scene.cloth_points("cloth")
        pts = pts[pts[:, 2] < self.contact_z]
        if not len(pts):
            return  # lifted: nothing touches the table
        rel = np.abs(self.tile_centers[:, None, :] - pts[None, :, :2])
        under = (rel <= self.tile / 2).all(axis=2).any(axis=1)
        for k in np.flatnonzero(under & ~self.wiped):
            scene.client.changeVisualShape(self.tile_bodies[k], -1, rgbaColor=TABLE_RGBA)
        self.wiped |= under

    def progress(self, scene: Scene) -> float:
        return float(self.wiped.mean())

    def success(self, scene: Scene) -> bool:
        return bool(self.wiped.mean() >= self.coverage_needed)


# ---------------------------------------------------------- 2, 7 pick place
@dataclass
class PickPlace(ArmTask):
    """Pick the cube and place it in the bowl."""

    name: ClassVar[str] = "pick_place"
    goal: ClassVar[str] = "cube_in_bowl"
    description: ClassVar[str] = "pick the cube and place it in the bowl"
    templates: ClassVar[tuple[str, ...]] = (
        "pick the {cube} and place it in the {bowl}",
        "{put} the {cube} in the {bowl}",
        "{pick} the {cube} and {drop} it into the {bowl}",
        "place the {cube} inside the {bowl}",
    )
    slots: ClassVar[dict[str, tuple[str, ...]]] = {
        "cube": ("cube", "red cube", "block", "red block"),
        "bowl": ("bowl", "blue bowl", "dish"),
        "put": ("put", "place", "move", "drop"),
        "pick": ("pick up", "grab", "take", "lift"),
        "drop": ("drop", "put", "place"),
    }
    heldout: ClassVar[tuple[str, ...]] = (
        "transfer the {cube} into the {bowl}",
        "i want the {cube} to end up inside the {bowl}",
        "set the {cube} down in the {bowl} please",
        "could you get the {cube} into that {bowl}",
    )
    heldout_slots: ClassVar[dict[str, tuple[str, ...]]] = {
        "cube": ("small red box", "little cube", "red cube", "toy block"),
        "bowl": ("container", "round bowl", "basin", "blue container"),
    }
    max_steps: ClassVar[int] = 200
    n_distractors: ClassVar[int] = 0

    @classmethod
    def parse(cls, text: str) -> dict[str, Any] | None:
        if _has(text, "cube", "block", "cubes", "blocks", "box") and _has(text, *BOWL_WORDS):
            return {}
        return None

    def build(self, scene: Scene, rng: np.random.Generator) -> None:
        radii = [FOOTPRINT["cube"], FOOTPRINT["bowl"]] + [0.04] * self.n_distractors
        pos = _sample_layout(rng, radii)
        scene.add_cube("cube", pos[0], yaw=float(rng.uniform(-math.pi / 4, math.pi / 4)))
        scene.add_bowl("bowl", pos[1])
        shapes = ("sphere", "cylinder", "block")
        colors = ("green", "yellow", "purple", "orange", "teal")
        for k, q in enumerate(pos[2:]):
            scene.add_distractor(
                f"distractor{k}",
                shapes[int(rng.integers(3))],
                q,
                float(rng.uniform(-math.pi, math.pi)),
                colors[int(rng.integers(len(colors)))],
            )

    def success(self, scene: Scene) -> bool:
        cube, _ = scene.pose("cube")
        bowl, _ = scene.pose("bowl")
        b = scene.objects["bowl"].size
        inside = np.linalg.norm(cube[:2] - bowl[:2]) < b["inner_radius"] - 0.01
        low = cube[2] < bowl[2] + b["height"]
        return bool(inside and low and not scene.touching("cube"))


@dataclass
class PickPlaceDistractors(PickPlace):
    """Pick the cube and place it in the bowl, with distractor objects around."""

    name: ClassVar[str] = "pick_place_distractors"
    description: ClassVar[str] = (
        "pick the cube and place it in the bowl, ignoring the other objects"
    )
    templates: ClassVar[tuple[str, ...]] = (
        "pick the red cube and place it in the bowl, ignore the other objects",
        "{put} the red {cube} in the {bowl} among the other objects",
        "find the red {cube} among the clutter and {drop} it into the {bowl}",
        "{pick} the red {cube}, not the other objects, and place it in the {bowl}",
    )
    slots: ClassVar[dict[str, tuple[str, ...]]] = {
        **PickPlace.slots,
        "cube": ("cube", "block"),
    }
    heldout: ClassVar[tuple[str, ...]] = (
        "leave the other things alone and transfer the {cube} to the {bowl}",
        "from all that clutter, get the {cube} into the {bowl}",
        "the {cube} goes in the {bowl}, ignore everything else",
        "only the {cube} should end up in the {bowl}, not the others",
    )
    heldout_slots: ClassVar[dict[str, tuple[str, ...]]] = {
        "cube": ("small red box", "red cube", "red toy block"),
        "bowl": ("container", "round bowl", "basin"),
    }
    n_distractors: ClassVar[int] = 4

    @classmethod
    def parse(cls, text: str) -> dict[str, Any] | None:
        if PickPlace.parse(text) is None:
            return None
        return (
            {}
            if _has(text, "other", "others", "clutter", "among", "ignore", "distractors", "else")
            else None
        )


# ------------------------------------------------------- 3 bottle from bowl
@dataclass
class LyingBottleFromBowl(ArmTask):
    """Pick the bottle lying in the bowl and lift it out."""

    name: ClassVar[str] = "lying_bottle_from_bowl"
    goal: ClassVar[str] = "lying_bottle_from_bowl"
    description: ClassVar[str] = "pick the lying bottle from the bowl"
    templates: ClassVar[tuple[str, ...]] = (
        "pick the {lying} bottle from the {bowl}",
        "{take} the bottle out of the {bowl}",
        "{take} the {lying} bottle out of the {bowl}",
        "lift the bottle from the {bowl}",
    )
    slots: ClassVar[dict[str, tuple[str, ...]]] = {
        "lying": ("lying", "fallen", "green"),
        "bowl": ("bowl", "blue bowl", "dish"),
        "take": ("take", "get", "pick", "grab", "remove"),
    }
    heldout: ClassVar[tuple[str, ...]] = (
        "retrieve the {bottle} lying in the {bowl}",
        "fish the {bottle} out of the {bowl}",
        "raise the {bottle} up and out of the {bowl}",
        "the {bottle} in the {bowl}, hand it up to me",
    )
    heldout_slots: ClassVar[dict[str, tuple[str, ...]]] = {
        "bottle": ("bottle", "green bottle", "fallen bottle", "plastic bottle"),
        "bowl": ("container", "basin", "big bowl"),
    }
    lift: ClassVar[float] = 0.06

    @classmethod
    def parse(cls, text: str) -> dict[str, Any] | None:
        return {} if _has(text, "bottle") and _has(text, *BOWL_WORDS) else None

    def build(self, scene: Scene, rng: np.random.Generator) -> None:
        (bowl,) = _sample_layout(
            rng, [FOOTPRINT["bottle_in_bowl"]], x=(0.44, 0.60), y=(-0.18, 0.18)
        )
        place_bottle_in_bowl(scene, bowl, float(rng.uniform(-math.pi, math.pi)))

    def success(self, scene: Scene) -> bool:
        pos, _ = scene.pose("lying_bottle")
        bowl, _ = scene.pose("bowl")
        rim = bowl[2] + scene.objects["bowl"].size["height"]
        return bool(scene.holding("lying_bottle") and pos[2] > rim + self.lift)


# --------------------------------------------------------- 4 cup, 6 bottle
@dataclass
class CupFromPedestal(ArmTask):
    """Pick the coffee cup from the pedestal and lift it clear."""

    name: ClassVar[str] = "cup_from_pedestal"
    goal: ClassVar[str] = "cup_from_pedestal"
    description: ClassVar[str] = "pick the coffee cup from the pedestal"
    templates: ClassVar[tuple[str, ...]] = (
        "pick the {cup} from the {pedestal}",
        "{take} the {cup} off the {pedestal}",
        "lift the {cup} from the {pedestal}",
        "pick up the {cup}",
    )
    slots: ClassVar[dict[str, tuple[str, ...]]] = {
        "cup": ("coffee cup", "cup", "mug", "coffee mug", "white mug"),
        "pedestal": ("pedestal", "stand", "plinth", "grey column"),
        "take": ("take", "grab", "get", "pick"),
    }
    heldout: ClassVar[tuple[str, ...]] = (
        "hoist the {cup} off the {pedestal}",
        "could you raise the {cup} from its {pedestal}",
        "retrieve the {cup} sitting on the {pedestal}",
        "i need the {cup}, lift it clear of the {pedestal}",
    )
    heldout_slots: ClassVar[dict[str, tuple[str, ...]]] = {
        "cup": ("teacup", "coffee cup", "white cup", "mug"),
        "pedestal": ("column", "podium", "pillar"),
    }
    lift: ClassVar[float] = 0.05
    object_name: ClassVar[str] = "cup"
    pedestal_name: ClassVar[str] = "cup_pedestal"

    @classmethod
    def parse(cls, text: str) -> dict[str, Any] | None:
        return {} if _has(text, "cup", "mug", "cups", "mugs", "teacup") else None

    def build(self, scene: Scene, rng: np.random.Generator) -> None:
        (q,) = _sample_layout(rng, [FOOTPRINT["cup_on_pedestal"]], x=(0.42, 0.62), y=(-0.2, 0.2))
        place_cup_on_pedestal(scene, q, float(rng.uniform(-math.pi, math.pi)))

    def success(self, scene: Scene) -> bool:
        name = self.object_name
        top = scene.objects[self.pedestal_name].size["height"]
        aabb_min = scene.client.getAABB(scene.objects[name].body)[0]
        clear = aabb_min[2] > top + self.lift
        return bool(clear and scene.holding(name))


@dataclass
class StandingBottleFromPedestal(CupFromPedestal):
    """Pick the standing bottle from the pedestal and lift it clear."""

    name: ClassVar[str] = "standing_bottle_from_pedestal"
    goal: ClassVar[str] = "standing_bottle_from_pedestal"
    description: ClassVar[str] = "pick the standing bottle from the pedestal"
    templates: ClassVar[tuple[str, ...]] = (
        "pick the {standing} bottle from the {pedestal}",
        "{take} the bottle off the {pedestal}",
        "lift the {standing} bottle from the {pedestal}",
        "pick up the bottle standing on the {pedestal}",
    )
    slots: ClassVar[dict[str, tuple[str, ...]]] = {
        "standing": ("standing", "upright", "green"),
        "pedestal": ("pedestal", "stand", "plinth", "grey column"),
        "take": ("take", "grab", "get", "pick"),
    }
    heldout: ClassVar[tuple[str, ...]] = (
        "hoist the upright {bottle} off the {pedestal}",
        "retrieve the {bottle} standing on the {pedestal}",
        "could you raise the {bottle} from its {pedestal}",
        "i need the {bottle} that is on the {pedestal}",
    )
    heldout_slots: ClassVar[dict[str, tuple[str, ...]]] = {
        "bottle": ("bottle", "green bottle", "plastic bottle"),
        "pedestal": ("column", "podium", "pillar"),
    }
    object_name: ClassVar[str] = "bottle"
    pedestal_name: ClassVar[str] = "bottle_pedestal"

    @classmethod
    def parse(cls, text: str) -> dict[str, Any] | None:
        return {} if _has(text, "bottle") and not _has(text, *BOWL_WORDS) else None

    def build(self, scene: Scene, rng: np.random.Generator) -> None:
        (q,) = _sample_layout(rng, [FOOTPRINT["bottle_on_pedestal"]], x=(0.42, 0.62), y=(-0.2, 0.2))
        place_bottle_on_pedestal(scene, q, float(rng.uniform(-math.pi, math.pi)))


# ----------------------------------------------------------------- 5 push
SIDES: dict[str, tuple[str, ...]] = {
    "left": ("left", "left side", "left edge"),
    "right": ("right", "right side", "right edge"),
    "far": ("far side", "back", "far end", "back edge"),
    "near": ("near side", "front", "near end", "front edge"),
}


@dataclass
class PushBowl(ArmTask):
    """Push the bowl across the table to a named side (no grasping)."""

    name: ClassVar[str] = "push_bowl"
    goal: ClassVar[str] = "push_bowl"
    description: ClassVar[str] = "push the bowl to a side of the table (left, right, far, near)"
    templates: ClassVar[tuple[str, ...]] = (
        "push the {bowl} to the {side} of the table",
        "{push} the {bowl} to the {side}",
        "{push} the {bowl} over to the {side} of the table",
        "move the {bowl} to the {side} without lifting it",
    )
    slots: ClassVar[dict[str, tuple[str, ...]]] = {
        "bowl": ("bowl", "blue bowl", "dish"),
        "push": ("push", "slide", "shove", "nudge"),
    }
    heldout: ClassVar[tuple[str, ...]] = (
        "without picking it up, shift the {bowl} over to the {side}",
        "give the {bowl} a shove so it ends up at the {side}",
        "slide the {bowl} along the table until it reaches the {side}",
        "keep the {bowl} on the table and push it to the {side}",
    )
    heldout_slots: ClassVar[dict[str, tuple[str, ...]]] = {
        "bowl": ("container", "basin", "round bowl"),
    }
    max_steps: ClassVar[int] = 160
    #: where the bowl's centre must end up, per side: (axis, sign, threshold)
    zones: ClassVar[dict[str, tuple[int, float, float]]] = {
        "left": (1, 1.0, 0.19),
        "right": (1, -1.0, -0.19),
        "far": (0, 1.0, 0.68),
        "near": (0, -1.0, 0.38),
    }

    @classmethod
    def parse(cls, text: str) -> dict[str, Any] | None:
        if not (
            _has(text, *BOWL_WORDS)
            and _has(text, "push", "slide", "shove", "nudge", "move", "shift")
        ):
            return None
        if _has(text, "cube", "block", "box", "bottle"):
            return None
        for side, words in (
            ("left", ("left",)),
            ("right", ("right",)),
            ("far", ("far", "back", "away")),
            ("near", ("near", "front", "closer", "towards me")),
        ):
            if _has(text, *words):
                return {"side": side}
        return {}

    def sample_params(self, rng: np.random.Generator) -> None:
        assert self.params is not None
        if "side" not in self.params:
            self.params["side"] = tuple(SIDES)[int(rng.integers(len(SIDES)))]

    def _param_slots(self) -> dict[str, tuple[str, ...]]:
        assert self.params is not None
        return {"side": SIDES[self.params["side"]]}

    def build(self, scene: Scene, rng: np.random.Generator) -> None:
        q = np.array([rng.uniform(0.48, 0.56), rng.uniform(-0.05, 0.05)])
        scene.add_bowl("bowl", q)

    def success(self, scene: Scene) -> bool:
        assert self.params is not None
        pos, _ = scene.pose("bowl")
        axis, sign, thr = self.zones[self.params["side"]]
        upright = scene.z_axis("bowl")[2] > 0.9
        return bool(upright and sign * (pos[axis] - thr) >= 0 and not scene.holding("bowl"))


#: name → class, in the order of the issue (a Mapping: misspelt names get the nearest one)
TASKS: Registry[type[ArmTask]] = Registry(
    "task",
    {
        cls.name: f"{__name__}:{cls.__name__}"
        for cls in (
            Wipe,
            PickPlace,
            LyingBottleFromBowl,
            CupFromPedestal,
            PushBowl,
            StandingBottleFromPedestal,
            PickPlaceDistractors,
        )
    },
)
# parse order: the most specific first (distractors before plain pick-place, bowl+bottle first)
_PARSE_ORDER = (
    PickPlaceDistractors,
    PickPlace,
    LyingBottleFromBowl,
    PushBowl,
    StandingBottleFromPedestal,
    CupFromPedestal,
    Wipe,
)


def known_tasks_text() -> str:
    return "; ".join(f"{n} (e.g. {c.example()!r})" for n, c in TASKS.items())


def parse_prompt(prompt: str) -> tuple[type[ArmTask], dict[str, Any]]:
    """The task class a prompt asks for and its parameters; PromptError if none."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise PromptError(
            f"prompt must be a non-empty string, got {prompt!r}; known tasks: {known_tasks_text()}"
        )
    text = _norm(prompt)
    for cls in _PARSE_ORDER:
        params = cls.parse(text)
        if params is not None:
            return cls, params
    raise PromptError(f"prompt {prompt!r} matches no known task; known tasks: {known_tasks_text()}")


def _expand(template: str, slots: dict[str, tuple[str, ...]]) -> list[str]:
    """Every filling of ``template``'s slots."""
    names = re.findall(r"\{(\w+)\}", template)
    parts = re.split(r"\{\w+\}", template)  # one more than the slots
    out = []
    for combo in itertools.product(*(slots[n] for n in names)):
        out.append("".join(a + b for a, b in zip(parts, (*combo, ""))))
    return out


def _wordings(name: str, params: dict[str, Any] | None, heldout: bool) -> list[str]:
    cls = TASKS[name]
    sides = [params["side"]] if params and "side" in params else list(SIDES)
    out: list[str] = []
    for side in sides:
        slots = {**(cls.heldout_slots if heldout else cls.slots), "side": SIDES[side]}
        for t in cls.heldout if heldout else cls.templates:
            out += [w for w in _expand(t, slots) if w not in out]
    return out


def training_prompts(name: str, params: dict[str, Any] | None = None) -> list[str]:
    """Every wording of task ``name`` that collection may put in training data."""
    return _wordings(name, params, heldout=False)


def heldout_prompts(name: str, params: dict[str, Any] | None = None) -> list[str]:
    """Every held-out wording of task ``name`` (``params``: a push side, else all sides).

    Built by hand apart from the training templates: other sentence forms
    (requests, questions, "i need ...") and at least one content word that no
    training template or synonym of any task uses ("hoist", "retrieve",
    "transfer", "container", "towel"...); a test checks both, and that each
    still routes to its task through :func:`parse_prompt` (the env's router,
    which the policy never sees). Collection draws only :meth:`ArmTask.prompt`,
    so none of these reaches training data; eval's unseen-wording column
    draws from here.
    """
    return _wordings(name, params, heldout=True)


def make_task(name: str, params: dict[str, Any] | None = None) -> ArmTask:
    """A task by name; ConfigError listing the names if unknown."""
    return TASKS[name](params=params)
