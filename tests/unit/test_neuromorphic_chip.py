"""The emulated chip: biases set the physics, mismatch is a fixed draw per die, spikes
travel through synapses, and the bridge link drops what it cannot carry (counted)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from physres.errors import DataError
from physres.neuro import INPUT_EVENT, ChipConfig, LinkParams, dac, input_events
from physres.sim.neuromorphic import Chip

NO_INPUT = np.zeros(0, INPUT_EVENT)
#: one strong, fast AMPA kick fires a neuron exactly once: a 1 ms synapse, a 10 ms
#: refractory period that outlasts it
ONE_SHOT = {
    "tau_ampa": dac.fine_for("tau_ampa", 1e-3),
    "refractory": dac.fine_for("refractory", 10e-3),
    "w_ampa": (3, 255),
}


def _lif_rate(cfg: ChipConfig) -> float:
    """Analytic firing rate of the ideal neuron driven by the DC bias alone."""
    b = cfg.core_biases()[0]
    acc = cfg.model.acceleration
    tau = dac.time_constant("tau_mem", dac.current(*b.tau_mem), acc)
    t_ref = dac.time_constant("refractory", dac.current(*b.refractory), acc)
    i_dc, thr = dac.current(*b.dc), dac.current(*b.thr)
    return 1.0 / (t_ref + tau * math.log(i_dc / (i_dc - thr)))


@pytest.mark.parametrize("chip", ["dynapse", "brainscales2"])
def test_a_dc_biased_ideal_neuron_fires_at_the_rate_its_bias_codes_predict(chip: str) -> None:
    cfg = ChipConfig(chip=chip, cores={"dc": (2, 120), "w_ahp": (0, 0)})
    c = Chip(cfg, mismatch=False, noise=0.0)
    seconds = 1.0 / cfg.model.acceleration  # one biological second of chip time
    out, counters = c.run(NO_INPUT, seconds * 1e6)
    per_neuron = counters["spikes"] / cfg.model.n_neurons / seconds
    want = _lif_rate(cfg)
    # the clocked step rounds each interval up to whole steps: at most one step per spike
    dt = cfg.model.dt_us * 1e-6
    assert want / (1 + want * dt) * 0.98 <= per_neuron <= want * 1.02
    if chip == "brainscales2":  # 1,000x faster: ~50 kHz of chip time for a ~50 Hz neuron
        assert per_neuron > 1e4
    assert len(out) == counters["spikes"] == counters["out_events"]


def test_mismatch_is_a_fixed_draw_per_die_with_the_configured_spread() -> None:
    cfg = ChipConfig(cores={"dc": (2, 60)})
    a = Chip(cfg, chip_seed=7, mismatch_cv=0.15).circuit
    b = Chip(cfg, chip_seed=7, mismatch_cv=0.15).circuit
    other = Chip(cfg, chip_seed=8, mismatch_cv=0.15).circuit
    ideal = Chip(cfg, mismatch=False).circuit
    assert np.array_equal(a.thr, b.thr) and not np.array_equal(a.thr, other.thr)
    assert np.ptp(ideal.thr) == 0 and np.ptp(ideal.tau_mem_s) == 0
    for values in (a.thr, a.dc, a.w_syn[0], 1 / a.tau_mem_s, 1 / a.tau_syn_s[2]):
        cv = np.std(values) / np.mean(values)
        assert 0.12 < cv < 0.18, cv
    # parameters are drawn independently of each other
    assert abs(np.corrcoef(a.thr, a.w_syn[0])[0, 1]) < 0.1


def test_a_spike_reaches_its_targets_one_step_later_through_the_synapse_table() -> None:
    # neuron 0 → neuron 1 with the strongest weight; an input event kicks neuron 0
    cfg = ChipConfig(
        cores=ONE_SHOT,
        connections=[{"source": 0, "target": 1, "weight": 15}],
        input_weight=15,
    )
    c = Chip(cfg, mismatch=False, noise=0.0)
    ev = input_events(np.array([1_000]), np.array([0]), 0, cfg.model)
    out, counters = c.run(ev, 20_000)
    g = out["core"].astype(int) * 256 + out["neuron"]
    assert g.tolist() == [0, 1]
    assert out["t_us"][1] - out["t_us"][0] == cfg.model.dt_us  # one step of synaptic delay
    assert counters["synaptic_events"] == 1
    assert counters["in_events"] == 1 and counters["in_late"] == 0


def test_events_for_later_wait_and_late_events_are_counted() -> None:
    cfg = ChipConfig(cores=ONE_SHOT, input_weight=15)
    c = Chip(cfg, mismatch=False, noise=0.0)
    c.run(NO_INPUT, 10_000)
    ev = input_events(np.array([5_000, 30_000]), np.array([3, 4]), 0, cfg.model)
    out, counters = c.run(ev, 20_000)  # the first is in the past, the second for later
    assert counters["in_late"] == 1
    assert (out["neuron"] == 3).sum() == 1 and not (out["neuron"] == 4).any()
    out, _ = c.run(NO_INPUT, 40_000)
    assert (out["neuron"] == 4).sum() == 1


def test_a_busy_accelerated_chip_overflows_the_bridge_and_says_how_much() -> None:
    # BrainScaleS-2 speed: 512 neurons at ~50 kHz of chip time is ~25 M events/s
    cfg = ChipConfig(chip="brainscales2", cores={"dc": (2, 120)})
    link = LinkParams(events_per_s=1e6, latency_us=5.0, fifo_events=256)
    c = Chip(cfg, noise=0.0, link=link)
    out, counters = c.run(NO_INPUT, 1_000)  # 1 ms of chip time
    assert counters["out_dropped"] > 0.9 * counters["out_events"]
    # what got through is what the link could carry in the time, minus the latency tail
    assert len(out) <= 1_000 * 1e6 / 1e6 + 1
    assert len(out) + counters["out_dropped"] <= counters["out_events"]
    # nothing arrives before latency: the first delivered spike left at least 5 µs earlier
    again = Chip(cfg, noise=0.0, link=link)
    first, _ = again.run(NO_INPUT, 3)
    assert len(first) == 0


def test_an_input_burst_beyond_the_fifo_is_dropped_and_counted() -> None:
    cfg = ChipConfig()
    link = LinkParams(events_per_s=1e5, fifo_events=100)  # 10 µs per event
    c = Chip(cfg, link=link)
    ev = input_events(np.zeros(1_000, np.int64), np.arange(1_000), 0, cfg.model)
    _, counters = c.run(ev, 50_000)
    assert counters["in_dropped"] == 900
    assert counters["in_late"] > 0  # the hundred queued ones left up to 1 ms late


def test_addresses_off_the_chip_are_refused_before_anything_runs() -> None:
    cfg = ChipConfig(chip="brainscales2")
    c = Chip(cfg)
    ev = np.zeros(1, INPUT_EVENT)
    ev["core"] = 2
    with pytest.raises(DataError, match=r"core 2 does not exist on brainscales2"):
        c.run(ev, 100)
    assert c.now_us == 0 and c.counters.in_events == 0


def test_the_same_seed_repeats_exactly_and_another_seed_changes_the_noise() -> None:
    cfg = ChipConfig(reservoir={"n_neurons": 256, "fan_in": 32}, cores={"dc": (2, 60)})
    runs = []
    for seed in (1, 1, 2):
        c = Chip(cfg, seed=seed, noise=0.1)
        runs.append(c.run(NO_INPUT, 200_000)[0])
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])
    c = Chip(cfg, seed=1, noise=0.1)
    split = [c.run(NO_INPUT, t)[0] for t in (50_000, 120_000, 200_000)]
    assert np.array_equal(np.concatenate(split), runs[0])  # chunking does not matter
