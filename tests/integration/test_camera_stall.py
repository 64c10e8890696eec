"""A live camera that stops sending: stalls and dropped frames are reported, not hidden.

The "camera" is a named pipe carrying a Motion-JPEG stream, written by a thread
at 25 fps; OpenCV reads it as it would a network stream (host timestamps). The
writer then pauses (a dropped-frame gap), stops (a stall: OpenCV's read blocks
inside FFMPEG), resumes, and finally closes the pipe (end of source).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from physres.drivers.bucket.camera import Camera, CameraEvent
from physres.errors import DeviceTimeout

# open a pipe after one frame instead of after FFMPEG's 5 MB probe
PIPE_OPTIONS = "probesize;32|analyzeduration;0|fflags;nobuffer"


class PipeCamera:
    """Writes JPEG frames into a fifo on a schedule of (n_frames, pause_after_s) bursts."""

    def __init__(self, path: Path, schedule: list[tuple[int, float]]) -> None:
        self.path = path
        os.mkfifo(path)
        self.schedule = schedule
        self.sent_at: list[float] = []  # host monotonic time of each frame written
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # blocks until the camera opens the pipe
        rng = np.random.default_rng(0)
        try:
            for n, pause in self.schedule:
                for _ in range(n):
                    img = (rng.random((64, 64)) * 255).astype(np.uint8)
                    os.write(fd, cv2.imencode(".jpg", img)[1].tobytes())
                    self.sent_at.append(time.monotonic())
                    if self._stop.wait(0.04):
                        return
                if self._stop.wait(pause):
                    return
        except BrokenPipeError:  # the camera closed its end: the scripted feed is over
            return
        finally:
            os.close(fd)
            self.done.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def pipe_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


def _collect(cam: Camera, seconds: float) -> tuple[list[tuple[float, np.ndarray]], list]:
    """Read for ``seconds``; return (host time of read, events) and all t_frame stamps."""
    events: list[tuple[float, np.ndarray]] = []
    stamps: list[np.ndarray] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out = cam.read()
        stamps.append(out["t_frame"].data)
        if len(out["events"].data):
            events.append((time.monotonic(), out["events"].data))
        time.sleep(0.05)
    return events, stamps


def test_stall_is_reported_within_a_second_and_recovery_too(pipe_dir: Path) -> None:
    # 1 s of frames, a 2.5 s silence, 1 s of frames, then the pipe closes
    writer = PipeCamera(pipe_dir / "cam.mjpg", [(25, 2.5), (25, 0.0)])
    try:
        cam = Camera(
            source=str(pipe_dir / "cam.mjpg"),
            frame_shape=(64, 64),
            fps=25,
            features=[],
            ffmpeg_options=PIPE_OPTIONS,
            stall_timeout_s=1.0,
        )
        with cam:
            events, stamps = _collect(cam, 6.0)
            status = cam.status()
    finally:
        writer.close()
    flat = np.concatenate([e for _, e in events])
    codes = list(flat["code"])
    assert codes.count(CameraEvent.STALL) == 1, codes
    assert CameraEvent.RESUMED in codes and codes[-1] == CameraEvent.END
    assert codes.index(CameraEvent.STALL) < codes.index(CameraEvent.RESUMED)
    t_frames = np.concatenate(stamps)
    stall_t = int(flat["t_ns"][codes.index(CameraEvent.STALL)])
    last_before = int(t_frames[t_frames < stall_t].max())
    silence = (stall_t - last_before) / 1e9
    assert 1.0 <= silence <= 1.3  # flagged once no frame came for 1 s, within one poll
    # and the host saw it while the pipe was still silent (not when frames came back)
    seen_at = next(t for t, e in events if CameraEvent.STALL in e["code"])
    resumed_at = writer.sent_at[25]
    assert seen_at < resumed_at
    assert status["stalls"] == 1 and status["ended"]


def test_a_pause_in_the_stream_counts_dropped_frames(pipe_dir: Path) -> None:
    # 20 frames, then 0.3 s without frames (about 7 periods), then 20 more
    writer = PipeCamera(pipe_dir / "cam.mjpg", [(20, 0.3), (20, 0.0)])
    try:
        with Camera(
            source=str(pipe_dir / "cam.mjpg"),
            frame_shape=(64, 64),
            fps=25,
            features=[],
            ffmpeg_options=PIPE_OPTIONS,
        ) as cam:
            events, _ = _collect(cam, 2.5)
            status = cam.status()
    finally:
        writer.close()
    flat = np.concatenate([e for _, e in events])
    dropped = flat[flat["code"] == CameraEvent.DROPPED]
    assert len(dropped) >= 1
    assert 4 <= int(dropped["count"].max()) <= 10  # ≈ 0.3 s / 40 ms − 1, with scheduling jitter
    assert status["dropped"] >= 4 and status["stalls"] == 0


def test_on_stall_raise_makes_read_fail_loudly(pipe_dir: Path) -> None:
    writer = PipeCamera(pipe_dir / "cam.mjpg", [(10, 3.0)])
    try:
        with Camera(
            source=str(pipe_dir / "cam.mjpg"),
            frame_shape=(64, 64),
            fps=25,
            features=[],
            ffmpeg_options=PIPE_OPTIONS,
            on_stall="raise",
        ) as cam:
            t0 = time.monotonic()
            with pytest.raises(DeviceTimeout, match="no frame .* for more than 1.0 s"):
                while time.monotonic() - t0 < 3.0:
                    cam.read()
                    time.sleep(0.05)
            assert time.monotonic() - t0 < 2.5
    finally:
        writer.close()
