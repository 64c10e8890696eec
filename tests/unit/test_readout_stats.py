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
