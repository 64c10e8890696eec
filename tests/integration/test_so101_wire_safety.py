"""Every goal vector that reaches the servos is safe, in space and in time.

The assertions decode the emulator's log of received sync-write packets, so
they judge what was on the wire, not what the driver says it sent: each goal
vector is turned back into joint angles and through forward kinematics, and
the commanded goals are differenced over the emulator's own receive times.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from physres import registry
from physres.config import parse_config
from physres.drivers.arm import SO101, Kinematics, load_model
from physres.errors import ConfigError, SafetyError
from physres.sim.servobus import ServoBus
from physres.sim.servobus.protocol import INST_SYNC_WRITE

STEP_RAD = 2 * math.pi / 4096
GOAL_POSITION = 42
KIN = Kinematics(load_model())
#: rounding each joint to a whole servo step moves the tcp by well under a millimetre
TOL_M = 1e-3


@pytest.fixture
def servos() -> Iterator[ServoBus]:
    with ServoBus() as bus:
        yield bus


def wire_vectors(servos: ServoBus, since: float = 0.0) -> list[tuple[float, np.ndarray]]:
    """``(receive time, joint angles of servos 1..6)`` for every goal-position sync write."""
    out = []
    for pkt in list(servos.log):
        if pkt.code != INST_SYNC_WRITE or pkt.t < since or pkt.params[0] != GOAL_POSITION:
            continue
        n, p = pkt.params[1], pkt.params
        goals = {p[k]: int.from_bytes(p[k + 1 : k + 3], "little") for k in range(2, len(p), n + 1)}
        out.append((pkt.t, (np.array([goals[s] for s in range(1, 7)]) - 2048) * STEP_RAD))
    return out


def settle(arm: SO101, inputs: dict, seconds: float = 4.0) -> None:
    """Re-send ``inputs`` at the control rate until the commanded vector stops changing."""
    period = 1 / arm.params.rate_hz
    end, last = time.monotonic() + seconds, None
    while time.monotonic() < end:
        sent = arm.apply(inputs)["joints"][0]
        if last is not None and np.array_equal(sent, last):
            return
        last = sent
        time.sleep(period)
    raise AssertionError(f"{inputs} did not settle in {seconds} s")


def test_a_long_descent_never_puts_a_vector_below_the_floor(servos: ServoBus) -> None:
    """The issue's case: from high above the table to 0.02 m in the default clip mode once
    sent 16 vectors with the tool below the table (down to -0.139 m)."""
    low, high = (0.10, -0.12, 0.0, -1.57), (0.22, 0.12, 0.16, 1.57)
    with SO101(port=servos.port, timeout_s=0.2, workspace_low=low, workspace_high=high) as arm:
        settle(arm, {"ee": [0.15, 0.0, 0.16, 0.0]})
        arm.read()  # a round trip: every earlier packet has reached the emulator
        t0 = time.monotonic()
        settle(arm, {"ee": [0.15, 0.0, 0.02, 0.0]})
        arm.read()
    vectors = wire_vectors(servos, t0)
    assert len(vectors) >= 5  # the move took many speed-limited steps
    tcp = np.array([KIN.fk(q[:5]) for _, q in vectors])
    assert tcp[:, 2].min() >= low[2] - TOL_M, f"lowest tcp on the wire: {tcp[:, 2].min():.4f} m"
    assert (tcp[:, :3] >= np.array(low[:3]) - TOL_M).all()
    assert (tcp[:, :3] <= np.array(high[:3]) + TOL_M).all()
    assert tcp[-1, 2] == pytest.approx(0.02, abs=TOL_M)  # and it did arrive


def test_a_joint_path_through_the_table_is_stopped_at_the_floor(servos: ServoBus) -> None:
    """Both ends above the floor, the straight joint-space line between them below it."""
    start, goal = np.array([0.0, -0.14, -0.95, 0.3, 0.0]), np.array([0.0, -1.54, -2.37, -1.0, 0.0])
    line = [KIN.fk(start + f * (goal - start))[2] for f in np.linspace(0, 1, 21)]
    assert KIN.fk(start)[2] > 0 and KIN.fk(goal)[2] > 0 and min(line) < -0.02  # the premise
    with SO101(port=servos.port, timeout_s=0.2) as arm:
        settle(arm, {"joints": start})
        arm.read()
        t0 = time.monotonic()
        for _ in range(30):
            arm.apply({"joints": goal})
            time.sleep(1 / arm.params.rate_hz)
        arm.read()
    z = np.array([KIN.fk(q[:5])[2] for _, q in wire_vectors(servos, t0)])
    assert len(z) >= 30 and z.min() >= -TOL_M, f"lowest tcp on the wire: {z.min():.4f} m"


def test_refuse_mode_refuses_steps_that_are_too_fast_for_the_time_since_the_last(servos) -> None:
    """Two legal-sized steps in quick succession are twice the speed: the second is refused."""
    with SO101(port=servos.port, timeout_s=0.2, safety="refuse") as arm:
        period = 1 / arm.params.rate_hz
        step = 0.8 * arm.max_speed[0] * period  # shoulder_pan: 80 % of one period's motion
        time.sleep(period)
        arm.apply({"joints": [step, 0.0, 0.0, 0.0, 0.0]})
        with pytest.raises(SafetyError, match=r"shoulder_pan would move at [\d.]+ rad/s, above"):
            arm.apply({"joints": [2 * step, 0.0, 0.0, 0.0, 0.0]})
        arm.read()
        t0 = time.monotonic()
        time.sleep(period)  # a period later the same step is within the limit
        sent = arm.apply({"joints": [2 * step, 0.0, 0.0, 0.0, 0.0]})
        assert sent["joints"][0, 0] == pytest.approx(2 * step)
        arm.read()
    assert len(wire_vectors(servos, t0)) == 1


@pytest.mark.parametrize(
    "inputs",
    [{"joints": [1.5, 1.0, 1.5, -1.0, 2.0], "gripper": 1.0}, {"ee": [0.20, 0.10, 0.02, 1.0]}],
    ids=["joints", "ee"],
)
def test_calling_apply_as_fast_as_possible_does_not_speed_the_arm_up(servos, inputs) -> None:
    """2,173 calls in one second once put 149 rad/s on the wire against a 3 rad/s limit."""
    with SO101(port=servos.port, timeout_s=0.2) as arm:
        if "ee" in inputs:
            settle(arm, {"ee": [0.12, -0.10, 0.09, -1.0]})
        arm.read()
        t0 = time.monotonic()
        calls, end = 0, t0 + 1.0
        while time.monotonic() < end:
            arm.apply(inputs)
            calls += 1
        arm.read()
        vmax, period = arm.max_speed, 1 / arm.params.rate_hz
    vectors = wire_vectors(servos, t0)
    assert calls >= 4 * 10 and len(vectors) == calls  # several calls in every 100 ms period
    t = np.array([v[0] for v in vectors])
    q = np.array([v[1] for v in vectors])
    moved = np.abs(q[-1] - q[0])
    assert (moved[:5] > 0.3 * vmax[:5] * (t[-1] - t[0])).any()  # it did move, briskly
    # over every window of at least one period, no joint's goal moved faster than its limit
    # (one extra period: the first step may use the time since the vector before the window;
    # 20 ms for the emulator's receive-time jitter; two servo steps of rounding)
    for i in range(len(t)):
        j = np.searchsorted(t, t[i] + period)
        if j >= len(t):
            break
        span = t[j:] - t[i]
        speed_ok = np.abs(q[j:] - q[i]) <= vmax * (span + period + 0.02)[:, None] + 2 * STEP_RAD
        assert speed_ok.all(), f"window from {t[i] - t0:.3f} s: goal moved faster than {vmax}"


def test_rows_of_one_chunk_leave_no_sooner_than_one_period_apart(servos: ServoBus) -> None:
    with SO101(port=servos.port, timeout_s=0.2, rate_hz=20.0) as arm:
        arm.read()
        t0 = time.monotonic()
        arm.apply({"joints": np.linspace([0.0] * 5, [0.5, 0, 0, 0, 0], 6)})
        arm.read()
    t = np.array([v[0] for v in wire_vectors(servos, t0)])
    assert len(t) == 6 and (np.diff(t) >= 0.05 - 0.02).all(), np.diff(t)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "-Infinity", " NaN ", float("-inf"), 1e400])
@pytest.mark.parametrize("kind", ["drivers.so101", "sim.arm"])
def test_non_finite_workspace_limits_are_refused_however_written(bad, kind) -> None:
    cls, _ = registry.resolve(kind)
    with pytest.raises(ConfigError, match=r"workspace_low\.2: Input should be a finite number"):
        cls(workspace_low=[0.10, -0.12, bad, -1.57])
    with pytest.raises(ConfigError, match=r"workspace_high\.0: Input should be a finite number"):
        cls(workspace_high=[bad, 0.12, 0.10, 1.57])


@pytest.mark.parametrize("written", ["'-inf'", '"nan"', "'inf'", "-.inf", ".nan"])
def test_a_config_file_with_a_non_finite_floor_is_refused_at_load(written) -> None:
    text = f"""
devices:
  arm:
    kind: drivers.so101
    params:
      workspace_low: [0.10, -0.12, {written}, -1.57]
"""
    with pytest.raises(ConfigError, match=r"arm\.yaml:\d+: .*workspace_low\.2") as err:
        parse_config(text, "arm.yaml")
    assert len(str(err.value).splitlines()) == 1
