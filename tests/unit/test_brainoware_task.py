"""Brainoware's vowels protocol, step by step, on the shipped Japanese Vowels file."""

from __future__ import annotations

import numpy as np
import pytest

from physres import tasks
from physres.errors import ConfigError, DataError
from physres.tasks.brainoware import clip_bits


def test_the_first_240_clips_are_eight_speakers_split_168_72_by_speaker() -> None:
    data = tasks.create("brainoware_vowels").generate(seed=0)
    assert len(data.classes) == 8 and data.n_inputs == 12
    assert (len(data.train), len(data.test)) == (168, 72)
    test_labels = np.bincount([ep.y for ep in data.test], minlength=8)
    assert (test_labels == 9).all()  # stratified: 9 of each speaker's 30 held out
    train_idx = {ep.meta["index"] for ep in data.train}
    test_idx = {ep.meta["index"] for ep in data.test}
    assert train_idx.isdisjoint(test_idx) and train_idx | test_idx == set(range(240))
    other = tasks.create("brainoware_vowels").generate(seed=1)
    assert {ep.meta["index"] for ep in other.test} != test_idx  # the split follows the seed
    assert data.meta["continuous"]  # a culture is not reset between clips


def test_each_clip_becomes_one_pulse_per_set_bit_at_10_hz_after_a_quiet_lead_in() -> None:
    task = tasks.create("brainoware_vowels", gap_steps=30, frame_steps=10)
    data = task.generate(seed=0)
    ep = data.train[0]
    assert data.washout == 30 and (ep.u[:30] == -1).all()  # quiet, not scored
    frames = ep.u[30:]
    assert len(frames) % 10 == 0
    firsts = frames[::10]
    rest = np.delete(frames, np.s_[::10], axis=0)
    assert (rest == -1).all()  # nothing between a frame's pulses
    assert set(np.unique(firsts)) <= {-1.0, 1.0} and (firsts == 1).any()


def test_bits_are_the_clip_scaled_to_0_1_on_its_own_then_thresholded() -> None:
    x = np.array([[0.0, 10.0], [4.0, 6.0], [5.1, 4.9]])
    assert clip_bits(x, 0.5).tolist() == [[False, True], [False, True], [True, False]]
    assert not clip_bits(x + 1000.0, 0.5)[0, 0]  # an offset does not change the bits
    assert not clip_bits(np.ones((3, 2)), 0.5).any()  # a flat clip has no set bits


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ConfigError):
        tasks.create("brainoware_vowels", n_clips=300)
    with pytest.raises(DataError, match="n_test 80 leaves too few"):
        tasks.create("brainoware_vowels", n_clips=84, n_test=80).generate()
