"""Address events cross the bridge and the bus: conversions, checks, the input encoder."""

from __future__ import annotations

import numpy as np
import pytest

from physres.errors import DataError
from physres.neuro import (
    BUS_EVENT,
    CHIPS,
    INPUT_EVENT,
    OUTPUT_EVENT,
    InputMap,
    RateEncoder,
    check_input_events,
    from_bus,
    input_events,
    to_bus,
)

DYN = CHIPS["dynapse"]


def test_output_events_become_bus_records_with_global_channels_and_ns() -> None:
    out = np.array([(5, 0, 3), (17, 2, 255)], OUTPUT_EVENT)
    rec = to_bus(out, DYN, t0_ns=1_000)
    assert rec.dtype == BUS_EVENT
    assert rec["t_ns"].tolist() == [6_000, 18_000]
    assert rec["channel"].tolist() == [3, 2 * 256 + 255]


def test_bus_records_become_input_events_and_back_to_the_same_addresses() -> None:
    rec = np.array([(2_500, 700), (1_000, 3)], BUS_EVENT)
    ev = from_bus(rec, DYN, syn=1)
    assert ev.dtype == INPUT_EVENT
    assert ev["t_us"].tolist() == [1, 2]  # sorted, floor to µs
    assert [(int(c), int(n)) for c, n in ev[["core", "neuron"]]] == [(0, 3), (2, 188)]
    assert set(ev["syn"].tolist()) == {1}
    check_input_events(ev, DYN)
    with pytest.raises(DataError, match=r"bus event 0: channel 1024 is not a neuron of dynapse"):
        from_bus(np.array([(0, 1024)], BUS_EVENT), DYN)


def test_input_events_off_the_chip_or_out_of_order_are_refused_by_index() -> None:
    ev = input_events(np.array([0, 10, 20]), np.array([1, 2, 3]), 0, DYN)
    bad = ev.copy()
    bad["core"][1] = 4
    with pytest.raises(DataError, match=r"input events\[1\]: core 4 does not exist on dynapse"):
        check_input_events(bad, DYN)
    bad = ev.copy()
    bad["syn"][2] = 2
    check_input_events(bad, DYN)
    with pytest.raises(DataError, match=r"syn 2 does not exist on brainscales2 \(0..1\)"):
        check_input_events(bad, CHIPS["brainscales2"])
    bad = ev[::-1].copy()
    with pytest.raises(DataError, match=r"\[1\]: t_us 10 is before the previous event's 20"):
        check_input_events(bad, DYN)


def test_poisson_encoding_fires_at_the_rate_u_asks_for_on_every_target_at_once() -> None:
    enc = RateEncoder([InputMap(channel=0, targets=list(range(50)))], DYN, max_rate_hz=100)
    u = np.full((2000, 1), 0.0)  # u = 0: half of max, 50 Hz, for 2000 × 10 ms: 1,000 spikes
    ev = enc.encode(u, 0, 10_000, np.random.default_rng(0))
    assert ev.size % 50 == 0 and ev.size // 50 == pytest.approx(1000, rel=0.1)
    assert np.all(np.diff(ev["t_us"].astype(np.int64)) >= 0)
    assert ev["t_us"].max() < 20_000_000
    # one source: each spike reaches all 50 targets at the same time
    assert np.all(np.unique(ev["t_us"], return_counts=True)[1] % 50 == 0)
    silent = enc.encode(np.full((100, 1), -1.0), 0, 10_000, np.random.default_rng(0))
    assert silent.size == 0


def test_a_weight_level_repeats_the_event_and_each_map_keeps_its_synapse_type() -> None:
    maps = [
        InputMap(channel=0, targets=[4], syn="ampa", weight=3),
        InputMap(channel=0, targets=[5], syn="gaba_a", weight=1),
    ]
    ev = RateEncoder(maps, DYN).expand(np.array([12.7]), np.array([0]))
    assert ev["t_us"].tolist() == [12] * 4
    assert sorted(zip(ev["neuron"].tolist(), ev["syn"].tolist())) == [(4, 0)] * 3 + [(5, 2)]
    with pytest.raises(ValueError, match="input channel 1 is not mapped"):
        RateEncoder(maps, DYN).expand(np.array([1.0]), np.array([1]))


def test_regular_encoding_is_deterministic_and_carries_its_phase_over_calls() -> None:
    enc = RateEncoder(
        [InputMap(channel=0, targets=[7, 9])], DYN, max_rate_hz=100, encoding="regular"
    )
    # 100 Hz for 25 ms in three calls: spikes at 10 and 20 ms, on both targets
    t = [enc.encode(np.ones((1, 1)), k * 8_000, 8_000, np.random.default_rng(k)) for k in range(3)]
    ev = np.concatenate(t)
    assert ev["t_us"].tolist() == [10_000, 10_000, 20_000, 20_000]
    assert ev["neuron"].tolist() == [7, 9, 7, 9]


def test_an_accelerated_chip_gets_its_spikes_a_thousand_times_faster() -> None:
    bss = CHIPS["brainscales2"]
    enc = RateEncoder([InputMap(channel=0, targets=[0])], bss, max_rate_hz=100)
    assert enc.rates_hz(np.ones((1, 1)))[0, 0] == pytest.approx(100_000)
