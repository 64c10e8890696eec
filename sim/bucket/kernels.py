"""The tank's time step and the overhead camera, as fused numba kernels.

One call advances a whole chunk of motor samples: every physics substep (ghost
cells, the dispersive q-stencil, the leapfrog update, the motor sources) and,
on each camera frame, the render (caustic brightness from the surface's
curvature, lamp, saturating sensor, noise drawn ahead of time, and the
INTER_AREA downsample when frames are smaller than the grid). Each physics
pass runs over the padded grid as one flat loop (no per-row overhead; garbage
computed in ghost columns is overwritten by the wall mirror or never read),
through views at constant non-negative offsets so numba drops its wraparound
checks and LLVM vectorises (about 10× for the whole step). Float32 with
``error_model='numpy'``: a division under Python's error model cannot be
vectorised (about 7× slower, measured). One thread: nothing here is
``parallel``. ``cache=True`` keeps compile time out of tests after the first
run. :mod:`physres.sim.bucket.reference` is the same model in plain NumPy, the
baseline the bench compares against.
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
#: padded width of the default 128-cell grid: :func:`_step_field` has a fused fast path
#: compiled for exactly this width (see :func:`_ring_q_fold`)
_W_DEFAULT = 128 + 2 * G


@njit(**_JIT)
def fill_ghosts(a: np.ndarray, g: int, ny: int, nx: int) -> None:
    """Mirror the interior into ``g`` ghost layers: reflecting (zero-slope) walls."""
    for y in range(g, g + ny):
        r = a[y]
        for j in range(g):
            r[g - 1 - j] = r[g + j]
            r[g + nx + j] = r[g + nx - 1 - j]
    for j in range(g):  # whole rows, corners included: contiguous copies
        a[g - 1 - j, :] = a[g + j, :]
        a[g + ny + j, :] = a[g + ny - 1 - j, :]


@njit(**_JIT)
def _ring_sum(e: np.ndarray, s: np.ndarray, lo: int, hi: int, w: int) -> None:
    """S = the four neighbours at distance 2 of every cell, on the flat padded grid.

    The dispersive stencil factors through S: q's ±2, ±4 and diagonal terms are
    c2·S + c4·S(S) − 4c4·η, so each cell needs 5 loads of S instead of 12 of η.
    Computed for rows G−2..G+ny+1 straight from the mirrored η (S of a mirrored
    field is mirrored), so S(S) at the walls needs no extra pass. Treating the
    padded grid as one flat run lets LLVM vectorise a single long loop with no
    per-row overhead; the values wrapped across rows land only in ghost columns
    0, 1, w−2, w−1, which no interior stencil reads.
    """
    # views at constant non-negative offsets: numba then drops its negative-index
    # wraparound checks, which would otherwise stop LLVM vectorising
    n = hi - lo
    el, er, eu, ed, out = (e[lo - 2:hi - 2], e[lo + 2:hi + 2], e[lo - 2 * w:hi - 2 * w],
                           e[lo + 2 * w:hi + 2 * w], s[lo:hi])
    for i in range(n):
        out[i] = el[i] + er[i] + eu[i] + ed[i]


@njit(**_JIT)
def _q_flat(e: np.ndarray, eo: np.ndarray, s: np.ndarray, q: np.ndarray, lo: int, hi: int,
            w: int, c0: np.float32, c2: np.float32, c4: np.float32, a_coef: np.float32,
            kappa: np.float32, nu_dt: np.float32, nterms: int, fold: bool, a2: np.float32,
            b2: np.float32) -> None:
    """q = A(η + κη²) − B L_w η + C L_w² η + ν η_t over the interior rows (flat run).

    κη is clipped to ±NL_CLIP: the local wave speed then stays within the CFL
    margin however hard the motors drive (the model saturates instead of blowing up).
    The caller passes every coefficient pre-multiplied by the update's constant
    factors (dt²/dx², and 1/(1+γdt) when uniform) and ``c0`` = c0 − 4c4 + ν/dt,
    so each cell costs as few operations as the model allows. With ``fold``
    (uniform damping) this pass, the last to read eo, also writes the update's
    local part a2·η − b2·η_old − 4q into eo: the update then only adds q's four
    neighbours (two loads and three operations fewer a cell).
    """
    lo_c, hi_c = np.float32(-NL_CLIP), np.float32(NL_CLIP)
    four = np.float32(4.0)
    n = hi - lo
    ec, oc, qc = e[lo:hi], eo[lo:hi], q[lo:hi]
    if nterms == 1:  # non-dispersive: q is local
        for i in range(n):
            v, o = ec[i], oc[i]
            qv = v * (c0 + a_coef * min(max(kappa * v, lo_c), hi_c)) - nu_dt * o
            qc[i] = qv
            if fold:
                oc[i] = a2 * v - b2 * o - four * qv
        return
    sc, sl, sr, su, sd = (s[lo:hi], s[lo - 2:hi - 2], s[lo + 2:hi + 2],
                          s[lo - 2 * w:hi - 2 * w], s[lo + 2 * w:hi + 2 * w])
    if fold:
        for i in range(n):
            v, o = ec[i], oc[i]
            ss = sl[i] + sr[i] + su[i] + sd[i]
            qv = (v * (c0 + a_coef * min(max(kappa * v, lo_c), hi_c)) + c2 * sc[i]
                  + c4 * ss - nu_dt * o)
            qc[i] = qv
            oc[i] = a2 * v - b2 * o - four * qv
    else:
        for i in range(n):
            v = ec[i]
            ss = sl[i] + sr[i] + su[i] + sd[i]
            qc[i] = (v * (c0 + a_coef * min(max(kappa * v, lo_c), hi_c)) + c2 * sc[i]
                     + c4 * ss - nu_dt * oc[i])


@njit(inline="always", **_JIT)
def _ring_q_fold(e: np.ndarray, eo: np.ndarray, s: np.ndarray, q: np.ndarray, lo: int,
                 hi: int, w: int, c0: np.float32, c2: np.float32, c4: np.float32,
                 a_coef: np.float32, kappa: np.float32, nu_dt: np.float32, a2: np.float32,
                 b2: np.float32) -> None:
    """:func:`_ring_sum` two rows ahead and the folded dispersive :func:`_q_flat`, in one loop.

    At q's cell (r, c) it first makes S at (r+2, c), which is also the last S the
    cell needs, so that one comes from a register and η's centre load is shared.
    S rows G−2..G+2 must exist already. S is written and read through one base
    at offsets 2w−2 apart: LLVM vectorises only when it can see that distance,
    i.e. when ``w`` is a compile-time constant, so this is inlined and called
    with a literal width (see :func:`_step_field`); with a run-time ``w`` it runs
    scalar, about 4× slower than the two passes.
    """
    lo_c, hi_c = np.float32(-NL_CLIP), np.float32(NL_CLIP)
    four = np.float32(4.0)
    w2, w4 = 2 * w, 4 * w
    eb, sb = e[lo:], s[lo - w2:]
    oc, qc = eo[lo:hi], q[lo:hi]
    for k in range(hi - lo):
        v, o = eb[k], oc[k]
        s_new = eb[k + w2 - 2] + eb[k + w2 + 2] + v + eb[k + w4]  # S at (r+2, c)
        sb[k + w4] = s_new
        ss = sb[k + w2 - 2] + sb[k + w2 + 2] + sb[k] + s_new
        qv = (v * (c0 + a_coef * min(max(kappa * v, lo_c), hi_c)) + c2 * sb[k + w2]
              + c4 * ss - nu_dt * o)
        qc[k] = qv
        oc[k] = a2 * v - b2 * o - four * qv


@njit(**_JIT)
def _mirror_q(q: np.ndarray, ny: int, nx: int) -> None:
    """One mirrored ring around q's interior: all the 5-point ∇² needs.

    The stencils commute with the wall reflection, so this equals q of the
    mirrored field.
    """
    for y in range(G, G + ny):
        r = q[y]
        r[G - 1] = r[G]
        r[G + nx] = r[G + nx - 1]
    q[G - 1, G:G + nx] = q[G, G:G + nx]
    q[G + ny, G:G + nx] = q[G + ny - 1, G:G + nx]


@njit(**_JIT)
def _update_uniform(eo: np.ndarray, q: np.ndarray, lo: int, hi: int, w: int) -> None:
    """eo += q's four neighbours: with eo = 2e/(1+γdt) − eo(1−γdt)/(1+γdt) − 4q from
    :func:`_q_flat`, this completes eo ← … + ∇²q (q carries dt²/dx²/(1+γdt) already)."""
    oc, ql, qr, qu, qd = (eo[lo:hi], q[lo - 1:hi - 1], q[lo + 1:hi + 1], q[lo - w:hi - w],
                          q[lo + w:hi + w])
    for i in range(hi - lo):
        oc[i] += (ql[i] + qr[i]) + (qu[i] + qd[i])


@njit(**_JIT)
def _update_sponge(e: np.ndarray, eo: np.ndarray, q: np.ndarray, lo: int, hi: int, w: int,
                   dn: np.ndarray, do: np.ndarray) -> None:
    """The same with damping per cell (a sponge along the walls); q carries dt²/dx²."""
    two, four = np.float32(2.0), np.float32(4.0)
    ec, oc, qc, ql, qr, qu, qd = (e[lo:hi], eo[lo:hi], q[lo:hi], q[lo - 1:hi - 1],
                                  q[lo + 1:hi + 1], q[lo - w:hi - w], q[lo + w:hi + w])
    dc, pc = dn[lo:hi], do[lo:hi]
    for i in range(hi - lo):
        lap = ql[i] + qr[i] + qu[i] + qd[i] - four * qc[i]
        oc[i] = dc[i] * (two * ec[i] - pc[i] * oc[i] + lap)


@njit(**_JIT)
def _step_field(e: np.ndarray, eo: np.ndarray, s: np.ndarray, q: np.ndarray, ny: int, nx: int,
                coef: np.ndarray, nterms: int, uniform: bool, dn: np.ndarray,
                do: np.ndarray) -> None:
    """One leapfrog step into ``eo`` (interior; its ghosts are the caller's): S, q, update.

    Each pass is one flat run over the padded grid. Blocking the three passes
    by rows so they share L1 measured no faster (the 74 kB fields stay in the
    1 MB L2; the passes are bound by arithmetic and loads, about 1.7 cycles a
    cell in all). With uniform damping the q pass, the last to read the old
    field, also writes the update's local part into eo (see :func:`_q_flat`).
    ``coef`` = [c0, c2, c4, A, κ, ν, a2, b2] (see :func:`advance_numba`).
    """
    hp, w = e.shape
    e1, o1, q1 = e.reshape(hp * w), eo.reshape(hp * w), q.reshape(hp * w)
    lo, hi = G * w + G, (G + ny - 1) * w + G + nx  # the interior rows' run
    if nterms != 1 and uniform and w == _W_DEFAULT:
        # the default tank: S rows G-2..G+2 first, the rest fused into q's pass
        _ring_sum(e1, s, (G - 2) * w + 2, (G + 3) * w - 2, w)
        _ring_q_fold(e1, o1, s, q1, lo, hi, _W_DEFAULT, coef[0], coef[1], coef[2], coef[3],
                     coef[4], coef[5], coef[6], coef[7])
    else:
        if nterms != 1:  # S on rows G-2..G+ny+1, columns 2..w-3
            _ring_sum(e1, s, (G - 2) * w + 2, (G + ny + 2) * w - 2, w)
        _q_flat(e1, o1, s, q1, lo, hi, w, coef[0], coef[1], coef[2], coef[3], coef[4],
                coef[5], nterms, uniform, coef[6], coef[7])
    _mirror_q(q, ny, nx)
    if uniform:
        _update_uniform(o1, q1, lo, hi, w)
    else:
        _update_sponge(e1, o1, q1, lo, hi, w, dn, do)


@njit(**_JIT)
def _push_and_mirror(eo: np.ndarray, ny: int, nx: int, force: np.ndarray, sources: np.ndarray,
                     boxes: np.ndarray) -> None:
    """Add each running motor's push to the new field, then refill its ghost cells."""
    for m in range(force.shape[0]):
        f = force[m]
        if f != 0:
            for y in range(boxes[m, 0], boxes[m, 1]):
                ro, srow = eo[y + G], sources[m, y]
                for x in range(boxes[m, 2], boxes[m, 3]):
                    ro[x + G] += f * srow[x]
    fill_ghosts(eo, G, ny, nx)


@njit(inline="always", **_JIT)
def _pixel(r0: np.ndarray, rm: np.ndarray, rp: np.ndarray, il: np.ndarray, nz: np.ndarray,
           x: int, ox: int, gain: np.float32, floor: np.float32, read2: np.float32,
           shot2: np.float32) -> np.float32:
    """Grey level (0..255, not yet rounded) of pixel x of a row: see :func:`_render`."""
    one, four = np.float32(1.0), np.float32(4.0)
    full, zero = np.float32(255.0), np.float32(0.0)
    jac = one + gain * (r0[x + G + 1] + r0[x + G - 1] + rp[x + G] + rm[x + G]
                        - four * r0[x + G])
    jac = max(abs(jac), floor)
    xl = il[x]
    level = full * xl / (jac + xl)
    level += nz[x + ox] * math.sqrt(read2 + shot2 * level)
    return min(max(level, zero), full)


@njit(**_JIT)
def _render(e: np.ndarray, ny: int, nx: int, illum: np.ndarray, gain: np.float32,
            floor: np.float32, noise: np.ndarray, oy: int, ox: int,
            read2: np.float32, shot2: np.float32, out: np.ndarray, row: np.ndarray) -> None:
    """Overhead camera: light through a curved surface, a saturating sensor, noise.

    Light leaving the surface is bent by (n−1)·slope; at the screen its density
    is 1/|1 + D ∇²η| (crests focus, troughs spread: caustics). The sensor
    saturates as x/(1+x); noise has a read floor plus shot noise ∝ √level.
    When ``out`` is smaller than the grid by whole factors, each output pixel is
    the mean of its block (INTER_AREA), taken before rounding to 8 bits, in the
    same pass: no full-size frame is written. ``row`` is an (nx,) float32 buffer.
    """
    one, half, zero = np.float32(1.0), np.float32(0.5), np.float32(0.0)
    fy, fx = ny // out.shape[0], nx // out.shape[1]
    nxo = out.shape[1]
    inv = np.float32(1.0 / (fy * fx))
    for y in range(ny):
        r0, rm, rp = e[y + G], e[y + G - 1], e[y + G + 1]
        il, nz = illum[y], noise[oy + y]
        if fy == 1 and fx == 1:  # full size: straight to 8 bits
            o = out[y]
            for x in range(nx):
                o[x] = np.uint8(_pixel(r0, rm, rp, il, nz, x, ox, gain, floor, read2, shot2)
                                + half)
            continue
        keep = zero if y % fy == 0 else one  # row sums the block's rows (INTER_AREA)
        for x in range(nx):
            row[x] = keep * row[x] + _pixel(r0, rm, rp, il, nz, x, ox, gain, floor, read2, shot2)
        if y % fy != fy - 1:
            continue
        o = out[y // fy]
        for j in range(nxo):
            s = zero
            for x in range(j * fx, j * fx + fx):
                s += row[x]
            o[j] = np.uint8(s * inv + half)


@njit(**_JIT)
def advance_numba(e: np.ndarray, eo: np.ndarray, q: np.ndarray, amp: np.ndarray,
                  step0: int, duty: np.ndarray, steps_per_motor: int, substeps: int,
                  st: np.ndarray, scal: np.ndarray, dn: np.ndarray, do: np.ndarray,
                  sources: np.ndarray, boxes: np.ndarray, omega: np.ndarray, phase: np.ndarray,
                  illum: np.ndarray, noise: np.ndarray, noise_idx: np.ndarray,
                  frames: np.ndarray, heights: np.ndarray, work: np.ndarray) -> int:
    """Advance ``len(duty) * steps_per_motor`` steps from global step ``step0``.

    ``e``/``eo`` are the padded current/previous heights and are swapped in
    place (on return ``e`` holds the newest field). ``scal`` packs the scalars
    [dt, A, ν/dt, dt²/dx², D/dx², floor, read², shot², α_motor, n_terms, κ].
    Frames land in ``frames`` (and ``heights`` when it has rows); frames
    smaller than the grid by whole factors are block means (INTER_AREA) from
    the same pass. ``work`` is a (2, ny+2G, nx+2G) float32 scratch. Returns
    the number of frames written.
    """
    g = G
    hp, w = e.shape
    ny, nx = hp - 2 * g, w - 2 * g
    dt = scal[0]
    a_coef, nu_dt, kappa = np.float32(scal[1]), np.float32(scal[2]), np.float32(scal[10])
    k2, gain, floor = np.float32(scal[3]), np.float32(scal[4]), np.float32(scal[5])
    read2, shot2, alpha = np.float32(scal[6]), np.float32(scal[7]), scal[8]
    nterms = int(scal[9])
    dt2 = dt * dt
    uniform = dn.shape[0] == 1
    # fold the update's constant factors into q's coefficients (fewer operations a cell)
    qs = k2 * (dn[0, 0] if uniform else np.float32(1.0))
    c0 = np.float32((st[0] - 4 * st[2] + nu_dt) * qs)  # c4·S(S) brings 4c4·η along
    c2, c4 = np.float32(st[1] * qs), np.float32(st[2] * qs)  # (diagonal 2c4: inside S(S))
    a_q, nu_q = np.float32(a_coef * qs), np.float32(nu_dt * qs)
    a2 = np.float32(2.0) * dn[0, 0]
    b2 = dn[0, 0] * do[0, 0]
    coef = np.array([c0, c2, c4, a_q, kappa, nu_q, a2, b2], np.float32)
    s_buf, q_buf = work[0].reshape(hp * w), work[1]
    if uniform:  # the sponge's per-cell damping, padded like the field (flat runs)
        dn1 = do1 = np.ones(1, np.float32)
    else:
        dnp = np.ones((hp, w), np.float32)
        dop = np.ones((hp, w), np.float32)
        dnp[g:g + ny, g:g + nx] = dn
        dop[g:g + ny, g:g + nx] = do
        dn1, do1 = dnp.reshape(hp * w), dop.reshape(hp * w)
    n_motors = amp.shape[0]
    n_steps = duty.shape[0] * steps_per_motor
    keep_h = heights.shape[0] > 0
    cur, old = e, eo
    nf = 0
    force = np.zeros(n_motors, np.float32)
    row = np.empty(nx, np.float32)
    fill_ghosts(cur, g, ny, nx)  # after this every step leaves its output complete
    for s in range(n_steps):
        k = step0 + s
        d = duty[s // steps_per_motor]
        t = (k + 1) * dt  # the sources act over the step that ends at t
        for m in range(n_motors):
            amp[m] += alpha * (d[m] - amp[m])
            force[m] = np.float32(dt2 * amp[m] * math.sin(omega[m] * t + phase[m]))
        _step_field(cur, old, s_buf, q_buf, ny, nx, coef, nterms, uniform, dn1, do1)
        _push_and_mirror(old, ny, nx, force, sources, boxes)
        cur, old = old, cur
        if (k + 1) % substeps == 0:
            _render(cur, ny, nx, illum, gain, floor, noise[noise_idx[nf, 0]],
                    noise_idx[nf, 1], noise_idx[nf, 2], read2, shot2, frames[nf], row)
            if keep_h:
                heights[nf] = cur[g:g + ny, g:g + nx]
            nf += 1
    if n_steps % 2 == 1:  # hand the newest field back in ``e``
        tmp = np.empty_like(e)
        tmp[:] = e
        e[:] = eo
        eo[:] = tmp
    return nf
