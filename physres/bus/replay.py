"""Republish a recording with its original timing (or faster), headers unchanged.

Consumers cannot tell a replay from the live run: topics, headers, ``seq`` and
device times are the recorded bytes. The replayer waits (``wait_s``) until a
subscriber for its topics has joined, using an XPUB socket that sees the
subscriptions the broker forwards upstream, so the start of a recording is
not lost to the slow-joiner problem.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from pathlib import Path

import zmq

from physres.bus.config import BusConfig
from physres.bus.record import Recording, read_recording
from physres.errors import BusError, ConfigError

__all__ = ["replay"]


def _wait_for_subscriber(sock: zmq.Socket, prefixes: list[bytes], wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while (left := deadline - time.monotonic()) > 0:
        if sock.poll(int(left * 1000) + 1):
            msg = sock.recv()
            if msg[:1] == b"\x01" and any(
                p.startswith(msg[1:]) or msg[1:].startswith(p) for p in prefixes
            ):
                return True
    return False


def replay(
    path: str | Path,
    cfg: BusConfig | None = None,
    ctx: zmq.Context | None = None,
    *,
    topics: Iterable[str] | None = None,
    speed: float = 1.0,
    wait_s: float = 5.0,
    require_subscriber: bool = False,
) -> tuple[Recording, int]:
    """Publish the recording; ``speed`` 0 means as fast as possible. Returns (info, count)."""
    if not (0 <= speed < math.inf):
        raise ConfigError(f"replay speed must be a finite number >= 0, got {speed}")
    cfg = cfg or BusConfig()
    ctx = ctx or zmq.Context.instance()
    info, messages = read_recording(path, topics, raw=True)
    sock = ctx.socket(zmq.XPUB)
    sock.setsockopt(zmq.LINGER, 2000)
    sock.setsockopt(zmq.SNDHWM, 0)  # a replay must not drop what it was asked to send
    sock.connect(cfg.endpoints.pub)
    prefixes = [t.encode() for t in (topics or [""])]
    try:
        if wait_s > 0 and not _wait_for_subscriber(sock, prefixes, wait_s) and require_subscriber:
            raise BusError(
                f"no subscriber for {list(topics or ['(all)'])} joined bus {cfg.name!r} "
                f"within {wait_s:g} s"
            )
        t0_rec = t0_wall = None
        n = 0
        for log_time, frames in messages:
            if speed > 0:
                if t0_rec is None:
                    t0_rec, t0_wall = log_time, time.monotonic()
                due = t0_wall + (log_time - t0_rec) / 1e9 / speed
                if (delay := due - time.monotonic()) > 0:
                    time.sleep(delay)
            sock.send_multipart(frames, copy=False)
            n += 1
        return info, n
    finally:
        sock.close()
