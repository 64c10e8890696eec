"""The simulated wave tank behaves like water: dispersion, stability, damping, linearity.

Each test states one physical property of ``physres.sim.bucket`` and measures it
from the running simulation (not from its coefficients).
"""

from __future__ import annotations

import numpy as np
import pytest

from physres.sim.bucket import (
    GHOST,
    BucketParams,
    MotorParams,
    TankModel,
    advance,
    capillary_gravity_omega,
    new_state,
    step,
)

QUIET = {"damping_per_s": 0.0, "viscosity_m2_s": 0.0, "nonlinearity": 0.0}


def _mode_frequency(p: BucketParams, m: int, seconds: float = 8.0) -> tuple[float, float]:
    """Measured and theoretical frequency (Hz) of the standing wave cos(π m x / L)."""
    model = TankModel.build(p)
    st = new_state(model, 0)
    x = (np.arange(model.nx) + 0.5) * model.dx
    mode = np.cos(np.pi * m * x / p.tank_m[0]).astype(np.float32)
    st.eta[GHOST:-GHOST, GHOST:-GHOST] = 1e-5 * mode[None, :]
    st.eta_old[:] = st.eta
    n = round(seconds * p.motor_rate_hz)
    _, h = advance(model, st, np.zeros((n, p.n_motors)), heights=True)
    assert h is not None
    a = h.mean(axis=1) @ mode  # projection on the mode, one value per camera frame
    t = np.arange(1, len(a) + 1) / p.fps
    # zero crossings, linearly interpolated: half a period apart
    i = np.flatnonzero(np.sign(a[:-1]) != np.sign(a[1:]))
    tz = t[i] - a[i] * (t[i + 1] - t[i]) / (a[i + 1] - a[i])
    measured = 0.5 / np.mean(np.diff(tz))
    k = np.pi * m / p.tank_m[0]
    return float(measured), float(capillary_gravity_omega(np.array(k), p) / (2 * np.pi))


@pytest.mark.parametrize("m", [5, 13, 25])
def test_standing_waves_ring_at_the_capillary_gravity_frequency(m: int) -> None:
    # Real ripples obey ω² = (g k + σ/ρ k³) tanh(k h); the fitted stencil must too.
    measured, theory = _mode_frequency(BucketParams(**QUIET), m)
    assert measured == pytest.approx(theory, rel=0.025)


@pytest.mark.parametrize("m", [13, 25])
def test_dispersion_changes_the_frequencies_of_short_waves(m: int) -> None:
    # In 8 mm of water dispersion is plain to see: the non-dispersive model
    # (speed sqrt(g h) at every wavelength) misses 5-10 Hz ripples by 9-19 %,
    # the fitted capillary-gravity operator stays within a few percent.
    deep = {**QUIET, "depth_m": 0.008}
    fitted, theory = _mode_frequency(BucketParams(**deep), m)
    plain, _ = _mode_frequency(BucketParams(**deep, dispersion="none"), m)
    assert fitted == pytest.approx(theory, rel=0.03)
    assert abs(plain / theory - 1) > 0.08


def test_time_step_comes_from_the_cfl_bound() -> None:
    coarse = TankModel.build(BucketParams(grid=(64, 64)))
    fine = TankModel.build(BucketParams(grid=(256, 256)))
    assert fine.substeps > 1.8 * coarse.substeps  # halving dx roughly halves dt
    for model in (coarse, fine):
        assert model.substeps % model.steps_per_motor == 0 or model.steps_per_motor >= 1
        assert model.dt * model.substeps == pytest.approx(1 / 25)


def test_driven_tank_stays_bounded_and_damping_empties_it() -> None:
    p = BucketParams(nonlinearity=1.0)
    model = TankModel.build(p)
    st = new_state(model, 0)
    advance(model, st, np.ones((250, p.n_motors)))  # 5 s at full duty
    driven = float(np.abs(st.height).max())
    assert 1e-5 < driven < 0.2 * p.depth_m  # ripples of a fraction of a millimetre
    advance(model, st, np.zeros((150, p.n_motors)))  # 3 s with the motors off
    # amplitude e-folds at the damping rate (1.5/s): 3 s leave about 1 %
    assert float(np.abs(st.height).max()) < 0.05 * driven


def test_linear_tank_superposes_and_the_nonlinear_one_does_not() -> None:
    duty_a = np.tile([1.0, 0.0], (100, 1))
    duty_b = np.tile([0.0, 1.0], (100, 1))

    def final_height(p: BucketParams, duty: np.ndarray) -> np.ndarray:
        model = TankModel.build(p)
        st = new_state(model, 0)
        advance(model, st, duty)
        return st.height.astype(np.float64)

    for nl, linear in ((0.0, True), (3.0, False)):
        p = BucketParams(nonlinearity=nl, source_accel_m_s2=2.0)
        both = final_height(p, duty_a + duty_b)
        parts = final_height(p, duty_a) + final_height(p, duty_b)
        rel = np.abs(both - parts).max() / np.abs(both).max()
        assert (rel < 1e-4) if linear else (rel > 1e-3), (nl, rel)


def test_camera_brightness_is_bounded_and_saturating() -> None:
    # The sensor maps light x to x/(1+x): doubling the ripples does not double the contrast.
    contrast = []
    for accel in (0.3, 0.6, 1.2):
        p = BucketParams(source_accel_m_s2=accel, read_noise_dn=0.0, shot_noise_dn=0.0)
        model = TankModel.build(p)
        frames, _ = advance(model, new_state(model, 0), np.ones((100, p.n_motors)))
        contrast.append(float(frames[-10:].astype(np.float64).std()))
        assert frames.min() >= 0 and frames.max() <= 255
    assert contrast[0] < contrast[1] < contrast[2]
    assert contrast[2] / contrast[1] < 0.9 * contrast[1] / contrast[0] * 2


@pytest.mark.parametrize("motors", [None, [MotorParams(x=0.02, y=0.5), MotorParams(x=0.5, y=0.98)]],
                         ids=["default", "against-the-walls"])
def test_compiled_kernels_match_the_numpy_reference(motors: list[MotorParams] | None) -> None:
    # the second case also lines the walls with a sponge (damping per cell)
    p = BucketParams() if motors is None else BucketParams(motors=motors,
                                                           wall_absorption_per_s=5.0)
    model = TankModel.build(p)
    duty = np.clip(np.linspace(0, 3, 60)[:, None] * [0.4, 0.3], 0, 1)
    a, b = new_state(model, 3), new_state(model, 3)
    fa, ha = advance(model, a, duty, heights=True, backend="numba")
    fb, hb = advance(model, b, duty, heights=True, backend="numpy")
    assert ha is not None and hb is not None
    np.testing.assert_allclose(ha, hb, rtol=0, atol=1e-5 * np.abs(hb).max())  # float32 order
    assert np.abs(fa.astype(int) - fb.astype(int)).max() <= 1  # float rounding at .5


def test_seed_repeats_exactly_and_only_changes_the_camera_noise() -> None:
    p = BucketParams()
    model = TankModel.build(p)
    duty = np.full((50, p.n_motors), 0.5)
    s0 = new_state(model, 7)
    s1, f1, h1 = step(model, s0, duty, heights=True)
    _, f2, _ = step(model, s0, duty, heights=True)  # pure: s0 untouched
    assert s0.step == 0 and s1.step > 0
    np.testing.assert_array_equal(f1, f2)
    _, f3, h3 = step(model, new_state(model, 8), duty, heights=True)
    np.testing.assert_array_equal(h1, h3)  # same water
    assert not np.array_equal(f1, f3)  # different sensor noise
