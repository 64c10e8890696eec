"""The overhead camera through the real ``Camera`` driver (OpenCV ``VideoCapture``)."""

from __future__ import annotations

import time

import numpy as np

from physres.drivers.bucket.camera import Camera


def test_frames_arrive_with_the_declared_shape_and_rising_timestamps(
    camera_source: int | str,
) -> None:
    with Camera(source=camera_source, frame_shape=(64, 64), features=["grey"]) as cam:
        end = time.monotonic() + 5.0
        frames, stamps = [], []
        while sum(len(f) for f in frames) < 10 and time.monotonic() < end:
            out = cam.read()
            frames.append(out["frame"].data)
            stamps.append(out["t_frame"].data)
            time.sleep(0.05)
        declared = cam.describe().streams["frame"].shape
    got = np.concatenate(frames)
    t = np.concatenate(stamps)
    assert len(got) >= 10, "fewer than 10 frames in 5 s"
    assert got.shape[1:] == tuple(declared) and got.dtype == np.uint8
    assert (np.diff(t) > 0).all()
    assert got.std() > 0  # an image, not a blank buffer
