"""Ctrl-C and SIGTERM end a run, even when they land inside a destructor.

Python runs a signal handler in the main thread at the next check for
signals, and pyzmq checks while it frees a message (``Frame.__dealloc__``
calls ``PyErr_CheckSignals``). An exception raised there cannot propagate:
Cython prints its traceback and drops it, and the run goes on as if no
signal had come. On a busy bus most main-thread frees happen just after a
receive, so a SIGTERM from CI, ``docker stop`` or systemd was lost now and
then, and the run went on until it was killed.

Inside :func:`keep_interrupts` (every CLI command runs in one) a dropped
``KeyboardInterrupt`` (or :class:`Terminated`) is kept instead of printed,
and raised again at the next safe point: :func:`raise_lost`, which the bus
calls before each receive, or the end of the block.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

__all__ = ["Terminated", "keep_interrupts", "pending", "raise_lost", "terminate_like_ctrl_c"]

pending: list[KeyboardInterrupt] = []  # at most one dropped interrupt; hot loops test it first


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI timeout, ``docker stop``, systemd) ends a run like Ctrl-C does."""


def raise_lost() -> None:
    """Raise, in the main thread, the interrupt a destructor dropped (if any).

    Cheap when nothing was lost (one list test), so hot paths call it freely;
    other threads never raise it (the interrupt belongs to the main thread).
    """
    if pending and threading.current_thread() is threading.main_thread():
        exc = pending.pop()
        pending.clear()
        raise exc.with_traceback(None)


def _keep(exc: BaseException | None) -> bool:
    if isinstance(exc, KeyboardInterrupt) and threading.current_thread() is threading.main_thread():
        pending[:] = [exc]
        return True
    return False


_depth = 0  # nested keep_interrupts() blocks: only the outermost forgets a kept interrupt


@contextmanager
def keep_interrupts() -> Iterator[None]:
    """While inside, a Ctrl-C or SIGTERM dropped in a destructor is kept, not printed.

    A dropped interrupt reaches ``sys.excepthook`` (the traceback Cython
    prints) and then ``sys.unraisablehook``; inside this block neither can be
    a genuine uncaught interrupt (that would first leave the block), so both
    keep it for :func:`raise_lost`, which the bus calls before each receive
    and this block calls at its end. Every CLI command runs inside one.
    """
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if not _keep(exc):
            old_except(kind, exc, tb)

    def unraisablehook(u: Any) -> None:
        if not _keep(u.exc_value):
            old_unraisable(u)

    old_except, old_unraisable = sys.excepthook, sys.unraisablehook
    sys.excepthook, sys.unraisablehook = excepthook, unraisablehook
    _depth += 1
    try:
        yield
        raise_lost()  # dropped during the last frees, after the last receive
    finally:
        _depth -= 1
        sys.excepthook, sys.unraisablehook = old_except, old_unraisable
        if _depth == 0:
            pending.clear()


@contextmanager
def terminate_like_ctrl_c() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` in the main thread, and
    no Ctrl-C or SIGTERM is lost in a destructor (:func:`keep_interrupts`).

    Without it SIGTERM kills the process on the spot: no ``run.json`` status,
    no recording footer.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum: int, frame: Any) -> None:
        raise Terminated(signal.Signals(signum).name)

    old = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        with keep_interrupts():
            yield
    finally:
        signal.signal(signal.SIGTERM, old if old is not None else signal.SIG_DFL)
