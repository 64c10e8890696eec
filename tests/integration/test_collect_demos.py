"""Collecting demonstrations from the real tabletop env and its scripted experts.

The dataset must hold what a learner needs (images, proprioception, prompts,
the executed and the expert action, seeds, the action spec), show recoveries
from injected noise, survive being killed mid-collection, and reproduce: the
recorded seed and executed actions replay to the same trajectory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from physres.datasets import DemoDataset

pytest.importorskip("pybullet")
from physres.sim.arm.collect import NoiseConfig, collect, episode_seed
from physres.sim.arm.env import TabletopEnv
from physres.sim.arm.spec import ACTION_SPEC
from physres.sim.arm.tasks import parse_prompt

# pushes on every episode, so a two-episode run is sure to contain recoveries
NOISY = NoiseConfig(burst_prob=0.15, clean_fraction=0.0)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> DemoDataset:
    out = tmp_path_factory.mktemp("demos")
    lines = []
    result = collect(
        ["pick_place", "push_bowl"],
        2,
        out,
        seed=5,
        noise=NOISY,
        render_size=64,
        on_episode=lambda task, line: lines.append(line),
    )
    assert [line["task"] for line in lines] == ["pick_place"] * 2 + ["push_bowl"] * 2
    assert result.rows()[0]["episodes"] == 2
    return DemoDataset(out, verify="full")


def test_the_dataset_holds_what_a_learner_needs(small: DemoDataset) -> None:
    assert len(small) == 4 and small.broken == []
    assert small.action_spec == ACTION_SPEC.to_dict()
    for ep in small:
        T = len(ep)
        assert ep["obs.image"].shape == (T, 64, 64, 3) and ep["obs.image"].dtype == np.uint8
        assert ep["obs.proprio"].shape[0] == T and ep["obs.proprio"].dtype == np.float32
        assert ep["action"].shape == ep["expert_action"].shape == (T, ACTION_SPEC.dim)
        assert parse_prompt(ep.prompt)[0].name == ep.info.task  # the prompt names the task
        assert ep.info.seed == episode_seed(5, ep.info.task, ep.info.meta["task_episode"])
        assert ep.info.success == bool(ep["success"][-1])
        assert np.all(ep["action"] >= ACTION_SPEC.low_array - 1e-6)
        assert np.all(ep["action"] <= ACTION_SPEC.high_array + 1e-6)
    assert sum(e.success for e in small.episodes) >= 3


def test_noise_pushes_the_arm_off_course_and_the_labels_show_the_recovery(small) -> None:
    opposing, bursts = 0, 0
    for ep in small:
        p = ep["perturbed"]
        # on a perturbed step the executed action differs from the expert's label
        if p.any():
            diff = np.abs(ep["action"][p, :4] - ep["expert_action"][p, :4]).max(axis=1)
            assert (diff > 1e-4).mean() > 0.5
        # after a burst the expert's label turns against the accumulated push: the
        # expert steers from where the push left the arm back toward its waypoint
        for end in np.flatnonzero(p[:-1] & ~p[1:]):
            start = end
            while start > 0 and p[start - 1]:
                start -= 1
            if start == 0:
                continue
            push = (
                ep["action"][start : end + 1, :3] - ep["expert_action"][start : end + 1, :3]
            ).sum(0)
            turn = ep["expert_action"][end + 1, :3] - ep["expert_action"][start - 1, :3]
            if np.linalg.norm(push) > 0.01:
                bursts += 1
                opposing += int(np.dot(push, turn) < 0)
    assert bursts >= 2 and opposing / bursts >= 0.6, (opposing, bursts)
    # and the pushed episodes still end in success: the data shows recoveries, not failures
    noisy = [e for e in small.episodes if e.meta["perturbed_steps"] > 0]
    assert noisy and sum(e.success for e in noisy) >= len(noisy) - 1


def test_a_recorded_episode_replays_from_its_seed_and_actions(small: DemoDataset) -> None:
    ep = small.episode(0)
    env = TabletopEnv(task=ep.info.task, render_size=64)
    try:
        obs, _ = env.reset(seed=ep.info.seed)
        assert obs["prompt"] == ep.prompt
        for t in range(len(ep)):
            np.testing.assert_allclose(obs["proprio"], ep["obs.proprio"][t], atol=1e-5)
            obs, _, _, _, info = env.step(ep["action"][t])
        assert info["success"] == ep.info.success
    finally:
        env.close()


def test_a_truncated_last_episode_is_reported_and_the_rest_load(small, tmp_path) -> None:
    copy = tmp_path / "copy"
    (copy / "episodes").mkdir(parents=True)
    for f in ("dataset.json", "index.jsonl"):
        (copy / f).write_bytes((small.root / f).read_bytes())
    for e in small.episodes:
        (copy / "episodes" / e.path.name).write_bytes(e.path.read_bytes())
    last = copy / "episodes" / small.episodes[-1].path.name
    last.write_bytes(last.read_bytes()[:-1000])
    ds = DemoDataset(copy)
    assert len(ds) == 3 and [b.path.name for b in ds.broken] == [last.name]
    assert sum(1 for _ in ds.batches(32)) >= 1  # training still runs on what is intact


# `physres robot collect` as the CLI builds it (physres.cli loads it from the entry point)
_CHILD = textwrap.dedent("""
    import argparse, sys
    from physres.sim.arm.dataset_cli import register
    ap = argparse.ArgumentParser(); sub = ap.add_subparsers(required=True); register(sub)
    args = ap.parse_args(sys.argv[1:])
    sys.exit(args.func(args))
