"""``sim.bucket``: the simulated wave tank behind the one Device contract.

Input ``duty`` (n_motors,) at the motor board's update rate, with the board's
limits (duty in [0, 1], a slew limit per update); stream ``frame`` (H, W) uint8
at the camera's frame rate, and optionally ``height`` (the surface in metres,
for debugging and for the linear-readout control). The clock is stepped: time
advances only by the duty samples applied, so a run is as fast as the kernels
and repeats exactly after ``reset(seed)``. With ``video_path`` set, every
published frame also goes to a video file the real
:class:`~physres.drivers.bucket.camera.Camera` can read back through OpenCV.

``motor_driver: simavr`` / ``host`` (or ``motors: simavr``) puts the real motor
firmware and MotorBoard driver between ``duty`` and the water
(:mod:`~physres.sim.bucket.firmware_loop`): the same streams plus ``duty_out``
(what the pins output), duty capped at the board's 0.9, and each apply takes
its duration in wall-clock time because the firmware runs in real time.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np

from physres.device import Chunk, Description, Device, InputSpec, Limits, StreamSpec, command
from physres.sim.bucket.firmware_loop import FIRMWARE_MAX_DUTY, FIRMWARE_MAX_STEP, FirmwareLoop
from physres.sim.bucket.model import TankModel
from physres.sim.bucket.params import BucketParams
from physres.sim.bucket.tank import TankState, advance, new_state, step
from physres.sim.bucket.video import VideoSink

__all__ = ["Bucket"]


class Bucket(Device):
    """A tank of water, its motors and an overhead camera, simulated."""

    Params = BucketParams
    default_kind = "sim.bucket"
    clock = "stepped"
    params: BucketParams

    def __init__(self, name: str | None = None, *, mock: bool = False, **params: Any) -> None:
        super().__init__(name or "bucket", mock=mock, **params)
        self._desc: Description | None = None
        self._model: TankModel | None = None
        self._state: TankState | None = None
        self._sink: VideoSink | None = None
        self._frames: list[np.ndarray] = []
        self._heights: list[np.ndarray] = []
        self._duty_out: list[np.ndarray] = []
        self._fw: FirmwareLoop | None = None  # motor_driver simavr/host: firmware in the loop
        self._first_frame = 0  # global index (1-based) of the first pending frame

    # ------------------------------------------------------------------ contract
    @property
    def frame_shape(self) -> tuple[int, int]:
        p = self.params
        return tuple(p.frame_shape) if p.frame_shape is not None else tuple(p.grid)  # type: ignore[return-value]

    def describe(self) -> Description:
        if self._desc is not None and self._desc.name == self.name and self._desc.kind == self.kind:
            return self._desc
        p = self.params
        streams = [StreamSpec(name="frame", dtype="|u1", shape=self.frame_shape, units="DN",
                              rate_hz=p.fps, carries="frame",
                              doc="overhead camera image of the rippled surface")]
        if p.height_stream:
            streams.append(StreamSpec(name="height", dtype="<f4", shape=tuple(p.grid), units="m",
                                      rate_hz=p.fps, carries="state",
                                      doc="surface height at each frame (ground truth)"))
        high, max_step = 1.0, p.max_duty_step
        if p.motor_driver != "direct":  # the MotorBoard's limits: refused here, before the port
            high, max_step = FIRMWARE_MAX_DUTY, min(max_step, FIRMWARE_MAX_STEP)
            m = self.model
            streams.append(StreamSpec(name="duty_out", dtype="<f4", shape=(p.n_motors,),
                                      units="duty", rate_hz=1.0 / m.dt, carries="continuous",
                                      doc=f"duty the {p.motor_driver} firmware's pins output, "
                                      "at each physics step (after its clamp and slew limit)"))
        inputs = [InputSpec(name="duty", dtype="<f8", shape=(p.n_motors,), units="duty",
                            rate_hz=p.motor_rate_hz,
                            limits=Limits(low=0.0, high=high, max_step=max_step),
                            doc="motor duty = oscillation amplitude, 0 = off, 1 = full")]
        self._desc = self._description(streams=streams, inputs=inputs,
                                       meta={"params": p.model_dump(mode="json")})
        return self._desc

    @property
    def model(self) -> TankModel:
        """The derived numbers (time step, dispersion fit...), built on first use."""
        if self._model is None:
            self._model = TankModel.build(self.params)
        return self._model

    def _connect(self) -> None:
        self._state = new_state(self.model, None)
        self._clear_pending()
        p = self.params
        if p.motor_driver != "direct":
            # compile the kernels now: a cold numba compile holds the GIL for seconds,
            # which would starve the driver's keepalive and trip the firmware's watchdog
            step(dataclasses.replace(self.model, steps_per_motor=1), self._state,
                 np.zeros((1, p.n_motors)))
            self._fw = FirmwareLoop(p.motor_driver, n_motors=p.n_motors,
                                    motor_rate_hz=p.motor_rate_hz, step_s=self.model.dt,
                                    steps_per_motor=self.model.steps_per_motor,
                                    owner=f"{self.kind} {self.name!r}",
                                    key=p.driver_key).start()
        if self.params.video_path:
            self._sink = VideoSink(self.params.video_path, self.params.fps, self.frame_shape)

    def _disconnect(self) -> None:
        if self._fw is not None:
            fw, self._fw = self._fw, None
            fw.stop()
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        self._state = None

    def _apply(self, inputs: dict[str, np.ndarray]) -> None:
        m, st = self.model, self._state
        assert st is not None
        if not self._frames:
            self._first_frame = st.step // m.substeps + 1
        if self._fw is None:
            frames, heights = advance(m, st, inputs["duty"], heights=self.params.height_stream)
        else:  # the firmware's pin duty, one row per physics step
            out = self._fw.drive(inputs["duty"])
            self._duty_out.append(out.astype(np.float32))
            per_step = dataclasses.replace(m, steps_per_motor=1)
            frames, heights = advance(per_step, st, out, heights=self.params.height_stream)
        if frames.shape[1:] != self.frame_shape:
            h, w = self.frame_shape
            frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
                               for f in frames]) if len(frames) else np.empty((0, h, w), np.uint8)
        if len(frames):
            self._frames.append(frames)
            if heights is not None:
                self._heights.append(heights)
            if self._sink is not None:
                self._sink.write(frames)
        self._clock_ns = round(st.step * m.dt * 1e9)

    def _read(self) -> dict[str, Chunk]:
        m = self.model
        if self._frames:
            t0 = round(self._first_frame * 1e9 / self.params.fps)
        else:
            t0 = self._clock_ns
        out = {"frame": Chunk(_cat(self._frames, (0, *self.frame_shape), np.uint8), t0)}
        if self.params.height_stream:
            out["height"] = Chunk(_cat(self._heights, (0, m.ny, m.nx), np.float32), t0)
        if self._fw is not None:
            duty = _cat(self._duty_out, (0, self.params.n_motors), np.float32)
            out["duty_out"] = Chunk(duty, self._clock_ns - round(len(duty) * m.dt * 1e9))
        self._clear_pending()
        return out

    def _reset(self, seed: int | None) -> None:
        if self._fw is not None:
            self._fw.reset()
        self._state = new_state(self.model, seed)
        self._clear_pending()

    def _clear_pending(self) -> None:
        self._frames, self._heights, self._duty_out = [], [], []

    # ------------------------------------------------------------------ extras
    @command
    def model_summary(self) -> dict[str, Any]:
        """Time step, substeps, wave speed and dispersion-fit error of this tank."""
        return self.model.summary()

    @property
    def height(self) -> np.ndarray:
        """The current surface height (m), a copy (connect first)."""
        self._require_connected("height")
        assert self._state is not None
        return self._state.height.copy()


def _cat(parts: list[np.ndarray], empty_shape: tuple[int, ...], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(empty_shape, dtype)
