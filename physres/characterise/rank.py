"""Kernel rank and generalisation rank (Legenstein & Maass 2007; Büsing et al. 2010).

Both are the effective rank of a state matrix, the number of singular values
above ``tol`` times the largest: over states reached from *distinct* inputs
(kernel rank: how many different inputs the reservoir can tell apart; higher
is better) and over states reached from *noisy repeats* of one input
(generalisation rank: how much the reservoir amplifies noise; lower is
better). The gap between them is the usual figure of merit.
"""

from __future__ import annotations

import numpy as np

from physres.errors import DataError
from physres.readout.validation import first_nonfinite

__all__ = ["effective_rank", "rank_inputs"]


def effective_rank(S: np.ndarray, *, tol: float = 1e-3, source: str = "states") -> int:
    """Singular values of ``S`` (rows: states) above ``tol`` × the largest; 0 for all-zero ``S``."""
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2 or S.size == 0:
        raise DataError(
            f"{source}: a rank needs a non-empty (rows, features) matrix, got {S.shape}"
        )
    hit = first_nonfinite(S)
    if hit is not None:
        raise DataError(f"{source}: NaN or inf at row {hit[0]}, column {hit[1]}")
    s = np.linalg.svd(S, compute_uv=False)
    if s[0] == 0:
        return 0
    return int(np.sum(s > tol * s[0]))


def rank_inputs(
    n_streams: int, length: int, *, noise: float = 0.01, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(distinct, repeats)``: (n_streams, length) inputs in [−1, 1] for the two ranks.

    ``distinct``: independent uniform streams; ``repeats``: one uniform
    stream plus Gaussian noise of standard deviation ``noise`` each, clipped.
    The state after each stream (from a reset) is one row of the matrix.
    """
    rng = np.random.default_rng(seed)
    distinct = rng.uniform(-1, 1, (n_streams, length))
    base = rng.uniform(-1, 1, length)
    repeats = np.clip(base + noise * rng.standard_normal((n_streams, length)), -1, 1)
    return distinct, repeats
