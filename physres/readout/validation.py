"""Input checks shared by the readouts: episodes, washout, finiteness.

A reservoir recording is either one long series (a 2-D array, rows = time)
or a list of episodes (a list of 2-D NumPy arrays), each starting with a
transient (``washout`` rows) that must not be trained on. The checks here turn
either form into a list of ``(X, y)`` views with the washout dropped, and
raise :class:`physres.errors.DataError` (a ``ValueError``) that names what was
expected and what came.

Finiteness is checked *for free* where possible: the readouts need column sums
anyway, and a NaN or inf anywhere makes its column sum non-finite, so the
slow scan that finds the first bad row and column runs only when something is
wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from physres.errors import DataError

__all__ = [
    "NanPolicy",
    "check_nan_policy",
    "check_washout",
    "finite_rows",
    "first_nonfinite",
    "is_episode_list",
    "raise_nonfinite",
    "split_lengths",
]

NanPolicy = Literal["raise", "omit"]

_SCAN_ROWS = 4096  # rows per block when scanning for the first bad value (bounded temporaries)


def is_episode_list(X: object) -> bool:
    """True for a non-empty list/tuple of 2-D NumPy arrays (the episode form).

    Plain nested lists stay a single 2-D array, as scikit-learn reads them.
    """
    return (
        isinstance(X, (list, tuple))
        and len(X) > 0
        and all(isinstance(x, np.ndarray) and x.ndim == 2 for x in X)
    )


def check_washout(washout: object, owner: str) -> int:
    """``washout`` as a non-negative int, or a DataError saying what came."""
    if isinstance(washout, (bool, np.bool_)) or not isinstance(washout, (int, np.integer)):
        raise DataError(f"{owner}: washout must be a non-negative int, got {washout!r}")
    if washout < 0:
        raise DataError(f"{owner}: washout must be >= 0, got {washout}")
    return int(washout)


def check_nan_policy(nan_policy: object, owner: str) -> NanPolicy:
    if nan_policy not in ("raise", "omit"):
        raise DataError(f"{owner}: nan_policy must be 'raise' or 'omit', got {nan_policy!r}")
    return nan_policy  # type: ignore[return-value]


def first_nonfinite(A: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first NaN/inf in row-major order, scanning in blocks."""
    A2 = A.reshape(len(A), -1)
    for start in range(0, len(A2), _SCAN_ROWS):
        bad = ~np.isfinite(A2[start : start + _SCAN_ROWS])
        if bad.any():
            r, c = np.argwhere(bad)[0]
            return start + int(r), int(c)
    return None


def raise_nonfinite(name: str, A: np.ndarray, where: str = "", row0: int = 0) -> None:
    """Raise the DataError for a non-finite ``A``; names the first bad row and column.

    ``row0`` is added to the row index so rows are numbered as in the caller's
    array (for example before the washout was dropped).
    """
    hit = first_nonfinite(A)
    if hit is None:
        raise DataError(
            f"{where}{name} has finite values whose sums overflow float64 "
            f"(max |value| {np.max(np.abs(A)):.3g}); rescale the data"
        )
    r, c = hit
    value = A.reshape(len(A), -1)[r, c]
    raise DataError(
        f"{where}{name} contains NaN or inf: first at row {r + row0}, column {c} "
        f"(value {value}); clean the data or pass nan_policy='omit' to drop such rows"
    )


def finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """Boolean mask of rows that are finite in every array (for nan_policy='omit')."""
    mask = np.ones(len(arrays[0]), dtype=bool)
    for A in arrays:
        mask &= np.isfinite(A.reshape(len(A), -1)).all(axis=1)
    return mask


def split_lengths(lengths: Sequence[int], washout: int, owner: str) -> None:
    """Refuse episodes that the washout would empty, saying which and how long."""
    for i, n in enumerate(lengths):
        if washout >= n:
            raise DataError(
                f"{owner}: washout={washout} leaves no rows in episode {i} of length {n}; "
                f"expected washout < {n}"
            )
