"""Fast multipart send/receive: the hot loop of every node.

pyzmq's ``send_multipart``/``recv_multipart`` build enum flags and ``Frame``
objects per part; for small messages that costs more than the message. These
helpers use plain integer flags, copy small parts and keep large buffers
zero-copy, which is what keeps physres near raw pyzmq rates.
"""

from __future__ import annotations

import math
from typing import Any

import zmq

__all__ = ["recv_frames", "send_parts", "timeout_ms", "try_send"]

_MORE = int(zmq.SNDMORE)
_NOBLOCK = int(zmq.NOBLOCK)


def send_parts(sock: zmq.Socket, parts: list[Any], flags: int = 0) -> None:
    """Send a multipart; bytes are copied, buffers (arrays) go zero-copy above the threshold.

    With ``flags=zmq.NOBLOCK`` a full queue raises ``zmq.Again`` before anything
    is sent (ZeroMQ queues a multipart whole or not at all).
    """
    send = sock.send
    last = len(parts) - 1
    for i, p in enumerate(parts):
        f = (_MORE | flags) if i < last else flags
        if type(p) is bytes:
            send(p, f)
        else:
            send(p, f, copy=False)


_MAX_MS = 2**31 - 1  # RCVTIMEO is a C int of milliseconds


def timeout_ms(seconds: float | None) -> int:
    """A ZeroMQ timeout: -1 (wait forever) for None, infinity or beyond ~24.8 days."""
    if seconds is None or seconds * 1000 >= _MAX_MS:
        return -1
    return max(0, math.ceil(seconds * 1000))


def try_send(sock: zmq.Socket, parts: list[Any]) -> bool:
    """Send without ever blocking; False when the peer's queue is full (or no peer).

    Command and heartbeat sockets use this: a hung peer must cost a lost
    message, never a thread stuck in ``send``.
    """
    try:
        send_parts(sock, parts, _NOBLOCK)
    except zmq.Again:
        return False
    return True


def recv_frames(sock: zmq.Socket, flags: int = 0) -> list[Any]:
    """One multipart: the first two parts (topic/envelope, header) as bytes, the rest as
    zero-copy ``zmq.Frame``s. ``Frame.more`` is a C attribute, much cheaper than
    ``getsockopt(RCVMORE)``."""
    f = sock.recv(flags, copy=False)
    parts: list[Any] = [f.bytes]
    if f.more:
        f = sock.recv(copy=False)
        parts.append(f.bytes)
        while f.more:
            f = sock.recv(copy=False)
            parts.append(f)
    return parts
