"""Sufficient statistics for least squares, accumulated chunk by chunk in float64.

Everything a ridge readout needs from the data (and everything cross-
validation needs to score it) fits in ``O(p² + p q)`` numbers: the Gram
matrix, the cross products with the targets, the column sums and the target
sums of squares. :class:`SufficientStats` accumulates them from chunks of any
size, so a recording of 10⁷ × 1000 never has to be in memory at once; the
ridge fit, the alpha search and the bus ReadoutNode all share this one class.

Numerics. The naive ``Σxxᵀ − n m mᵀ`` loses ``log10(κ)`` digits to
cancellation, ``κ = Σx² / Σ(x−m)² = 1 + m²/σ²``, when a feature's mean ``m`` is
large against its spread ``σ`` (saturated tanh units, camera pixels). Sums are
taken about a fixed *shift* ``s`` (the first chunk's mean), and each chunk
takes one of two paths:

* fast (most columns well conditioned): one BLAS ``syrk`` on the raw chunk
  (no copy: this is what makes a fit run at the BLAS floor), shifted
  algebraically; the digits lost are measured per column from the diagonal
  and every column with ``κ > kappa_max`` (default 100: at most two digits;
  constant columns included) is recomputed exactly from shifted values, in
  bounded row blocks;
* explicit (more than 1/8 of the columns predicted ill conditioned from a
  512-row sample): ``syrk`` over row blocks shifted into one reused buffer —
  about one extra memory pass, and as exact as centring a copy.

Targets are always shifted explicitly (they are small: ``n × q``).

Size limits. OpenBLAS's multi-threaded ``dsyrk`` crashed the process
(SIGSEGV) on a 2,048 × 16,384 block, the Gram update of 128×128 camera
frames. No BLAS call here sees more than :data:`MAX_BLAS_COLS` columns: wider
data are split into column tiles (one ``syrk``/``gemm`` per tile pair over
row blocks of :data:`TILE_ROWS`), and the largest tile is tested in a child
process. The statistics themselves are ``O(p²)``: :func:`check_memory`
refuses, with the figures, a readout that would not fit in the memory the
machine has before anything is allocated.
"""

from __future__ import annotations

import os

import numpy as np
from scipy.linalg.blas import dsyrk

from physres.errors import DataError, ResourceError
from physres.readout.validation import raise_nonfinite

__all__ = [
    "MAX_BLAS_COLS",
    "TILE_ROWS",
    "SufficientStats",
    "available_memory_bytes",
    "check_memory",
    "gram",
]

#: widest block (columns) one BLAS call is given; 2,048 × 16,384 crashed OpenBLAS's dsyrk
MAX_BLAS_COLS = 4096
#: rows per BLAS call once the columns are tiled (the largest call is TILE_ROWS × MAX_BLAS_COLS)
TILE_ROWS = 2048

_PATCH_ROWS = 8192  # rows per block when recomputing ill-conditioned columns exactly
_SHIFT_ROWS = 2048  # rows per block of the explicitly shifted path (a reused buffer)
_SAMPLE_ROWS = 512  # rows sampled to predict which columns will be ill-conditioned
#: above this fraction of ill-conditioned columns, shifting every block beats patching
_EXPLICIT_FRACTION = 0.125


def _tiles(p: int) -> list[slice]:
    return [slice(a, min(a + MAX_BLAS_COLS, p)) for a in range(0, p, MAX_BLAS_COLS)]


def _tiled_gram(X: np.ndarray) -> np.ndarray:
    """``XᵀX`` in tiles of at most TILE_ROWS × MAX_BLAS_COLS per BLAS call."""
    n, p = X.shape
    G = np.zeros((p, p))
    tiles = _tiles(p)
    for r in range(0, n, TILE_ROWS):
        Xr = X[r : r + TILE_ROWS]
        for i, a in enumerate(tiles):
            Xa = Xr[:, a]
            for b in tiles[i:]:
                G[a, b] += Xa.T @ Xr[:, b]
    for i, a in enumerate(tiles):  # mirror the upper tile triangle
        for b in tiles[i + 1 :]:
            G[b, a] = G[a, b].T
    return G


def gram(X: np.ndarray) -> np.ndarray:
    """``XᵀX`` (float64): one BLAS call up to MAX_BLAS_COLS columns, tiles beyond."""
    if X.shape[1] <= MAX_BLAS_COLS:
        return X.T @ X
    return _tiled_gram(X)


