"""Every bus socket is made here (:func:`bus_socket`), and the fast multipart send/receive.

pyzmq's ``send_multipart``/``recv_multipart`` build enum flags and ``Frame``
objects per part; for small messages that costs more than the message. These
helpers use plain integer flags, copy small parts and keep large buffers
zero-copy, which is what keeps physres near raw pyzmq rates.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
import warnings
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import zmq
import zmq.auth

from physres.bus.interrupts import pending as _interrupted
from physres.bus.interrupts import raise_lost
from physres.errors import BusError

if TYPE_CHECKING:
    from physres.bus.config import BusConfig

__all__ = [
    "KeyCheck",
    "apply_security",
    "bus_socket",
    "own_key",
    "public_keys",
    "recv_frames",
    "send_parts",
    "timeout_ms",
    "try_send",
]

_SENDS_STREAMS = {zmq.PUB, zmq.XPUB}
_RECEIVES_STREAMS = {zmq.SUB, zmq.XSUB}

Role = Literal["server", "client", "inproc"]


def bus_socket(
    ctx: zmq.Context, cfg: BusConfig, kind: int, role: Role, *, server_key: bytes | None = None
) -> zmq.Socket:
    """A socket of ``kind`` with the options ``cfg`` sets: the one place they are applied.

    * ``LINGER`` 0: closing never waits on a peer that went away.
    * Stream sockets get ``cfg.sndhwm`` (PUB, XPUB) or ``cfg.rcvhwm`` (SUB, XSUB)
      and PUB the zero-copy threshold. Command sockets (DEALER, ROUTER) keep
      libzmq's bound of 1,000 queued messages on purpose: a full queue is how
      :func:`try_send` learns that a peer hangs.
    * ``role`` says which side of a connection this is (``server`` binds,
      ``client`` connects): what :func:`apply_security` needs; ``server_key`` is
      the public key of the server a client connects to, when that is not the
      broker (a node's own authenticated sockets).
    """
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    if kind in _SENDS_STREAMS:
        sock.setsockopt(zmq.SNDHWM, cfg.sndhwm)
    elif kind in _RECEIVES_STREAMS:
        sock.setsockopt(zmq.RCVHWM, cfg.rcvhwm)
    if kind == zmq.PUB:
        sock.copy_threshold = cfg.zero_copy_bytes
    apply_security(sock, cfg, role, server_key=server_key)
    return sock


def apply_security(
    sock: zmq.Socket, cfg: BusConfig, role: Role, *, server_key: bytes | None = None
) -> None:
    """Encryption and authentication (ZeroMQ CURVE): the one place they are set.

    * ``inproc`` sockets never leave the process and stay plain.
    * With ``cfg.curve_secret`` a ``server`` sets ``curve_server`` and its key
      pair (the keys of clients are checked by the ZAP handler of its context,
      :class:`KeyCheck`); a ``client`` sets its key pair and the server's public
      key (``server_key``, else the broker's), so it talks to that server only.
    * Without keys, TCP on an address that is not loopback is refused (BusError)
      unless ``cfg.allow_plain_tcp``, and then it warns loudly, once per address.
    """
    if role == "inproc":
        return
    if cfg.curve_secret is None:
        if cfg.exposed:
            _plain_tcp(cfg)
        return
    public, secret = _keypair(cfg.curve_secret, "curve_secret")
    if secret is None:
        raise BusError(
            f"bus.curve_secret {cfg.curve_secret!r} holds no secret key (a NAME.key_secret "
            "from `physres keys new` is needed)"
        )
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    if role == "server":
        sock.curve_server = True
    elif server_key is not None:
        sock.curve_serverkey = server_key
    else:
        if cfg.curve_broker is None:
            raise BusError(
                "bus.curve_broker is unset: a CURVE client needs the broker's public key"
            )
        sock.curve_serverkey = _keypair(cfg.curve_broker, "curve_broker")[0]


_warned_plain: set[str] = set()


def _plain_tcp(cfg: BusConfig) -> None:
    exposed = cfg.host if not _loopback(cfg.host) else f"{cfg.bind_host} (bind_host)"
    where = f"{exposed}, port {cfg.port}"
    if not cfg.allow_plain_tcp:
        raise BusError(
            f"bus {cfg.name!r}: plain TCP on {where}, not loopback, is refused: anyone on that "
            "network could read and inject bus traffic; set bus.curve_secret (see `physres keys "
            "new`) or, on a network you trust, bus.allow_plain_tcp: true"
        )
    if where not in _warned_plain:
        _warned_plain.add(where)
        warnings.warn(
            f"bus {cfg.name!r} on {where}: PLAIN TCP, UNENCRYPTED AND UNAUTHENTICATED "
            "(allow_plain_tcp: true); anyone on this network can read and drive the bus",
            UserWarning,
            stacklevel=4,
        )


def _loopback(host: str) -> bool:
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _keypair(path: str, key: str) -> tuple[bytes, bytes | None]:
    """(public, secret or None) from a certificate file written by ``physres keys new``."""
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as e:
        raise BusError(f"bus.{key} {path!r}: not a readable key file ({e})") from None
    return public, secret


def own_key(cfg: BusConfig) -> str | None:
    """This participant's public key (z85 text), or None on a plain bus."""
    if cfg.curve_secret is None:
        return None
    return _keypair(cfg.curve_secret, "curve_secret")[0].decode()


def public_keys(folder: str | os.PathLike[str]) -> set[bytes]:
    """The public keys (z85) of every ``*.key`` file in ``folder``."""
    out = set()
    for f in sorted(Path(folder).glob("*.key")):
        with contextlib.suppress(OSError, ValueError):
            out.add(zmq.auth.load_certificate(f)[0])
    return out


class KeyCheck:
    """The ZAP handler of one ZeroMQ context: which client keys its CURVE servers accept.

    libzmq asks the handler bound in a socket's context at every CURVE
    handshake, so there is one per context, shared by every server socket in it
    (:meth:`of`): the broker's (keys: the files in ``cfg.curve_allowed``, read
    again at every handshake, so a key file removed revokes that key from its
    next connection on) and each node's own direct sockets (keys: the list the
    broker hands its nodes, :meth:`grant`, refreshed every heartbeat). pyzmq's
    :class:`~zmq.auth.thread.ThreadAuthenticator` answers in a thread.
    ``refused`` counts handshakes turned away.
    """

    _by_context: ClassVar[weakref.WeakKeyDictionary[zmq.Context, KeyCheck]] = (
        weakref.WeakKeyDictionary()
    )
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, ctx: zmq.Context) -> None:
        from zmq.auth.thread import ThreadAuthenticator

        self.ctx = ctx
        self.folders: list[Path] = []
        self.granted: frozenset[bytes] = frozenset()
        self.refused = 0
        self.users = 0
        self.auth = ThreadAuthenticator(ctx, log=logging.getLogger("physres.bus.zap"))
        self._start_auth()
        self.auth.configure_curve_callback("*", credentials_provider=self)

    def _start_auth(self, wait_s: float = 2.0) -> None:
        """Bind the context's ZAP handler, waiting out the previous one's close.

        A socket closes asynchronously, so a handler stopped a moment ago (a
        broker restarted in the same process) may still hold
        ``inproc://zeromq.zap.01``: binding then fails with EADDRINUSE.
        """
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self.auth.start()
                return
            except zmq.ZMQError as e:
                if e.errno != zmq.EADDRINUSE or time.monotonic() > deadline:
                    raise
                if self.auth.zap_socket is not None:  # the half-started handler's socket
                    self.auth.zap_socket.close(linger=0)
                    self.auth.zap_socket = None
                time.sleep(0.005)

    @classmethod
    def of(cls, ctx: zmq.Context) -> KeyCheck:
        """The context's key check, started on first use; pair with :meth:`release`."""
        with cls._lock:
            kc = cls._by_context.get(ctx)
            if kc is None:
                kc = cls._by_context[ctx] = cls(ctx)
            kc.users += 1
            return kc

    @classmethod
    def for_broker(cls, ctx: zmq.Context, cfg: BusConfig) -> KeyCheck:
        """The key check a broker needs: ``cfg.curve_allowed`` must be a folder of keys."""
        if cfg.curve_allowed is None or not Path(cfg.curve_allowed).is_dir():
            raise BusError(
                f"bus.curve_allowed {cfg.curve_allowed!r}: a CURVE broker needs a folder of "
                "the public keys it accepts"
            )
        kc = cls.of(ctx)
        kc.folders.append(Path(cfg.curve_allowed))
        return kc

    def grant(self, keys: Iterable[bytes]) -> None:
        """Replace the keys granted by a broker (what a node's own sockets accept)."""
        self.granted = frozenset(keys)

    def allowed(self) -> set[bytes]:
        """Every key accepted now: the broker folders' files and the granted list."""
        out = set(self.granted)
        for folder in self.folders:
            out |= public_keys(folder)
        return out

    def callback(self, domain: str, key: bytes) -> bool:
        ok = key in self.granted or any(key in public_keys(f) for f in self.folders)
        if not ok:
            self.refused += 1
        return ok

    def release(self, folder: str | None = None) -> None:
        """One user fewer (a broker passes its folder); the last one stops the handler."""
        with self._lock:
            if folder is not None and Path(folder) in self.folders:
                self.folders.remove(Path(folder))
            self.users -= 1
            if self.users > 0:
                return
            if self._by_context.get(self.ctx) is self:
                del self._by_context[self.ctx]
        self.auth.stop()


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
    ``getsockopt(RCVMORE)``. First, an interrupt dropped while freeing an earlier
    message is raised (:func:`physres.bus.interrupts.raise_lost`)."""
    if _interrupted:  # a list test per message (16 ns), not a call (78 ns)
        raise_lost()
    f = sock.recv(flags, copy=False)
    parts: list[Any] = [f.bytes]
    if f.more:
        f = sock.recv(copy=False)
        parts.append(f.bytes)
        while f.more:
            f = sock.recv(copy=False)
            parts.append(f)
    return parts
