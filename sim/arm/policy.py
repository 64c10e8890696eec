"""The controller in the tabletop simulator: rollouts, the evaluation table, example videos.

A rollout builds a task's layout from its name and a seed, gives the
controller only the prompt text, and lets it act until it says ``terminate``
or the task's step limit; success is the task's predicate at the end (judged
from simulator state). Evaluation layouts come from seeds derived from
``EVAL_SEED`` (collection uses seed 0 by default), so they were never seen in
training. ``evaluate`` reports per task and overall: the controller with the
templates' prompts, with held-out wordings, in shared scenes (the objects of
several tasks on one table, so only the prompt says which task; beside it the
chance level a prompt-blind policy would reach there), a prompt-blind copy
(if given) and the scripted expert on the same layouts.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import physres.controller as controller_pkg
from physres.controller import Controller, PromptRefused
from physres.controller.data import contract_proprio
from physres.datasets import Demo, DemoInfo, DemoRecorder, write_video
from physres.errors import ConfigError
from physres.sim.arm.collect import episode_seed
from physres.sim.arm.env import TabletopEnv
from physres.sim.arm.experts import make_expert
from physres.sim.arm.shared import SHARED_LAYOUTS
from physres.sim.arm.spec import ACTION_SPEC
from physres.sim.arm.tasks import SIDES, TASKS

__all__ = [
    "EVAL_SEED",
    "HELDOUT_WORDINGS",
    "Rollout",
    "evaluate",
    "make_env",
    "read_prompts",
    "rollout",
    "template_prompts",
    "write_table",
]

#: base of the evaluation layouts' seeds (training data is collected with seed 0)
EVAL_SEED = 90_210
#: the held-out wordings shipped with the controller (see the file's header for how made)
HELDOUT_WORDINGS = Path(controller_pkg.__file__).parent / "heldout_wordings.tsv"
#: the columns ``evaluate`` fills per task (``shared_chance``: a success level, not a run)
_EVAL_COLUMNS = (
    "model",
    "wordings",
    "shared",
    "shared_chance",
    "blind_shared",
    "blind",
    "expert",
)


@dataclass
class Rollout:
    task: str
    seed: int
    prompt: str
    success: bool
    steps: int
    terminated_by: str
    seconds: float
    similarity: float | None = None
    refused: str | None = None
    #: the layout the episode ran in (``info["layout"]``: "own" or a shared layout's name)
    layout: str = "own"
    recorder: DemoRecorder | None = field(default=None, repr=False)

    def video(self, path: str | Path, *, scale: int = 3) -> Path:
        """Write the recorded frames with prompt and verdict (needs ``record=True``)."""
        if self.recorder is None or not len(self.recorder):
            raise ConfigError("this rollout recorded no frames (rollout(..., record=True))")
        meta = {"task": self.task, "prompt": self.prompt, "success": self.success}
        demo = Demo(DemoInfo(0, Path(path), meta), self.recorder.arrays())
        return write_video(demo, path, scale=scale)


def make_env(ctrl: Controller) -> TabletopEnv:
    """A tabletop env whose camera and action spec match the checkpoint (checked)."""
    size = int(ctrl.ck.camera.get("render_size", ctrl.cfg.image_size))
    ctrl.check_arm(ACTION_SPEC.to_dict(), size)
    return TabletopEnv(task=None, render_size=size)


class PolicyDriver:
    """A trained controller as a collection :class:`~physres.sim.arm.collect.Driver`.

    It reads only the prompt and the camera, as in a rollout; the expert labels
    the states it reaches (``physres robot collect --policy CKPT``).
    """

    def __init__(self, ctrl: Controller, name: str) -> None:
        self.ctrl, self.name = ctrl, name

    def reset(self, prompt: str) -> None:
        self.ctrl.set_prompt(prompt)

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        return self.ctrl.step(obs["image"], contract_proprio(obs["proprio"]))


def read_prompts(path: str | Path) -> list[tuple[str, str]]:
    """``(task, prompt)`` rows of a tab-separated file; '#' lines and a header are skipped."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"--prompts {path}: cannot read: {e}") from e
    rows: list[tuple[str, str]] = []
    for n, line in enumerate(csv.reader(text.splitlines(), delimiter="\t"), start=1):
        if not line or not "".join(line).strip() or line[0].startswith("#"):
            continue
        if line[:2] == ["task", "prompt"]:
            continue
        if len(line) != 2 or not line[1].strip():
            raise ConfigError(f"{path}:{n}: expected 'task<TAB>prompt', got {line!r}")
        task = line[0].strip()
        if task not in TASKS:
            TASKS[task]  # raises naming the nearest known task
        rows.append((task, line[1].strip()))
    if not rows:
        raise ConfigError(f"{path}: no (task, prompt) lines")
    return rows


