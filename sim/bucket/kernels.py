"""The tank's time step and the overhead camera, as fused numba kernels.

One call advances a whole chunk of motor samples: every physics substep (ghost
cells, the dispersive q-stencil, the leapfrog update, the motor sources) and,
on each camera frame, the render (caustic brightness from the surface's
curvature, lamp, saturating sensor, noise drawn ahead of time). Float32 with
``error_model='numpy'``: a division under Python's error model cannot be
vectorised (about 7× slower, FIELD-NOTES). ``cache=True`` keeps compile time out
of tests after the first run. :mod:`physres.sim.bucket.reference` is the same
model in plain NumPy, the baseline the bench compares against.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["NL_CLIP", "advance_numba", "fill_ghosts"]

_JIT = {"cache": True, "fastmath": True, "error_model": "numpy", "nogil": True}
#: ghost layers (must equal physres.sim.bucket.model.GHOST); a compile-time constant
G = 4
#: largest |κη| the nonlinearity sees (local speed within sqrt(1 + 2·0.1) of A: CFL margin)
NL_CLIP = 0.1


@njit(**_JIT)
def fill_ghosts(a: np.ndarray, g: int, ny: int, nx: int) -> None:
    """Mirror the interior into ``g`` ghost layers: reflecting (zero-slope) walls."""
    for j in range(g):
        for x in range(g, g + nx):
            a[g - 1 - j, x] = a[g + j, x]
            a[g + ny + j, x] = a[g + ny - 1 - j, x]
    for y in range(g + ny + g):
        for j in range(g):
            a[y, g - 1 - j] = a[y, g + j]
            a[y, g + nx + j] = a[y, g + nx - 1 - j]


@njit(**_JIT)
def _ring_sum(e: np.ndarray, sr: np.ndarray, ny: int, nx: int) -> None:
    """S = the four neighbours at distance 2 of every cell, with 2 mirrored ghost layers.

    The dispersive stencil factors through S: q's ±2, ±4 and diagonal terms are
    c2·S + c4·S(S) − 4c4·η, so each cell needs 5 loads of S instead of 12 of η.
    """
    for y in range(ny):
        r0, rm2, rp2, out = e[y + G], e[y + G - 2], e[y + G + 2], sr[y + 2]
        for x in range(nx):
            out[x + 2] = r0[x + G + 2] + r0[x + G - 2] + rp2[x + G] + rm2[x + G]
        out[1], out[0] = out[2], out[3]
        out[nx + 2], out[nx + 3] = out[nx + 1], out[nx]
    sr[1, :] = sr[2, :]
    sr[0, :] = sr[3, :]
    sr[ny + 2, :] = sr[ny + 1, :]
    sr[ny + 3, :] = sr[ny, :]


@njit(inline="always", **_JIT)  # inlined into the sweep: about 9 % faster
def _q_row(e: np.ndarray, eo: np.ndarray, sr: np.ndarray, qr: np.ndarray, y: int, nx: int,
           st: np.ndarray, a_coef: np.float32, kappa: np.float32, nu_dt: np.float32,
           nterms: int) -> None:
    """One row of q = A(η + κη²) − B L_w η + C L_w² η + ν η_t, with its mirror ends.

    κη is clipped to ±NL_CLIP: the local wave speed then stays within the CFL
    margin however hard the motors drive (the model saturates instead of blowing up).
    The caller passes every coefficient pre-multiplied by the update's constant
    factors (dt²/dx², and 1/(1+γdt) when uniform) and ``st[0]`` = c0 − 4c4 + ν/dt,
    so each cell costs as few operations as the model allows.
    """
    lo, hi = np.float32(-NL_CLIP), np.float32(NL_CLIP)
    # Row views and constant non-negative offsets: numba then drops its negative-
    # index wraparound checks and LLVM vectorises the row (12x faster than e[y, x±2]).
    c0, c2, c4 = st[0], st[1], st[2]
    r0, ro = e[y + G], eo[y + G]
    if nterms == 1:  # non-dispersive: q is local
        for x in range(nx):
            v = r0[x + G]
            qr[x + 1] = v * (c0 + a_coef * min(max(kappa * v, lo), hi)) - nu_dt * ro[x + G]
    else:
        s0, sm, sp = sr[y + 2], sr[y], sr[y + 4]
        for x in range(nx):
            v = r0[x + G]
            ss = s0[x + 4] + s0[x] + sp[x + 2] + sm[x + 2]
            qr[x + 1] = (v * (c0 + a_coef * min(max(kappa * v, lo), hi)) + c2 * s0[x + 2]
                         + c4 * ss - nu_dt * ro[x + G])
    qr[0] = qr[1]  # the stencils commute with the wall reflection
    qr[nx + 1] = qr[nx]


@njit(**_JIT)
def _substep(e: np.ndarray, eo: np.ndarray, q: np.ndarray, sr: np.ndarray, ny: int, nx: int,
             st: np.ndarray,
             a_coef: np.float32, kappa: np.float32, nu_dt: np.float32, nterms: int, dn: np.ndarray,
             do: np.ndarray, force: np.ndarray, sources: np.ndarray, boxes: np.ndarray) -> None:
    """eo ← (2e − (1−γdt) eo + dt² ∇²q) / (1+γdt) + dt² sources, in one sweep.

    Row y+1 of q is computed just before row y of the update needs it, while the
    rows are still in L1 (the viscous term reads eo's row before it is replaced).
    Each finished row gets its motors' push, its mirrored side ghosts and, near
    the top and bottom walls, its mirrored ghost row: eo leaves complete.
    """
    two, four = np.float32(2.0), np.float32(4.0)
    n_motors = force.shape[0]
    if nterms != 1:
        _ring_sum(e, sr, ny, nx)
    _q_row(e, eo, sr, q[1], 0, nx, st, a_coef, kappa, nu_dt, nterms)
    q[0, :] = q[1, :]
    for y in range(ny):
        if y + 1 < ny:
            _q_row(e, eo, sr, q[y + 2], y + 1, nx, st, a_coef, kappa, nu_dt, nterms)
        else:
            q[ny + 1, :] = q[ny, :]
        r0, ro = e[y + G], eo[y + G]
        qm, qc, qp = q[y], q[y + 1], q[y + 2]
        if dn.shape[0] == 1:  # uniform damping: q carries dt²/dx²/(1+γdt) already
            a2, b2 = dn[0, 0] * two, dn[0, 0] * do[0, 0]
            for x in range(nx):
                lap = qc[x + 2] + qc[x] + qp[x + 1] + qm[x + 1] - four * qc[x + 1]
                ro[x + G] = a2 * r0[x + G] - b2 * ro[x + G] + lap
        else:  # a sponge along the walls: damping per cell; q carries dt²/dx²
            dnr, dor = dn[y], do[y]
            for x in range(nx):
                lap = qc[x + 2] + qc[x] + qp[x + 1] + qm[x + 1] - four * qc[x + 1]
                ro[x + G] = dnr[x] * (two * r0[x + G] - dor[x] * ro[x + G] + lap)
        for m in range(n_motors):
            f = force[m]
            if f != 0 and boxes[m, 0] <= y < boxes[m, 1]:
                srow = sources[m, y]
                for x in range(boxes[m, 2], boxes[m, 3]):
                    ro[x + G] += f * srow[x]
        for j in range(G):  # mirror this row's side ghosts while it is in L1
            ro[G - 1 - j] = ro[G + j]
            ro[G + nx + j] = ro[G + nx - 1 - j]
        if y < G:  # ghost rows mirror the first and last G rows
            eo[G - 1 - y, :] = ro
        if y >= ny - G:
            eo[G + ny + (ny - 1 - y), :] = ro


@njit(**_JIT)
def _render(e: np.ndarray, ny: int, nx: int, illum: np.ndarray, gain: np.float32,
            floor: np.float32, noise: np.ndarray, oy: int, ox: int,
            read2: np.float32, shot2: np.float32, out: np.ndarray) -> None:
    """Overhead camera: light through a curved surface, a saturating sensor, noise.

    Light leaving the surface is bent by (n−1)·slope; at the screen its density
    is 1/|1 + D ∇²η| (crests focus, troughs spread: caustics). The sensor
    saturates as x/(1+x); noise has a read floor plus shot noise ∝ √level.
    """
    one, four = np.float32(1.0), np.float32(4.0)
    full, half, zero = np.float32(255.0), np.float32(0.5), np.float32(0.0)
    for y in range(ny):
        r0, rm, rp = e[y + G], e[y + G - 1], e[y + G + 1]
        il, nz, o = illum[y], noise[oy + y], out[y]
        for x in range(nx):
            jac = one + gain * (r0[x + G + 1] + r0[x + G - 1] + rp[x + G] + rm[x + G]
                                - four * r0[x + G])
            jac = max(abs(jac), floor)
            xl = il[x]
            level = full * xl / (jac + xl)
            level += nz[x + ox] * math.sqrt(read2 + shot2 * level)
            level = min(max(level, zero), full)
            o[x] = np.uint8(level + half)


@njit(**_JIT)
def advance_numba(e: np.ndarray, eo: np.ndarray, q: np.ndarray, amp: np.ndarray,
                  step0: int, duty: np.ndarray, steps_per_motor: int, substeps: int,
                  st: np.ndarray, scal: np.ndarray, dn: np.ndarray, do: np.ndarray,
                  sources: np.ndarray, boxes: np.ndarray, omega: np.ndarray, phase: np.ndarray,
                  illum: np.ndarray, noise: np.ndarray, noise_idx: np.ndarray,
                  frames: np.ndarray, heights: np.ndarray) -> int:
    """Advance ``len(duty) * steps_per_motor`` steps from global step ``step0``.

    ``e``/``eo`` are the padded current/previous heights and are swapped in
    place (on return ``e`` holds the newest field). ``scal`` packs the scalars
    [dt, A, ν/dt, dt²/dx², D/dx², floor, read², shot², α_motor, n_terms, κ].
    Frames land in ``frames`` (and ``heights`` when it has rows). Returns the
    number of frames written.
    """
    g = G
    ny, nx = q.shape[0] - 2, q.shape[1] - 2
    dt = scal[0]
    a_coef, nu_dt, kappa = np.float32(scal[1]), np.float32(scal[2]), np.float32(scal[10])
    k2, gain, floor = np.float32(scal[3]), np.float32(scal[4]), np.float32(scal[5])
    read2, shot2, alpha = np.float32(scal[6]), np.float32(scal[7]), scal[8]
    nterms = int(scal[9])
    dt2 = dt * dt
    # fold the update's constant factors into q's coefficients (fewer operations a cell)
    qs = k2 * (dn[0, 0] if dn.shape[0] == 1 else np.float32(1.0))
    stf = np.empty(3, np.float32)
    stf[0] = (st[0] - 4 * st[2] + nu_dt) * qs  # c4·S(S) brings 4c4·η along; take it off
    stf[1], stf[2] = st[1] * qs, st[2] * qs  # (the diagonal weight is 2c4: inside S(S))
    sr = np.empty((ny + 4, nx + 4), np.float32)
    a_q, nu_q = np.float32(a_coef * qs), np.float32(nu_dt * qs)
    n_motors = amp.shape[0]
    n_steps = duty.shape[0] * steps_per_motor
    keep_h = heights.shape[0] > 0
    cur, old = e, eo
    nf = 0
    force = np.zeros(n_motors, np.float32)
    fill_ghosts(cur, g, ny, nx)  # after this every sweep leaves its output complete
    for s in range(n_steps):
        k = step0 + s
        d = duty[s // steps_per_motor]
        t = (k + 1) * dt  # the sources act over the step that ends at t
        for m in range(n_motors):
            amp[m] += alpha * (d[m] - amp[m])
            force[m] = np.float32(dt2 * amp[m] * math.sin(omega[m] * t + phase[m]))
        _substep(cur, old, q, sr, ny, nx, stf, a_q, kappa, nu_q, nterms, dn, do, force,
                 sources, boxes)
        cur, old = old, cur
        if (k + 1) % substeps == 0:
            _render(cur, ny, nx, illum, gain, floor, noise[noise_idx[nf, 0]],
                    noise_idx[nf, 1], noise_idx[nf, 2], read2, shot2, frames[nf])
            if keep_h:
                heights[nf] = cur[g:g + ny, g:g + nx]
            nf += 1
    if n_steps % 2 == 1:  # hand the newest field back in ``e``
        tmp = np.empty_like(e)
        tmp[:] = e
        e[:] = eo
        eo[:] = tmp
    return nf
