"""A bus participant that serves from a background thread: device nodes, readouts, recorders.

ZeroMQ sockets belong to the thread that made them, so a service builds its
node inside ``run()``; ``start()`` runs it in a thread and returns once it is
serving (or re-raises why it could not start); ``stop()`` asks it to finish
and waits.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Self

__all__ = ["Service"]


class Service(ABC):
    """Background-thread lifecycle; subclasses implement ``run()`` and call ``_serving()``."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def service_name(self) -> str:
        return type(self).__name__.lower()

    @abstractmethod
    def run(self) -> None:
        """Serve in the calling thread until ``self._stop`` is set."""

    def start(self, timeout_s: float = 30.0) -> Self:
        self._thread = threading.Thread(target=self._run, name=self.service_name, daemon=True)
        self._thread.start()
        self._ready.wait(timeout_s)
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        try:
            self.run()
        except BaseException as e:
            if not self._ready.is_set():  # failed while starting: start() re-raises it
                self._error = e
                self._ready.set()
                return
            raise

    def _serving(self) -> None:
        """Tell ``start()`` the service is up."""
        self._ready.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
