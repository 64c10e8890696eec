"""Driver tests that run on the bench and in every CI run.

Each fixture yields an address the real driver opens. In the default suite it
is an emulator beyond the driver's wire (the motor-board firmware's host build
on a pseudo-terminal, the Feetech servo-bus emulator, a video the simulated
tank filmed); with ``-m hardware`` it is the lab's device named by an
environment variable, and the test is skipped with that variable's name when
it is unset. The test bodies are the same, so the bench checks are never dead
code.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

#: environment variable → what to put in it
PORTS = {
    "PHYSRES_BUCKET_PORT": "the motor board's serial port or pyserial URL, e.g. /dev/ttyACM0",
    "PHYSRES_SO101_PORT": "the SO-101 servo bus adapter's serial port, e.g. /dev/ttyACM1",
    "PHYSRES_CAMERA": "the overhead camera: an OpenCV index (0), a device path or a stream URL",
}
WHERE = ["emulated", pytest.param("real", marks=pytest.mark.hardware)]


def real(var: str) -> str:
    """The lab device's address from ``var``, or a skip that says what to set."""
    value = os.environ.get(var, "").strip()
    if not value:
        pytest.skip(f"set {var} to {PORTS[var]} to run this on the real device")
    return value


@pytest.fixture(params=WHERE)
def bucket_port(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "real":
        yield real("PHYSRES_BUCKET_PORT")
        return
    from physres.wire.firmware_runner import FirmwareProcess

    with FirmwareProcess("host") as fw:
        yield fw.port


@pytest.fixture(params=WHERE)
def so101_port(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "real":
        yield real("PHYSRES_SO101_PORT")
        return
    from physres.sim.servobus import ServoBus

    with ServoBus() as bus:
        yield bus.port


@pytest.fixture(params=WHERE)
def camera_source(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> int | str:
    if request.param == "real":
        value = real("PHYSRES_CAMERA")
        return int(value) if value.isdigit() else value
    from physres.sim.bucket import Bucket

    path = Path(tmp_path_factory.mktemp("video")) / "tank.avi"
    with Bucket(video_path=str(path)) as tank:
        tank.apply({"duty": np.tile([0.5, 0.5], (50, 1))})  # 1 s of filmed waves
    return str(path)
