"""Keep received frame buffers mapped: glibc malloc tuning for camera-rate streams.

libzmq allocates every received message with ``malloc`` in its I/O thread; the
subscriber frees it when the array viewing it is dropped. With glibc's
defaults a freed megabyte chunk is soon handed back to the kernel (heap trim,
or ``munmap`` below the adaptive mmap threshold), so the next 640×480×3 frame
is mapped again page by page: measured here at 35–60 minor page faults per
frame, 20–45 % of the subscriber's CPU and the main source of run-to-run
spread in ``bench/bus.py``. Raising both thresholds lets the process reuse
the same chunks (0.3 faults per frame).

The cost is memory a process keeps after freeing it: at most
``trim_bytes`` of free heap per malloc arena. Turn it off with
``BusConfig(tune_malloc=False)`` or ``PHYSRES_TUNE_MALLOC=0``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

__all__ = ["keep_large_buffers"]

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # from <malloc.h>
_M_MMAP_THRESHOLD = -3
#: allocations below this come from the heap and are reused (a 4K RGB frame is 25 MB)
MMAP_BYTES = 32 << 20
#: free heap kept per arena before it is returned to the kernel
TRIM_BYTES = 64 << 20

_applied: bool | None = None


def keep_large_buffers() -> bool:
    """Apply the tuning once per process; True when glibc accepted it.

    Does nothing (returns False) off glibc, or when ``PHYSRES_TUNE_MALLOC=0``.
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("PHYSRES_TUNE_MALLOC", "1") == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES) == 1 and ok
    except (OSError, AttributeError) as e:
        log.debug("malloc tuning not available: %s", e)
        return False
    _applied = ok
    return ok
