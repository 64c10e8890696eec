"""``sim.bucket`` behind the Device contract: streams, limits, clock, options, mock mode."""

from __future__ import annotations

import numpy as np
import pytest

from physres import registry
from physres.device.check import check_device
from physres.device.spec import slew_limit
from physres.errors import ConfigError, SafetyError
from physres.sim.bucket import Bucket, MotorParams


@pytest.mark.parametrize("kind", ["sim.bucket", "mock.bucket"])
def test_bucket_passes_the_device_conformance_checks(kind: str) -> None:
    check_device(registry.create(kind))


def test_description_matches_the_rebuild_rig() -> None:
    desc = Bucket().describe()  # no connect: describe does no I/O
    assert desc.clock == "stepped"
    duty = desc.inputs["duty"]
    assert duty.shape == (2,) and duty.rate_hz == 50.0
    assert (duty.limits.low, duty.limits.high, duty.limits.max_step) == (0.0, 1.0, 0.5)
    frame = desc.streams["frame"]
    assert frame.carries == "frame" and frame.shape == (128, 128) and frame.rate_hz == 25.0
    assert "height" not in desc.streams


def test_duty_outside_the_board_limits_is_refused_before_the_water_moves() -> None:
    with Bucket() as tank:
        with pytest.raises(SafetyError, match="above the limit 1"):
            tank.apply({"duty": [1.2, 0.0]})
        with pytest.raises(SafetyError, match="slew limit"):
            tank.apply({"duty": [[0.0, 0.0], [1.0, 0.0]]})
        assert tank.now_ns() == 0  # nothing ran
        ramp = slew_limit(np.tile([1.0, 1.0], (10, 1)), 0.5, np.zeros(2), margin=0)  # 0 → 0.5 → 1
        sent = tank.apply({"duty": ramp})
        np.testing.assert_array_equal(sent["duty"], ramp)


def test_frames_arrive_at_the_camera_rate_with_their_times() -> None:
    with Bucket(height_stream=True) as tank:
        tank.apply({"duty": np.full((49, 2), 0.5)})  # 0.98 s: 24 frames
        out = tank.read()
        assert out["frame"].data.shape == (24, 128, 128)
        assert out["frame"].t_dev_ns == 40_000_000  # first frame at one camera period
        assert out["height"].data.shape == (24, 128, 128)
        tank.apply({"duty": np.full((1, 2), 0.5)})  # completes frame 25
        out = tank.read()
        assert len(out["frame"].data) == 1 and out["frame"].t_dev_ns == 1_000_000_000
        assert tank.now_ns() == 1_000_000_000
        assert len(tank.read()["frame"].data) == 0


def test_motor_count_and_frame_size_are_configurable() -> None:
    motors = [MotorParams(x=x, y=0.5, frequency_hz=4.0 + x) for x in (0.2, 0.4, 0.6, 0.8)]
    with Bucket(motors=motors, frame_shape=(32, 32)) as tank:
        assert tank.describe().inputs["duty"].shape == (4,)
        tank.apply({"duty": np.full((25, 4), 0.5)})
        frames = tank.read()["frame"].data
        assert frames.shape == (12, 32, 32) and frames.dtype == np.uint8
        assert tank.model_summary()["substeps_per_frame"] >= 1


def test_bad_configs_name_the_field() -> None:
    with pytest.raises(ConfigError, match="grid"):
        Bucket(tank_m=(0.3, 0.3), grid=(128, 64))
    with pytest.raises(ConfigError, match="motors"):
        Bucket(motors=[])
