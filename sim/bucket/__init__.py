"""Simulated wave tank (``sim.bucket``): pure physics step, overhead-camera renderer, Device.

* :class:`BucketParams` / :class:`MotorParams` — the tank, motors and camera, in SI units.
* :class:`TankModel` — derived numbers: dispersion fit, CFL time step, sources, light.
* :func:`step` / :func:`advance` — the pure (and in-place) chunk step; numba kernels
  with :mod:`~physres.sim.bucket.reference` as the plain-NumPy statement of the model.
* :class:`Bucket` — the ``sim.bucket`` Device; :class:`VideoSink` writes its frames
  to a video the real Camera driver reads back.
"""

from physres.sim.bucket.device import Bucket
from physres.sim.bucket.model import GHOST, TankModel, capillary_gravity_omega
from physres.sim.bucket.params import DUTY_MAX_STEP, MOTOR_RATE_HZ, BucketParams, MotorParams
from physres.sim.bucket.tank import TankState, advance, frames_in, new_state, step
from physres.sim.bucket.video import VideoSink, write_video

__all__ = [
    "DUTY_MAX_STEP",
    "GHOST",
    "MOTOR_RATE_HZ",
    "Bucket",
    "BucketParams",
    "MotorParams",
    "TankModel",
    "TankState",
    "VideoSink",
    "advance",
    "capillary_gravity_omega",
    "frames_in",
    "new_state",
    "step",
    "write_video",
]
