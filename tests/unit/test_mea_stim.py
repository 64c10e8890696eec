"""Stimulation safety: every way a pulse can be unsafe is refused, with the numbers.

``physres.mea.stim.check`` is the one gate the simulator and every MEA driver
run before anything is sent. Each test below is an attempt to slip an unsafe
pulse past it; the message must name the value, the limit and the unit, so a
person reading a refused run knows what to change.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physres.errors import ConfigError, SafetyError
from physres.mea.stim import (
    CL1,
    Burst,
    Pulse,
    StimGuard,
    StimLimits,
    Stimulation,
    charge_nc,
    check,
    stimulations_from_row,
)

MS = 1_000_000


def one(amp: float = 2.0, width: float = 200.0, *, electrodes=(3,), burst=None, t_ns=0):
    return Stimulation(tuple(electrodes), Pulse.biphasic(amp, width), burst or Burst(), t_ns)


def refused(stim, match: str, **kw) -> str:
    with pytest.raises(SafetyError, match=match) as e:
        check(stim, CL1, **kw)
    return str(e.value)


def test_a_cl1_pulse_within_every_limit_passes() -> None:
    s = one(11.0, 260.0)  # 2.86 nC per phase: the largest on the grid under 3 nC at 11 µA
    assert check(s, CL1) == [s]
    assert Pulse.biphasic(2.0, 200.0).phases == ((200.0, -2.0), (200.0, 2.0))  # cathodic first


def test_current_over_11_ua_is_refused_with_the_numbers() -> None:
    msg = refused(one(11.5, 100.0), "current")
    assert "11.5 µA" in msg and "±11 µA" in msg and "CL1" in msg
    refused(one(-12.0, 100.0), "current -?12")  # either polarity


def test_charge_over_3_nc_per_phase_is_refused_though_current_and_width_pass() -> None:
    msg = refused(one(11.0, 280.0), "nC")
    assert "3.08 nC" in msg and "11 µA × 280 µs" in msg and "3 nC per phase" in msg
    assert charge_nc(280.0, 11.0) == pytest.approx(3.08)


@pytest.mark.parametrize(
    ("width", "match"),
    [
        (-20.0, "below the minimum 20 µs"),
        (0.0, "below the minimum"),
        (10.0, "below the minimum"),
        (30.0, "not on CL1's 20 µs grid"),
        (200.5, "not on CL1's 20 µs grid"),
        (float("nan"), "not finite"),
        (float("inf"), "not finite"),
    ],
)
def test_phase_widths_off_the_grid_or_not_positive_are_refused(width: float, match: str) -> None:
    refused(one(2.0, width), match)


@pytest.mark.parametrize("amp", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_current_is_refused(amp: float) -> None:
    refused(one(amp), "not finite")


def test_non_numbers_are_refused_not_compared() -> None:
    refused(Stimulation((3,), Pulse(((200, "2"), (200, -2))), Burst()), "not a number")
    refused(Stimulation((3,), Pulse(((200, True), (200, -1))), Burst()), "not a number")
    refused(Stimulation((3,), Pulse(((200,), (200, -1))), Burst()), "not \\(width")


def test_imbalanced_charge_is_refused_with_each_phase_charge() -> None:
    p = Pulse(((200.0, -2.0), (200.0, 1.5)))
    msg = refused(Stimulation((3,), p, Burst()), "not charge-balanced")
    assert "net -0.1 nC" in msg and "-0.4, +0.3 nC" in msg


def test_balance_by_width_times_current_is_accepted() -> None:
    # half the current for twice as long carries the same charge back
    check(Stimulation((3,), Pulse(((100.0, -4.0), (200.0, 2.0))), Burst()), CL1)
    check(Stimulation((3,), Pulse(((100.0, -2.0), (200.0, 2.0), (100.0, -2.0))), Burst()), CL1)


def test_monophasic_same_polarity_and_zero_current_phases_are_refused() -> None:
    refused(Stimulation((3,), Pulse(((200.0, -2.0),)), Burst()), "monophasic")
    refused(Stimulation((3,), Pulse(((200.0, -2.0), (200.0, -2.0))), Burst()), "same polarity")
    refused(Stimulation((3,), Pulse(((200.0, 0.0), (200.0, 0.0))), Burst()), "0 µA")
    four = Pulse(((100.0, -1.0), (100.0, 1.0), (100.0, -1.0), (100.0, 1.0)))
    refused(Stimulation((3,), four, Burst()), "4 phases; CL1 takes 2 to 3")


def test_only_allowed_electrodes_and_existing_channels() -> None:
    msg = refused(one(electrodes=(5,)), "electrode 5 is not an allowed", allowed={1, 2, 3})
    assert "[1, 2, 3]" in msg
    refused(one(electrodes=(64,)), "does not exist .*0..63")
    refused(one(electrodes=(-1,)), "does not exist")
    refused(one(electrodes=(2.0,)), "not a whole number")
    refused(one(electrodes=()), "no electrode")
    refused(one(electrodes=(2, 2)), "name one twice")


def test_bursts_faster_than_200_hz_or_without_a_rate_are_refused() -> None:
    check(one(burst=Burst(10, 200.0)), CL1)
    msg = refused(one(burst=Burst(10, 250.0)), "250 Hz exceeds CL1's 200 Hz")
    assert "burst" in msg
    refused(one(burst=Burst(3)), "needs a rate")
    refused(one(burst=Burst(3, float("nan"))), "not finite")
    refused(one(burst=Burst(3, -5.0)), "not positive")
    refused(one(burst=Burst(0, 10.0)), "not a whole number >= 1")
    refused(one(burst=Burst(2.5, 10.0)), "not a whole number")
    refused(one(burst=Burst(CL1.max_burst_count + 1, 10.0)), "per burst")


def test_a_burst_whose_pulses_overlap_is_refused() -> None:
    fast = StimLimits(**{**CL1.__dict__, "max_burst_hz": 5000.0, "max_pulse_rate_hz": 5000.0})
    wide = one(10.0, 300.0, burst=Burst(5, 2000.0))  # 600 µs pulse, 500 µs apart
    with pytest.raises(SafetyError, match="500 µs per pulse, shorter than the pulse's 600 µs"):
        check(wide, fast)


def test_too_fast_on_one_electrode_within_a_call_and_across_calls() -> None:
    refused([one(t_ns=0), one(t_ns=2 * MS)], "2 ms after its previous pulse.*200 Hz")
    check([one(t_ns=0), one(t_ns=2 * MS, electrodes=(4,))], CL1)  # other electrode: fine
    guard = StimGuard(CL1)
    guard.admit(one(t_ns=0, burst=Burst(3, 100.0)))  # last pulse of the burst at 20 ms
    with pytest.raises(SafetyError, match="electrode 3 pulsed 3 ms after"):
        guard.admit(one(t_ns=23 * MS))
    guard.admit(one(t_ns=25 * MS))


def test_a_refused_call_changes_nothing_in_the_guard() -> None:
    guard = StimGuard(CL1, allowed={3, 4})
    guard.admit(one(t_ns=0))
    # the second stimulation of this call is unsafe: the first must not be remembered either
    with pytest.raises(SafetyError):
        guard.admit([one(t_ns=10 * MS, electrodes=(4,)), one(12.0, t_ns=10 * MS)])
    assert guard.refused == 1
    guard.admit(one(t_ns=11 * MS, electrodes=(4,)))  # 4 was never pulsed at 10 ms
    guard.reset()
    guard.admit(one(t_ns=0))


def test_the_stim_row_becomes_one_stimulation_per_amplitude() -> None:
    got = stimulations_from_row(np.array([0.0, 2.0, 2.0, -3.0]), [7, 8, 9, 10], 200.0, 5 * MS)
    assert [(s.electrodes, s.pulse.phases[0][1]) for s in got] == [((10,), 3.0), ((8, 9), -2.0)]
    assert all(s.t_ns == 5 * MS for s in got)
    assert stimulations_from_row(np.zeros(4), [7, 8, 9, 10], 200.0, 0) == []
    with pytest.raises(SafetyError, match="3 amplitudes for 4"):
        stimulations_from_row(np.zeros(3), [7, 8, 9, 10], 200.0, 0)
    with pytest.raises(SafetyError, match=r"stim\[1\] \(electrode 8\) = nan"):
        stimulations_from_row(np.array([0, np.nan, 0, 0]), [7, 8, 9, 10], 200.0, 0)


def test_limits_that_cannot_protect_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_current_ua = nan"):
        StimLimits(**{**CL1.__dict__, "max_current_ua": math.nan})
    with pytest.raises(ConfigError, match="n_channels"):
        StimLimits(**{**CL1.__dict__, "n_channels": 0})


@settings(max_examples=300, deadline=None)
@given(
    amp=st.floats(allow_nan=True, allow_infinity=True, width=64),
    width=st.floats(allow_nan=True, allow_infinity=True, width=64),
    electrode=st.integers(-5, 70),
)
def test_whatever_passes_is_inside_every_cl1_limit(
    amp: float, width: float, electrode: int
) -> None:
    """The property: check() never lets through a pulse a CL1 would refuse."""
    s = one(amp, width, electrodes=(electrode,))
    try:
        check(s, CL1)
    except SafetyError as e:
        assert str(e)  # every refusal says why
        return
    assert math.isfinite(amp) and math.isfinite(width)
    assert 0 < abs(amp) <= 11.0 and width >= 20.0 and width % 20.0 == 0
    assert charge_nc(width, amp) <= 3.0 + 1e-9
    assert 0 <= electrode < 64
