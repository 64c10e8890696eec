"""BrainScaleS-2 mode is the same physics 1,000× faster, and its bridge must keep up:
at a DYNAP-SE link's rate the accelerated chip's input is dropped and counted."""

from __future__ import annotations

from typing import Any

import numpy as np

from physres import registry

CHIP = {
    "reservoir": {"n_neurons": 256, "fan_in": 32, "weight_exc": 4, "weight_inh": 8},
    "inputs": {"n_channels": 1, "n_neurons": 256, "fraction": 0.2},
    "cores": {"dc": [2, 20]},
    "input_weight": 15,
}
U = np.sin(np.arange(200) / 7.0)[:, None]


def _drive(chip: str, rate_hz: float, link: dict[str, Any]) -> tuple[np.ndarray, dict, int]:
    params = {
        "config": {**CHIP, "chip": chip},
        "rate_hz": rate_hz,
        "encoding": "regular",
        "noise": 0.0,
        "mismatch": False,
        "link": link,
    }
    with registry.create("sim.neuromorphic", params=params) as dev:
        dev.apply({"u": U})
        ev = dev.read()["spikes"].data
        per_step = np.bincount((ev["t_ns"] * rate_hz // 10**9).astype(np.int64), minlength=len(U))
        return per_step, dev.call("counters"), dev.now_ns()


def test_the_accelerated_chip_spikes_alike_in_a_thousandth_of_the_time() -> None:
    fast_link = {"events_per_s": 1e9, "latency_us": 0.5}
    bio, c_bio, t_bio = _drive("dynapse", 50, fast_link)
    acc, c_acc, t_acc = _drive("brainscales2", 50_000, fast_link)
    assert t_bio == 4_000_000_000 and t_acc == 4_000_000  # 4 s of biology in 4 ms
    assert c_bio["spikes"] > 500
    assert abs(c_acc["spikes"] - c_bio["spikes"]) <= 0.05 * c_bio["spikes"]
    # the same steps fire (µs timestamps quantise the 0.5 µs chip step, so not to the spike)
    assert np.corrcoef(bio, acc)[0, 1] > 0.7


def test_at_a_slow_link_the_accelerated_chip_loses_its_input_and_says_so() -> None:
    _, counters, _ = _drive("brainscales2", 50_000, {"events_per_s": 1e6, "fifo_events": 4096})
    assert counters["in_dropped"] > counters["in_events"] / 2
    assert counters["in_late"] > 0
