"""Overhead camera of the water bucket: OpenCV capture, timestamps, drops, stalls, features.

``Camera`` (kind ``drivers.bucket_camera``) opens anything ``cv2.VideoCapture``
opens: a device index (``0``), a device path (``/dev/video0``), a video file (a
rendered ``sim.bucket`` run) or a stream URL; the bench and CI differ by that one
string. A capture thread reads frames into a bounded queue; a watchdog thread
reports a stall (no frame for ``stall_timeout_s``) while the capture thread may
still be blocked inside the source. Timestamps come from the file
(``CAP_PROP_POS_MSEC``) for files and from the host's monotonic clock for live
sources; a gap longer than 1.5 frame periods is a dropped frame. Exposure is
fixed where the backend supports it and the status says whether it did.

:class:`FramePreprocessor` turns frames into readout features as the 2003
paper did (grey, downsampled grid, frame difference, Sobel edges, optical
flow) and is used on simulated frames too, so sim and rig share one pipeline.
"""

from __future__ import annotations

import collections
import os
import stat
import threading
import time
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from physres.device import Chunk, Description, Device, StreamSpec, command
from physres.errors import DeviceError, DeviceTimeout, RuleError
from physres.readout.features import FeatureKind, FramePreprocessor, feature_count

__all__ = [
    "EVENT_DTYPE",
    "Camera",
    "CameraEvent",
    "CameraParams",
    "FramePreprocessor",
    "feature_count",
]

_FFMPEG_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_ENV_LOCK = threading.Lock()


class CameraEvent:
    """Codes of the ``events`` stream (``code`` field); ``count`` says how many."""

    DROPPED = 1  # timestamp gap: ``count`` frames missing
    STALL = 2  # no frame for stall_timeout_s
    RESUMED = 3  # frames again after a stall
    END = 4  # the source ended (file finished, pipe closed, read failed for good)
    OVERFLOW = 5  # the host did not read fast enough; ``count`` oldest frames discarded


#: one camera event: when (device ns), what (CameraEvent code), how many
EVENT_DTYPE = np.dtype([("t_ns", "<i8"), ("code", "<i2"), ("count", "<i4")])