""")


def test_a_killed_collection_keeps_finished_episodes_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "demos"
    cmd = [
        sys.executable,
        "-c",
        _CHILD,
        "robot",
        "collect",
        "--tasks",
        "push_bowl",
        "--episodes",
        "4",
        "--out",
        str(out),
        "--render-size",
        "48",
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    index = out / "index.jsonl"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if index.exists() and len(index.read_text().splitlines()) >= 2:
            break
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup handlers run: a power cut
    proc.wait(timeout=10)
    proc.stderr.close()  # type: ignore[union-attr]

    ds = DemoDataset(out)
    kept = len(ds)
    assert 2 <= kept <= 4
    assert all(b.reason.startswith("interrupted write") for b in ds.broken)

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ds = DemoDataset(out)
    assert [e.meta["task_episode"] for e in ds.episodes] == [0, 1, 2, 3]  # no duplicates
    assert [e.index for e in ds.episodes] == [0, 1, 2, 3]
    assert ds.broken == []  # the resumed writer removed the dead writer's temporary file


class DriftRight:
    """A policy with one bad habit: always 3 cm to +y, gripper open (and it says which prompt)."""

    name = "drift-right"

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def reset(self, prompt: str) -> None:
        self.prompts.append(prompt)

    def act(self, obs: dict) -> np.ndarray:
        return np.array([0.0, 0.03, 0.0, 0.0, -1.0, 0.0], np.float32)


def test_a_driving_policy_moves_the_arm_and_the_expert_labels_every_state_it_reaches(
    tmp_path: Path,
) -> None:
    """DAgger data: the driver's actions are what happened, the expert's answers at those
    states are the labels, and they pull back against the drift the expert never made."""
    driver = DriftRight()
    collect(["pick_place"], 1, tmp_path, seed=9, render_size=64, noise=NOISY, driver=driver)
    [ep] = DemoDataset(tmp_path, verify="full")
    assert driver.prompts == [ep.prompt]  # the driver was told the episode's prompt
    assert ep.info.meta["driver"] == "drift-right" and ep.info.meta["noisy"] is False
    assert ep.info.meta["expert"] == "StateExpert"  # labels by the state, not its own plan
    assert np.allclose(ep["action"][:, 1], 0.03) and np.all(ep["action"][:, 4] == -1.0)
    assert bool(np.all(ep["perturbed"]))  # every state is off the expert's own path
    assert ep.info.meta["perturbed_steps"] == len(ep)
    y = ep["obs.proprio"][:, 1]
    assert y[-1] - y[0] > 0.2  # the arm really drifted
    late = ep["expert_action"][len(ep) // 2 :, 1]
    assert np.all(late < 0)  # ... and the labels say: back the other way
    assert ep.info.meta["terminated_by"] == "time limit"  # nobody said done
