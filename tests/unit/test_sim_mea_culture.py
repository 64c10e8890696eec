"""The simulated culture behaves like a dissociated cortical culture on an MEA.

Every figure is checked against the published range in
:data:`physres.mea.ranges.CULTURE_RANGES` (the README's table, with sources):
spontaneous firing, network bursts (rate, duration, electrodes taking part),
inter-spike intervals, and fading memory of a stimulus on the order of a
second — with the no-culture control beside it, which has no memory at all.
The default run is half a simulated minute; the ``slow`` variants run five
minutes on three cultures.
"""

from __future__ import annotations

import numpy as np
import pytest

from physres import registry
from physres.mea.activity import activity_stats
from physres.mea.memory import fading_memory
from physres.mea.ranges import CULTURE_RANGES, outside


def _spontaneous(seed: int, seconds: float):
    with registry.create("sim.mea", params={"seed": seed}) as mea:
        mea.apply({"stim": np.zeros((100, 4))})  # 1 s to settle from the initial state
        mea.read()
        mea.apply({"stim": np.zeros((round(seconds * 100), 4))})
        chunk = mea.read()["spikes"]
    return activity_stats(chunk.data, 64, seconds, t0_ns=chunk.t_dev_ns)


def test_half_a_minute_of_spontaneous_activity_is_inside_every_published_range() -> None:
    stats = _spontaneous(seed=0, seconds=30.0)
    assert outside(stats) == [], stats
    assert stats.active_channels >= 48  # most electrodes record a unit


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_five_minutes_on_three_cultures_stay_inside_the_ranges(seed: int) -> None:
    stats = _spontaneous(seed=seed, seconds=300.0)
    assert outside(stats) == [], stats


def test_every_range_names_its_source_and_a_real_statistic() -> None:
    fields = set(_spontaneous(seed=0, seconds=2.0).to_dict())
    for r in CULTURE_RANGES:
        assert r.key in fields and r.low < r.high and "20" in r.source  # a dated citation


def test_a_silent_recording_fails_the_ranges_loudly() -> None:
    from physres.mea.params import SPIKE_DTYPE

    stats = activity_stats(np.zeros(0, SPIKE_DTYPE), 64, 10.0)
    assert any(line.startswith("bursts_per_min = 0") for line in outside(stats))


def _memory(n_trials: int, **params: object) -> dict[float, float]:
    p = {"stim_electrodes": [9, 54], "seed": 0, **params}
    with registry.create("sim.mea", params=p) as mea:
        mea.apply({"stim": np.zeros((200, 2))})
        return fading_memory(mea, lags_s=(0.0, 0.25, 2.0), n_trials=n_trials)


def test_the_culture_remembers_where_it_was_stimulated_for_a_while_then_forgets() -> None:
    acc = _memory(n_trials=30)
    assert acc[0.0] >= 0.9  # the direct response
    assert acc[0.25] >= 0.75  # a quarter of a second later, the network still tells
    assert acc[2.0] <= 0.75  # two seconds later it has (nearly) forgotten
    control = _memory(n_trials=20, culture=False)
    assert control[0.0] >= 0.9  # the artifact alone tells the electrodes apart at once...
    assert control[0.25] == pytest.approx(0.5, abs=0.1)  # ...and nothing afterwards


@pytest.mark.slow
def test_fading_memory_with_a_hundred_trials() -> None:
    with registry.create("sim.mea", params={"stim_electrodes": [9, 54], "seed": 1}) as mea:
        acc = fading_memory(mea, lags_s=(0.1, 0.25, 0.5, 1.0, 2.0), n_trials=100, trial_s=3.0)
    assert acc[0.1] >= 0.85 and acc[2.0] <= 0.7
    assert acc[0.1] >= acc[0.5] >= acc[2.0] - 0.1  # it fades
