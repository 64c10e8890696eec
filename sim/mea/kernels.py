"""The culture's time step as one numba kernel: neurons, synapses, delays, depression, STDP.

One call advances a whole apply (many 0.1 ms steps). Per step: the synaptic
currents decay and take what the delay rings deliver now (AMPA-like,
NMDA-like from the same excitatory arrivals, GABA-like), the Izhikevich
neurons integrate (one flat loop LLVM vectorises: no branches in it),
background events and stimulation kicks land, and every neuron over 30 mV
spikes: it is reset, and each of its synapses writes its weight times the
release the depression allows into the ring slot ``delay`` steps ahead.

The cost is per-step work, not spikes (as measured for this network), so
what is per neuron per step is kept to a few multiply-adds: depression and
STDP traces decay lazily (an ``exp`` per *spike*, from the step of the last
update, not per step), and the background drive arrives as events drawn for
a whole apply at once (per-neuron per-step random draws cost a third of the
time). ``error_model='numpy'``: no division inside the loops (constants are
passed as factors). One thread; ``cache=True`` keeps compilation out of tests
after the first run.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["advance"]

_JIT = {"cache": True, "fastmath": True, "error_model": "numpy", "nogil": True}
#: spike peak (mV): a neuron at or above it fires and is reset (Izhikevich 2003)
V_PEAK = 30.0


_F = np.float32
_C1, _C2, _C3, _PEAK = _F(0.04), _F(5.0), _F(140.0), _F(V_PEAK)


@njit(**_JIT)
def _integrate(v, u, ga, gn, gg, re, ri, a, b, dt, da, dn, dg, nmda):
    """Currents decay and take this step's arrivals; one Euler step of every neuron.

    Float32 throughout (the constants too: one float64 literal would halve the
    vector width). Returns how many neurons reached the peak, so the spike scan
    runs only on steps that have spikes.
    """
    fired = 0
    for i in range(v.shape[0]):
        e = re[i]
        ga[i] = ga[i] * da + e
        gn[i] = gn[i] * dn + e * nmda
        gg[i] = gg[i] * dg + ri[i]
        re[i] = 0
        ri[i] = 0
        vi = v[i]
        ui = u[i]
        current = ga[i] + gn[i] - gg[i]
        vn = vi + dt * (_C1 * vi * vi + _C2 * vi + _C3 - ui + current)
        v[i] = vn
        u[i] = ui + dt * a[i] * (b[i] * vi - ui)
        fired += vn >= _PEAK
    return fired


@njit(**_JIT)
def advance(
    st_v: np.ndarray,
    st_u: np.ndarray,
    st_ga: np.ndarray,
    st_gn: np.ndarray,
    st_gg: np.ndarray,
    ring_e: np.ndarray,
    ring_i: np.ndarray,
    stp_x: np.ndarray,
    stp_last: np.ndarray,
    tr_pre: np.ndarray,
    tr_post: np.ndarray,
    last_pre: np.ndarray,
    last_post: np.ndarray,
    syn_w: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    exc: np.ndarray,
    syn_ptr: np.ndarray,
    syn_post: np.ndarray,
    syn_delay: np.ndarray,
    in_ptr: np.ndarray,
    in_syn: np.ndarray,
    in_pre: np.ndarray,
    bg_ptr: np.ndarray,
    bg_neuron: np.ndarray,
    kick_ptr: np.ndarray,
    kick_neuron: np.ndarray,
    consts: np.ndarray,
    clock: int,
    t_start: int,
    n_steps: int,
    out_step: np.ndarray,
    out_neuron: np.ndarray,
    n_out: int,
) -> tuple[int, int]:
    """Advance steps ``t_start .. n_steps-1`` of this apply; global step of step 0 is ``clock``.

    ``consts``: dt, AMPA/NMDA/GABA decay per step, NMDA ratio, background
    weight, STP U, STP 1/τ_rec (per step), STDP on (0/1), A+, A−, 1/τ_stdp
    (per step), w_max. Spikes go to ``out_step``/``out_neuron`` from
    ``n_out``. Returns (spikes written, steps done): the kernel stops at a
    step boundary when the output might not hold another step's spikes, and
    the caller grows the buffers and calls again from there.
    """
    dt, da, dn, dg = _F(consts[0]), _F(consts[1]), _F(consts[2]), _F(consts[3])
    nmda, w_bg = _F(consts[4]), _F(consts[5])
    stp_u, stp_rate = consts[6], consts[7]
    stdp = consts[8] > 0.5
    a_plus, a_minus, stdp_rate, w_max = consts[9], consts[10], consts[11], consts[12]
    n = st_v.shape[0]
    depth = ring_e.shape[0]
    cap = out_step.shape[0]
    k = n_out
    for t in range(t_start, n_steps):
        if cap - k < n:
            return k, t
        now = clock + t
        slot = now % depth
        fired = _integrate(
            st_v, st_u, st_ga, st_gn, st_gg, ring_e[slot], ring_i[slot], a, b, dt, da, dn, dg, nmda
        )
        for q in range(bg_ptr[t], bg_ptr[t + 1]):
            st_ga[bg_neuron[q]] += w_bg
        for q in range(kick_ptr[t], kick_ptr[t + 1]):
            st_v[kick_neuron[q]] = _PEAK  # recruited by a stimulation pulse: fires now
            fired += 1
        if fired == 0:
            continue
        for j in range(n):
            if st_v[j] < _PEAK:
                continue
            st_v[j] = c[j]
            st_u[j] += d[j]
            out_step[k] = t
            out_neuron[k] = j
            k += 1
            # depression: recover since the last spike, then use a fraction U
            x = 1.0 - (1.0 - stp_x[j]) * math.exp(-(now - stp_last[j]) * stp_rate)
            release = stp_u * x
            stp_x[j] = x - release
            stp_last[j] = now
            ring = ring_e if exc[j] else ring_i
            if stdp:
                pre_tr = tr_pre[j] * math.exp(-(now - last_pre[j]) * stdp_rate) + 1.0
                tr_pre[j] = pre_tr
                last_pre[j] = now
                post_tr = tr_post[j] * math.exp(-(now - last_post[j]) * stdp_rate) + 1.0
                tr_post[j] = post_tr
                last_post[j] = now
            for s in range(syn_ptr[j], syn_ptr[j + 1]):
                row = slot + syn_delay[s]
                if row >= depth:
                    row -= depth
                post = syn_post[s]
                if stdp and exc[j]:  # pre after post: depress by the post trace
                    tr = tr_post[post] * math.exp(-(now - last_post[post]) * stdp_rate)
                    syn_w[s] = max(0.0, syn_w[s] - a_minus * w_max * tr)
                ring[row, post] += syn_w[s] * release
            if stdp:  # post after pre: potentiate incoming excitatory synapses
                for q in range(in_ptr[j], in_ptr[j + 1]):
                    s = in_syn[q]
                    pre = in_pre[q]
                    if exc[pre]:
                        tr = tr_pre[pre] * math.exp(-(now - last_pre[pre]) * stdp_rate)
                        syn_w[s] = min(w_max, syn_w[s] + a_plus * w_max * tr)
    return k, n_steps
