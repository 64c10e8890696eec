"""The same tank and camera as :mod:`~physres.sim.bucket.kernels`, in plain NumPy slicing.

This is the readable statement of the model and the baseline ``bench/bucket.py``
measures the compiled kernels against; a unit test holds the two to the same
numbers.
"""

from __future__ import annotations

import numpy as np

from physres.sim.bucket.kernels import NL_CLIP

__all__ = ["advance_numpy"]


def _ghosts(a: np.ndarray, g: int) -> None:
    """Mirror the interior into ``g`` ghost layers (reflecting walls)."""
    a[:g, :] = a[2 * g - 1:g - 1:-1, :] if g > 1 else a[g:g + 1, :]
    a[-g:, :] = a[-g - 1:-2 * g - 1:-1, :]
    a[:, :g] = a[:, 2 * g - 1:g - 1:-1] if g > 1 else a[:, g:g + 1]
    a[:, -g:] = a[:, -g - 1:-2 * g - 1:-1]


def advance_numpy(e: np.ndarray, eo: np.ndarray, q: np.ndarray, amp: np.ndarray,
                  step0: int, duty: np.ndarray, steps_per_motor: int, substeps: int,
                  st: np.ndarray, scal: np.ndarray, dn: np.ndarray, do: np.ndarray,
                  sources: np.ndarray, boxes: np.ndarray, omega: np.ndarray, phase: np.ndarray,
                  illum: np.ndarray, noise: np.ndarray, noise_idx: np.ndarray,
                  frames: np.ndarray, heights: np.ndarray) -> int:
    """Same arguments and effect as :func:`~physres.sim.bucket.kernels.advance_numba`."""
    g = (e.shape[0] - q.shape[0] + 2) // 2
    ny, nx = q.shape[0] - 2, q.shape[1] - 2
    dt = float(scal[0])
    f32 = np.float32
    a_coef, nu_dt, k2, gain, floor, read2, shot2 = (f32(v) for v in scal[1:8])
    kappa = f32(scal[10])
    alpha = float(scal[8])
    c0, c2, c4, cd = (f32(v) for v in st)
    I, J = slice(g, g + ny), slice(g, g + nx)  # noqa: E741 - interior rows/cols

    def sh(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
        return a[g + dy:g + dy + ny, g + dx:g + dx + nx]

    cur, old = e, eo
    nf = 0
    n_steps = duty.shape[0] * steps_per_motor
    for s in range(n_steps):
        k = step0 + s
        d = duty[s // steps_per_motor]
        _ghosts(cur, g)
        v = cur[I, J]
        qi = q[1:-1, 1:-1]
        qi[...] = (c0 * v + c2 * (sh(cur, 0, 2) + sh(cur, 0, -2) + sh(cur, 2, 0) + sh(cur, -2, 0))
                   + c4 * (sh(cur, 0, 4) + sh(cur, 0, -4) + sh(cur, 4, 0) + sh(cur, -4, 0))
                   + cd * (sh(cur, 2, 2) + sh(cur, 2, -2) + sh(cur, -2, 2) + sh(cur, -2, -2))
                   + a_coef * v * np.clip(kappa * v, f32(-NL_CLIP), f32(NL_CLIP))
                   + nu_dt * (v - old[I, J]))
        q[0, 1:-1], q[-1, 1:-1] = q[1, 1:-1], q[-2, 1:-1]
        q[:, 0], q[:, -1] = q[:, 1], q[:, -2]
        lap = k2 * (q[1:-1, 2:] + q[1:-1, :-2] + q[2:, 1:-1] + q[:-2, 1:-1] - 4 * qi)
        old[I, J] = dn * (2 * v - do * old[I, J] + lap)
        t = (k + 1) * dt
        for m in range(amp.shape[0]):
            amp[m] += alpha * (d[m] - amp[m])
            f = f32(dt * dt * amp[m] * np.sin(omega[m] * t + phase[m]))
            if f != 0:
                y0, y1, x0, x1 = boxes[m]
                old[g + y0:g + y1, g + x0:g + x1] += f * sources[m, y0:y1, x0:x1]
        cur, old = old, cur
        if (k + 1) % substeps == 0:
            _ghosts(cur, g)
            v = cur[I, J]
            jac = 1 + gain * (sh(cur, 0, 1) + sh(cur, 0, -1) + sh(cur, 1, 0) + sh(cur, -1, 0)
                              - 4 * v)
            jac = np.maximum(np.abs(jac), floor)
            level = 255 * illum / (jac + illum)
            b, oy, ox = noise_idx[nf]
            level = level + noise[b, oy:oy + ny, ox:ox + nx] * np.sqrt(read2 + shot2 * level)
            frames[nf] = (np.clip(level, 0, 255) + f32(0.5)).astype(np.uint8)
            if heights.shape[0]:
                heights[nf] = v
            nf += 1
    if n_steps % 2 == 1:
        tmp = e.copy()
        e[...] = eo
        eo[...] = tmp
    return nf
