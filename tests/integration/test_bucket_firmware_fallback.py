"""The firmware example on a machine without simavr: the host build, with a warning.

``examples/bucket_xor_firmware.yaml`` writes ``motors: simavr``. Where avr-gcc
or simavr is missing it used to fail, naming a key (``motor_driver``) the
example does not use. Now the tank falls back to the host build of the same
firmware and warns, quoting the example's own key; where even the host build
cannot be made, the error quotes that key too. simavr is made unavailable by
a PATH that holds every tool of this machine except the AVR ones.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest

from physres.config import load_config
from physres.drivers.bucket.firmware import simavr_missing
from physres.errors import ConfigError
from physres.sim.bucket import Bucket
from physres.wire.firmware_runner import FirmwareFallbackWarning

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bucket_xor_firmware.yaml"
SMALL = {"grid": (64, 64), "frame_shape": (16, 16), "seed": 3}


def _path_without_avr(tmp_path: Path) -> str:
    """A PATH folder linking every tool on PATH except avr-* and simavr*."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if name.startswith(("avr-", "simavr")) or (bin_dir / name).exists():
                continue
            (bin_dir / name).symlink_to(os.path.join(folder, name))
    return str(bin_dir)


@pytest.fixture
def no_avr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHYSRES_FIRMWARE_TARGET", raising=False)
    monkeypatch.setenv("PATH", _path_without_avr(tmp_path))
    assert simavr_missing() is not None and "avr-gcc" in str(simavr_missing())


@pytest.mark.usefixtures("no_avr")
def test_example_falls_back_to_the_host_build_and_says_so() -> None:
    params = dict(load_config(EXAMPLE).devices["bucket"].params)
    assert params["motors"] == "simavr"  # what the newcomer's example writes
    params.update(SMALL)  # the example's tank, smaller: the physics is not on trial here
    tank = Bucket("bucket", **params)
    with pytest.warns(
        FirmwareFallbackWarning,
        match=r"params\.motors 'simavr' cannot run here "
        r"\(missing avr-gcc.*host build",
    ) as rec:
        tank.connect()
    try:
        assert not any("motor_driver" in str(w.message) for w in rec)
        tank.apply({"duty": np.full((5, 2), 0.4)})  # the loop closes through the host build
        duty_out = tank.read()["duty_out"].data
        assert duty_out.shape[1] == 2 and duty_out[-1] == pytest.approx(0.4, abs=1e-4)
    finally:
        tank.disconnect()


@pytest.mark.parametrize(
    ("key", "target"), [("motors", "simavr"), ("motor_driver", "simavr"), ("motor_driver", "host")]
)
def test_error_quotes_the_key_the_config_wrote(
    key: str, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHYSRES_FIRMWARE_TARGET", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no make, no compiler: nothing can be built
    tank = Bucket("bucket", **{key: target}, **SMALL)
    warns = pytest.warns(FirmwareFallbackWarning) if target == "simavr" else nullcontext()
    with warns, pytest.raises(ConfigError) as err:
        tank.connect()
    msg = str(err.value)
    assert f"params.{key} {target!r} needs the host build" in msg and "make" in msg
    assert "\n" not in msg
    other = "motor_driver" if key == "motors" else "motors:"
    assert other not in msg
    assert not tank.connected
