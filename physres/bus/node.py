"""A named participant on the bus: publishes, subscribes, answers commands, heartbeats.

A node is single-threaded on purpose (ZeroMQ sockets are not thread-safe):
``spin_once`` polls its subscription and command sockets, runs handlers, and
sends a heartbeat when one is due. Device nodes, readout nodes and the
recorder are all built on it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import zmq

from physres.bus.broker import BROKER, ERR, HB, REP, REQ
from physres.bus.codec import Message, decode, encode, pack_meta
from physres.bus.commands import split_args
from physres.bus.config import BusConfig
from physres.bus.pubsub import Publisher, Subscriber
from physres.bus.sockets import recv_frames, try_send
from physres.errors import FrameError

__all__ = ["Node"]

log = logging.getLogger(__name__)

Handler = Callable[..., Any]


class Node:
    """Publisher + optional subscriber + command server with heartbeats."""

    def __init__(
        self,
        name: str,
        cfg: BusConfig | None = None,
        ctx: zmq.Context | None = None,
        *,
        subscribe: Iterable[str] = (),
        kind: str = "node",
        register_timeout_s: float = 5.0,
    ) -> None:
        if not name or "/" in name or name.startswith("_"):
            raise ValueError(
                f"node name {name!r} must be non-empty, without '/', not starting with '_'"
            )
        self.name = name
        self.kind = kind
        self.cfg = cfg or BusConfig()
        self.ctx = ctx or zmq.Context.instance()
        direct = self.cfg.direct
        self.pub = Publisher(
            self.ctx, self.cfg, name, bind=self.cfg.node_endpoint(name, "pub") if direct else None
        )
        topics = list(subscribe)
        self.sub = Subscriber(self.ctx, self.cfg, topics, name=name) if topics else None
        self.dealer = self.ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.setsockopt(zmq.ROUTING_ID, name.encode())
        self.dealer.connect(self.cfg.endpoints.cmd)
        self.poller = zmq.Poller()
        self.poller.register(self.dealer, zmq.POLLIN)
        #: a ROUTER of our own: clients that know our address skip the broker hop
        self.router: zmq.Socket | None = None
        self.cmd_endpoint: str | None = None
        if direct:
            self.router = self.ctx.socket(zmq.ROUTER)
            self.router.setsockopt(zmq.LINGER, 0)
            self.router.bind(self.cfg.node_endpoint(name, "cmd"))
            self.cmd_endpoint = self.cfg.advertised(self.router.last_endpoint.decode())
            self.poller.register(self.router, zmq.POLLIN)
        if self.sub is not None:
            self.poller.register(self.sub.sock, zmq.POLLIN)
        self.handlers: dict[str, Handler] = {"_ping": lambda: "pong", "_stats": self.stats}
        self.streams: dict[str, dict[str, Any]] = {}
        self.command_garbage = 0
        self._watched: list[Subscriber] = []
        self._next_hb = 0.0
        self.heartbeat()
        self.registered = self._register(register_timeout_s)

    def _register(self, timeout_s: float) -> bool:
        """Round-trip a ping through the broker so commands can be routed to us on return.

        ZeroMQ connects in the background; without this a caller could ask for
        this node a moment after it was created and be told it does not exist.
        """
        if timeout_s <= 0:
            return False
        try_send(self.dealer, [BROKER, REQ, b"_register", *encode(self.name, "ping", 0)])
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            if not self.dealer.poll(int(left * 1000) + 1):
                break
            frames = self.dealer.recv_multipart()
            if len(frames) >= 3 and frames[2] == b"_register":
                return True
            self._serve(frames)  # a command that raced our registration
        log.warning(
            "node %s: no broker answered on bus %r within %.1f s; will keep trying",
            self.name,
            self.cfg.name,
            timeout_s,
        )
        return False

    # -------------------------------------------------------------- commands
    def command(self, name: str, fn: Handler) -> None:
        """Serve ``fn(**args)`` as command ``name``."""
        self.handlers[name] = fn

    def _serve(self, frames: list[bytes], sock: zmq.Socket | None = None) -> None:
        """Answer one request; the reply goes back on the socket it came from.

        Both paths deliver ``[sender, kind, request_id, *payload]``: the broker
        relays through our DEALER, a direct client reaches our ROUTER.
        """
        self._sock = sock or self.dealer
        if len(frames) < 3:
            self.command_garbage += 1
            return
        sender, kind, rid, *payload = frames
        if kind != REQ:
            return
        try:
            req = decode(payload)
        except FrameError as e:
            self._reply(sender, rid, "?", error=e)
            return
        fn = self.handlers.get(req.stream)
        if fn is None:
            known = sorted(k for k in self.handlers if not k.startswith("_"))
            self._reply(
                sender,
                rid,
                req.stream,
                error=ValueError(
                    f"node {self.name!r} has no command {req.stream!r}; it has {known}"
                ),
            )
            return
        try:
            args = req.meta.get("args") or {}
            if req.arrays:
                args = {**args, **req.arrays}
            result = fn(**args)
        except Exception as e:  # the error travels back to the caller
            log.debug("command %s.%s failed:\n%s", self.name, req.stream, traceback.format_exc())
            self._reply(sender, rid, req.stream, error=e)
            return
        self._reply(sender, rid, req.stream, result=result)

    def _reply(
        self,
        to: bytes,
        rid: bytes,
        command: str,
        *,
        result: Any = None,
        error: BaseException | None = None,
    ) -> None:
        if error is not None:
            meta = {"ok": False, "error": {"type": type(error).__name__, "message": str(error)}}
            frames = encode(self.name, command or "reply", 0, meta=meta)
            try_send(self._sock, [to, ERR, rid, *frames])
            return
        arrays: dict[str, np.ndarray] = {}
        if isinstance(result, np.ndarray):
            arrays, result = {"result": result}, None
        elif isinstance(result, dict):
            arrays, plain = split_args(result)
            result = plain
        try:
            frames = encode(self.name, command, 0, arrays, meta={"ok": True, "result": result})
        except TypeError as e:
            self._reply(
                to, rid, command, error=TypeError(f"result of {command!r} cannot be sent: {e}")
            )
            return
        try_send(self._sock, [to, REP, rid, *frames])  # a caller gone: it has timed out

    # ------------------------------------------------------------- liveness
    def declare_stream(self, stream: str, **spec: Any) -> None:
        """Advertise a stream (dtype, shape, units, rate_hz...) in heartbeats and ``physres ls``."""
        self.streams[stream] = spec
        self.heartbeat()  # tell the broker now, not a heartbeat later

    def watch(self, sub: Subscriber) -> None:
        """Report another subscriber's counts (received, dropped, garbage) as this node's.

        For nodes that read a stream on a socket of their own (the recorder):
        its drops are the ones a user most needs to see in ``physres ls``.
        """
        self._watched.append(sub)

    def info(self) -> dict[str, Any]:
        subs = ([self.sub] if self.sub is not None else []) + self._watched
        drops: dict[str, dict[str, int]] = {}
        garbage: Counter[str] = Counter()
        for s in subs:
            drops.update(s.seq.as_dict())
            garbage.update(s.garbage.counts)
        return {
            "kind": self.kind,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "streams": self.streams,
            "pub_endpoint": self.pub.direct_endpoint,
            "cmd_endpoint": self.cmd_endpoint,
            "commands": sorted(k for k in self.handlers if not k.startswith("_")),
            "published": dict(self.pub.sent),
            "received": {k: v["received"] for k, v in drops.items()},
            "dropped": {k: v["dropped"] for k, v in drops.items()},
            "garbage": dict(garbage),
        }

    def stats(self) -> dict[str, Any]:
        return self.info()

    def heartbeat(self) -> None:
        # without a broker the queue fills after ~HWM beats; a lost beat is harmless
        try_send(self.dealer, [BROKER, HB, b"", pack_meta(self.info())])
        self._next_hb = time.monotonic() + self.cfg.heartbeat_s

    # ---------------------------------------------------------------- loop
    def spin_once(self, timeout_s: float = 0.05) -> list[Message]:
        """Poll once; serve commands; return the valid stream messages received."""
        now = time.monotonic()
        if now >= self._next_hb:
            self.heartbeat()
        wait = max(0.0, min(timeout_s, self._next_hb - now))
        events = dict(self.poller.poll(int(wait * 1000)))
        out: list[Message] = []
        if self.sub is not None and self.sub.sock in events:
            # drain what is queued so a burst does not starve commands
            for _ in range(1000):
                try:
                    frames = recv_frames(self.sub.sock, zmq.NOBLOCK)
                except zmq.Again:
                    break
                msg = self.sub.handle(frames)
                if msg is not None:
                    out.append(msg)
        for sock in (self.router, self.dealer):
            if sock is not None and sock in events:
                # one request per wake-up: the next poll returns at once if more wait, and
                # we avoid the cost of the zmq.Again that ends a drain loop
                self._serve(sock.recv_multipart(zmq.NOBLOCK), sock)
        return out

    def close(self) -> None:
        self.pub.close()
        if self.sub is not None:
            self.sub.close()
        self.dealer.close(linger=0)
        if self.router is not None:
            self.router.close(linger=0)

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