class CameraParams(BaseModel):
    """Where the camera is and what to make of its frames."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: device index, device path, video file or stream URL (anything VideoCapture opens)
    source: int | str = 0
    #: nominal frame rate; None: ask the source (files know theirs), else 25
    fps: float | None = Field(None, gt=0)
    #: declared frame size (rows, cols); frames of another size are resized to it
    frame_shape: tuple[int, int] = (480, 640)
    #: capture size to request from a live camera (cols, rows); None leaves it
    capture_size: tuple[int, int] | None = None
    #: fixed exposure in the backend's units; None leaves auto exposure alone
    exposure: float | None = None
    #: crop (top, bottom, left, right), in pixels of the published frame, before features
    roi: tuple[int, int, int, int] | None = None
    #: feature kinds published on ``features`` ([] publishes frames only)
    features: list[FeatureKind] = Field(default_factory=lambda: ["grey"])
    feature_size: tuple[int, int] = (32, 32)
    #: no frame for this long is a stall, reported on ``events`` within ``poll_s``
    stall_timeout_s: float = Field(1.0, gt=0, le=60)
    poll_s: float = Field(0.05, gt=0, le=1)
    #: "report": an event and status; "raise": read() also raises DeviceTimeout
    on_stall: Literal["report", "raise"] = "report"
    open_timeout_s: float = Field(5.0, gt=0)
    #: play a file at its frame rate as a live camera would (False: as fast as read)
    realtime: bool = False
    #: frames held between reads; live sources drop the oldest beyond it
    queue_frames: int = Field(512, ge=1)
    #: OpenCV backend (cv2.CAP_*); 0 lets OpenCV choose
    api_preference: int = 0
    #: FFMPEG demuxer options for this source ("key;value|key;value"), e.g.
    #: "probesize;32|analyzeduration;0" so a pipe opens after one frame, not 5 MB
    ffmpeg_options: str | None = None

    @model_validator(mode="after")
    def _sizes_fit(self) -> CameraParams:
        """Sizes are positive and the ROI lies inside the frame, or features come out empty."""
        for key in ("frame_shape", "feature_size", "capture_size"):
            size = getattr(self, key)
            if size is not None and min(size) < 1:
                raise RuleError(key, f"{key} {size} must be positive")
        if self.roi is not None:
            top, bottom, left, right = self.roi
            rows, cols = self.frame_shape
            if not (0 <= top < bottom <= rows and 0 <= left < right <= cols):
                raise RuleError(
                    "roi",
                    f"roi (top, bottom, left, right) = {self.roi} must satisfy "
                    f"0 <= top < bottom <= {rows} and 0 <= left < right <= {cols} "
                    f"(frame_shape {self.frame_shape})",
                )
        return self


def _source_kind(source: int | str) -> Literal["file", "live"]:
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return "live"
    if "://" in source:
        return "live"
    try:
        mode = os.stat(source).st_mode
    except OSError:
        return "file"  # OpenCV will say it cannot open it
    return "file" if stat.S_ISREG(mode) else "live"


class Camera(Device):
    """OpenCV camera behind the Device contract: frames, timestamps, features, events."""

    Params = CameraParams
    default_kind = "drivers.bucket_camera"
    clock = "wall"
    params: CameraParams

    def __init__(self, name: str | None = None, *, mock: bool = False, **params: Any) -> None:
        super().__init__(name or "camera", mock=mock, **params)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._cap: Any = None
        self._reset_buffers()

    def _reset_buffers(self) -> None:
        self._queue: collections.deque[tuple[int, np.ndarray]] = collections.deque()
        self._events: list[tuple[int, int, int]] = []
        self._space = threading.Condition(self._lock)
        self._last_frame_host: int | None = None
        self._last_ts: int | None = None
        self._stalled = False
        self._ended = False
        self._end_reason = ""
        self._counts = {"frames": 0, "dropped": 0, "stalls": 0, "overflow": 0}
        self._exposure_fixed: bool | None = None
        self._fps_used = self.params.fps or 25.0
        self._open_error: BaseException | None = None
        self._pre = (
            FramePreprocessor(self.params.feature_size, self.params.features, self.params.roi)
            if self.params.features
            else None
        )

    # ------------------------------------------------------------------ contract
    def describe(self) -> Description:
        p = self.params
        rate = p.fps
        streams = [
            StreamSpec(
                name="frame",
                dtype="|u1",
                shape=p.frame_shape,
                units="DN",
                rate_hz=rate,
                carries="frame",
                doc="grey camera frame",
            ),
            StreamSpec(
                name="t_frame",
                dtype="<i8",
                shape=(),
                units="ns",
                rate_hz=rate,
                doc="frame timestamps: file time for files, host monotonic for live",
            ),
            StreamSpec(
                name="events",
                dtype=EVENT_DTYPE.descr,
                shape=(),
                carries="events",
                doc="dropped frames, stalls, resumes, end of source (CameraEvent codes)",
            ),
        ]
        if self._pre is not None:
            streams.append(
                StreamSpec(
                    name="features",
                    dtype="<f4",
                    shape=(self._pre.n_features,),
                    rate_hz=rate,
                    doc=f"{'+'.join(p.features)} on a {p.feature_size} grid (INTER_AREA)",
                )
            )
        return self._description(
            streams=streams,
            inputs=[],
            meta={"source": str(p.source), "source_kind": _source_kind(p.source)},
        )

    def _connect(self) -> None:
        self._reset_buffers()
        self._stop.clear()
        opened = threading.Event()
        cap_thread = threading.Thread(
            target=self._capture, args=(opened,), daemon=True, name=f"camera-{self.name}"
        )
        cap_thread.start()
        # opening a pipe blocks until its writer appears: wait here, not forever
        if not opened.wait(self.params.open_timeout_s):
            self._stop.set()
            raise DeviceTimeout(
                f"camera {self.name!r}: source {self.params.source!r} did not open within "
                f"{self.params.open_timeout_s} s"
            )
        if self._open_error is not None:
            self._stop.set()
            cap_thread.join(1.0)
            raise DeviceError(f"camera {self.name!r}: {self._open_error}") from self._open_error
        watch = threading.Thread(target=self._watchdog, daemon=True, name=f"camera-wd-{self.name}")
        watch.start()
        self._threads = [cap_thread, watch]

    def _disconnect(self) -> None:
        self._stop.set()
        with self._lock:
            self._space.notify_all()
        for t in self._threads:
            t.join(timeout=2.0)  # a thread stuck in a blocking read is a daemon; let it be
        self._threads = []

    def _apply(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {}  # a camera takes no inputs (describe declares none, so none arrive)

    def _read(self) -> dict[str, Chunk]:
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
            events = self._events
            self._events = []
            stalled = self._stalled
            self._space.notify_all()
        p = self.params
        h, w = p.frame_shape
        frames = np.empty((len(items), h, w), np.uint8)
        stamps = np.empty(len(items), np.int64)
        for i, (ts, img) in enumerate(items):
            stamps[i] = ts
            frames[i] = (
                img
                if img.shape == (h, w)
                else cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
            )
        t0 = int(stamps[0]) if len(stamps) else self.now_ns()
        ev = np.array(events, dtype=EVENT_DTYPE) if events else np.zeros(0, EVENT_DTYPE)
        out = {
            "frame": Chunk(frames, t0),
            "t_frame": Chunk(stamps, t0),
            "events": Chunk(ev, int(ev["t_ns"][0]) if len(ev) else t0),
        }
        if self._pre is not None:
            out["features"] = Chunk(self._pre.transform(frames), t0)
        if stalled and p.on_stall == "raise":
            raise DeviceTimeout(
                f"camera {self.name!r}: no frame from {p.source!r} for more than "
                f"{p.stall_timeout_s} s (stalled)"
            )
        return out

    def _reset(self, seed: int | None) -> None:
        if self._pre is not None:
            self._pre.reset()

    # ------------------------------------------------------------------ threads
    def _open(self) -> Any:
        p = self.params
        src: int | str = p.source
        if isinstance(src, str) and src.isdigit():
            src = int(src)
        with _ENV_LOCK:  # OpenCV reads its FFMPEG options from the environment at open
            old = os.environ.get(_FFMPEG_ENV)
            if p.ffmpeg_options is not None:
                os.environ[_FFMPEG_ENV] = p.ffmpeg_options
            try:
                cap = cv2.VideoCapture(src, p.api_preference)
            finally:
                if p.ffmpeg_options is not None:
                    if old is None:
                        os.environ.pop(_FFMPEG_ENV, None)
                    else:
                        os.environ[_FFMPEG_ENV] = old
        if not cap.isOpened():
            raise DeviceError(f"OpenCV cannot open source {p.source!r}")
        if p.capture_size is not None:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, p.capture_size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, p.capture_size[1])
        if p.exposure is not None:
            # V4L2 takes 0.25 (=manual) on its AUTO_EXPOSURE; other backends 0 or 1
            manual = any(cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, v) for v in (0.25, 1.0, 0.0))
            self._exposure_fixed = bool(manual and cap.set(cv2.CAP_PROP_EXPOSURE, p.exposure))
        src_fps = cap.get(cv2.CAP_PROP_FPS)
        if p.fps is None and src_fps and 0 < src_fps < 1000:
            self._fps_used = float(src_fps)
        return cap

    def _capture(self, opened: threading.Event) -> None:
        try:
            cap = self._open()
        except BaseException as e:  # reported by connect()
            self._open_error = e
            opened.set()
            return
        self._t0_ns = time.monotonic_ns()
        with self._lock:
            self._last_frame_host = time.monotonic_ns()
        opened.set()
        is_file = _source_kind(self.params.source) == "file"
        period_ns = 1e9 / self._fps_used
        play0: int | None = None
        try:
            while not self._stop.is_set():
                ok, img = cap.read()
                host = time.monotonic_ns()
                if not ok:
                    self._finish("source ended" if is_file else "read failed (source gone)")
                    return
                if img.ndim == 3:
                    img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
                ts = round(cap.get(cv2.CAP_PROP_POS_MSEC) * 1e6) if is_file else host - self._t0_ns
                if is_file and self.params.realtime:
                    play0 = host - ts if play0 is None else play0
                    wait = (play0 + ts - time.monotonic_ns()) / 1e9
                    if wait > 0 and self._stop.wait(wait):
                        return
                self._push(ts, img, period_ns, block=is_file and not self.params.realtime)
        finally:
            cap.release()

    def _push(self, ts: int, img: np.ndarray, period_ns: float, *, block: bool) -> None:
        with self._lock:
            if self._last_ts is not None and ts - self._last_ts > 1.5 * period_ns:
                missing = round((ts - self._last_ts) / period_ns) - 1
                self._counts["dropped"] += missing
                self._events.append((ts, CameraEvent.DROPPED, missing))
            self._last_ts = ts
            self._last_frame_host = time.monotonic_ns()
            if self._stalled:
                self._stalled = False
                self._events.append((self.now_ns(), CameraEvent.RESUMED, 1))
            while len(self._queue) >= self.params.queue_frames:
                if block and not self._stop.is_set():
                    self._space.wait(0.1)
                    continue
                self._queue.popleft()
                self._counts["overflow"] += 1
                self._events.append((ts, CameraEvent.OVERFLOW, 1))
                break
            self._queue.append((ts, img))
            self._counts["frames"] += 1

    def _finish(self, reason: str) -> None:
        with self._lock:
            self._ended = True
            self._end_reason = reason
            self._events.append((self.now_ns(), CameraEvent.END, 0))

    def _watchdog(self) -> None:
        p = self.params
        limit = int(p.stall_timeout_s * 1e9)
        while not self._stop.wait(p.poll_s):
            with self._lock:
                if self._ended or self._stalled or self._last_frame_host is None:
                    continue
                if time.monotonic_ns() - self._last_frame_host > limit:
                    self._stalled = True
                    self._counts["stalls"] += 1
                    self._events.append((self.now_ns(), CameraEvent.STALL, 1))

    # ------------------------------------------------------------------ status
    @command
    def status(self) -> dict[str, Any]:
        """Connection, frame counts, drops, stalls, end of source and exposure mode."""
        base = super().status()
        with self._lock:
            since = (
                None
                if self._last_frame_host is None
                else (time.monotonic_ns() - self._last_frame_host) / 1e9
            )
            base.update(
                {
                    "source": str(self.params.source),
                    "fps": self._fps_used,
                    "stalled": self._stalled,
                    "ended": self._ended,
                    "end_reason": self._end_reason,
                    "seconds_since_frame": since,
                    "exposure_fixed": self._exposure_fixed,
                    **self._counts,
                }
            )
        return base

    @property
    def stalled(self) -> bool:
        with self._lock:
            return self._stalled

    @property
    def ended(self) -> bool:
        with self._lock:
            return self._ended
