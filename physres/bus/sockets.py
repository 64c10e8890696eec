"""Every bus socket is made here (:func:`bus_socket`), and the fast multipart send/receive.

pyzmq's ``send_multipart``/``recv_multipart`` build enum flags and ``Frame``
objects per part; for small messages that costs more than the message. These
helpers use plain integer flags, copy small parts and keep large buffers
zero-copy, which is what keeps physres near raw pyzmq rates.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import zmq

if TYPE_CHECKING:
    from physres.bus.config import BusConfig

__all__ = ["apply_security", "bus_socket", "recv_frames", "send_parts", "timeout_ms", "try_send"]

_SENDS_STREAMS = {zmq.PUB, zmq.XPUB}
_RECEIVES_STREAMS = {zmq.SUB, zmq.XSUB}

Role = Literal["server", "client", "inproc"]


def bus_socket(ctx: zmq.Context, cfg: BusConfig, kind: int, role: Role) -> zmq.Socket:
    """A socket of ``kind`` with the options ``cfg`` sets: the one place they are applied.

    * ``LINGER`` 0: closing never waits on a peer that went away.
    * Stream sockets get ``cfg.sndhwm`` (PUB, XPUB) or ``cfg.rcvhwm`` (SUB, XSUB)
      and PUB the zero-copy threshold. Command sockets (DEALER, ROUTER) keep
      libzmq's bound of 1,000 queued messages on purpose: a full queue is how
      :func:`try_send` learns that a peer hangs.
    * ``role`` says which side of a connection this is (``server`` binds,
      ``client`` connects): what :func:`apply_security` needs.
    """
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    if kind in _SENDS_STREAMS:
        sock.setsockopt(zmq.SNDHWM, cfg.sndhwm)
    elif kind in _RECEIVES_STREAMS:
        sock.setsockopt(zmq.RCVHWM, cfg.rcvhwm)
    if kind == zmq.PUB:
        sock.copy_threshold = cfg.zero_copy_bytes
    apply_security(sock, cfg, role)
    return sock


def apply_security(sock: zmq.Socket, cfg: BusConfig, role: Role) -> None:
    """Where bus encryption and authentication will be set up (ZeroMQ CURVE).

    Today a bus is private by its transport (ipc sockets in a 0700 folder,
    TCP bound to loopback unless configured otherwise) and ``BusConfig`` holds
    no keys, so there is nothing to set. When it does, this is the only place
    to change: a ``server`` sets ``curve_server`` and its secret key, a
    ``client`` its key pair and the server's public key; ``inproc`` sockets
    never leave the process and stay plain.
    """
    del sock, cfg, role  # no keys configured: plaintext, as documented above


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
