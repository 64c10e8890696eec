"""Spoken "zero"/"one" through the tank, as Fernando & Sojakka did with eight motors.

The experiment is the general one: the ``spoken_zero_one`` task (band
energies of each word, one band per motor, one cochleagram frame per motor
update) drives ``sim.bucket`` through :func:`physres.experiments.collect_states`,
and the camera's frames go through the ``frame`` pipeline stage (grey plus
frame difference on a 16 × 16 grid) into the task's pooled ridge classifier.
The tank is reset before each word, as the paper waited for the water to
settle. What this module adds is the paper's layout (a ring of motors) and
the statistics of a leave-two-voices-out comparison of water, raw inputs and
the reference ESN on the same words.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from physres.sim.bucket.device import Bucket
from physres.sim.bucket.params import MotorParams

__all__ = [
    "WATER_FEATURES",
    "eight_motor_ring",
    "evaluate_zero_one",
    "paired_difference_interval",
    "wilson_interval",
]

#: the camera's features for words: grey and |frame difference| on a 16 × 16 grid
WATER_FEATURES = [{"kind": "frame", "params": {"size": (16, 16), "kinds": ["grey", "diff"]}}]


def eight_motor_ring(n: int = 8) -> list[MotorParams]:
    """Motors on a ring around the tank, each at its own frequency (the 2003 layout)."""
    out = []
    for i in range(n):
        a = 2 * math.pi * i / n
        out.append(
            MotorParams(
                x=0.5 + 0.32 * math.cos(a),
                y=0.5 + 0.32 * math.sin(a),
                frequency_hz=4.0 + 0.5 * i,
                phase_deg=37.0 * i,
            )
        )
    return out


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def paired_difference_interval(
    a: np.ndarray, b: np.ndarray, *, n_boot: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """Accuracy difference mean(a) − mean(b) of paired 0/1 outcomes and its 95 % bootstrap CI."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), (n_boot, len(a)))
    diffs = a[idx].mean(axis=1) - b[idx].mean(axis=1)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(a.mean() - b.mean()), float(lo), float(hi)


def evaluate_zero_one(
    *, alpha: float = 0.1, seed: int = 0, **tank_params: Any
) -> dict[str, object]:
    """Spoken "zero"/"one": water vs raw inputs vs sim.esn, leave-two-voices-out folds.

    Every word is classified once by a pipeline that never heard its voice
    variant; returns accuracies with Wilson intervals and the paired
    water − raw difference with its bootstrap interval.
    """
    from physres.experiments import collect_states
    from physres.sim.esn import ESN
    from physres.tasks.speech import SpokenZeroOne

    task = SpokenZeroOne(
        n_bands=8, frame_rate=50.0, split="random", gain=0.5, offset=0.5, alpha=alpha
    )
    data = task.generate(seed=seed)
    eps = list(data.train) + list(data.test)
    labels = np.array([e.label for e in eps])
    voices = np.array([str(e.meta["voice"]).split("+")[1] for e in eps])
    drive = {"reset_between": True, "seed": seed, "flatten": False}
    with Bucket(**{"motors": eight_motor_ring(), **tank_params}) as tank:
        water = collect_states(tank, eps, task, **drive)
    esn_params = {"spectral_radius": 0.9, "bias_scaling": 0.2, "leak_rate": 0.5, "seed": seed}
    with ESN(n_units=100, n_inputs=8, rate_hz=50.0, **esn_params) as esn:
        esn_states = collect_states(esn, eps, task, **drive)
    runs = {
        "water": (water, WATER_FEATURES),
        "raw": ([e.u for e in eps], []),
        "esn": (esn_states, []),
    }
    order = np.unique(voices)
    np.random.default_rng(seed).shuffle(order)
    result: dict[str, object] = {"n": len(labels)}
    hits = {}
    for name, (states, features) in runs.items():
        ok = np.zeros(len(labels), bool)
        for f in range(0, len(order), 2):
            te = np.isin(voices, order[f : f + 2])
            tr, held = np.flatnonzero(~te), np.flatnonzero(te)
            train_states = [states[i] for i in tr]
            pipe = task.pipeline(data, train_states, features=features)
            task.fit_readout(train_states, [eps[i] for i in tr], data, pipeline=pipe)
            ok[te] = task.predict(pipe, [states[i] for i in held]) == labels[te]
        hits[name] = ok
        k = int(ok.sum())
        result[name] = {"accuracy": k / len(ok), "ci95": wilson_interval(k, len(ok))}
    d, lo, hi = paired_difference_interval(hits["water"], hits["raw"], seed=seed)
    result["difference"] = {"water_minus_raw": d, "ci95": (lo, hi)}
    return result
