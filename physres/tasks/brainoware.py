"""Brainoware's speech task (Cai et al. 2023, Nat Electron 6:1032): Japanese vowels as pulses.

The paper's protocol on UCI Japanese Vowels (shipped in ``physres/tasks/data``):
the first 240 clips of the training file (8 speakers × 30), each clip scaled
to 0–1 on its own, thresholded at 0.5 into bits (12 LPC channels × frames),
one biphasic pulse per active bit on that channel's stimulation electrode at
10 Hz (one frame every 100 ms), activity in 10 ms bins, 168 clips to train and
72 to test (stratified by speaker, seeded). The class is the speaker; chance
is 1/8. The paper reports ≈ 78 % on a living organoid.

Task steps are the 10 ms bins: a frame is ``frame_steps`` steps, the first
carrying the frame's bits (+1 = pulse, −1 = none), the rest −1 (no pulse), so
an MEA's ``stim`` input (limits [0, amplitude]) sends the amplitude for a set
bit and nothing otherwise, and the ``events`` stage bins spikes per 10 ms. A
quiet ``gap_steps`` lead-in (washout, not scored) separates clips. The clips
run as one continuous session (``meta["continuous"]``: no reset between
clips), as on a living culture, which cannot be reset; ``sim.esn`` and the
raw-bits control see the very same bits.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from physres.errors import DataError
from physres.tasks.base import Episode, TaskData, TaskParams
from physres.tasks.dataset import DATA
from physres.tasks.files import read_sequences
from physres.tasks.kinds import ClassificationParams, SequenceClassificationTask

__all__ = ["BrainowareVowels", "BrainowareVowelsParams", "clip_bits"]


class BrainowareVowelsParams(ClassificationParams):
    #: clips taken from the start of the training file (240 = the first 8 speakers)
    n_clips: int = Field(240, ge=16, le=270)
    #: held-out clips, stratified by speaker (72 of 240: the paper's 168/72)
    n_test: int = Field(72, ge=8)
    #: a scaled value above this is a set bit (a pulse)
    threshold: float = Field(0.5, gt=0, lt=1)
    #: task steps per frame: 10 steps of 10 ms = frames at 10 Hz
    frame_steps: int = Field(10, ge=1, le=1_000)
    #: quiet steps before each clip (driven, not scored): lets the culture settle
    gap_steps: int = Field(50, ge=0, le=10_000)


def clip_bits(x: np.ndarray, threshold: float) -> np.ndarray:
    """One clip ``(frames, 12)`` → bits: scaled to 0–1 over the whole clip, then thresholded."""
    lo, hi = float(x.min()), float(x.max())
    scaled = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    return scaled > threshold


class BrainowareVowels(SequenceClassificationTask):
    """Speaker identity from pulse trains of thresholded LPC frames (Brainoware's protocol)."""

    name: ClassVar[str] = "brainoware_vowels"
    Params: ClassVar[type[TaskParams]] = BrainowareVowelsParams
    params: BrainowareVowelsParams

    def generate(self, seed: int = 0) -> TaskData:
        """Read the shipped training file, take the first clips, split by speaker (seeded)."""
        p = self.params
        seqs = read_sequences(DATA / "JapaneseVowels_TRAIN.ts")
        assert seqs.labels is not None
        xs, labels = seqs.inputs[: p.n_clips], seqs.labels[: p.n_clips]
        classes = tuple(sorted(set(labels)))
        by_class = {c: [i for i, y in enumerate(labels) if y == c] for c in classes}
        per = p.n_test // len(classes)
        fewest = min(len(v) for v in by_class.values())
        if p.n_test >= len(xs) - len(classes) or per >= fewest:
            raise DataError(
                f"brainoware_vowels: n_test {p.n_test} leaves too few of {len(xs)} clips to "
                f"train on (the smallest of {len(classes)} speakers has {fewest})"
            )
        rng = np.random.default_rng(seed)
        test = [i for c in classes for i in rng.choice(by_class[c], per, replace=False)]
        extra = [i for i in rng.permutation(len(xs)) if i not in set(test)]
        test += extra[: p.n_test - len(test)]  # when n_test is not a multiple of the classes
        train = [i for i in range(len(xs)) if i not in set(test)]

        def episode(i: int) -> Episode:
            bits = clip_bits(xs[i], p.threshold)
            u = -np.ones((p.gap_steps + len(bits) * p.frame_steps, bits.shape[1]))
            u[p.gap_steps :: p.frame_steps] = np.where(bits, 1.0, -1.0)
            return Episode(u=u, y=classes.index(labels[i]), meta={"index": i})

        return TaskData(
            train=[episode(i) for i in train],
            test=[episode(i) for i in sorted(test)],
            washout=p.gap_steps,
            n_inputs=xs[0].shape[1],
            n_outputs=1,
            problem="classification",
            classes=classes,
            meta={"continuous": True, "protocol": "Cai et al. 2023 (Brainoware)"},
        )