def template_prompts(task: str) -> set[str]:
    """Every prompt ``task``'s templates can produce (all slot fillings, every side's words):
    the wordings a controller trained on collected demonstrations may have seen."""
    cls = TASKS[task]
    slots = {**cls.slots, "side": tuple(w for words in SIDES.values() for w in words)}
    out: set[str] = set()
    for template in cls.templates:
        names = re.findall(r"\{(\w+)\}", template)
        for combo in itertools.product(*(slots[n] for n in names)):
            text = template
            for n, v in zip(names, combo):
                text = text.replace("{" + n + "}", v, 1)
            out.add(text)
    return out


def _side_in(prompt: str) -> str | None:
    text = " " + re.sub(r"[^a-z ]", " ", prompt.lower()) + " "
    for side, words in SIDES.items():
        if any(f" {w} " in text for w in words) or f" {side} " in text:
            return side
    return None


def rollout(
    ctrl: Controller,
    env: TabletopEnv,
    *,
    task: str,
    seed: int,
    prompt: str | None = None,
    record: bool = False,
    max_steps: int | None = None,
    layout: str = "own",
) -> Rollout:
    """One episode of ``task``'s layout from ``seed``; the controller sees only the prompt.

    ``prompt=None`` draws one from the task's templates. ``{side}`` in a prompt is
    filled with the side the layout's task asks for; a push prompt naming a side
    sets the task's side. ``layout``: ``"own"`` (the task's own scene), ``"shared"``
    or a shared layout's name (:mod:`physres.sim.arm.shared`).
    """
    obs, info = env.reset(seed=seed, options={"task": task, "layout": layout})
    where = str(info["layout"])
    assert env.task is not None and env.task.params is not None
    if prompt is None:
        prompt = env.prompt
    elif "{side}" in prompt:
        prompt = prompt.replace("{side}", SIDES[env.task.params.get("side", "left")][0])
    elif "side" in env.task.params and (side := _side_in(prompt)) is not None:
        env.task.params["side"] = side
    t0 = time.perf_counter()
    try:
        match = ctrl.set_prompt(prompt)
    except PromptRefused as e:
        return Rollout(
            task, seed, prompt, False, 0, "refused", 0.0, e.similarity, str(e), layout=where
        )
    rec = DemoRecorder() if record else None
    limit = max_steps or env.max_steps
    steps, end = 0, "time limit"
    success = bool(info["success"])
    while steps < limit:
        action = ctrl.step(obs["image"], contract_proprio(obs["proprio"]))
        next_obs, reward, terminated, truncated, info = env.step(action)
        if rec is not None:
            rec.add(
                obs,
                action=info["action_applied"],
                expert_action=info["action_applied"],
                perturbed=False,
                reward=float(reward),
                success=bool(info["success"]),
            )
        obs, steps, success = next_obs, steps + 1, bool(info["success"])
        if terminated:
            end = "policy"
            break
        if truncated:
            break
    return Rollout(
        task,
        seed,
        prompt,
        success,
        steps,
        end,
        time.perf_counter() - t0,
        match.similarity,
        layout=where,
        recorder=rec,
    )


def _expert(env: TabletopEnv, task: str, seed: int, max_steps: int | None = None) -> bool:
    obs, info = env.reset(seed=seed, options={"task": task})
    expert = make_expert(env)
    for _ in range(max_steps or env.max_steps):
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        if terminated or truncated:
            break
    return bool(info["success"])


