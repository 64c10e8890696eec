"""The future target: where the hand will be, so the network must find where it goes.

Five-step action chunks never look past the next few steps, and the carry to the
bowl is a few percent of them; "where the hand is h steps on" is a label on every
step of every demonstration that says where the task ends. Only an expert's path
says that: a DAgger episode's path is its driver's, and is masked out.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from controller_kit import TINY
from pydantic import ValidationError

from physres.controller.actions import ActionTokenizer
from physres.controller.data import FUTURE_SCALE, EpisodeData, future_targets
from physres.controller.model import ControllerConfig, PromptToAction
from physres.controller.train import _Batcher, loss_fn
from physres.sim.arm import ACTION_SPEC

CFG = TINY.model_copy(update={"history": 2, "chunk": 2, "future": (2, 1000)})


def _episode(n: int = 6, *, driven: bool = False) -> EpisodeData:
    proprio = np.zeros((n, 5), np.float32)
    proprio[:, 0] = 0.01 * np.arange(n)  # the hand moves 1 cm along x per step
    return EpisodeData(
        task="pick_place",
        prompt="p",
        images=np.zeros((n, 32, 32, 3), np.uint8),
        proprio=proprio,
        actions=np.zeros((n, 6), np.float32),
        driven=driven,
    )


def test_the_target_is_the_hands_displacement_h_steps_on_clipped_at_the_end() -> None:
    f = future_targets(_episode(6), (2, 1000))
    assert f.shape == (6, 2, 3)
    metres = f * FUTURE_SCALE
    assert metres[0, 0, 0] == pytest.approx(0.02)  # two steps on: 2 cm
    assert metres[4, 0, 0] == pytest.approx(0.01)  # only one step left: the end
    assert metres[5, 0, 0] == pytest.approx(0.0)  # at the end: already there
    assert metres[0, 1, 0] == pytest.approx(0.05)  # "1000 steps on" is where it ends
    assert np.all(f[..., 1:] == 0)  # no y or z motion, none invented


def _batch(driven: bool) -> dict[str, torch.Tensor]:
    low, high = np.asarray(ACTION_SPEC.low), np.asarray(ACTION_SPEC.high)
    tok = ActionTokenizer(low, high, CFG.bins)
    b = _Batcher([_episode(driven=driven)], np.zeros((1, 384), np.float32), CFG, tok, low, high)
    return b([(0, 0, 2)], None, 0)


def test_a_driven_episode_gets_no_future_label_and_an_expert_one_does() -> None:
    assert _batch(driven=False)["future_mask"].all()
    assert not _batch(driven=True)["future_mask"].any()
    assert _batch(driven=False)["future"][0, 0, 1, 0] == pytest.approx(0.05 / FUTURE_SCALE)


def test_validation_scores_the_action_alone_so_runs_with_and_without_compare() -> None:
    torch.manual_seed(0)
    net = PromptToAction(CFG)
    batch = _batch(driven=False)
    out = net(batch["image"].permute(0, 1, 4, 2, 3).float(), batch["proprio"], batch["text"])
    assert out.shape[-1] == CFG.out_dim + 3 * len(CFG.future)
    total, action = loss_fn(net, out, batch)
    plain = PromptToAction(CFG.model_copy(update={"future": ()}))
    assert action == loss_fn(plain, out[..., : CFG.out_dim], batch)[1]
    assert total > action  # the future head's error is added, weighted
    driven = _batch(driven=True)
    total_d, action_d = loss_fn(net, out, driven)
    assert total_d == action_d  # nothing to learn where the expert did not drive


def test_the_arm_runs_only_the_action_head() -> None:
    net = PromptToAction(CFG).eval()
    tok = net.frame_tokens(torch.zeros(1, 3, 32, 32), torch.zeros(1, 5), torch.zeros(1, 384))
    assert net.decode(tok[:, None]).shape == (1, 1, CFG.out_dim)


@pytest.mark.parametrize("bad", [(0,), (-3,), tuple(range(1, 10))])
def test_a_horizon_that_looks_nowhere_is_refused(bad: tuple[int, ...]) -> None:
    with pytest.raises(ValidationError, match="future"):
        ControllerConfig(future=bad)


@pytest.mark.parametrize("field", ["future_weight", "ensemble_m"])
@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_a_weight_that_is_not_finite_is_refused(field: str, value: float) -> None:
    """inf × a loss is inf and its gradient NaN; exp(-inf · 0) in the ensembler is NaN too."""
    with pytest.raises(ValidationError, match=field):
        ControllerConfig(**{field: value})
