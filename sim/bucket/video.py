"""Write simulated camera frames to a video file that OpenCV (and so the real Camera) reads.

Motion-JPEG in an AVI container is chosen because OpenCV's own writer makes it
without any codec library and every OpenCV build reads it back; it is lossy,
so a frame read back differs from the rendered one by a few grey levels.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from physres.errors import ConfigError

__all__ = ["VideoSink", "write_video"]

_FOURCC = {".avi": "MJPG", ".mkv": "MJPG", ".mp4": "mp4v"}


class VideoSink:
    """An open video file taking grey ``(H, W)`` uint8 frames one chunk at a time."""

    def __init__(self, path: str | Path, fps: float, shape: tuple[int, int]) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in _FOURCC:
            raise ConfigError(
                f"video_path {str(self.path)!r}: unsupported extension {suffix!r}; "
                f"use one of {sorted(_FOURCC)}"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.shape = (int(shape[0]), int(shape[1]))
        fourcc = cv2.VideoWriter_fourcc(*_FOURCC[suffix])
        # isColor=True with grey replicated: some readers mis-decode single-plane MJPG
        self._writer = cv2.VideoWriter(str(self.path), fourcc, float(fps),
                                       (self.shape[1], self.shape[0]), True)
        if not self._writer.isOpened():
            raise ConfigError(f"OpenCV could not open {str(self.path)!r} for writing")
        self.frames_written = 0

    def write(self, frames: np.ndarray) -> None:
        """Append ``(T, H, W)`` uint8 frames."""
        if frames.ndim != 3 or frames.shape[1:] != self.shape:
            raise ValueError(f"{self.path}: frames must be (T, {self.shape[0]}, {self.shape[1]}), "
                             f"got {frames.shape}")
        for f in frames:
            self._writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
        self.frames_written += len(frames)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_video(frames: np.ndarray, path: str | Path, fps: float) -> Path:
    """Write ``(T, H, W)`` uint8 frames to ``path`` in one go; returns the path."""
    with VideoSink(path, fps, frames.shape[1:]) as sink:
        sink.write(frames)
    return Path(path)
