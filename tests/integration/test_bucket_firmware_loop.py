"""Firmware in the loop: the wave tank driven by the real motor-controller firmware.

With ``motor_driver: simavr`` (config shorthand ``motors: simavr``) the tank's
duty input goes through the MotorBoard driver to the ATmega328P firmware in
simavr, and the water moves with the PWM duty the emulated MCU outputs; the
``host`` build of the same firmware logic stands in where simavr is missing
(and the test says so). What a newcomer should see: the command reaches the
water, the firmware's slew limit shapes the drive, the tank still refuses
what the board would refuse, and the whole Device contract holds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from physres import cli
from physres.device import check_device
from physres.drivers.bucket.firmware import simavr_missing
from physres.errors import SafetyError
from physres.sim.bucket import Bucket, BucketParams
from physres.sim.bucket.firmware_loop import FIRMWARE_MAX_DUTY

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bucket_xor_firmware.yaml"
#: a small tank keeps the physics cheap: 64 x 64 cells give 10 ms steps, two per
#: 20 ms motor update, so a step sees the firmware's output 0 and 10 ms into a row
SMALL = {"grid": (64, 64), "frame_shape": (16, 16), "seed": 3}
SLEW_PER_MS = 2048 / 65535  # the firmware's SLEW_PER_TICK at its 1 ms tick


def _target(request: pytest.FixtureRequest) -> str:
    if request.param == "simavr" and (why := simavr_missing()):
        pytest.skip(f"simavr variant skipped ({why}); the host build of the firmware runs instead")
    return str(request.param)


@pytest.fixture(params=["simavr", "host"])
def target(request: pytest.FixtureRequest) -> str:
    return _target(request)


@pytest.fixture
def tank(target: str) -> Iterator[Bucket]:
    with Bucket("tank", motor_driver=target, **SMALL) as dev:
        yield dev


def test_config_line_selects_the_motor_path() -> None:
    assert BucketParams().motor_driver == "direct"
    assert BucketParams(motors="simavr").motor_driver == "simavr"  # the config line
    assert BucketParams(motors="host").n_motors == 2  # the default servos stay
    direct = Bucket("d", **SMALL).describe()
    fw = Bucket("f", motor_driver="host", **SMALL).describe()  # no I/O: nothing starts
    assert set(fw.streams) == set(direct.streams) | {"duty_out"}
    assert direct.inputs["duty"].limits.high == 1.0
    assert fw.inputs["duty"].limits.high == FIRMWARE_MAX_DUTY
    assert fw.clock == direct.clock == "stepped"


def test_duty_step_reaches_the_water_through_the_firmware_slew_limit(tank: Bucket) -> None:
    rows = 10  # 0.2 s of motor updates
    tank.reset(seed=3)
    tank.apply({"duty": np.zeros((rows, 2))})
    still = tank.read()
    tank.reset(seed=3)
    step = np.zeros((rows, 2))
    step[1:] = 0.5  # one jump of 0.5, the largest the board accepts
    tank.apply({"duty": step})
    driven = tank.read()

    out = driven["duty_out"].data
    assert out.shape == (rows * 2, 2)  # two physics steps per motor update
    assert (still["duty_out"].data == 0).all() and (out[:2] == 0).all()
    # the pins ramp at the firmware's slew rate: 10 ticks of 1/32 after 10 ms ...
    np.testing.assert_allclose(out[3], 10 * SLEW_PER_MS, atol=1 / 256)
    assert np.diff(out, axis=0).max() <= 10 * SLEW_PER_MS + 1 / 256
    # ... and settle on the command (simavr: the 8-bit compare register's (OCR+1)/256).
    # The host build's clock is the wall clock: on an overloaded machine it catches up
    # missed ticks in a burst and may apply the next row a tick early (one step short)
    np.testing.assert_allclose(out[4:], 0.5, atol=SLEW_PER_MS + 1 / 256)
    np.testing.assert_allclose(out[6:], 0.5, atol=1 / 256)
    # the water felt it: the camera sees waves where undriven water shows only noise
    diff = np.abs(driven["frame"].data.astype(float) - still["frame"].data.astype(float))
    assert driven["frame"].data.shape == (5, 16, 16)  # 25 fps over 0.2 s
    spread = diff.mean(axis=(1, 2))  # same seed, same camera noise: differences are waves
    assert spread[0] < 0.1 and spread[-1] > 0.5 and diff[-1].max() >= 10, spread
    assert (np.diff(spread) > 0).all(), f"the waves should grow after the step: {spread}"


def test_duty_above_the_board_limit_is_refused_before_the_firmware(tank: Bucket) -> None:
    fw = tank._fw.fw if tank._fw is not None else None
    assert fw is not None
    tank.apply({"duty": [[0.2, 0.2]]})
    strobes, edges = len(fw.strobes), len(fw.pwm)
    with pytest.raises(SafetyError, match=r"0\.95 duty is above the limit 0\.9"):
        tank.apply({"duty": [[0.2, 0.95]]})
    with pytest.raises(SafetyError, match=r"slew limit 0\.5"):
        tank.apply({"duty": [[0.2, 0.2], [0.8, 0.2]]})
    assert (len(fw.strobes), len(fw.pwm)) == (strobes, edges)  # no vector reached the MCU
    np.testing.assert_allclose(fw.duty_now(), 0.2, atol=1 / 256)


@pytest.mark.parametrize("driver", ["simavr", "host"])
def test_firmware_mode_passes_the_device_contract(driver: str) -> None:
    if driver == "simavr" and (why := simavr_missing()):
        pytest.skip(f"simavr variant skipped ({why}); the host build runs in the next case")
    report = check_device(Bucket("tank", motor_driver=driver, **SMALL))
    assert report.ok and "reset(seed) is deterministic" in report.passed


def test_xor_example_runs_with_the_firmware_in_the_loop(tmp_path: Path) -> None:
    args = [
        "run",
        str(EXAMPLE),
        "--out",
        str(tmp_path),
        "--quiet",
        "--bus",
        f"bucket-fw-{os.getpid()}",
    ]
    if why := simavr_missing():
        pytest.skip(f"the example names motors: simavr ({why})")
    assert cli.main(args) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "ok"
    assert 0.0 <= metrics["metrics"]["accuracy"] <= 1.0
