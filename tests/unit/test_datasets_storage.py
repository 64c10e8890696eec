"""Demonstration datasets on disk: written episode by episode, read back exactly,
and robust to the ways a collection dies (a truncated file, a torn index line,
a temporary file, a file the index never heard of)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from physres.datasets import DatasetError, DatasetWriter, DemoDataset, DemoRecorder

SPEC = {"names": ["dx", "dy", "dz", "dyaw", "gripper", "terminate"], "version": 1}


def fake_episode(rng: np.random.Generator, length: int, prompt: str) -> DemoRecorder:
    """An episode as the collector records it: obs dict with image/proprio/prompt per step."""
    rec = DemoRecorder()
    for t in range(length):
        obs = {
            "image": rng.integers(0, 256, (16, 16, 3), dtype=np.uint8),
            "proprio": rng.normal(size=5).astype(np.float32),
            "prompt": prompt,
        }
        expert = rng.normal(size=6).astype(np.float32)
        rec.add(
            obs,
            action=expert + 0.1,
            expert_action=expert,
            perturbed=t % 3 == 0,
            reward=float(t == length - 1),
            success=t == length - 1,
        )
    return rec


def write_dataset(root: Path, lengths=(5, 7, 6), seed: int = 0) -> list[DemoRecorder]:
    rng = np.random.default_rng(seed)
    writer = DatasetWriter(root, action_spec=SPEC, info={"test": True})
    recs = []
    for i, n in enumerate(lengths):
        rec = fake_episode(rng, n, f"put the cube number {i} in the bowl")
        writer.write_episode(
            rec.arrays(),
            {"task": "pick_place", "seed": 100 + i, "success": i != 1, "prompt": rec.prompt},
        )
        recs.append(rec)
    return recs


def test_episodes_round_trip_with_their_metadata(tmp_path: Path) -> None:
    recs = write_dataset(tmp_path)
    ds = DemoDataset(tmp_path)
    assert len(ds) == 3 and ds.broken == [] and ds.n_steps == 18
    assert ds.action_spec == SPEC
    for rec, ep in zip(recs, ds):
        for key, value in rec.arrays().items():
            np.testing.assert_array_equal(ep[key], value)
        assert ep.prompt == rec.prompt
    assert [e.seed for e in ds.episodes] == [100, 101, 102]
    assert [e.success for e in ds.episodes] == [True, False, True]
    assert ds.episode(2)["obs.image"].dtype == np.uint8
    assert ds.summary() == [
        {"task": "pick_place", "episodes": 3, "successes": 2, "steps": 18, "perturbed_steps": 0}
    ]


def test_a_second_writer_appends_and_refuses_another_action_spec(tmp_path: Path) -> None:
    write_dataset(tmp_path, lengths=(4, 4))
    writer = DatasetWriter(tmp_path, action_spec=SPEC)
    assert writer.next_index == 2
    rec = fake_episode(np.random.default_rng(1), 3, "wipe the table")
    writer.write_episode(rec.arrays(), {"task": "wipe"})
    assert [e.index for e in DemoDataset(tmp_path).episodes] == [0, 1, 2]
    with pytest.raises(DatasetError, match="action spec differs"):
        DatasetWriter(tmp_path, action_spec={**SPEC, "version": 2})


def test_a_newer_format_version_is_refused_with_the_fix(tmp_path: Path) -> None:
    write_dataset(tmp_path, lengths=(3,))
    head = tmp_path / "dataset.json"
    head.write_text(json.dumps({**json.loads(head.read_text()), "version": 99}))
    with pytest.raises(DatasetError, match="newer than this reader.*upgrade physres"):
        DemoDataset(tmp_path)


def test_a_truncated_last_episode_is_reported_and_every_complete_one_loads(tmp_path) -> None:
    write_dataset(tmp_path, lengths=(5, 7, 6, 8))
    last = tmp_path / "episodes" / "ep_000003.npz"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])  # the disk filled up / the copy was cut short
    for verify in ("checksum", "full"):
        ds = DemoDataset(tmp_path, verify=verify)
        assert [e.index for e in ds.episodes] == [0, 1, 2]
        assert [b.path.name for b in ds.broken] == ["ep_000003.npz"]
        assert "truncated" in ds.broken[0].reason
        assert sum(len(ep) for ep in ds) == 18
    # with no index to compare against, a full read still finds the damage
    (tmp_path / "index.jsonl").unlink()
    ds = DemoDataset(tmp_path)
    assert [e.index for e in ds.episodes] == [0, 1, 2]
    assert ds.broken[0].path.name == "ep_000003.npz"
    assert "unreadable episode file" in ds.broken[0].reason


def test_what_an_interrupted_collection_leaves_behind_is_reported_not_fatal(tmp_path) -> None:
    write_dataset(tmp_path, lengths=(5, 6))
    episodes = tmp_path / "episodes"
    # killed while writing episode 2: a temporary file under a name no reader takes
    (episodes / "ep_000002.npz.tmp").write_bytes(b"PK\x03\x04 half a zip")
    # killed mid-way through an index append: a torn last line
    with open(tmp_path / "index.jsonl", "a") as f:
        f.write('{"episode": 2, "file": "episodes/ep_0')
    ds = DemoDataset(tmp_path)
    assert [e.index for e in ds.episodes] == [0, 1]
    reasons = sorted(b.reason.split(" ")[0] for b in ds.broken)
    assert reasons == ["index", "interrupted"]


def test_a_complete_file_missing_from_the_index_is_recovered(tmp_path: Path) -> None:
    write_dataset(tmp_path, lengths=(5, 6, 7))
    lines = (tmp_path / "index.jsonl").read_text().splitlines()
    (tmp_path / "index.jsonl").write_text("\n".join(lines[:2]) + "\n")  # died before the append
    ds = DemoDataset(tmp_path)
    assert [e.index for e in ds.episodes] == [0, 1, 2] and ds.broken == []
    assert ds.episodes[2].seed == 102  # metadata comes from the episode file itself
    # and an index line whose file vanished is reported
    (tmp_path / "episodes" / "ep_000000.npz").unlink()
    ds = DemoDataset(tmp_path)
    assert [e.index for e in ds.episodes] == [1, 2]
    assert "file is missing" in ds.broken[0].reason


def test_a_folder_that_is_not_a_dataset_says_so(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is .* a physres dataset"):
        DemoDataset(tmp_path)
