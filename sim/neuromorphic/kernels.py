"""The chip's clocked update as one numba kernel: synapses, membranes, spikes, delivery.

One call advances many steps of every neuron: last step's spikes are
delivered through the outgoing synapse table (CSR by source: each spike adds
its precomputed current jump to one synapse-type integrator of each target),
this step's input events are added, then each neuron's DPI synapses decay,
its membrane current relaxes towards the net input with exact exponential
steps (τ_mem dI/dt = −I + I_dc + ΣI_exc − ΣI_inh − I_ahp), temporal noise is
added, and a neuron whose current crosses its threshold spikes, resets to
zero, is held for its refractory steps and raises its adaptation current.
Currents are pA in float32; ``cache=True`` keeps compile time out of tests
after the first run; one thread.

Noise: a table of standard normal draws made once per seed, read as a
contiguous slice at a random offset each step (a hash or generator per
neuron and step cost more than the whole update; FIELD measurement in
``bench/neuromorphic.py``'s docstring).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["advance"]

_JIT = {"cache": True, "fastmath": True, "error_model": "numpy", "nogil": True}


@njit(**_JIT)
def _xorshift(x: np.uint64) -> np.uint64:
    x ^= x << np.uint64(13)
    x ^= x >> np.uint64(7)
    x ^= x << np.uint64(17)
    return x


@njit(**_JIT)
def advance(
    n_steps: int,
    rng: np.ndarray,
    i_mem: np.ndarray,
    i_syn: np.ndarray,
    i_ahp: np.ndarray,
    ref: np.ndarray,
    a_mem: np.ndarray,
    thr: np.ndarray,
    ref_steps: np.ndarray,
    dc: np.ndarray,
    a_ahp: np.ndarray,
    w_ahp: np.ndarray,
    a_syn: np.ndarray,
    noise_amp: np.ndarray,
    noise_table: np.ndarray,
    indptr: np.ndarray,
    syn_tgt: np.ndarray,
    syn_type: np.ndarray,
    syn_dw: np.ndarray,
    in_step: np.ndarray,
    in_tgt: np.ndarray,
    in_type: np.ndarray,
    in_w: np.ndarray,
    spk_prev: np.ndarray,
    n_prev: int,
    out_step: np.ndarray,
    out_neuron: np.ndarray,
) -> tuple[int, int, int, int, int]:
    """Run up to ``n_steps`` steps; stop early before a step that could overflow the
    output buffers. Returns (steps done, spikes written, spikes pending delivery,
    synaptic events delivered, input events consumed).

    The four synapse types are DYNAP-SE's (AMPA, NMDA excitatory; GABA_A,
    GABA_B inhibitory: rows 0–3 of ``i_syn``); a chip with fewer leaves rows
    at zero. The update is one fused pass over contiguous float32 arrays with
    no branch but selects, so LLVM vectorises it; only the refractory and
    threshold scan branches. Noise is a contiguous slice of a table of
    normal draws (made once) at an offset drawn per step by xorshift64
    (``rng[0]`` is its state); a table of n zeros and no span means no noise.
    """
    n = i_mem.shape[0]
    cap = out_step.shape[0]
    n_out = 0
    n_syn = 0
    ie = 0
    n_in = in_step.shape[0]
    span = noise_table.shape[0] - n
    noisy = span > 0
    x = rng[0]
    r0, r1, r2, r3 = i_syn[0], i_syn[1], i_syn[2], i_syn[3]
    a0, a1, a2, a3 = a_syn[0], a_syn[1], a_syn[2], a_syn[3]
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for k in range(n_steps):
        if n_out + n > cap:
            rng[0] = x
            return k, n_out, n_prev, n_syn, ie
        for p in range(n_prev):
            src = spk_prev[p]
            for j in range(indptr[src], indptr[src + 1]):
                i_syn[syn_type[j], syn_tgt[j]] += syn_dw[j]
            n_syn += indptr[src + 1] - indptr[src]
        while ie < n_in and in_step[ie] <= k:
            i_syn[in_type[ie], in_tgt[ie]] += in_w[ie]
            ie += 1
        off = 0
        if noisy:
            x = _xorshift(x)
            off = np.int64(x >> np.uint64(1)) % span
        tab = noise_table[off : off + n]
        for i in range(n):  # one fused, branch-free pass: LLVM vectorises it
            s0 = r0[i] * a0[i]
            s1 = r1[i] * a1[i]
            s2 = r2[i] * a2[i]
            s3 = r3[i] * a3[i]
            r0[i] = s0
            r1[i] = s1
            r2[i] = s2
            r3[i] = s3
            h = i_ahp[i] * a_ahp[i]
            i_ahp[i] = h
            drive = dc[i] + s0 + s1 - s2 - s3 - h + noise_amp[i] * tab[i]
            a = a_mem[i]
            m = a * i_mem[i] + (one - a) * drive
            i_mem[i] = m if m > zero else zero
        n_prev = 0
        for i in range(n):  # refractory hold and threshold: rarely taken branches
            r = ref[i]
            if r > 0:
                i_mem[i] = zero
                ref[i] = r - 1
            elif i_mem[i] >= thr[i]:
                i_mem[i] = zero
                ref[i] = ref_steps[i]
                i_ahp[i] += w_ahp[i]
                out_step[n_out] = k
                out_neuron[n_out] = i
                n_out += 1
                spk_prev[n_prev] = i
                n_prev += 1
    rng[0] = x
    return n_steps, n_out, n_prev, n_syn, ie


@njit(**_JIT)
def fifo(
    t_us: np.ndarray,
    period_us: float,
    ring: np.ndarray,
    state: np.ndarray,
    keep: np.ndarray,
    depart: np.ndarray,
) -> int:
    """A FIFO of ``ring.size`` slots drained one event per ``period_us``.

    Events arrive at ``t_us`` (sorted); one that finds the FIFO full is dropped
    (``keep`` False), the others leave at ``depart``. ``ring`` holds the
    departure times of queued events and ``state`` = (head, count, last
    departure), carried across calls. Returns the number dropped.
    """
    cap = ring.shape[0]
    head = int(state[0])
    count = int(state[1])
    last = state[2]
    dropped = 0
    for e in range(t_us.shape[0]):
        t = t_us[e]
        while count > 0 and ring[head] <= t:
            head = (head + 1) % cap
            count -= 1
        if count >= cap:
            keep[e] = False
            dropped += 1
            continue
        d = max(t, last) + period_us
        last = d
        ring[(head + count) % cap] = d
        count += 1
        keep[e] = True
        depart[e] = d
    state[0] = head
    state[1] = count
    state[2] = last
    return dropped
