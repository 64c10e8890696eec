"""Typed parameters of the simulated wave tank, its motors and the overhead camera.

Defaults match the current rebuild of the 2003 rig: a shallow 30 cm tray,
two servo-driven paddles (duty = oscillation amplitude), an overhead USB camera
at 25 fps. Every field is physical (SI units) so a lab can enter its own rig.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    model_validator,
)

from physres.drivers.bucket.limits import MAX_STEP
from physres.errors import RuleError

__all__ = ["DUTY_MAX_STEP", "MOTOR_RATE_HZ", "BucketParams", "MotorParams"]

#: Duty slew limit per motor update: the real MotorBoard's (defined once in
#: physres.drivers.bucket.limits), so a schedule that passes the simulator also
#: passes the hardware driver.
DUTY_MAX_STEP = MAX_STEP
#: Motor update rate (Hz) of the driver board; duty vectors arrive at this rate.
MOTOR_RATE_HZ = 50.0


class MotorParams(BaseModel):
    """One vibrating source: where it dips into the water and how it oscillates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: position as a fraction of the tank's width (x) and length (y), in [0, 1]
    x: float = Field(ge=0.0, le=1.0)
    y: float = Field(ge=0.0, le=1.0)
    #: oscillation frequency of the paddle/eccentric mass (Hz)
    frequency_hz: float = Field(5.0, gt=0.0, le=100.0)
    phase_deg: float = 0.0
    #: radius (standard deviation, m) of the Gaussian patch of water it pushes
    radius_m: float = Field(0.006, gt=0.0, le=0.1)


def _default_motors() -> list[MotorParams]:
    # two servos facing each other across the middle of the tray (the rebuild)
    return [
        MotorParams(x=0.3, y=0.45, frequency_hz=5.0),
        MotorParams(x=0.7, y=0.55, frequency_hz=5.0),
    ]


