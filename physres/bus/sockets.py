"""Fast multipart send/receive: the hot loop of every node.

pyzmq's ``send_multipart``/``recv_multipart`` build enum flags and ``Frame``
objects per part; for small messages that costs more than the message. These
helpers use plain integer flags, copy small parts and keep large buffers
zero-copy, which is what keeps physres near raw pyzmq rates.
"""

from __future__ import annotations

from typing import Any

import zmq

__all__ = ["recv_frames", "send_parts"]

_MORE = int(zmq.SNDMORE)


def send_parts(sock: zmq.Socket, parts: list[Any]) -> None:
    """Send a multipart; bytes are copied, buffers (arrays) go zero-copy above the threshold."""
    send = sock.send
    last = len(parts) - 1
    for i, p in enumerate(parts):
        flags = _MORE if i < last else 0
        if type(p) is bytes:
            send(p, flags)
        else:
            send(p, flags, copy=False)


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
