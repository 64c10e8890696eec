"""dtypes on the wire: how a buffer's element type is written into a message header.

It lives in the bus because the codec and the recorder read it and the bus
imports nothing above it; :mod:`physres.device.spec` re-exports it for
descriptions, which carry the same wire form.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["dtype_from_wire", "dtype_to_wire"]

_OK_DTYPE_KINDS = "biufcV"  # bool, ints, floats, complex, structured; never objects


def dtype_to_wire(dtype: np.dtype | str | list) -> str | list:
    """A msgpack-able dtype: ``'<f4'`` for plain, a descr list for structured."""
    dt = np.dtype(dtype) if not isinstance(dtype, np.dtype) else dtype
    if dt.fields:
        return [[name, dtype_to_wire(dt.fields[name][0])] for name in dt.names]
    return dt.str


def dtype_from_wire(spec: Any) -> np.dtype:
    """Inverse of :func:`dtype_to_wire`; refuses object and unknown dtypes."""
    try:
        if isinstance(spec, (list, tuple)):
            dt = np.dtype([(str(n), dtype_from_wire(d)) for n, d in spec])
        else:
            dt = np.dtype(spec)
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"unknown dtype {str(spec)[:80]!r}") from e
    if dt.kind not in _OK_DTYPE_KINDS or dt.hasobject:
        raise ValueError(f"dtype {dt} is not allowed (plain numbers or structured only)")
    if dt.itemsize == 0 or dt.subdtype is not None:
        # a zero-size element has no count; a sub-array dtype hides part of the shape
        raise ValueError(f"dtype {dt} is not allowed (zero-size or sub-array; put it in the shape)")
    return dt
