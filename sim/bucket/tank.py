"""The pure stepping API: explicit state in, state and camera frames out.

``TankState`` holds everything that evolves (heights, motor spin, step count,
noise draws); :func:`step` advances a copy of it by a chunk of duty samples and
returns the frames the camera took in that time. The Device shell
(:class:`~physres.sim.bucket.device.Bucket`) keeps one state and calls
:func:`advance` (the in-place form) for speed. Camera noise is drawn ahead of
time into a bank at reset, because drawing it per frame costs more than the
compiled render itself (measured: about 240 µs per 128² frame); each frame picks a bank slot and a
random offset, all from the state's own generator, so a seed repeats exactly.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import cv2
import numpy as np

from physres.errors import DeviceError
from physres.sim.bucket.kernels import G, advance_numba
from physres.sim.bucket.model import GHOST, TankModel
from physres.sim.bucket.reference import advance_numpy

__all__ = ["NOISE_BANK", "NOISE_MARGIN", "TankState", "advance", "frames_in", "new_state", "step"]

assert G == GHOST, "kernels.G and model.GHOST must agree (ghost layers)"

#: frames of camera noise drawn ahead of time, and the offset range used to vary them
NOISE_BANK = 16
NOISE_MARGIN = 16


@dataclass
class TankState:
    """Everything that changes while the tank runs (the model itself never does)."""

    eta: np.ndarray  # (ny+2g, nx+2g) float32, current height with ghost cells
    eta_old: np.ndarray  # the previous step
    scratch: np.ndarray  # (ny+2, nx+2) float32 work array for q
    amp: np.ndarray  # (n_motors,) float64, what the motors actually deliver now
    step: int  # physics steps since reset
    noise: np.ndarray  # (NOISE_BANK, ny+M, nx+M) float32 standard normal
    rng: np.random.Generator  # picks noise slots and offsets
    #: (2, ny+2g, nx+2g) float32 work arrays of the compiled step (S and q), kept
    #: here so a short chunk allocates nothing
    work: np.ndarray | None = None

    @property
    def height(self) -> np.ndarray:
        """Surface height (m) without ghost cells (a view)."""
        return self.eta[GHOST:-GHOST, GHOST:-GHOST]


def new_state(model: TankModel, seed: int | None) -> TankState:
    """Still water, motors at rest, noise drawn from ``seed`` (None: the params' seed)."""
    ny, nx = model.ny, model.nx
    ss = np.random.SeedSequence(model.params.seed if seed is None else seed)
    noise_seed, pick_seed = ss.spawn(2)
    noise = np.random.default_rng(noise_seed).standard_normal(
        (NOISE_BANK, ny + NOISE_MARGIN, nx + NOISE_MARGIN), dtype=np.float32)
    pad = (ny + 2 * GHOST, nx + 2 * GHOST)
    return TankState(
        eta=np.zeros(pad, np.float32), eta_old=np.zeros(pad, np.float32),
        scratch=np.zeros((ny + 2, nx + 2), np.float32),
        amp=np.zeros(model.params.n_motors), step=0, noise=noise,
        rng=np.random.default_rng(pick_seed), work=np.zeros((2, *pad), np.float32),
    )


def frames_in(model: TankModel, step0: int, n_samples: int) -> int:
    """How many camera frames fall in ``n_samples`` duty samples starting at ``step0``."""
    end = step0 + n_samples * model.steps_per_motor
    return end // model.substeps - step0 // model.substeps


def _scalars(model: TankModel) -> np.ndarray:
    dt = model.dt
    p = model.params
    d2 = model.dx * model.dy
    return np.array([
        dt, model.coef_A, p.viscosity_m2_s / dt, dt * dt / d2,
        model.caustic_gain / d2, p.caustic_floor, p.read_noise_dn**2, p.shot_noise_dn**2,
        model.motor_alpha, model.n_terms, model.kappa,
    ], dtype=np.float64)


def advance(model: TankModel, state: TankState, duty: np.ndarray, *,
            heights: bool = False, backend: str | None = None,
            frame_shape: tuple[int, int] | None = None
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Run ``duty`` (T, n_motors) in place on ``state``; return (frames, heights or None).

    Frames are ``(F, ny, nx)`` uint8 at the grid's resolution, one per camera
    period completed in this chunk (F may be 0 for a short chunk), or
    ``(F, *frame_shape)`` resized as INTER_AREA does. When the grid is a whole
    multiple of ``frame_shape`` the compiled render averages the blocks in the
    same pass (before rounding to 8 bits, so within 1 DN of resizing the
    full frame); otherwise OpenCV resizes the full frames.
    """
    duty = np.ascontiguousarray(duty, dtype=np.float64)
    if duty.ndim != 2 or duty.shape[1] != model.params.n_motors:
        raise ValueError(f"duty must be (T, {model.params.n_motors}), got {duty.shape}")
    n_frames = frames_in(model, state.step, duty.shape[0])
    fh, fw = (model.ny, model.nx) if frame_shape is None else frame_shape
    if min(fh, fw) < 1:
        raise ValueError(f"frame_shape must be positive, got {frame_shape}")
    numba_backend = (backend or model.params.backend) != "numpy"
    fused = numba_backend and model.ny % fh == 0 and model.nx % fw == 0
    frames = np.empty((n_frames, *((fh, fw) if fused else (model.ny, model.nx))), np.uint8)
    hts = np.empty((n_frames if heights else 0, model.ny, model.nx), np.float32)
    idx = np.empty((n_frames, 3), np.int64)
    if n_frames:
        idx[:, 0] = state.rng.integers(0, NOISE_BANK, n_frames)
        idx[:, 1:] = state.rng.integers(0, NOISE_MARGIN + 1, (n_frames, 2))
    st = np.asarray(model.stencil, dtype=np.float64)
    args = (state.eta, state.eta_old, state.scratch, state.amp, state.step, duty,
            model.steps_per_motor, model.substeps, st, _scalars(model), model.damp_new,
            model.damp_old, model.sources, model.boxes, model.omega, model.phase,
            model.illumination, state.noise, idx, frames, hts)
    if not numba_backend:
        nf = advance_numpy(*args)
    else:
        if state.work is None or state.work.shape != (2, *state.eta.shape):
            state.work = np.zeros((2, *state.eta.shape), np.float32)
        nf = advance_numba(*args, state.work)
    assert nf == n_frames
    state.step += duty.shape[0] * model.steps_per_motor
    if not np.isfinite(state.eta[GHOST, GHOST]) or not np.isfinite(state.height).all():
        raise DeviceError(
            f"sim.bucket: the surface diverged at step {state.step} (t = "
            f"{state.step * model.dt:.3f} s); source_accel_m_s2="
            f"{model.params.source_accel_m_s2} or nonlinearity={model.params.nonlinearity} "
            "is too strong for this grid"
        )
    if frames.shape[1:] != (fh, fw):
        frames = np.stack([cv2.resize(f, (fw, fh), interpolation=cv2.INTER_AREA)
                           for f in frames]) if n_frames else np.empty((0, fh, fw), np.uint8)
    return frames, (hts if heights else None)


def step(model: TankModel, state: TankState, duty: np.ndarray, *, heights: bool = False
         ) -> tuple[TankState, np.ndarray, np.ndarray | None]:
    """Pure form of :func:`advance`: returns a new state and leaves ``state`` as it was."""
    new = copy.deepcopy(state)
    frames, hts = advance(model, new, duty, heights=heights)
    return new, frames, hts
