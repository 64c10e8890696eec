"""``drivers.bucket``: the whole rig — motor board plus overhead camera — as one Device.

Inputs are the motor board's (``duty``), limits included; streams are the
camera's (``frame``, ``t_frame``, ``features``, ``events``) and the board's
(``strobe``, ``status``, ``duty_out``), plus ``frame_input``: for every frame,
the sequence number of the duty vector in effect when it was taken. That
alignment comes from the firmware's camera-sync strobe (one edge per applied
vector, timestamped by the host when its report arrives), so it holds even
when USB latency and dropped frames make "the n-th frame" meaningless.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from physres.device import Chunk, Description, Device
from physres.drivers.bucket.camera import Camera, CameraParams
from physres.drivers.bucket.motorboard import MotorBoard, MotorBoardParams

__all__ = ["BucketRig", "BucketRigParams"]


class BucketRigParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the motor-board driver's params (port, baud rate, motor count, limits, watchdog)
    motors: MotorBoardParams = Field(default_factory=MotorBoardParams)
    #: the camera driver's params (source index/path/URL, fps, ROI, features)
    camera: CameraParams = Field(default_factory=CameraParams)


class BucketRig(Device):
    """Motor board + camera; ``frame_input`` aligns frames to inputs via strobes."""

    Params = BucketRigParams
    default_kind = "drivers.bucket"
    clock = "wall"
    params: BucketRigParams

    def __init__(self, name: str | None = None, *, mock: bool = False, **params: object) -> None:
        super().__init__(name or "bucket", mock=mock, **params)
        p = self.params
        self.motors = MotorBoard(f"{self.name}.motors", mock=mock, **p.motors.model_dump())
        self.camera = Camera(f"{self.name}.camera", mock=mock, **p.camera.model_dump())
        self._strobe_t: list[int] = []  # absolute host monotonic ns of each strobe
        self._strobe_seq: list[int] = []

    def describe(self) -> Description:
        from physres.device import StreamSpec

        cam, mot = self.camera.describe(), self.motors.describe()
        fps = cam.streams["frame"].rate_hz
        streams = [
            *cam.streams.values(),
            *mot.streams.values(),
            StreamSpec(
                name="frame_input",
                dtype="<i8",
                shape=(),
                rate_hz=fps,
                carries="continuous",
                doc="seq of the duty vector in effect at each frame (-1: none yet)",
            ),
        ]
        return self._description(
            streams=streams,
            inputs=list(mot.inputs.values()),
            meta={"motors": dict(mot.meta), "camera": dict(cam.meta)},
        )

    def _connect(self) -> None:
        self.motors.connect()
        try:
            self.camera.connect()
        except BaseException:
            self.motors.disconnect()  # never leave motors running without the camera
            raise

    def _disconnect(self) -> None:
        try:
            self.camera.disconnect()
        finally:
            self.motors.disconnect()

    def _apply(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.motors.apply(inputs)

    def _read(self) -> dict[str, Chunk]:
        mot = self.motors.read()
        cam = self.camera.read()
        strobe = mot.get("strobe")
        if strobe is not None and len(strobe.data):
            self._strobe_t.extend((strobe.data["t_host_ns"] + self.motors.host_epoch_ns).tolist())
            self._strobe_seq.extend(strobe.data["seq"].astype(np.int64).tolist())
        out = {**cam, **mot}
        t_frame = cam.get("t_frame")
        if t_frame is not None:
            out["frame_input"] = Chunk(self._align(t_frame.data), t_frame.t_dev_ns)
        return out

    def _align(self, t_frame: np.ndarray) -> np.ndarray:
        """Strobe seq in effect at each frame time (both on the host monotonic clock)."""
        if not len(t_frame):
            return np.zeros(0, np.int64)
        frames_abs = np.asarray(t_frame, np.int64) + self.camera.host_epoch_ns
        if not self._strobe_t:
            return np.full(len(frames_abs), -1, np.int64)
        t = np.asarray(self._strobe_t, np.int64)
        idx = np.searchsorted(t, frames_abs, side="right") - 1
        seq = np.asarray(self._strobe_seq, np.int64)
        out = np.where(idx >= 0, seq[np.clip(idx, 0, None)], -1)
        keep = max(0, int(idx.min()) if len(idx) else 0)  # older strobes can no longer match
        self._strobe_t, self._strobe_seq = self._strobe_t[keep:], self._strobe_seq[keep:]
        return out

    def _reset(self, seed: int | None) -> None:
        self.motors.reset(seed)
        self.camera.reset(seed)
