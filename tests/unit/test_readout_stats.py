"""SufficientStats: the float64 accumulator every ridge readout (and the bus node) shares.

Whatever the chunking and whatever path a chunk takes (raw syrk, patched
columns, explicitly shifted blocks), the centred statistics must equal those
of an explicitly centred copy of all the data.
"""

from __future__ import annotations

import numpy as np
import pytest

from physres.errors import DataError
from physres.readout import SufficientStats


def reference(X: np.ndarray, y: np.ndarray) -> tuple:
    mx, my = X.mean(0), y.mean(0)
    Xc, yc = X - mx, y - my
    return Xc.T @ Xc, Xc.T @ yc, (yc**2).sum(0), mx, my


@pytest.mark.parametrize("offset", [0.0, 1e3, 1e7])
@pytest.mark.parametrize("n_chunks", [1, 3, 10])
def test_centred_statistics_equal_an_explicitly_centred_copy(offset: float, n_chunks: int) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 12)) + offset * rng.uniform(0.5, 1, 12)
    y = rng.standard_normal((3000, 2)) + offset
    st = SufficientStats(12, 2)
    for rows in np.array_split(np.arange(3000), n_chunks):
        st.update(X[rows], y[rows])
    G, b, yy, mx, my = st.centred()
    G0, b0, yy0, mx0, my0 = reference(X, y)
    scale = np.sqrt(np.outer(np.diag(G0), np.diag(G0)))
    assert np.abs(G - G0).max() / scale.max() < 1e-12
    np.testing.assert_allclose(b, b0, rtol=1e-9, atol=1e-9 * np.sqrt(scale.max()))
    np.testing.assert_allclose(yy, yy0, rtol=1e-10)
    np.testing.assert_allclose(mx, mx0, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(my, my0, rtol=1e-12, atol=1e-12)
    assert st.n == 3000


def test_one_dimensional_targets_and_float32_input_are_accepted() -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 3)).astype(np.float32)
    st = SufficientStats(3, 1)
    st.update(X, rng.standard_normal(50))
    assert st.xy.shape == (3, 1) and st.xx.dtype == np.float64


def test_shape_mismatches_are_refused() -> None:
    st = SufficientStats(3, 1)
    with pytest.raises(DataError, match="expected X with 3 columns and y with 1, got 4 and 1"):
        st.update(np.ones((5, 4)), np.ones(5))
    with pytest.raises(DataError, match="X has 5 rows but y has 4"):
        st.update(np.ones((5, 3)), np.ones(4))
    with pytest.raises(DataError, match="no rows accumulated yet"):
        st.centred()
    other = SufficientStats(3, 1)
    st.update(np.ones((5, 3)) + np.arange(5)[:, None], np.arange(5.0))
    other.update(np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(DataError, match="combine only with equal shapes and shifts"):
        st + other


# ------------------------------------------------------------- BLAS size limits
def test_tiled_gram_equals_one_blas_call_on_every_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wide data are split into tiles; the statistics must not change by a digit's worth."""
    from physres.readout import stats as st_mod

    rng = np.random.default_rng(3)
    X = rng.standard_normal((53, 21))
    X[:, 3:] += 1e4  # most columns ill conditioned: the explicitly shifted path
    y = rng.standard_normal((53, 2))
    ref = SufficientStats(21, 2)
    ref.update(X, y)
    monkeypatch.setattr(st_mod, "MAX_BLAS_COLS", 8)
    monkeypatch.setattr(st_mod, "TILE_ROWS", 5)
    np.testing.assert_allclose(st_mod.gram(X), X.T @ X, rtol=1e-13)
    tiled = SufficientStats(21, 2)
    tiled.update(X, y)
    assert tiled.n_explicit_chunks == 1
    few = rng.standard_normal((53, 21))
    few[:, :2] += 1e4  # two columns far from zero: the fast path patches them exactly
    fast, fast_ref = SufficientStats(21, 2), SufficientStats(21, 2)
    fast.update(few[:30], y[:30])
    fast.update(few[30:], y[30:])
    monkeypatch.setattr(st_mod, "MAX_BLAS_COLS", 4096)
    fast_ref.update(few[:30], y[:30])
    fast_ref.update(few[30:], y[30:])
    assert fast.n_patched_columns == 4 and fast.n_explicit_chunks == 0
    for a, b in ((tiled, ref), (fast, fast_ref)):
        G, b_, _, _, _ = a.centred()
        G0, b0, _, _, _ = b.centred()
        np.testing.assert_allclose(G, G0, rtol=1e-9, atol=1e-9 * np.abs(G0).max())
        np.testing.assert_allclose(b_, b0, rtol=1e-9, atol=1e-9 * np.abs(b0).max())


@pytest.mark.slow
def test_the_largest_blas_call_allowed_runs_in_a_child_process() -> None:
    """TILE_ROWS × MAX_BLAS_COLS through both Gram paths; a crash would kill only the child."""
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from physres.readout.stats import MAX_BLAS_COLS as P, TILE_ROWS as N, "
        "SufficientStats, gram\n"
        "X = np.random.default_rng(0).standard_normal((N, P)) + 1e4\n"
        "s = SufficientStats(P, 1); s.update(X, np.ones(N))\n"
        "assert s.n_explicit_chunks == 1\n"  # scipy dsyrk over the full width
        "G = gram(X[:, : P] - 1e4)\n"  # numpy's syrk at the largest size
        "assert np.isfinite(G).all() and np.isfinite(s.xx).all()\n"
        "print('ok', N, P)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.startswith("ok 2048 4096")


@pytest.mark.parametrize("cls_name", ["RidgeReadout", "RidgeClassifierReadout", "RidgeCVReadout"])
def test_a_readout_too_big_for_memory_is_refused_with_the_figures(
    cls_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """128×128 frames are 16,384 features: 4 Gram copies are 8 GiB; refuse before allocating."""
    import physres.readout as readout
    from physres.errors import ResourceError
    from physres.readout import stats as st_mod

    monkeypatch.setattr(st_mod, "available_memory_bytes", lambda: 2 * 2**30)
    X = [np.zeros((6, 16_384)) for _ in range(5)]
    y: object = [np.zeros(6) for _ in range(5)]
    est = getattr(readout, cls_name)()
    if cls_name == "RidgeClassifierReadout":
        est.set_params(pooling="mean")
        y = np.array([0, 1, 0, 1, 0])
    copies = 9 if cls_name == "RidgeCVReadout" else 4
    with pytest.raises(
        ResourceError,
        match=rf"{cls_name}: 16,384 features need about "
        rf"{copies * 2}\.0 GiB .* but 2\.0 GiB are available",
    ):
        est.fit(X, y)
    assert isinstance(ResourceError("x"), MemoryError)
