"""Containment for long-running loops: nothing that arrives can end a process.

A node, the broker's router and the recorder each run one loop for their whole
life over input from peers they do not control. Decoding refuses what it can
name (:class:`~physres.errors.FrameError`, counted as garbage); this is the net
under everything else: an exception from one step is counted by type, logged
once per type with its traceback (a bug to fix, not noise to repeat), and the
loop goes on with the next step.

Usage, where the step is a statement block::

    errors = LoopErrors("recorder")
    while running:
        with errors:
            step()

or, where a ``with`` per message would cost too much, ``except Exception as e:
errors.record(e)`` (a ``try`` costs nothing until it catches).
"""

from __future__ import annotations

import logging
from collections import Counter
from types import TracebackType

import zmq

from physres.bus.codec import INT_MAX

__all__ = ["LoopErrors"]

log = logging.getLogger(__name__)


class LoopErrors:
    """Counts contained exceptions by type name; each type is logged once (with traceback).

    ``KeyboardInterrupt``/``SystemExit`` and a terminated ZeroMQ context are never
    contained: they are how a loop is *meant* to end.
    """

    def __init__(self, owner: str, logger: logging.Logger | None = None) -> None:
        self.owner = owner
        self.log = logger or log
        self.counts: Counter[str] = Counter()

    def record(self, err: BaseException) -> None:
        """Count ``err``; log it if it is the first of its type."""
        name = type(err).__name__
        if self.counts[name] == 0:
            self.log.error(
                "%s: contained %s in its loop (further ones are only counted): %s",
                self.owner,
                name,
                err,
                exc_info=err,
            )
        if self.counts[name] < INT_MAX:
            self.counts[name] += 1

    @property
    def total(self) -> int:
        return min(sum(self.counts.values()), INT_MAX)

    def __enter__(self) -> LoopErrors:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if e is None or not isinstance(e, Exception) or isinstance(e, zmq.ContextTerminated):
            return False
        self.record(e)
        return True
