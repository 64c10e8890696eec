"""The real Camera driver reads what the simulated tank filmed, through OpenCV.

``sim.bucket`` writes its frames to an MJPG video; ``Camera`` opens that file
exactly as it would open ``/dev/video0`` and must hand back the same frames
(up to JPEG loss), the file's timestamps, the end of the source, and features.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from physres import registry
from physres.device.check import check_device
from physres.drivers.bucket.camera import Camera, CameraEvent, FramePreprocessor
from physres.errors import DeviceError
from physres.sim.bucket import Bucket


def _wait_until(pred, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def filmed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    path = tmp_path_factory.mktemp("video") / "tank.avi"
    with Bucket(video_path=str(path)) as tank:
        tank.apply({"duty": np.tile([0.5, 0.5], (100, 1))})  # 2 s: 50 frames
        frames = tank.read()["frame"].data
    return path, frames


def test_camera_reads_back_the_simulated_video(filmed: tuple[Path, np.ndarray]) -> None:
    path, rendered = filmed
    with Camera(source=str(path), frame_shape=(128, 128), features=["grey", "diff"]) as cam:
        _wait_until(lambda: cam.ended)
        out = cam.read()
        status = cam.status()
    frames = out["frame"].data
    assert frames.shape == rendered.shape
    err = np.abs(frames.astype(int) - rendered.astype(int))
    assert err.mean() < 5 and np.percentile(err, 99) < 20  # MJPG is lossy, not wrong
    # file timestamps: one camera period (40 ms at 25 fps) apart, from 0
    np.testing.assert_array_equal(out["t_frame"].data, np.arange(50) * 40_000_000)
    assert list(out["events"].data["code"]) == [CameraEvent.END]
    assert out["features"].data.shape == (50, 2 * 32 * 32)
    assert status["frames"] == 50 and status["dropped"] == 0 and status["fps"] == 25.0
    assert status["ended"] and status["end_reason"] == "source ended"
    assert status["exposure_fixed"] is None  # not asked for


def test_fixed_exposure_on_a_file_is_tolerated_and_reported(
    filmed: tuple[Path, np.ndarray],
) -> None:
    path, _ = filmed
    with Camera(source=str(path), frame_shape=(64, 64), exposure=-6, features=[]) as cam:
        _wait_until(lambda: cam.ended)
        out = cam.read()
        assert cam.status()["exposure_fixed"] is False  # files have no exposure control
    assert out["frame"].data.shape == (50, 64, 64)  # resized to the declared shape
    assert "features" not in out


def test_realtime_playback_paces_a_file_like_a_live_camera(filmed: tuple[Path, np.ndarray]) -> None:
    path, _ = filmed
    with Camera(source=str(path), frame_shape=(128, 128), realtime=True, features=[]) as cam:
        time.sleep(0.5)
        n = len(cam.read()["frame"].data)
    assert 8 <= n <= 16  # about 0.5 s × 25 fps, not all 50


def test_a_missing_source_fails_connect_with_its_name(tmp_path: Path) -> None:
    cam = Camera(source=str(tmp_path / "nope.avi"))
    with pytest.raises(DeviceError, match="nope.avi"):
        cam.connect()
    assert not cam.connected


def test_mock_camera_needs_no_camera() -> None:
    check_device(registry.create("mock.bucket_camera"))


def test_preprocessor_features_follow_the_paper() -> None:
    # a bright blob (a wave crest's caustic) moving right 3 px a frame:
    # difference, edges and optical flow all see it
    x = np.arange(64)
    frames = np.stack(
        [
            200 * np.exp(-((x[None, :] - 25 - 3 * i) ** 2 + (x[:, None] - 32) ** 2) / (2 * 6.0**2))
            for i in range(3)
        ]
    ).astype(np.uint8)
    pre = FramePreprocessor((8, 8), ["grey", "diff", "sobel", "flow"], flow_width=64)
    feats = pre.transform(frames)
    assert feats.shape == (3, 8 * 8 * 5)
    grey, diff, sobel, flow = np.split(feats[2], [64, 128, 192])
    assert grey.max() > 0.3 and diff.max() > 0.1 and sobel.max() > 0.05
    fx = flow[:64]
    assert fx.max() > 1.0 and fx.min() > -0.1  # pixels per frame, to the right
    assert pre.transform(frames[:1])[0, 64:128].max() > 0.1  # continues from frame 2
    pre.reset()  # a new episode: no previous frame, so no difference
    np.testing.assert_array_equal(pre.transform(frames[:1])[0, 64:128], 0)
