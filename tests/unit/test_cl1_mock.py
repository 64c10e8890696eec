"""drivers.cl1 without a CL1 or cl-sdk: its config rules, and mock.cl1 refusing what a CL1 would.

Mock mode is a connection mode, not a way around the driver's safety code:
``mock.cl1`` runs the same CL1 guard before its in-memory backend, so a
consumer's unit test that would over-stimulate a real culture fails the same
way. None of this needs the vendor's package.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from physres import registry
from physres.errors import ConfigError, SafetyError


def test_describing_and_configuring_the_driver_needs_no_vendor_package() -> None:
    before = "cl" in sys.modules
    dev = registry.create("drivers.cl1", "cl1", {"stim_electrodes": [3, 4]})
    desc = dev.describe()
    assert set(desc.streams) == {"spikes", "pulses"} and desc.inputs["stim"].shape == (2,)
    assert desc.meta["limits"] == "CL1" and desc.meta["n_channels"] == 64
    assert ("cl" in sys.modules) == before  # `cl` is imported on connect, not before


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"layout": "hdmea1024"}, "a CL1 has 64 electrodes; layout 'hdmea1024' has 1024"),
        ({"step_ms": 3.0}, "whole number of loop ticks"),
        ({"amplitude_ua": 12.0}, "exceeds CL1's limit ±11 µA"),
        ({"amplitude_ua": 10.0, "phase_us": 320.0}, r"3.2 nC \(10 µA × 320 µs\)"),
        ({"phase_us": 150.0}, "not on CL1's 20 µs grid"),
        ({"lead_time_us": 60}, "lead_time_us"),
        ({"record": "x"}, "record"),
    ],
)
def test_a_config_a_cl1_would_refuse_fails_when_it_loads(params: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        registry.create("drivers.cl1", "cl1", params)


def test_mock_cl1_runs_the_cl1_guard_before_its_backend() -> None:
    with registry.create("mock.cl1", "m", {"step_ms": 2.0}) as dev:
        ok = np.zeros((4, 4))
        ok[0, 0] = ok[3, 0] = 5.0  # 6 ms apart on electrode 27: 167 Hz, allowed
        dev.apply({"stim": ok})
        too_fast = np.zeros((2, 4))
        too_fast[:, 1] = 5.0  # 2 ms apart on electrode 28: 500 Hz
        with pytest.raises(SafetyError, match="electrode 28 pulsed 2 ms after.*200 Hz"):
            dev.apply({"stim": too_fast})
        # the last pulse on 27 was at step 3 (6 ms); step 4 (8 ms) is only 2 ms later
        nxt = np.zeros((1, 4))
        nxt[0, 0] = 5.0
        with pytest.raises(SafetyError, match="electrode 27"):
            dev.apply({"stim": nxt})
        assert dev.call("refused") == 2
