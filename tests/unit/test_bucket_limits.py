"""The motor board's limits and the slew-limit planner each have one home.

Duty ranges used to be written in the firmware header, the driver and the
simulator, and motor slew limiting was implemented twice in Python. Now the
firmware's numbers are mirrored once (``physres.drivers.bucket.limits``, checked
against ``proto.h`` here), every Python user imports them, and one
``slew_limit`` plans every ramp.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import physres
from physres.device.spec import Limits, slew_limit
from physres.drivers.bucket import MotorBoardParams
from physres.drivers.bucket import limits as L
from physres.sim.bucket import DUTY_MAX_STEP, Bucket
from physres.sim.bucket.firmware_loop import FIRMWARE_MAX_DUTY, FIRMWARE_MAX_STEP
from physres.wire.firmware_runner import firmware_dir

REPO = Path(__file__).resolve().parents[2]


def _defines() -> dict[str, int]:
    text = (firmware_dir() / "bucket" / "proto.h").read_text()
    return {
        k: int(v, 0)
        for k, v in re.findall(r"^#define\s+(\w+)\s+(0x[0-9A-Fa-f]+|\d+)\s*$", text, re.M)
    }


def test_firmware_limits_mirror_proto_h() -> None:
    c = _defines()
    for name in (
        "DUTY_FULL_SCALE",
        "DUTY_MAX_DEFAULT",
        "SLEW_PER_TICK",
        "TICK_US",
        "N_MOTORS",
        "SCHED_DEPTH",
        "WATCHDOG_MS_DEFAULT",
        "WATCHDOG_MS_MIN",
        "WATCHDOG_MS_MAX",
    ):
        assert getattr(L, name) == c[name], name
    assert L.MAX_DUTY < L.DUTY_MAX_DEFAULT / L.DUTY_FULL_SCALE  # the board never clamps


def test_driver_and_simulator_take_the_one_definition() -> None:
    fields = MotorBoardParams.model_fields
    assert fields["max_duty"].default == L.MAX_DUTY and fields["max_step"].default == L.MAX_STEP
    assert (FIRMWARE_MAX_DUTY, FIRMWARE_MAX_STEP, DUTY_MAX_STEP) == (L.MAX_DUTY,) + (
        L.MAX_STEP,
    ) * 2
    lim = Bucket("t", motor_driver="host", grid=(64, 64)).describe().inputs["duty"].limits
    assert (lim.high, lim.max_step) == (L.MAX_DUTY, L.MAX_STEP)


def test_no_python_source_writes_the_board_numbers_again() -> None:
    roots = [REPO / "physres", REPO / "drivers" / "bucket", REPO / "sim" / "bucket"]
    home = REPO / "drivers" / "bucket" / "limits.py"
    dupes = [
        f"{py.relative_to(REPO)}:{i}"
        for root in roots
        for py in root.rglob("*.py")
        if py != home
        for i, line in enumerate(py.read_text().splitlines(), 1)
        if re.search(r"\b(60000|DUTY_MAX_DEFAULT\s*=|SLEW_PER_TICK\s*=|DUTY_FULL_SCALE\s*=)", line)
    ]
    assert not dupes, dupes


def test_one_slew_limit_planner() -> None:
    defs = [
        str(py.relative_to(REPO))
        for root in (REPO / "physres", REPO / "drivers", REPO / "sim")
        for py in root.rglob("*.py")
        if re.search(r"^def slew_limit\b", py.read_text(), re.M)
    ]
    assert defs == ["physres/device/spec.py"]
    from physres.tasks import base

    assert base.slew_limit is slew_limit
    assert physres.device.spec.slew_limit is slew_limit


@pytest.mark.parametrize("margin", [0.0, 1e-9, 1e-3])
def test_planned_ramps_pass_the_limit_check(margin: float) -> None:
    target = np.repeat([[0.0, 0.9], [0.9, 0.0], [0.45, 0.9]], 4, axis=0)
    ramp = slew_limit(target, L.MAX_STEP, np.zeros(2), margin=margin)
    Limits(low=0.0, high=L.MAX_DUTY, max_step=L.MAX_STEP).check(
        ramp, where="t", unit="duty", previous=np.zeros(2)
    )
    assert ramp[0, 1] == pytest.approx(L.MAX_STEP * (1 - margin))  # from rest, not a jump
    np.testing.assert_allclose(ramp[3], target[3])
    np.testing.assert_allclose(ramp[-1], target[-1])
