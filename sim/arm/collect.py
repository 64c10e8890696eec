"""Collect demonstrations: scripted experts with injected noise, one atomic file per episode.

Noise follows DART (Laskey et al., 2017): on a perturbed step the *executed*
action is the expert's plus a push that lasts a short burst, so the arm drifts
off the expert's path; the *recorded label* stays the expert's clean action,
which on the following steps is the correction. Data therefore shows
recoveries, and a policy trained on it learns to come back. Gripper and
terminate are never perturbed (a dropped object is a different task).

Every episode is written as soon as it ends; an interrupted collection keeps
all finished episodes and ``resume`` skips them on the next run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from physres.datasets.format import INDEX_FILE
from physres.datasets.reader import DemoDataset
from physres.datasets.writer import DatasetWriter, DemoRecorder
from physres.errors import ConfigError

__all__ = ["CollectResult", "Driver", "NoiseConfig", "collect", "episode_seed", "run_episode"]


@dataclass(frozen=True)
class NoiseConfig:
    """How hard and how often the expert's executed actions are pushed off course."""

    #: probability that a burst starts on any unperturbed step
    burst_prob: float = 0.06
    #: burst length in control steps, inclusive range
    burst_steps: tuple[int, int] = (2, 5)
    #: push magnitude per step for (dx, dy, dz) in metres and dyaw in radians (std of a normal)
    push_std: tuple[float, float, float, float] = (0.015, 0.015, 0.01, 0.08)
    #: fraction of episodes recorded without any noise (clean demonstrations)
    clean_fraction: float = 0.2
    #: a burst never starts within this many steps of the episode's step limit
    tail_margin: int = 15

    def scaled(self, scale: float) -> NoiseConfig:
        """The same schedule with push magnitudes multiplied by ``scale`` (0 = no noise)."""
        if scale < 0:
            raise ConfigError(f"noise scale must be >= 0, got {scale}")
        std = tuple(float(s) * scale for s in self.push_std)
        return NoiseConfig(
            self.burst_prob if scale else 0.0,
            self.burst_steps,
            std,  # type: ignore[arg-type]
            self.clean_fraction,
            self.tail_margin,
        )


@dataclass
class CollectResult:
    """What one collection run did, per task."""

    root: Path
    written: dict[str, int] = field(default_factory=dict)
    successes: dict[str, int] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    perturbed: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for task in self.written:
            n = self.written[task]
            out.append(
                {
                    "task": task,
                    "episodes": n,
                    "successes": self.successes[task],
                    "success_rate": self.successes[task] / n if n else float("nan"),
                    "mean_length": self.steps[task] / n if n else float("nan"),
                    "perturbed_frac": self.perturbed[task] / max(1, self.steps[task]),
                    "skipped": self.skipped.get(task, 0),
                }
            )
        return out


def episode_seed(base_seed: int, task: str, k: int, layout: str = "own") -> int:
    """A stable 31-bit seed per (collection seed, task, episode number, layout)."""
    key = task if layout == "own" else f"{task}@{layout}"  # own scenes keep their old seeds
    ss = np.random.SeedSequence([base_seed, *key.encode(), k])
    return int(ss.generate_state(1)[0] & 0x7FFFFFFF)


class Driver(Protocol):
    """Something other than the expert that moves the arm while the expert labels.

    With a trained policy as the driver, a dataset holds the states the policy
    itself reaches, each labelled with what the expert would do there: the data
    that corrects a policy's own drift (DAgger, Ross et al. 2011).
    """

    name: str

    def reset(self, prompt: str) -> None: ...

    def act(self, obs: dict[str, Any]) -> np.ndarray: ...


def run_episode(
    env: Any,
    expert: Any,
    *,
    seed: int,
    noise: NoiseConfig,
    prompt: str | None = None,
    driver: Driver | None = None,
) -> tuple[DemoRecorder, dict[str, Any]]:
    """Roll out one episode; returns the recorder and the episode's metadata.

    With a ``driver`` its actions move the arm (no pushes are injected) and the
    expert's answer at every state it reaches is the label.
    """
    rng = np.random.default_rng([seed, 1])
    noisy = driver is None and rng.random() >= noise.clean_fraction and noise.burst_prob > 0
    options = {"prompt": prompt} if prompt else None
    obs, info = env.reset(seed=seed, options=options)
    if driver is not None:
        driver.reset(str(env.prompt))
    rec = DemoRecorder()
    burst_left, push = 0, np.zeros(4)
    perturbed_steps = 0
    success = bool(info.get("success", False))
    max_steps = int(getattr(env, "max_steps", 200))
    t = 0
    while True:
        expert_action = np.asarray(expert.act(obs), dtype=np.float32)
        action = expert_action.copy() if driver is None else driver.act(obs)
        if (
            noisy
            and burst_left == 0
            and t < max_steps - noise.tail_margin
            and rng.random() < noise.burst_prob
        ):
            lo, hi = noise.burst_steps
            burst_left = int(rng.integers(lo, hi + 1))
            push = rng.normal(0.0, noise.push_std)
        # never delay a terminate; a driver's every step is off the expert's path
        perturbed = driver is not None or (burst_left > 0 and expert_action[5] <= 0.5)
        if perturbed:
            perturbed_steps += 1
            if driver is None:
                action[:4] = action[:4] + push
                burst_left -= 1
        next_obs, reward, terminated, truncated, info = env.step(action)
        applied = np.asarray(info.get("action_applied", action), dtype=np.float32)
        success = bool(info.get("success", False))
        rec.add(
            obs,
            action=applied,
            expert_action=expert_action,
            perturbed=perturbed,
            reward=float(reward),
            success=success,
        )
        obs = next_obs
        t += 1
        if terminated or truncated:
            break
    meta = {
        "task": str(info.get("task", getattr(env, "task_name", ""))),
        "task_params": info.get("task_params", {}),
        "layout": info.get("layout", "own"),
        "allowed": list(info.get("allowed", ())),
        "prompt": rec.prompt,
        "seed": int(seed),
        "success": success,
        "terminated_by": "policy" if terminated else "time limit",
        "perturbed_steps": perturbed_steps,
        "noisy": bool(noisy),
        "driver": driver.name if driver is not None else "expert",
    }
    return rec, meta


