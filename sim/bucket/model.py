"""The wave tank's numbers, worked out once: dispersion fit, CFL time step, sources, light.

The surface height η obeys a damped wave equation written as

    η_tt + 2γ η_t = ∇²q + Σ_m a_m(t) sin(ω_m t + φ_m) G_m(x)
    q = A (η + κ η²) + B L_w η + C L_w² η + ν η_t

where ∇² is the 5-point Laplacian and L_w the Laplacian on a doubled stencil.
For small amplitudes a plane wave then has ω² = A·L + B·L·L_w + C·L·L_w²
(L, L_w the stencils' symbols). (A, B, C) are fitted by least squares to the
capillary-gravity relation ω² = (g k + σ/ρ k³) tanh(k h) over the motors'
frequency band, *including* the leapfrog's own time error, so ripples of
every wavelength the motors excite travel at their real speed (a
dispersion-relation-preserving scheme in the sense of Tam & Webb). κ = 1/(2h)
is the shallow-water nonlinearity g/2 ∇²(η²). Walls reflect (mirror ghost
cells). The step is the largest the CFL bound allows for the fitted operator,
times a safety factor, rounded so camera frames and motor updates land on steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from physres.errors import ConfigError
from physres.sim.bucket.params import BucketParams

__all__ = ["GHOST", "TankModel", "capillary_gravity_omega"]

#: ghost cells on each side of the padded grid (the doubled stencil squared reaches ±4)
GHOST = 4


def capillary_gravity_omega(k: np.ndarray, p: BucketParams) -> np.ndarray:
    """Angular frequency (rad/s) of a linear surface wave of wavenumber ``k`` (rad/m)."""
    g, sig, rho, h = p.gravity_m_s2, p.surface_tension_n_m, p.density_kg_m3, p.depth_m
    k = np.asarray(k, dtype=np.float64)
    return np.sqrt((g * k + sig / rho * k**3) * np.tanh(k * h))


def _wavenumber_of(freq_hz: float, p: BucketParams) -> float:
    """Invert the dispersion relation by bisection (it is monotonic in k)."""
    target = 2 * math.pi * freq_hz
    lo, hi = 1e-6, 1e6
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if capillary_gravity_omega(np.array(mid), p) < target:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


@dataclass(frozen=True)
class TankModel:
    """Everything the step kernels need, as plain numbers and float32 arrays."""

    params: BucketParams
    ny: int
    nx: int
    dx: float
    dy: float
    dt: float
    substeps: int  # physics steps per camera frame
    steps_per_motor: int  # physics steps per motor (duty) sample
    coef_A: float
    coef_B: float
    coef_C: float
    kappa: float
    #: q-stencil weights: centre, the four at ±2, the four at ±4, the four (±2, ±2)
    stencil: tuple[float, float, float, float]
    damp_new: np.ndarray  # 1/(1+γdt) per cell, (ny, nx) float32; (1, 1) when uniform
    damp_old: np.ndarray  # (1-γdt) per cell
    sources: np.ndarray  # (n_motors, ny, nx) float32, peak 1
    boxes: np.ndarray  # (n_motors, 4) int64: y0, y1, x0, x1 of each footprint
    omega: np.ndarray  # (n_motors,) rad/s
    phase: np.ndarray  # (n_motors,) rad
    illumination: np.ndarray  # (ny, nx) float32: lamp × exposure
    caustic_gain: float  # D in |1 + D ∇²η| (m²)
    motor_alpha: float  # spin-up per step: a += α (duty - a)
    dispersion_error: float  # worst relative phase-speed error in the band
    band_k: tuple[float, float]

    @classmethod
    def build(cls, p: BucketParams) -> TankModel:
        ny, nx = p.grid
        dx, dy = p.tank_m[0] / nx, p.tank_m[1] / ny
        frame_dt = 1.0 / p.fps
        motor_dt = 1.0 / p.motor_rate_hz

        coefs, k_band = _fit_dispersion(p, dx, dy, dt=None)
        omega_max = _omega_max(coefs, dx, dy)
        dt_cfl = 2.0 * p.cfl_safety / omega_max
        substeps, per_motor = _steps_per_frame(frame_dt, motor_dt, dt_cfl, p)
        dt = frame_dt / substeps
        # refit with the leapfrog's time discretisation in the target, then re-check
        coefs, k_band = _fit_dispersion(p, dx, dy, dt=dt)
        if _omega_max(coefs, dx, dy) * dt > 2.0 * p.cfl_safety * 1.001:
            raise ConfigError(f"sim.bucket: refitted dispersion is unstable at dt={dt:.3g} s")
        a, b, c = coefs
        lmax = 4.0 / dx**2 + 4.0 / dy**2
        if p.viscosity_m2_s * dt * lmax > 0.5:
            raise ConfigError(
                f"sim.bucket: viscosity_m2_s={p.viscosity_m2_s:g} is too large for cells of "
                f"{dx * 1e3:.2f} mm (explicit step unstable); lower it or coarsen the grid"
            )
        w = 1.0 / (4 * dx * dy)
        # the operator L_w has symbol −L_w(k): q's stencil is A − B·L_w + C·L_w²
        bo = -b
        stencil = (a - 4 * bo * w + 20 * c * w * w, bo * w - 8 * c * w * w, c * w * w,
                   2 * c * w * w)
        # the kernels factor the ±4 and diagonal terms as C·S(S): needs weight_d = 2·weight_4
        assert math.isclose(stencil[3], 2 * stencil[2], rel_tol=1e-12, abs_tol=1e-30)
        gamma = _damping_map(p, ny, nx, dx, dy)
        if np.all(gamma == gamma[0, 0]):
            gamma = gamma[:1, :1]  # uniform: the kernels use two scalars
        sources, boxes = _sources(p, ny, nx, dx, dy)
        err = _dispersion_error(coefs, p, dx, dy, dt, k_band)
        return cls(
            params=p, ny=ny, nx=nx, dx=dx, dy=dy, dt=dt, substeps=substeps,
            steps_per_motor=per_motor, coef_A=a, coef_B=b, coef_C=c,
            kappa=p.nonlinearity / (2.0 * p.depth_m), stencil=stencil,
            damp_new=(1.0 / (1.0 + gamma * dt)).astype(np.float32),
            damp_old=(1.0 - gamma * dt).astype(np.float32),
            sources=(sources * p.source_accel_m_s2).astype(np.float32), boxes=boxes,
            omega=np.array([2 * math.pi * m.frequency_hz for m in p.motors]),
            phase=np.array([math.radians(m.phase_deg) for m in p.motors]),
            illumination=_illumination(p, ny, nx),
            caustic_gain=(p.refractive_index - 1.0) * p.focus_m,
            motor_alpha=1.0 if p.motor_tau_s == 0 else 1.0 - math.exp(-dt / p.motor_tau_s),
            dispersion_error=err, band_k=k_band,
        )

    @property
    def frame_dt(self) -> float:
        return 1.0 / self.params.fps

    @property
    def n_terms(self) -> int:
        """1 when q is local (no dispersion), 3 for the fitted capillary-gravity operator."""
        return 1 if self.coef_B == 0 and self.coef_C == 0 else 3

    def summary(self) -> dict[str, float | int | str]:
        """The derived numbers a run folder should record."""
        return {
            "dx_m": self.dx, "dt_s": self.dt, "substeps_per_frame": self.substeps,
            "steps_per_motor_update": self.steps_per_motor,
            "long_wave_speed_m_s": math.sqrt(max(self.coef_A, 0.0)),
            "dispersion": self.params.dispersion,
            "dispersion_band_k_rad_m": list(self.band_k),
            "dispersion_max_rel_error": self.dispersion_error,
        }


# --------------------------------------------------------------------------- helpers
def _symbols(k: np.ndarray, d: float) -> tuple[np.ndarray, np.ndarray]:
    """Symbols of the 3-point and doubled 3-point second differences along one axis."""
    return (4.0 / d**2) * np.sin(k * d / 2) ** 2, (1.0 / d**2) * np.sin(k * d) ** 2


def _fit_dispersion(
    p: BucketParams, dx: float, dy: float, dt: float | None
) -> tuple[tuple[float, float, float], tuple[float, float]]:
    h = p.depth_m
    lo, hi = (_wavenumber_of(f, p) for f in p.dispersion_band_hz)
    nyq = math.pi / max(dx, dy)
    hi = min(hi, 0.5 * nyq)  # beyond half Nyquist the stencils cannot follow anyway
    lo = min(lo, 0.5 * hi)
    if p.dispersion == "none":  # the band still tells how wrong that is (summary)
        return (p.gravity_m_s2 * h, 0.0, 0.0), (float(lo), float(hi))
    k = np.linspace(lo, hi, 400)
    w = capillary_gravity_omega(k, p)
    target = w**2 if dt is None else (4.0 / dt**2) * np.sin(w * dt / 2) ** 2
    d = math.sqrt(dx * dy)
    L, Lw = _symbols(k, d)
    A = np.stack([L, L * Lw, L * Lw**2], axis=1)
    wt = 1.0 / target  # relative error: every wavelength counts alike
    coef = np.linalg.lstsq(A * np.sqrt(wt)[:, None], target * np.sqrt(wt), rcond=None)[0]
    a, b, c = (float(v) for v in coef)
    if a <= 0 or not _nonnegative(coef, dx, dy):
        # a 3-term fit that goes negative somewhere would grow without bound there
        coef2 = np.linalg.lstsq(A[:, :2] * np.sqrt(wt)[:, None], target * np.sqrt(wt),
                                rcond=None)[0]
        a, b, c = float(coef2[0]), float(coef2[1]), 0.0
        if a <= 0 or not _nonnegative((a, b, c), dx, dy):
            raise ConfigError(
                f"sim.bucket: cannot fit a stable dispersion for depth_m={h} over "
                f"dispersion_band_hz={p.dispersion_band_hz}; use dispersion: none"
            )
    return (a, b, c), (float(lo), float(hi))


def _grid_symbols(dx: float, dy: float, n: int = 129) -> tuple[np.ndarray, np.ndarray]:
    kx = np.linspace(0, math.pi / dx, n)
    ky = np.linspace(0, math.pi / dy, n)
    Lx, Lwx = _symbols(kx, dx)
    Ly, Lwy = _symbols(ky, dy)
    return Lx[None, :] + Ly[:, None], Lwx[None, :] + Lwy[:, None]


def _nonnegative(coef: tuple[float, float, float] | np.ndarray, dx: float, dy: float) -> bool:
    L, Lw = _grid_symbols(dx, dy)
    a, b, c = coef
    return bool((a * L + b * L * Lw + c * L * Lw**2).min() >= -1e-9 * a * L.max())


def _omega_max(coef: tuple[float, float, float], dx: float, dy: float) -> float:
    L, Lw = _grid_symbols(dx, dy)
    a, b, c = coef
    return float(np.sqrt((a * L + b * L * Lw + c * L * Lw**2).max()))


def _dispersion_error(coef: tuple[float, float, float], p: BucketParams, dx: float, dy: float,
                      dt: float, band: tuple[float, float]) -> float:
    """Worst relative error of the simulated phase speed against the true one in the band."""
    k = np.linspace(band[0], band[1], 200)
    L, Lw = _symbols(k, math.sqrt(dx * dy))
    a, b, c = coef
    s = np.clip(dt / 2 * np.sqrt(np.maximum(a * L + b * L * Lw + c * L * Lw**2, 0)), 0, 1)
    w_sim = 2 / dt * np.arcsin(s)
    return float(np.max(np.abs(w_sim / capillary_gravity_omega(k, p) - 1)))


def _steps_per_frame(frame_dt: float, motor_dt: float, dt_cfl: float,
                     p: BucketParams) -> tuple[int, int]:
    """Smallest substep count ≥ the CFL bound with motor updates on whole steps."""
    need = max(1, math.ceil(frame_dt / dt_cfl - 1e-9))
    ratio = Fraction(p.fps).limit_denominator(1000) / Fraction(p.motor_rate_hz).limit_denominator(
        1000)  # motor_dt / frame_dt
    for n in range(need, need * 64 + 64):
        per_motor = n * ratio
        if per_motor.denominator == 1 and per_motor >= 1:
            return n, int(per_motor)
    raise ConfigError(
        f"sim.bucket: motor_rate_hz={p.motor_rate_hz} and fps={p.fps} share no step of at most "
        f"{dt_cfl:.3g} s; pick rates with a small common multiple"
    )


def _damping_map(p: BucketParams, ny: int, nx: int, dx: float, dy: float) -> np.ndarray:
    gamma = np.full((ny, nx), p.damping_per_s, dtype=np.float64)
    if p.wall_absorption_per_s > 0 and p.sponge_m > 0:
        x = (np.arange(nx) + 0.5) * dx
        y = (np.arange(ny) + 0.5) * dy
        dist = np.minimum.outer(np.minimum(y, p.tank_m[1] - y), np.minimum(x, p.tank_m[0] - x))
        ramp = np.clip(1.0 - dist / p.sponge_m, 0.0, 1.0) ** 2  # smooth: no reflection off it
        gamma += p.wall_absorption_per_s * ramp
    return gamma


def _sources(p: BucketParams, ny: int, nx: int, dx: float,
             dy: float) -> tuple[np.ndarray, np.ndarray]:
    x = (np.arange(nx) + 0.5) * dx
    y = (np.arange(ny) + 0.5) * dy
    out = np.zeros((p.n_motors, ny, nx), dtype=np.float32)
    boxes = np.zeros((p.n_motors, 4), dtype=np.int64)
    for i, m in enumerate(p.motors):
        cx, cy = m.x * p.tank_m[0], m.y * p.tank_m[1]
        g = np.exp(-((x[None, :] - cx) ** 2 + (y[:, None] - cy) ** 2) / (2 * m.radius_m**2))
        g[g < 1e-3] = 0.0  # a 3.7 σ footprint: the tail is below the noise
        out[i] = g
        rows, cols = np.nonzero(g)
        if rows.size == 0:  # a source smaller than a cell still pushes its own cell
            r, c = min(int(cy / dy), ny - 1), min(int(cx / dx), nx - 1)
            out[i, r, c] = 1.0
            rows, cols = np.array([r]), np.array([c])
        boxes[i] = (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1)
    return out, boxes


def _illumination(p: BucketParams, ny: int, nx: int) -> np.ndarray:
    """The lamp's light on the sensor times exposure: brighter in the middle."""
    yy = (np.arange(ny) + 0.5) / ny * 2 - 1
    xx = (np.arange(nx) + 0.5) / nx * 2 - 1
    r2 = (xx[None, :] ** 2 + yy[:, None] ** 2) / 2.0
    return (p.exposure * (1.0 - p.vignette * r2)).astype(np.float32)