class BucketParams(BaseModel):
    """Tank physics, motors, camera model and output options of ``sim.bucket``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # ---- tank
    #: inner size (width x, length y) in metres
    tank_m: tuple[float, float] = (0.30, 0.30)
    #: grid cells (rows y, columns x); cells must be square (tank_m/grid alike)
    grid: tuple[int, int] = (128, 128)
    #: still-water depth (m); sets the long-wave speed sqrt(g h)
    depth_m: float = Field(0.006, gt=0.0005, le=0.2)
    gravity_m_s2: float = Field(9.81, gt=0.0)
    surface_tension_n_m: float = Field(0.072, ge=0.0)
    density_kg_m3: float = Field(1000.0, gt=0.0)
    #: "capillary-gravity": the finite-difference operator is fitted to
    #: ω² = (g k + σ/ρ k³) tanh(k h) over ``dispersion_band_hz``; "none": plain
    #: non-dispersive shallow-water waves (speed sqrt(g h) at every wavelength)
    dispersion: Literal["capillary-gravity", "none"] = "capillary-gravity"
    dispersion_band_hz: tuple[float, float] = (1.0, 20.0)
    #: uniform amplitude damping rate (1/s): bottom and wall boundary layers
    damping_per_s: float = Field(1.5, ge=0.0, le=200.0)
    #: effective kinematic viscosity (m²/s): damps short ripples faster (2 ν k²)
    viscosity_m2_s: float = Field(2e-6, ge=0.0, le=1e-3)
    #: extra damping (1/s) in a border of ``sponge_m``: foam or carpet on the walls
    wall_absorption_per_s: float = Field(0.0, ge=0.0, le=500.0)
    sponge_m: float = Field(0.02, ge=0.0)
    #: scale of the shallow-water nonlinearity g/2 ∇²(η²) (1 = physical, 0 = linear);
    #: it saturates where nonlinearity·η/(2h) exceeds 0.1 (the model's "weak" regime)
    nonlinearity: float = Field(1.0, ge=0.0, le=10.0)
    #: fraction of the CFL limit used as the time step (margin for the nonlinearity)
    cfl_safety: float = Field(0.9, gt=0.05, le=0.9)

    # ---- motors
    motors: list[MotorParams] = Field(default_factory=_default_motors, min_length=1,
                                      max_length=64)
    #: peak vertical acceleration (m/s²) a motor at duty 1 imposes at its centre
    source_accel_m_s2: float = Field(0.6, ge=0.0)
    #: motor spin-up time constant (s): duty changes reach the water with this lag
    motor_tau_s: float = Field(0.03, ge=0.0, le=5.0)
    motor_rate_hz: float = Field(MOTOR_RATE_HZ, gt=0.0, le=10_000.0)
    #: largest duty change per motor update (as the MotorBoard enforces)
    max_duty_step: float = Field(DUTY_MAX_STEP, gt=0.0, le=1.0)
    #: how ``duty`` reaches the water. "direct" (default: fast, exactly repeatable,
    #: runs at hundreds of times real time); "simavr" / "host": through the real
    #: motor firmware (the AVR ELF in simavr, or its host build) and the MotorBoard
    #: driver, the tank driven by the duty the firmware's pins output. Firmware
    #: modes run in real time (the firmware does) and cap duty at the board's 0.9.
    #: A config may also write ``motors: simavr`` (the default two motors).
    motor_driver: Literal["direct", "simavr", "host"] = "direct"

    # ---- camera / renderer
    fps: float = Field(25.0, gt=0.0, le=1000.0)
    #: effective lens-to-screen distance (m): caustic strength (n-1)·z·∇²η
    focus_m: float = Field(0.5, ge=0.0)
    refractive_index: float = Field(1.333, ge=1.0)
    #: sensor exposure: brightness = x/(1+x) with x = exposure·light (saturating)
    exposure: float = Field(1.2, gt=0.0)
    #: darkening at the corners from the lamp (0 = flat light)
    vignette: float = Field(0.35, ge=0.0, lt=1.0)
    #: smallest |1 + D ∇²η| (a caustic's peak brightness is bounded by diffraction)
    caustic_floor: float = Field(0.05, gt=0.0, le=1.0)
    #: read noise and shot-noise factor in grey levels (noise σ² = r² + s²·level)
    read_noise_dn: float = Field(2.0, ge=0.0)
    shot_noise_dn: float = Field(0.3, ge=0.0)
    #: published frame size (rows, cols) resized with INTER_AREA; None = the grid
    frame_shape: tuple[int, int] | None = None
    #: also publish the surface height (m) per frame, for debugging and controls
    height_stream: bool = False
    #: write every published frame to this video (MJPG .avi is read back by OpenCV)
    video_path: str | None = None
    #: "numba" fused kernels (fast) or "numpy" (the reference, same model)
    backend: Literal["numba", "numpy"] = "numba"
    seed: int = 0

    #: the config key that chose the driver, so messages quote what the user wrote
    _driver_key: str = PrivateAttr("motor_driver")

    @model_validator(mode="wrap")
    @classmethod
    def _motors_shorthand(cls, data: Any, handler: ModelWrapValidatorHandler[BucketParams]) -> Any:
        """``motors: simavr`` (a driver name instead of a motor list) sets ``motor_driver``."""
        key = "motor_driver"
        if isinstance(data, dict) and isinstance(data.get("motors"), str):
            data = dict(data)
            driver = data.pop("motors")
            if "motor_driver" in data and data["motor_driver"] != driver:
                raise ValueError(
                    f"motors: {driver!r} and motor_driver: {data['motor_driver']!r} disagree"
                )
            data["motor_driver"] = driver
            key = "motors"
        model = handler(data)
        if isinstance(model, BucketParams) and key != "motor_driver":
            model._driver_key = key
        return model

    @property
    def driver_key(self) -> str:
        """``motors`` or ``motor_driver``: the key this config used to pick the driver."""
        return self._driver_key

    @model_validator(mode="after")
    def _check(self) -> BucketParams:
        ny, nx = self.grid
        if not (8 <= ny <= 4096 and 8 <= nx <= 4096):
            raise RuleError("grid", f"grid {self.grid} must be between 8 and 4096 cells a side")
        dx, dy = self.tank_m[0] / nx, self.tank_m[1] / ny
        if min(self.tank_m) <= 0:
            raise RuleError("tank_m", f"tank_m {self.tank_m} must be positive")
        if abs(dx / dy - 1.0) > 1e-3:
            raise RuleError(
                "grid",
                f"cells are {dx * 1e3:.2f} x {dy * 1e3:.2f} mm; tank_m/grid must give square cells",
            )
        lo, hi = self.dispersion_band_hz
        if not 0 < lo < hi:
            raise RuleError(
                "dispersion_band_hz",
                f"dispersion_band_hz {self.dispersion_band_hz} must be 0 < lo < hi",
            )
        if self.frame_shape is not None and min(self.frame_shape) < 1:
            raise RuleError("frame_shape", f"frame_shape {self.frame_shape} must be positive")
        return self

    @property
    def n_motors(self) -> int:
        return len(self.motors)
