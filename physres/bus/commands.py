"""Request/response to a named node, with request ids, timeouts and remote errors.

A call never hangs: either the node answers, the broker says at once that no
such node is connected (:class:`~physres.errors.NodeUnreachable`), or the call
times out naming the node, the command and the wait
(:class:`~physres.errors.CommandTimeout`). An exception raised on the node comes
back as :class:`~physres.errors.RemoteError`; when the remote type is a physres
error the raised object is also an instance of it, so ``except SafetyError``
works across the bus.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import zmq

from physres import errors
from physres.bus.broker import BROKER, ERR, REQ
from physres.bus.codec import Message, decode, encode
from physres.bus.config import BusConfig
from physres.bus.sockets import bus_socket, timeout_ms, try_send
from physres.errors import CommandTimeout, FrameError, NodeUnreachable, RemoteError

__all__ = ["CommandClient", "remote_error", "split_args", "unpack_result"]

_ids = itertools.count()


def split_args(kwargs: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays travel as buffers, everything else in the msgpack header."""
    arrays = {k: v for k, v in kwargs.items() if isinstance(v, np.ndarray)}
    plain = {k: v for k, v in kwargs.items() if k not in arrays}
    return arrays, plain


def unpack_result(msg: Message) -> Any:
    result = msg.meta.get("result")
    if not msg.arrays:
        return result
    if isinstance(result, dict):
        return {**result, **msg.arrays}
    if result is None and set(msg.arrays) == {"result"}:
        return msg.arrays["result"]
    return dict(msg.arrays)


def remote_error(node: str, command: str, remote_type: str, message: str) -> RemoteError:
    """A RemoteError that is also the remote physres error type, when there is one."""
    local = getattr(errors, remote_type, None)
    if (
        isinstance(local, type)
        and issubclass(local, errors.PhysresError)
        and local is not RemoteError
    ):
        cls = type(f"Remote{remote_type}", (RemoteError, local), {"__init__": RemoteError.__init__})
        return cls(node, command, remote_type, message)
    return RemoteError(node, command, remote_type, message)


class CommandClient:
    """Calls commands on nodes: directly when the node advertises its own address,
    else through the broker (which also answers at once for unknown nodes)."""

    def __init__(self, ctx: zmq.Context, cfg: BusConfig, name: str | None = None) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.name = name or f"_client-{os.getpid()}-{next(_ids)}"
        self.sock = self._dealer(cfg.endpoints.cmd)
        self._direct: dict[str, zmq.Socket] = {}
        self._rcvtimeo: dict[zmq.Socket, int] = {}  # RCVTIMEO each socket has now (ms)
        self._rid = itertools.count(1)

    def _dealer(self, endpoint: str, server_key: bytes | None = None) -> zmq.Socket:
        s = bus_socket(self.ctx, self.cfg, zmq.DEALER, "client", server_key=server_key)
        s.setsockopt(zmq.ROUTING_ID, self.name.encode())
        try:
            s.connect(endpoint)
        except zmq.ZMQError:
            s.close(linger=0)
            raise
        return s

    def _route(self, node: str) -> zmq.Socket | None:
        """A direct socket to ``node`` if it advertises one (looked up once, then cached)."""
        if not self.cfg.direct or node == BROKER.decode():
            return None
        if node not in self._direct:
            try:
                rows = self._call_via(None, BROKER.decode(), "ls", 2.0, {})
            except CommandTimeout:
                return None
            # only the node asked for: a peer advertising an address libzmq refuses must
            # not break calls to every other node (that one is reached via the broker)
            row = next(
                (
                    r
                    for r in rows
                    if isinstance(r, dict) and r.get("name") == node and r.get("alive")
                ),
                {},
            )
            ep, key = row.get("cmd_endpoint"), row.get("curve_key")
            if not isinstance(ep, str) or not ep:
                return None
            if self.cfg.curve and not isinstance(key, str):  # encrypted: no key, no shortcut
                return None
            try:
                self._direct[node] = self._dealer(ep, key.encode() if self.cfg.curve else None)
            except zmq.ZMQError:
                return None
        return self._direct.get(node)

    def call(
        self, node: str, command: str, *, timeout_s: float | None = None, **kwargs: Any
    ) -> Any:
        """Run ``command`` on ``node`` and return its result (or raise its error)."""
        timeout = self.cfg.command_timeout_s if timeout_s is None else timeout_s
        direct = self._route(node)
        try:
            return self._call_via(direct, node, command, timeout, kwargs)
        except CommandTimeout:
            if direct is not None:  # the node may have moved: look it up afresh next time
                self._direct.pop(node, None)
                self._rcvtimeo.pop(direct, None)
                direct.close(linger=0)
            raise

    def _call_via(
        self, direct: zmq.Socket | None, node: str, command: str, timeout: float, kwargs: dict
    ) -> Any:
        rid = str(next(self._rid)).encode()
        arrays, plain = split_args(kwargs)
        frames = encode(self.name, command, 0, arrays, meta={"args": plain})
        if direct is None:
            sock = self.sock
            target = BROKER if node == BROKER.decode() else node.encode()
            sent = try_send(sock, [target, REQ, rid, *frames])
        else:
            sock = direct
            sent = try_send(sock, [REQ, rid, *frames])
        if not sent:  # earlier requests still queued: the peer stopped reading
            who = "the broker" if direct is None else f"node {node!r}"
            raise NodeUnreachable(
                f"command {command!r} to node {node!r}: {who} is not taking requests "
                "(its queue is full: hung, or far too slow?)"
            )
        deadline = time.monotonic() + timeout
        wait_ms = timeout_ms(timeout) or 1
        timed_out = CommandTimeout(
            f"no reply from node {node!r} to command {command!r} within {timeout:g} s "
            f"(bus {self.cfg.name!r}); is the node alive? (`physres ls`)"
        )
        while True:
            # one blocking receive bounded by the socket's own timeout (set only when it
            # changes: a syscall); cheaper per round trip than a poll and then a receive
            if self._rcvtimeo.get(sock) != wait_ms:
                sock.setsockopt(zmq.RCVTIMEO, wait_ms)
                self._rcvtimeo[sock] = wait_ms
            try:
                reply = sock.recv_multipart()
            except zmq.Again:
                raise timed_out from None
            if direct is None:
                reply = reply[1:]  # the broker prefixes who answered
            if len(reply) < 2 or reply[1] != rid:
                # a late answer to an earlier, timed-out call (or junk): wait on
                left = deadline - time.monotonic()
                if left <= 0:
                    raise timed_out
                wait_ms = timeout_ms(left) or 1
                continue
            kind, _rid, *payload = reply
            try:
                msg = decode(payload)
            except FrameError as e:
                raise RemoteError(node, command, "FrameError", f"unreadable reply: {e}") from e
            if kind == ERR or not msg.meta.get("ok", False):
                err = msg.meta.get("error") or {}
                rtype, rmsg = str(err.get("type", "Error")), str(err.get("message", ""))
                if rtype in ("NodeNotFound", "NodeBusy"):
                    raise NodeUnreachable(f"command {command!r}: {rmsg}")
                raise remote_error(node, command, rtype, rmsg)
            return unpack_result(msg)

    def ping_broker(self, timeout_s: float = 0.5) -> bool:
        """True when a broker answers on this bus's command endpoint."""
        try:
            self._call_via(None, BROKER.decode(), "ping", timeout_s, {})
            return True
        except CommandTimeout:
            return False

    def close(self) -> None:
        self.sock.close(linger=0)
        for s in self._direct.values():
            s.close(linger=0)
        self._direct.clear()