def evaluate(
    ctrl: Controller,
    *,
    tasks: Sequence[str],
    episodes: int,
    wordings: Sequence[tuple[str, str]] | None = None,
    blind: Controller | None = None,
    expert: bool = True,
    shared: bool = True,
    prompts_only: Sequence[tuple[str, str]] | None = None,
    video_dir: str | Path | None = None,
    max_steps: int | None = None,
    on_episode: Callable[[str, str, bool], None] | None = None,
) -> dict[str, Any]:
    """The evaluation table as plain data (rows per task, ``overall``).

    Columns: ``model`` (template prompts), ``wordings`` (held-out wordings, drawn
    in turn), ``shared`` (template prompts in shared layouts that allow the task,
    seeds ``episode_seed(EVAL_SEED, task, k, "shared")``; ``shared_chance`` beside
    it is the mean of those layouts' :meth:`~physres.sim.arm.shared.SharedLayout.chance`
    and ``shared_layouts`` counts them; ``blind_shared`` is the prompt-blind control in
    those same layouts), ``blind`` and ``expert`` (controls on the own-scene layouts). With
    ``prompts_only`` (``--prompts FILE``) each line is scored on ``episodes``
    layouts of its task instead, and only that column is reported.
    """
    env = make_env(ctrl)
    rows: dict[str, dict[str, Any]] = {}
    by_task: dict[str, list[str]] = {}
    for t, p in wordings or ():
        by_task.setdefault(t, []).append(p)
    try:
        if prompts_only is not None:
            for t, p in prompts_only:
                row = rows.setdefault(t, {"task": t, "prompts": {}})
                ok = []
                for k in range(episodes):
                    r = rollout(
                        ctrl,
                        env,
                        task=t,
                        seed=episode_seed(EVAL_SEED, t, k),
                        prompt=p,
                        max_steps=max_steps,
                    )
                    ok.append(r.success)
                    if on_episode:
                        on_episode(t, "prompts", r.success)
                row["prompts"][p] = {
                    "success": sum(ok),
                    "episodes": len(ok),
                    "similarity": r.similarity,
                    "refused": r.refused,
                }
            for row in rows.values():
                s = sum(v["success"] for v in row["prompts"].values())
                n = sum(v["episodes"] for v in row["prompts"].values())
                row["prompt_file"] = s / n
            rows["overall"] = {
                "task": "overall",
                "prompt_file": float(np.mean([r["prompt_file"] for r in rows.values()])),
            }
            return {"rows": list(rows.values()), "episodes": episodes}
        for t in tasks:
            row: dict[str, Any] = {"task": t}
            cols: dict[str, list[Any]] = {c: [] for c in _EVAL_COLUMNS}
            for k in range(episodes):
                seed = episode_seed(EVAL_SEED, t, k)
                r = rollout(
                    ctrl,
                    env,
                    task=t,
                    seed=seed,
                    record=(k == 0 and video_dir is not None),
                    max_steps=max_steps,
                )
                cols["model"].append(r.success)
                if r.recorder is not None and video_dir is not None:
                    Path(video_dir).mkdir(parents=True, exist_ok=True)
                    r.video(Path(video_dir) / f"{t}.mp4")
                    row["video"] = f"{t}.mp4"
                if on_episode:
                    on_episode(t, "model", r.success)
                if by_task.get(t):
                    w = by_task[t][k % len(by_task[t])]
                    w_r = rollout(ctrl, env, task=t, seed=seed, prompt=w, max_steps=max_steps)
                    cols["wordings"].append(w_r.success)
                    if on_episode:
                        on_episode(t, "wordings", cols["wordings"][-1])
                if shared:
                    shared_seed = episode_seed(EVAL_SEED, t, k, "shared")

                    def in_shared(
                        who: Controller, task: str = t, seed: int = shared_seed
                    ) -> Rollout:
                        return rollout(
                            who, env, task=task, seed=seed, max_steps=max_steps, layout="shared"
                        )

                    s_r = in_shared(ctrl)
                    cols["shared"].append(s_r.success)
                    cols["shared_chance"].append(SHARED_LAYOUTS[s_r.layout].chance())
                    if blind is not None:  # the same layout, prompt unread: about chance
                        cols["blind_shared"].append(in_shared(blind).success)
                        if on_episode:
                            on_episode(t, "blind_shared", cols["blind_shared"][-1])
                    where = row.setdefault("shared_layouts", {})
                    where[s_r.layout] = where.get(s_r.layout, 0) + 1
                    if on_episode:
                        on_episode(t, "shared", s_r.success)
                if blind is not None:
                    b_r = rollout(blind, env, task=t, seed=seed, max_steps=max_steps)
                    cols["blind"].append(b_r.success)
                    if on_episode:
                        on_episode(t, "blind", cols["blind"][-1])
                if expert:
                    cols["expert"].append(_expert(env, t, seed, max_steps))
                    if on_episode:
                        on_episode(t, "expert", cols["expert"][-1])
            for c, v in cols.items():
                row[c] = float(np.mean(v)) if v else None
            rows[t] = row
    finally:
        env.close()
    overall: dict[str, Any] = {"task": "overall"}
    for c in _EVAL_COLUMNS:
        vals = [r[c] for r in rows.values() if r.get(c) is not None]
        overall[c] = float(np.mean(vals)) if vals else None
    return {"rows": [*rows.values(), overall], "episodes": episodes}


_COLUMNS = (
    ("model", "unseen layouts"),
    ("wordings", "unseen wordings"),
    ("shared", "shared scenes"),
    ("shared_chance", "shared: chance"),
    ("blind_shared", "shared: prompt-blind"),
    ("blind", "prompt-blind control"),
    ("expert", "scripted expert"),
    ("prompt_file", "--prompts file"),
)


def write_table(result: dict[str, Any], out: str | Path, *, title: str) -> tuple[Path, Path]:
    """``eval.md`` and ``eval.json`` in ``out``; returns both paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cols = [(k, h) for k, h in _COLUMNS if any(r.get(k) is not None for r in result["rows"])]
    lines = [
        f"# {title}",
        "",
        "| task | " + " | ".join(h for _, h in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for r in result["rows"]:
        cells = [f"{100 * r[k]:.0f} %" if r.get(k) is not None else "—" for k, _ in cols]
        name = f"**{r['task']}**" if r["task"] == "overall" else r["task"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"{result['episodes']} episodes per task and column; layouts from seeds "
        f"never used in training (EVAL_SEED {EVAL_SEED}).",
    ]
    if any(r.get("shared") is not None for r in result["rows"]):
        lines.append(
            "Shared scenes hold the objects of several tasks, so only the prompt says which; "
            "'shared: chance' is what a policy ignoring the prompt would reach there (the "
            "largest share of one goal among the tasks each layout allows)."
        )
    md = out / "eval.md"
    md.write_text("\n".join(lines) + "\n")
    js = out / "eval.json"
    js.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return md, js
