"""Action tokens (RT-1) and action chunks (ACT): what goes in comes back out."""

from __future__ import annotations

import numpy as np
import pytest

from physres.controller.actions import ActionTokenizer, ChunkEnsembler, chunk_targets
from physres.errors import DataError
from physres.sim.arm import ACTION_SPEC

TOK = ActionTokenizer(ACTION_SPEC.low, ACTION_SPEC.high, 256)


def test_every_token_decodes_to_its_bin_centre_and_encodes_back_to_itself() -> None:
    tokens = np.repeat(np.arange(256)[:, None], ACTION_SPEC.dim, axis=1)
    np.testing.assert_array_equal(TOK.encode(TOK.decode(tokens)), tokens)


def test_an_action_moves_by_at_most_half_a_bin_through_a_round_trip() -> None:
    rng = np.random.default_rng(1)
    a = rng.uniform(ACTION_SPEC.low_array, ACTION_SPEC.high_array, (1000, ACTION_SPEC.dim))
    err = np.abs(TOK.decode(TOK.encode(a)) - a)
    assert (err <= TOK.width / 2 + 1e-7).all()
    # the spec's exact bounds land in the first and last bins, not outside
    edges = np.stack([ACTION_SPEC.low_array, ACTION_SPEC.high_array])
    np.testing.assert_array_equal(TOK.encode(edges), [[0] * 6, [255] * 6])


def test_out_of_range_actions_clip_and_bad_ones_are_refused() -> None:
    far = np.array([[9.0, -9.0, 0.0, 0.0, 0.0, 0.0]])
    assert TOK.encode(far)[0, :2].tolist() == [255, 0]
    with pytest.raises(DataError, match="non-finite"):
        TOK.encode(np.array([[np.nan, 0, 0, 0, 0, 0]]))
    with pytest.raises(DataError, match="token outside"):
        TOK.decode(np.array([[256, 0, 0, 0, 0, 0]]))
    with pytest.raises(DataError, match="dims"):
        TOK.encode(np.zeros((2, 5)))


def test_a_chunk_holds_the_next_k_actions_and_masks_the_steps_past_the_end() -> None:
    actions = np.arange(5, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    chunks, valid = chunk_targets(actions, 3)
    assert chunks.shape == (5, 3, 2)
    np.testing.assert_array_equal(chunks[1, :, 0], [1, 2, 3])
    np.testing.assert_array_equal(chunks[4, :, 0], [4, 4, 4])  # padded with the last action
    np.testing.assert_array_equal(valid[3], [True, True, False])
    np.testing.assert_array_equal(valid[4], [True, False, False])


def test_chunks_round_trip_through_the_ensembler_when_they_agree() -> None:
    """Chunks cut from one trajectory all predict the same action for a step: the ensemble
    returns exactly that trajectory."""
    traj = np.random.default_rng(2).normal(size=(12, 6))
    chunks, _ = chunk_targets(traj, 4)
    ens = ChunkEnsembler(4, m=0.3)
    out = np.stack([ens.push(c) for c in chunks])
    np.testing.assert_allclose(out[:9], traj[:9], atol=1e-12)


def test_older_chunks_weigh_more_as_in_act() -> None:
    ens = ChunkEnsembler(2, m=1.0)
    ens.push(np.array([[0.0], [1.0]]))  # predicted 1.0 for the next step
    got = ens.push(np.array([[3.0], [3.0]]))  # predicts 3.0 for this step
    w_old, w_new = 1.0, np.exp(-1.0)
    assert got[0] == pytest.approx((w_old * 1.0 + w_new * 3.0) / (w_old + w_new))
    ens.reset()
    assert ens.push(np.array([[5.0], [5.0]]))[0] == 5.0


def test_an_image_token_says_where_its_attention_map_looks() -> None:
    """Pooling keeps what the stem saw, not where: a keypoint token ends with the expected
    (x, y) of its map, so a map fixed on one feature-map cell reports that cell's centre."""
    import torch

    from physres.controller.model import TokenLearner

    tl = TokenLearner(4, 1, keypoints=True)
    x = torch.zeros(1, 4, 8, 8)
    x[0, 0, 2, 5] = 50.0  # one bright cell at row 2, column 5
    with torch.no_grad():
        for m in tl.attn:  # the map = channel 0, sharp enough to be one cell
            if isinstance(m, torch.nn.Conv2d):
                m.weight.zero_()
                m.bias.zero_()
        tl.attn[0].weight[0, 0] = 1.0
        tl.attn[2].weight[0, 0] = 1.0
        tok = tl(x)
    assert tok.shape == (1, 1, 6)
    grid = TokenLearner.grid(8, 8, x)
    assert torch.allclose(tok[0, 0, 4:], grid[2 * 8 + 5], atol=1e-3)
    assert tok[0, 0, 4] == pytest.approx(-1 + (2 * 5 + 1) / 8, abs=1e-3)  # x of column 5
    assert tok[0, 0, 5] == pytest.approx(-1 + (2 * 2 + 1) / 8, abs=1e-3)  # y of row 2


def test_scene_keypoints_each_find_their_own_object_in_one_frame() -> None:
    """The TokenLearner's maps share what the loss wants most (all four sat on the carried
    cube); scene keypoints are softmaxed one by one, so two maps report two objects at once:
    the cube in the hand and the bowl it must go to."""
    import torch

    from physres.controller.model import SceneKeypoints, TokenLearner

    kp = SceneKeypoints(4, 2)
    x = torch.zeros(1, 4, 8, 8)
    x[0, 0, 2, 5] = 50.0  # the "cube" in channel 0
    x[0, 1, 6, 1] = 50.0  # the "bowl" in channel 1, weaker elsewhere than the cube
    with torch.no_grad():
        kp.maps.weight.zero_()
        kp.maps.bias.zero_()
        kp.maps.weight[0, 0] = 1.0  # map 0 reads channel 0, map 1 channel 1
        kp.maps.weight[1, 1] = 1.0
        xy = kp(x)
    grid = TokenLearner.grid(8, 8, x)
    assert xy.shape == (1, 4)
    assert torch.allclose(xy[0, :2], grid[2 * 8 + 5], atol=1e-3)
    assert torch.allclose(xy[0, 2:], grid[6 * 8 + 1], atol=1e-3)