def _cross(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``AᵀB`` with B's columns tiled to MAX_BLAS_COLS (A is the narrow side)."""
    if B.shape[1] <= MAX_BLAS_COLS and A.shape[1] <= MAX_BLAS_COLS:
        return A.T @ B
    out = np.zeros((A.shape[1], B.shape[1]))
    for r in range(0, len(A), TILE_ROWS):
        Ar, Br = A[r : r + TILE_ROWS], B[r : r + TILE_ROWS]
        for a in _tiles(A.shape[1]):
            for b in _tiles(B.shape[1]):
                out[a, b] += Ar[:, a].T @ Br[:, b]
    return out


def available_memory_bytes() -> int | None:
    """What the kernel says can still be allocated (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(n_features: int, n_targets: int, *, copies: int, owner: str) -> int:
    """Bytes a readout's statistics will need; ResourceError if the machine lacks them.

    ``copies`` is how many p × p float64 matrices are alive at the peak (the
    running Gram, a chunk's Gram and its shift correction; the solve's copy).
    """
    p, q = int(n_features), int(n_targets)
    need = 8 * (copies * p * p + 4 * p * q)
    avail = available_memory_bytes()
    if avail is not None and need > avail:
        raise ResourceError(
            f"{owner}: {p:,} features need about {need / 2**30:.1f} GiB for the readout "
            f"({copies} float64 {p:,} x {p:,} matrices) but {avail / 2**30:.1f} GiB are "
            "available; use fewer features (a smaller frame_shape, a frame or pooling stage)"
        )
    return need


def _shifted_gram(
    X: np.ndarray, Yc: np.ndarray, s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Σ(x−s)(x−s)ᵀ``, ``Σ(x−s)ycᵀ``, ``Σ(x−s)`` from shifted row blocks (one buffer)."""
    n, p = X.shape
    C = np.zeros((p, p), order="F")
    xy = np.zeros((p, Yc.shape[1]))
    sums = np.zeros(p)
    buf = np.empty((min(n, _SHIFT_ROWS), p))
    for start in range(0, n, _SHIFT_ROWS):
        Xb = X[start : start + _SHIFT_ROWS]
        Z = buf[: len(Xb)]
        np.subtract(Xb, s, out=Z)
        if p <= MAX_BLAS_COLS:
            C = dsyrk(1.0, Z.T, beta=1.0, c=C, trans=0, overwrite_c=1)  # upper triangle
        else:
            C += _tiled_gram(Z)
        xy += Z.T @ Yc[start : start + _SHIFT_ROWS]
        sums += Z.sum(axis=0)
    upper = np.triu(C)
    return upper + np.triu(C, 1).T, xy, sums


class SufficientStats:
    """Running ``Σ(x−s)(x−s)ᵀ``, ``Σ(x−s)(y−t)ᵀ``, ``Σ(x−s)``, ``Σ(y−t)``, ``Σ(y−t)²`` and n.

    ``center=False`` fixes the shifts at zero: the raw (uncentred) statistics
    that a fit without intercept needs, exact with no cancellation at all.
    Two stats with the same shifts add and subtract (cross-validation folds).
    """

    def __init__(
        self,
        n_features: int,
        n_targets: int,
        *,
        center: bool = True,
        shift_x: np.ndarray | None = None,
        shift_y: np.ndarray | None = None,
        kappa_max: float = 1e2,
    ) -> None:
        p, q = int(n_features), int(n_targets)
        self.n_features, self.n_targets, self.center = p, q, bool(center)
        self.kappa_max = float(kappa_max)
        if not center:
            shift_x, shift_y = np.zeros(p), np.zeros(q)
        self.shift_x = None if shift_x is None else np.asarray(shift_x, np.float64).copy()
        self.shift_y = None if shift_y is None else np.asarray(shift_y, np.float64).copy()
        self.n = 0
        self.sum_x = np.zeros(p)
        self.sum_y = np.zeros(q)
        self.xx = np.zeros((p, p))
        self.xy = np.zeros((p, q))
        self.yy = np.zeros(q)
        #: how many column recomputations the cancellation guard needed (diagnostics)
        self.n_patched_columns = 0
        #: how many chunks took the explicitly shifted path (diagnostics)
        self.n_explicit_chunks = 0

    # -- accumulation ----------------------------------------------------------
    def update(self, X: np.ndarray, Y: np.ndarray, *, where: str = "", row0: int = 0) -> None:
        """Add the rows of ``X`` (n, p) and ``Y`` (n, q) or (n,).

        NaN/inf raise :class:`DataError` naming the first bad row (numbered
        from ``row0``) and column; ``where`` prefixes the message (e.g. the
        episode). A float64 ``X`` is never copied.
        """
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        if X.ndim != 2 or Y.ndim != 2:
            raise DataError(f"{where}expected 2-D X and 1-D/2-D y, got {X.shape} and {Y.shape}")
        n = X.shape[0]
        if n == 0:
            return
        if X.shape[1] != self.n_features or Y.shape[1] != self.n_targets:
            raise DataError(
                f"{where}expected X with {self.n_features} columns and y with "
                f"{self.n_targets}, got {X.shape[1]} and {Y.shape[1]}"
            )
        if len(Y) != n:
            raise DataError(f"{where}X has {n} rows but y has {len(Y)}; expected equal lengths")
        if self.shift_y is None:
            with np.errstate(invalid="ignore", over="ignore"):
                sy = Y.sum(axis=0)
            if not np.isfinite(sy).all():
                raise_nonfinite("y", Y, where, row0)
            self.shift_y = sy / n
        q = self.n_targets
        Yc = Y - self.shift_y
        with np.errstate(invalid="ignore", over="ignore"):
            sum_yc = Yc.sum(axis=0)
        if not np.isfinite(sum_yc).all():
            raise_nonfinite("y", Y, where, row0)
        # column sums and Xᵀyc as BLAS matrix-vector products: each is one streaming
        # pass over X, measured ~2x faster than X.sum(axis=0) or one (n, q+1) gemm;
        # the sums also detect NaN/inf for free
        with np.errstate(invalid="ignore", over="ignore"):
            sx_raw = X.T @ np.ones(n)
            xy_raw = (X.T @ Yc[:, 0])[:, None] if q == 1 else X.T @ Yc
        if not np.isfinite(sx_raw).all():
            raise_nonfinite("X", X, where, row0)
        if self.shift_x is None:
            self.shift_x = sx_raw / n
        s = self.shift_x

        if self.center and self._expect_bad(X, sx_raw / n, s) > _EXPLICIT_FRACTION * X.shape[1]:
            # many ill-conditioned columns: one pass over explicitly shifted row blocks
            G, xy, sum_shifted = _shifted_gram(X, Yc, s)
            self.n_explicit_chunks += 1
        else:
            G = gram(X)  # syrk on the raw chunk: no copy of X
            sum_shifted = sx_raw - n * s
            xy = xy_raw
            if self.center:
                raw_diag = G.diagonal().copy()
                t = np.outer(s, sx_raw - 0.5 * n * s)  # G − t − tᵀ = Σ(x−s)(x−s)ᵀ
                G -= t
                G -= t.T
                del t
                xy -= np.outer(s, sum_yc)
                # columns whose shifted Gram lost too many digits (κ large, or ≤ 0 by rounding)
                bad = np.flatnonzero(raw_diag > self.kappa_max * G.diagonal())
                if bad.size:
                    self._patch(X, Yc, G, xy, sum_shifted, bad)
        if not np.isfinite(G).all():
            raise DataError(
                f"{where}X products overflow float64 (max |value| {np.max(np.abs(X)):.3g}); "
                "rescale the data"
            )
        self.xx += G
        self.xy += xy
        self.sum_x += sum_shifted
        self.sum_y += sum_yc
        self.yy += np.einsum("ij,ij->j", Yc, Yc)
        self.n += n

    def check_block(self, X: np.ndarray, Y: np.ndarray, *, where: str = "", row0: int = 0) -> None:
        """The NaN/inf check of :meth:`update` alone (one cheap pass over the block).

        Readouts check each episode with this before stacking many into one
        update, so the error still names the episode and its row.
        """
        with np.errstate(invalid="ignore", over="ignore"):
            y_ok = np.isfinite(np.sum(Y))
            x_ok = np.isfinite(np.sum(X))
        if not y_ok:
            raise_nonfinite("y", np.asarray(Y, np.float64).reshape(len(Y), -1), where, row0)
        if not x_ok:
            raise_nonfinite("X", np.asarray(X, np.float64), where, row0)

    def _expect_bad(self, X: np.ndarray, mean: np.ndarray, s: np.ndarray) -> int:
        """Predicted number of columns with ``κ > kappa_max``, from a row sample."""
        rows = np.linspace(0, len(X) - 1, min(len(X), _SAMPLE_ROWS)).astype(np.intp)
        var = np.var(X[rows], axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            kappa = (var + mean**2) / (var + (mean - s) ** 2)
        return int(np.count_nonzero(~(kappa <= self.kappa_max)))

    def _patch(
        self,
        X: np.ndarray,
        Yc: np.ndarray,
        G: np.ndarray,
        xy: np.ndarray,
        sum_shifted: np.ndarray,
        bad: np.ndarray,
    ) -> None:
        """Recompute rows/columns ``bad`` of the chunk's statistics from shifted values.

        ``Σ z (x_j − s_j) = Σ z x_j − s_j Σ z`` with ``z = x_b − s_b`` small, so
        only the ill-conditioned columns are copied (in bounded row blocks).
        """
        s = self.shift_x
        assert s is not None
        k = bad.size
        GB = np.zeros((k, self.n_features))
        ZZ = np.zeros((k, k))
        xyB = np.zeros((k, self.n_targets))
        sB = np.zeros(k)
        for start in range(0, X.shape[0], _PATCH_ROWS):
            Xb = X[start : start + _PATCH_ROWS]
            Z = Xb[:, bad] - s[bad]
            GB += _cross(Z, Xb)
            ZZ += gram(Z)
            xyB += Z.T @ Yc[start : start + _PATCH_ROWS]
            sB += Z.sum(axis=0)
        GB -= np.outer(sB, s)
        GB[:, bad] = ZZ
        G[bad, :] = GB
        G[:, bad] = GB.T
        xy[bad] = xyB
        sum_shifted[bad] = sB
        self.n_patched_columns += k

    # -- algebra for folds -------------------------------------------------------
    def empty_like(self) -> SufficientStats:
        """Empty stats with this one's shifts (so they can be added/subtracted)."""
        return SufficientStats(
            self.n_features,
            self.n_targets,
            center=self.center,
            shift_x=self.shift_x,
            shift_y=self.shift_y,
            kappa_max=self.kappa_max,
        )

    def _combine(self, other: SufficientStats, sign: float) -> SufficientStats:
        same = (
            self.center == other.center
            and self.xx.shape == other.xx.shape
            and self.xy.shape == other.xy.shape
            and self.shift_x is not None
            and other.shift_x is not None
            and np.array_equal(self.shift_x, other.shift_x)
            and np.array_equal(self.shift_y, other.shift_y)
        )
        if not same:
            raise DataError("statistics combine only with equal shapes and shifts (use empty_like)")
        out = self.empty_like()
        out.n = self.n + int(sign) * other.n
        out.sum_x = self.sum_x + sign * other.sum_x
        out.sum_y = self.sum_y + sign * other.sum_y
        out.xx = self.xx + sign * other.xx
        out.xy = self.xy + sign * other.xy
        out.yy = self.yy + sign * other.yy
        return out

    def __add__(self, other: SufficientStats) -> SufficientStats:
        return self._combine(other, 1.0)

    def __sub__(self, other: SufficientStats) -> SufficientStats:
        return self._combine(other, -1.0)

    # -- what the solvers read ---------------------------------------------------
    def centred(
        self, about: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(Gxx, Gxy, yy, mean_x, mean_y)`` about the data's own means.

        With ``about=(mx, my)`` the statistics are taken about those points
        instead (cross-validation scores a fold about the *training* means).
        For ``center=False`` stats and no ``about`` they are the raw sums.
        """
        if self.n == 0:
            raise DataError("no rows accumulated yet; call update() with data first")
        assert self.shift_x is not None and self.shift_y is not None
        n = self.n
        if about is None:
            if not self.center:
                return (
                    self.xx,
                    self.xy,
                    self.yy,
                    np.zeros(self.n_features),
                    np.zeros(self.n_targets),
                )
            d, e = self.sum_x / n, self.sum_y / n
        else:
            d, e = about[0] - self.shift_x, about[1] - self.shift_y
        # Σ(x−s−d)(x−s−d)ᵀ = xx − d Sᵀ − S dᵀ + n d dᵀ (equals xx − n d dᵀ when d = S/n)
        t = np.outer(d, self.sum_x - 0.5 * n * d)
        G = self.xx - t - t.T
        b = self.xy - np.outer(d, self.sum_y) - np.outer(self.sum_x, e) + n * np.outer(d, e)
        yy = self.yy - 2 * e * self.sum_y + n * e * e
        return G, b, yy, self.shift_x + d, self.shift_y + e
