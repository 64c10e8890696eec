"""pybullet, imported and connected without the banner its C code prints.

pybullet writes "pybullet build time: ..." to stderr on import and "argv[0]="
to stdout on every connect, straight to the file descriptors, which garbles
CLI tables and tools that pipe output. :func:`quiet_fds` points the
descriptors at ``/dev/null`` for the duration and flushes C's stdio buffers
before restoring them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator

__all__ = ["bullet_client", "p", "quiet_fds"]


def _flush_c_stdio() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def quiet_fds(*fds: int) -> Iterator[None]:
    """Silence C-level writes to the given descriptors (default: stdout)."""
    fds = fds or (1,)
    sys.stdout.flush()
    sys.stderr.flush()
    saved: list[tuple[int, int]] = []
    try:
        with open(os.devnull, "wb") as devnull:
            for fd in fds:
                with contextlib.suppress(OSError):  # a closed descriptor: nothing to silence
                    saved.append((fd, os.dup(fd)))
                    os.dup2(devnull.fileno(), fd)
        yield
    finally:
        _flush_c_stdio()
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)


with quiet_fds(1, 2):
    import pybullet as p
    from pybullet_utils import bullet_client