def _done_episodes(root: Path) -> set[tuple[str, str, int]]:
    if not (root / INDEX_FILE).exists():
        return set()
    ds = DemoDataset(root, verify="none")
    return {
        (e.task, str(e.meta.get("collect_layout", "own")), int(e.meta.get("task_episode", -1)))
        for e in ds.episodes
    }


def collect(
    tasks: Sequence[str],
    episodes: int,
    out: str | Path,
    *,
    seed: int = 0,
    noise: NoiseConfig | None = None,
    render_size: int = 128,
    wrist_camera: bool = False,
    resume: bool = True,
    layouts: Sequence[str] = ("own",),
    on_episode: Callable[[str, dict[str, Any]], None] | None = None,
    driver: Driver | None = None,
) -> CollectResult:
    """Run each task's expert for ``episodes`` episodes per layout and append them to ``out``.

    ``layouts``: ``"own"`` (each task's own scene), ``"shared"`` (shared layouts
    that allow the task, :mod:`physres.sim.arm.shared`) or a shared layout's
    name; the episode's ``layout`` and ``allowed`` tasks go into its metadata.
    ``on_episode(task, index_line)`` is called after each episode is on disk
    (the CLI advances its progress bar there). With ``resume`` an episode
    already in the dataset (same task, layout and episode number) is not redone.
    ``driver`` (e.g. a trained policy) moves the arm instead of the expert, which
    labels every state it reaches (see :class:`Driver`).
    """
    from physres.sim.arm.env import TabletopEnv, check_layout
    from physres.sim.arm.experts import make_expert
    from physres.sim.arm.spec import ACTION_SPEC

    noise = noise or NoiseConfig()
    root = Path(out)
    done = _done_episodes(root) if resume else set()
    writer = DatasetWriter(
        root,
        action_spec=ACTION_SPEC.to_dict(),
        info={
            "env": "physres.sim.arm.TabletopEnv",
            "render_size": render_size,
            "wrist_camera": wrist_camera,
            "collect_seed": seed,
        },
    )
    for layout in layouts:
        check_layout(layout)
    result = CollectResult(root=root)
    t0 = time.perf_counter()
    for layout in layouts:
        for task in tasks:
            # rows per task and layout: "pick_place", "pick_place@shared"
            label = task if layout == "own" else f"{task}@{layout}"
            for key in (
                result.written,
                result.successes,
                result.steps,
                result.perturbed,
                result.skipped,
            ):
                key[label] = 0
            env = TabletopEnv(
                task=task, render_size=render_size, wrist_camera=wrist_camera, layout=layout
            )
            try:
                # under a driver the expert labels states it did not choose: by the state
                expert = make_expert(env, follow="command" if driver is None else "state")
                for k in range(episodes):
                    if (task, layout, k) in done:
                        result.skipped[label] += 1
                        continue
                    s = episode_seed(seed, task, k, layout)
                    if hasattr(expert, "reset"):
                        expert.reset()
                    t_ep = time.perf_counter()
                    rec, meta = run_episode(env, expert, seed=s, noise=noise, driver=driver)
                    meta.update(
                        task=task,
                        task_episode=k,
                        collect_layout=layout,
                        noise=asdict(noise),
                        seconds=round(time.perf_counter() - t_ep, 3),
                        expert=type(expert).__name__,
                    )
                    line = writer.write_episode(rec.arrays(), meta)
                    result.written[label] += 1
                    result.successes[label] += int(meta["success"])
                    result.steps[label] += len(rec)
                    result.perturbed[label] += meta["perturbed_steps"]
                    if on_episode is not None:
                        on_episode(task, line)
            finally:
                env.close()
    result.seconds = time.perf_counter() - t0
    return result
