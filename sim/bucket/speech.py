"""Spoken "zero"/"one" through the tank, as Fernando & Sojakka did with eight motors.

Audio → band energies (:func:`physres.tasks.audio.cochleagram`, one band per
motor, one frame per motor update) → duties in [0, 1] (slew-limited like the
board) → water → camera frames → features → a ridge classifier pooled over each
utterance. The tank is reset (still water) before each word, as the paper
waited for the water to settle. The raw-input control gives the *same*
readout the band energies themselves, sampled at the camera's frame times,
so both see the same time resolution and pooling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physres.device.spec import slew_limit
from physres.readout.features import FramePreprocessor
from physres.sim.bucket.device import Bucket
from physres.sim.bucket.params import MotorParams

__all__ = [
    "SpeechRun",
    "eight_motor_ring",
    "evaluate_zero_one",
    "paired_difference_interval",
    "run_words",
    "wilson_interval",
]


def eight_motor_ring(n: int = 8) -> list[MotorParams]:
    """Motors on a ring around the tank, each at its own frequency (the 2003 layout)."""
    out = []
    for i in range(n):
        a = 2 * math.pi * i / n
        out.append(MotorParams(x=0.5 + 0.32 * math.cos(a), y=0.5 + 0.32 * math.sin(a),
                               frequency_hz=4.0 + 0.5 * i, phase_deg=37.0 * i))
    return out


@dataclass(frozen=True)
class SpeechRun:
    """Per-utterance episodes for the water and for the raw-input control."""

    water: list[np.ndarray]  # (frames, features) per utterance
    raw: list[np.ndarray]  # (frames, n_bands) band energies at the frame times
    labels: np.ndarray


def run_words(tank: Bucket, inputs: list[np.ndarray], labels: np.ndarray, *,
              pad_s: float = 0.4, feature_size: tuple[int, int] = (16, 16),
              seed: int = 0) -> SpeechRun:
    """Drive each utterance's band energies (T, n_motors) in task units [-1, 1] through ``tank``.

    ``inputs`` must be sampled at the tank's motor rate. Each word is followed
    by ``pad_s`` of silence (duty 0) so its echo is seen too.
    """
    desc = tank.describe()
    spec = desc.inputs["duty"]
    fps, rate = desc.streams["frame"].rate_hz, spec.rate_hz
    assert fps and rate
    max_step = spec.limits.max_step or 1.0
    pre = FramePreprocessor(feature_size, ["grey", "diff"])
    water, raw = [], []
    for i, u in enumerate(inputs):
        pad = np.zeros((round(pad_s * rate), u.shape[1]))
        target = np.concatenate([np.clip((u + 1) / 2, 0, 1), pad])
        duty = slew_limit(target, max_step, np.zeros(target.shape[1]), margin=1e-9)
        tank.reset(seed=seed * 100_000 + i)
        tank.apply({"duty": duty})
        frames = tank.read()["frame"].data
        pre.reset()
        water.append(pre.transform(frames).astype(np.float64))
        j = np.arange(1, len(frames) + 1)
        raw.append(duty[np.ceil(j * rate / fps - 1e-9).astype(np.int64) - 1])
    return SpeechRun(water=water, raw=raw, labels=np.asarray(labels))


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def paired_difference_interval(a: np.ndarray, b: np.ndarray, *, n_boot: int = 10_000,
                               seed: int = 0) -> tuple[float, float, float]:
    """Accuracy difference mean(a) − mean(b) of paired 0/1 outcomes and its 95 % bootstrap CI."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), (n_boot, len(a)))
    diffs = a[idx].mean(axis=1) - b[idx].mean(axis=1)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(a.mean() - b.mean()), float(lo), float(hi)


def evaluate_zero_one(*, alpha: float = 0.1, seed: int = 0, pad_s: float = 0.4,
                      **tank_params: object) -> dict[str, object]:
    """Spoken "zero"/"one": water vs raw inputs, same readout, leave-two-voices-out folds.

    Every utterance is classified once by a readout that never heard its voice
    variant; returns accuracies with Wilson intervals (water, raw inputs, and a
    100-unit echo state network fed the same duties) and the paired
    water − raw difference with its bootstrap interval.
    """
    from physres.readout import RidgeClassifierReadout
    from physres.tasks.speech import SpokenZeroOne

    task = SpokenZeroOne(n_bands=8, frame_rate=50.0, split="random")
    data = task.generate(seed=seed)
    eps = list(data.train) + list(data.test)
    labels = np.array([e.label for e in eps])
    voices = np.array([str(e.meta["voice"]).split("+")[1] for e in eps])
    params = {"motors": eight_motor_ring(), **tank_params}
    with Bucket(**params) as tank:
        run = run_words(tank, [e.u for e in eps], labels, pad_s=pad_s, seed=seed)
    runs = {"water": run.water, "raw": run.raw, "esn": _esn_states(run.raw, seed)}
    order = np.unique(voices)
    np.random.default_rng(seed).shuffle(order)
    result: dict[str, object] = {"n": len(labels)}
    hits = {}
    for name, X in runs.items():
        ok = np.zeros(len(labels), bool)
        for f in range(0, len(order), 2):
            te = np.isin(voices, order[f:f + 2])
            tr = np.flatnonzero(~te)
            readout = RidgeClassifierReadout(alpha, pooling="mean")
            readout.fit([X[i] for i in tr], labels[tr])
            ok[te] = readout.predict([X[i] for i in np.flatnonzero(te)]) == labels[te]
        hits[name] = ok
        k = int(ok.sum())
        result[name] = {"accuracy": k / len(ok), "ci95": wilson_interval(k, len(ok))}
    d, lo, hi = paired_difference_interval(hits["water"], hits["raw"], seed=seed)
    result["difference"] = {"water_minus_raw": d, "ci95": (lo, hi)}
    return result


def _esn_states(duties: list[np.ndarray], seed: int, n_units: int = 100) -> list[np.ndarray]:
    """``sim.esn`` driven by the same duties at the same frame times: the reference reservoir."""
    from physres.sim.esn import ESN

    out = []
    with ESN(n_units=n_units, n_inputs=duties[0].shape[1], spectral_radius=0.9,
             input_scaling=1.0, bias_scaling=0.2, leak_rate=0.5, rate_hz=25.0, seed=seed) as esn:
        for u in duties:
            esn.reset(seed=seed)
            esn.apply({"u": 2.0 * u - 1.0})
            out.append(esn.read()["state"].data)
    return out
