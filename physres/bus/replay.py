"""Republish a recording with its original timing (or faster), headers unchanged.

Consumers cannot tell a replay from the live run: topics, headers, ``seq`` and
device times are the recorded bytes. The replayer publishes on an XPUB socket,
which sees the subscriptions the broker forwards upstream (the first
subscriber to a topic and the last one leaving): it waits (``wait_s``) until a
subscriber for its topics has joined, so the start of a recording is not lost
to the slow-joiner problem, and keeps watching while it publishes, so a replay
into a bus where nobody listens says so instead of reporting a count that went
nowhere. Damaged stretches of the file are skipped by the reader and never
republished.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import zmq

from physres.bus.config import BusConfig
from physres.bus.record import Recording, read_recording
from physres.bus.sockets import bus_socket
from physres.errors import BusError, ConfigError

__all__ = ["replay"]

log = logging.getLogger(__name__)


class _Listeners:
    """Subscriptions to our topics, as the XPUB socket sees them come and go."""

    def __init__(self, sock: zmq.Socket, prefixes: list[bytes]) -> None:
        self.sock = sock
        self.prefixes = prefixes
        self.live: set[bytes] = set()
        self.ever = False

    def _matches(self, topic: bytes) -> bool:
        return any(p.startswith(topic) or topic.startswith(p) for p in self.prefixes)

    def poll(self, timeout_ms: int = 0) -> None:
        """Take in every subscription message waiting (for up to ``timeout_ms`` for the first)."""
        while self.sock.poll(timeout_ms):
            timeout_ms = 0
            msg = self.sock.recv()
            if msg[:1] == b"\x01" and self._matches(msg[1:]):
                self.live.add(msg[1:])
                self.ever = True
            elif msg[:1] == b"\x00":
                self.live.discard(msg[1:])

    def wait(self, wait_s: float) -> bool:
        deadline = time.monotonic() + wait_s
        while not self.live and (left := deadline - time.monotonic()) > 0:
            self.poll(int(left * 1000) + 1)
        return bool(self.live)


def replay(
    path: str | Path,
    cfg: BusConfig | None = None,
    ctx: zmq.Context | None = None,
    *,
    topics: Iterable[str] | None = None,
    speed: float = 1.0,
    wait_s: float = 5.0,
    require_subscriber: bool = False,
    warn: Callable[[str], None] | None = None,
) -> tuple[Recording, int]:
    """Publish the recording; ``speed`` 0 means as fast as possible. Returns (info, count).

    ``warn`` (default: a logged warning) hears, once, when nobody was subscribed to
    the topics or the last subscriber left before the end; ``require_subscriber``
    makes "nobody joined within ``wait_s``" an error instead.
    """
    if not (0 <= speed < math.inf):
        raise ConfigError(f"replay speed must be a finite number >= 0, got {speed}")
    cfg = cfg or BusConfig()
    ctx = ctx or zmq.Context.instance()
    warn = warn or log.warning
    info, messages = read_recording(path, topics, raw=True)
    wanted = list(topics or ["(all)"])
    # a replay must not drop what it was asked to send (no high-water mark), and its
    # last messages must leave before the socket closes (a linger, unlike live nodes)
    sock = bus_socket(ctx, cfg.model_copy(update={"sndhwm": 0}), zmq.XPUB, "client")
    sock.setsockopt(zmq.LINGER, 2000)
    sock.connect(cfg.endpoints.pub)
    listeners = _Listeners(sock, [t.encode() for t in (topics or [""])])
    try:
        if wait_s > 0 and not listeners.wait(wait_s) and require_subscriber:
            raise BusError(
                f"no subscriber for {wanted} joined bus {cfg.name!r} within {wait_s:g} s"
            )
        t0_rec = t0_wall = None
        n = unheard = 0
        for log_time, frames in messages:
            if speed > 0:
                if t0_rec is None:
                    t0_rec, t0_wall = log_time, time.monotonic()
                due = t0_wall + (log_time - t0_rec) / 1e9 / speed
                if (delay := due - time.monotonic()) > 0:
                    time.sleep(delay)
            if speed > 0 or n % 64 == 0:  # as fast as possible: look now and then, cheaply
                listeners.poll()
            sock.send_multipart(frames, copy=False)
            n += 1
            unheard += not listeners.live
        listeners.poll()
        if n and not listeners.ever:
            warn(
                f"nobody subscribed to {wanted} on bus {cfg.name!r}: "
                f"the {n} replayed messages reached no node"
            )
        elif unheard:
            warn(
                f"{unheard} of {n} replayed messages went out while no node on bus "
                f"{cfg.name!r} was subscribed to {wanted}"
            )
        return info, n
    finally:
        sock.close()
