"""Training batches from a dataset, the torch view of it, and the episode viewer."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as iio2
import imageio.v3 as iio3
import numpy as np
import pytest

from physres.datasets import DatasetWriter, DemoDataset, DemoRecorder, write_video

SPEC = {"names": ["dx", "dy", "dz", "dyaw", "gripper", "terminate"], "version": 1}


@pytest.fixture
def demos(tmp_path: Path) -> DemoDataset:
    """Three episodes whose every value encodes (episode, t), so batches can be checked."""
    writer = DatasetWriter(tmp_path, action_spec=SPEC)
    for e, n in enumerate((4, 6, 5)):
        rec = DemoRecorder()
        for t in range(n):
            image = np.full((32, 32, 3), 40 * e + t, np.uint8)
            proprio = np.array([e, t], np.float32)
            expert = np.array([e, t, 0, 0, 1.0 if t > 2 else -1.0, 0], np.float32)
            rec.add(
                {"image": image, "proprio": proprio, "prompt": f"task {e} please"},
                action=expert + 0.5,
                expert_action=expert,
                perturbed=t == 1,
                success=t == n - 1,
            )
        writer.write_episode(
            rec.arrays(), {"task": f"t{e}", "success": e != 2, "prompt": f"task {e} please"}
        )
    return DemoDataset(tmp_path)


def test_one_epoch_of_shuffled_batches_visits_every_step_exactly_once(demos) -> None:
    seen = []
    for batch in demos.batches(4, seed=3):
        assert batch["obs.image"].shape[1:] == (32, 32, 3) and batch["obs.image"].dtype == np.uint8
        assert batch["action"].dtype == np.float32 and batch["action"].shape[1] == 6
        # the label is the expert's action; the executed one is kept alongside
        np.testing.assert_array_equal(batch["executed_action"], batch["action"] + 0.5)
        np.testing.assert_array_equal(batch["obs.proprio"][:, 0], batch["episode"])
        np.testing.assert_array_equal(batch["obs.proprio"][:, 1], batch["t"])
        assert all(p == f"task {e} please" for p, e in zip(batch["prompt"], batch["episode"]))
        seen += list(zip(batch["episode"].tolist(), batch["t"].tolist()))
    assert sorted(seen) == sorted(demos.sample_index())
    order_a = [b["t"].tolist() for b in demos.batches(4, seed=3)]
    order_b = [b["t"].tolist() for b in demos.batches(4, seed=3)]
    assert order_a == order_b  # a seed repeats the order
    assert order_a != [b["t"].tolist() for b in demos.batches(4, seed=4)]


def test_history_windows_repeat_the_first_frame_and_mark_it_invalid(demos) -> None:
    batch = next(demos.batches(15, history=3, shuffle=False))
    assert batch["obs.image"].shape == (15, 3, 32, 32, 3)
    # episode 1 starts at row 4; its t=0 window is [f0, f0, f0] with only the last valid
    row = 4
    assert batch["t"][row] == 0
    assert batch["valid"][row].tolist() == [False, False, True]
    assert (batch["obs.proprio"][row, :, 1] == 0).all()
    row = 4 + 3  # t=3 of episode 1: frames 1, 2, 3
    assert batch["obs.proprio"][row, :, 1].tolist() == [1, 2, 3]
    assert batch["valid"][row].all()


def test_drop_last_and_episode_subsets(demos) -> None:
    sizes = [len(b["t"]) for b in demos.batches(4, shuffle=False, drop_last=True)]
    assert sizes == [4, 4, 4]
    only = {int(e) for b in demos.batches(8, episodes=[1]) for e in b["episode"]}
    assert only == {1}


def test_the_torch_dataset_feeds_a_dataloader(demos) -> None:
    torch = pytest.importorskip("torch")
    from physres.datasets.torch_dataset import TorchDemoDataset

    data = TorchDemoDataset(demos, history=2)
    assert len(data) == 15
    loader = torch.utils.data.DataLoader(data, batch_size=5, shuffle=False)
    batch = next(iter(loader))
    assert batch["obs.image"].shape == (5, 2, 32, 32, 3) and batch["obs.image"].dtype == torch.uint8
    assert batch["action"].dtype == torch.float32 and batch["prompt"][0] == "task 0 please"


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_an_episode_becomes_a_video_with_its_prompt_above_the_image(demos, tmp_path, suffix):
    path = write_video(demos.episode(1), tmp_path / f"ep{suffix}", scale=3)
    frames = iio3.imread(path) if suffix == ".gif" else np.stack(iio2.mimread(path))
    assert frames.shape[0] == 6
    h = frames.shape[1]
    assert h > 96 + 20  # the 32×32 image at scale 3 plus the prompt and status bands
    band = frames[0, :20].astype(int)
    assert (band > 150).any()  # white prompt text drawn on the dark band
    # a different prompt draws different text
    other = write_video(demos.episode(0), tmp_path / f"other{suffix}", scale=3)
    other_frames = iio3.imread(other) if suffix == ".gif" else np.stack(iio2.mimread(other))
    assert np.abs(other_frames[0, :20].astype(int) - band).sum() > 0
