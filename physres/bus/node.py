"""A named participant on the bus: publishes, subscribes, answers commands, heartbeats.

A node is single-threaded on purpose (ZeroMQ sockets are not thread-safe):
``spin_once`` polls its subscription and command sockets, runs handlers, and
sends a heartbeat when one is due. Device nodes, readout nodes and the
recorder are all built on it.

A node claims its name from the broker before it binds anything: the name is
bound to this node's connection until it closes (a second live node with the
same name gets :class:`~physres.errors.NameTaken`). Its last heartbeat, sent
on close, announces the last ``seq`` of every stream it published, so
subscribers can count messages lost at the very end of a stream
(:meth:`physres.bus.pubsub.Subscriber.reconcile`). Anything that goes wrong
while handling one message is contained (:class:`~physres.bus.guard.LoopErrors`).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import zmq

from physres.bus.broker import BROKER, BYE, ERR, HB, REP, REQ
from physres.bus.codec import INT_MAX, Message, decode, encode, pack_meta
from physres.bus.commands import split_args
from physres.bus.config import BusConfig
from physres.bus.guard import LoopErrors
from physres.bus.nodetable import check_name
from physres.bus.pubsub import Publisher, Subscriber
from physres.bus.sockets import KeyCheck, bus_socket, own_key, recv_frames, try_send
from physres.errors import AuthError, BusError, FrameError, NameTaken

__all__ = ["Node"]

log = logging.getLogger(__name__)

#: clock exchanges a node keeps (one per heartbeat); the shortest round trip among them wins
CLOCK_WINDOW = 8

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
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        check_name(name)
        self.name = name
        self.kind = kind
        self.cfg = cfg or BusConfig()
        self.ctx = ctx or zmq.Context.instance()
        self.errors = LoopErrors(f"node {name}")
        self.command_garbage = 0
        #: why the broker refused this node's heartbeats, if it did
        self.refused: str | None = None
        # one routing id per connection: the broker binds the name to it, so nobody else
        # can receive this node's commands by claiming the name
        self.dealer = bus_socket(self.ctx, self.cfg, zmq.DEALER, "client")
        conn_id = f"{name}#{os.getpid()}-{secrets.token_hex(4)}"
        self.dealer.setsockopt(zmq.ROUTING_ID, conn_id.encode())
        # an encrypted bus: a refused key shows only as a handshake event, so watch for it
        self._auth_events: zmq.Socket | None = (
            self.dealer.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
            if self.cfg.curve
            else None
        )
        self.dealer.connect(self.cfg.endpoints.cmd)
        self.handlers: dict[str, Handler] = {"_ping": lambda: "pong", "_stats": self.stats}
        self.streams: dict[str, dict[str, Any]] = {}
        self._watched: list[Subscriber] = []
        self._next_hb = 0.0
        self.sub: Subscriber | None = None
        self.router: zmq.Socket | None = None
        self.cmd_endpoint: str | None = None
        #: this host's clock (ns since the epoch); a test may hand in a skewed one
        self.clock = clock
        #: broker clock minus ours, and the round trip it was measured over (ns; None: not yet)
        self.clock_offset_ns = 0
        self.clock_rtt_ns: int | None = None
        # one clock exchange rides on every heartbeat: (rtt, offset) of the latest few,
        # so drift, and a broker restarted on another host, are followed within seconds
        self._ticks: deque[tuple[int, int]] = deque(maxlen=CLOCK_WINDOW)
        self._tick_sent: dict[bytes, int] = {}
        self._tick_n = 0
        #: the ZAP handler our own CURVE server sockets answer through (encrypted + direct)
        self.keys: KeyCheck | None = None
        try:
            # the name first: binding our direct ipc sockets under a taken name would
            # take them over from the node that holds it
            self.registered = self._register(register_timeout_s)
            self._open_sockets(list(subscribe))
            if self.registered:
                self.measure_clock()
                if self.keys is not None:
                    self._ask_keys(wait_s=1.0)
        except BaseException:
            self.close(bye=False)
            raise
        self.heartbeat()

    def _open_sockets(self, topics: list[str]) -> None:
        direct = self.cfg.direct
        name = self.name
        if direct and self.cfg.curve:
            # before any server socket binds: without a ZAP handler in its context a CURVE
            # server would accept every key; until the broker's list arrives it accepts none
            self.keys = KeyCheck.of(self.ctx)
        self.pub: Publisher = Publisher(
            self.ctx, self.cfg, name, bind=self.cfg.node_endpoint(name, "pub") if direct else None
        )
        if self.clock is not time.time_ns:
            self.pub.clock = self.host_time_ns
        self.sub = Subscriber(self.ctx, self.cfg, topics, name=name) if topics else None
        self.poller = zmq.Poller()
        self.poller.register(self.dealer, zmq.POLLIN)
        #: a ROUTER of our own: clients that know our address skip the broker hop
        if direct:
            self.router = bus_socket(self.ctx, self.cfg, zmq.ROUTER, "server")
            self.router.bind(self.cfg.node_endpoint(name, "cmd"))
            self.cmd_endpoint = self.cfg.advertised(self.router.last_endpoint.decode())
            self.poller.register(self.router, zmq.POLLIN)
        if self.sub is not None:
            self.poller.register(self.sub.sock, zmq.POLLIN)

    def _register(self, timeout_s: float) -> bool:
        """Round-trip a ping through the broker so commands can be routed to us on return.

        ZeroMQ connects in the background; without this a caller could ask for
        this node a moment after it was created and be told it does not exist.
        """
        if timeout_s <= 0:
            return False
        args = {"name": self.name, "info": pack_meta(self._identity())}
        request = encode(self.name, "register", 0, meta={"args": args})
        try_send(self.dealer, [BROKER, REQ, b"_register", *request])
        deadline = time.monotonic() + timeout_s
        poller = zmq.Poller()
        poller.register(self.dealer, zmq.POLLIN)
        if self._auth_events is not None:
            poller.register(self._auth_events, zmq.POLLIN)
        while (left := deadline - time.monotonic()) > 0:
            ready = dict(poller.poll(int(left * 1000) + 1))
            if not ready:
                break
            if self._auth_events in ready:
                self._stop_auth_events()
                raise AuthError(
                    f"bus {self.cfg.name!r}: the broker at {self.cfg.endpoints.cmd} refused node "
                    f"{self.name!r}'s key ({self.cfg.curve_secret}): its public key is not in "
                    "the broker's curve_allowed folder (`physres keys allow`)"
                )
            if self.dealer not in ready:
                continue
            frames = self.dealer.recv_multipart()
            if len(frames) >= 3 and frames[0] == BROKER and frames[2] == b"_register":
                if frames[1] == ERR:
                    raise self._refusal(frames[3:])
                self._stop_auth_events()
                return True
            self._serve(frames)  # a command that raced our registration
        log.warning(
            "node %s: no broker answered on bus %r within %.1f s; will keep trying",
            self.name,
            self.cfg.name,
            timeout_s,
        )
        return False

    def _stop_auth_events(self) -> None:
        mon, self._auth_events = self._auth_events, None
        if mon is not None:
            self.dealer.disable_monitor()
            mon.close(linger=0)

    def measure_clock(self, rounds: int = 8, timeout_s: float = 1.0) -> int | None:
        """Measure the broker's clock against ours, NTP-style, on the command channel.

        Each round sends ``time`` to the broker at ``t0`` and gets its clock ``tb``
        back at ``t3``: offset ``tb - (t0 + t3) / 2``, wrong by at most half the
        round trip, so the round with the shortest trip wins. Stream headers then
        carry host times on the broker's clock (:meth:`host_time_ns`). Returns the
        offset in ns, or None when the broker did not answer.
        """
        best: tuple[int, int] | None = None
        deadline = time.monotonic() + timeout_s
        for i in range(rounds):
            rid = f"_clock{i}".encode()
            request = encode(self.name, "time", 0, meta={"args": {}})
            t0 = self.clock()
            if not try_send(self.dealer, [BROKER, REQ, rid, *request]):
                break
            frames = self._await(rid, deadline)
            t3 = self.clock()
            if frames is None or frames[1] != REP:
                break
            try:
                tb = decode(frames[3:]).meta.get("result")
            except FrameError:
                break
            if type(tb) is not int:
                break
            rtt, offset = t3 - t0, tb - (t0 + t3) // 2
            if best is None or rtt < best[0]:
                best = (rtt, offset)
        if best is None:
            return None
        self._ticks.clear()
        self._ticks.append(best)
        self._use_best()
        return self.clock_offset_ns

    def _use_best(self) -> None:
        """Adopt the window's exchange with the shortest round trip (the tightest bound)."""
        self.clock_rtt_ns, self.clock_offset_ns = min(self._ticks)
        if hasattr(self, "pub"):
            self.pub.clock = self.host_time_ns

    def _tick(self) -> None:
        """One clock exchange, answered in :meth:`_serve` (never waited for)."""
        self._tick_n = (self._tick_n + 1) % 1_000_000
        rid = f"_tick{self._tick_n}".encode()
        request = encode(self.name, "time", 0, meta={"args": {}})
        t0 = self.clock()
        if try_send(self.dealer, [BROKER, REQ, rid, *request]):
            if len(self._tick_sent) >= CLOCK_WINDOW:  # unanswered ones: forget the oldest
                self._tick_sent.pop(next(iter(self._tick_sent)))
            self._tick_sent[rid] = t0

    def _tock(self, rid: bytes, payload: list[bytes]) -> None:
        t3 = self.clock()
        t0 = self._tick_sent.pop(rid, None)
        try:
            tb = decode(payload).meta.get("result")
        except FrameError as e:
            self.errors.record(e)
            return
        if t0 is None or type(tb) is not int:
            return
        self._ticks.append((t3 - t0, tb - (t0 + t3) // 2))
        self._use_best()

    def _ask_keys(self, wait_s: float = 0.0) -> None:
        """Ask the broker which keys it accepts, for our own sockets to accept the same.

        Sent with every heartbeat, so a key revoked at the broker is refused by
        our sockets from the next connection after one heartbeat. ``wait_s`` > 0
        waits for the answer (at start, so direct clients are not refused at first).
        """
        request = encode(self.name, "keys", 0, meta={"args": {}})
        if not try_send(self.dealer, [BROKER, REQ, b"_keys", *request]) or wait_s <= 0:
            return
        frames = self._await(b"_keys", time.monotonic() + wait_s)
        if frames is not None:
            self._serve(frames)

    def _granted(self, payload: list[bytes]) -> None:
        """The broker's answer to ``_keys``: the list our own sockets accept from now on."""
        try:
            keys = decode(payload).meta.get("result")
        except FrameError as e:
            self.errors.record(e)
            return
        if type(keys) is not list or not all(type(k) is str and len(k) == 40 for k in keys):
            self.errors.record(BusError(f"the broker's key list is malformed: {keys!r:.80}"))
            return
        if self.keys is not None:
            self.keys.grant(k.encode() for k in keys)

    def host_time_ns(self) -> int:
        """This host's time on the broker's clock (what stream headers carry as ``th``)."""
        return self.clock() + self.clock_offset_ns

    def _await(self, rid: bytes, deadline: float) -> list[bytes] | None:
        """The broker's answer to our request ``rid``; commands meanwhile are served."""
        while (left := deadline - time.monotonic()) > 0:
            if not self.dealer.poll(int(left * 1000) + 1):
                return None
            frames = self.dealer.recv_multipart()
            if len(frames) >= 3 and frames[0] == BROKER and frames[2] == rid:
                return frames
            self._serve(frames)
        return None

    def _refusal(self, payload: list[bytes]) -> BusError:
        """The broker's reason for refusing this node, as the error to raise."""
        try:
            err = decode(payload).meta.get("error") or {}
            text = str(err.get("message", "refused"))
            taken = err.get("type") == "NameTaken"
        except FrameError as e:
            text, taken = f"unreadable refusal: {e}", False
        text = f"bus {self.cfg.name!r}: {text}"
        return NameTaken(text) if taken else BusError(text)

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
            self.command_garbage = min(self.command_garbage + 1, INT_MAX)
            return
        sender, kind, rid, *payload = frames
        # the broker's own answers (refusal, key list, clock) count only from the broker: a
        # peer may address a reply to us through it, but its sender is never "_broker"
        ours = sender == BROKER and sock is not self.router
        if kind == ERR and rid == b"_hb" and ours:
            refusal = str(self._refusal(payload))
            if refusal != self.refused:  # say each new reason once
                log.error("node %s: heartbeat refused: %s", self.name, refusal)
            self.refused = refusal
            return
        if kind == REP and rid == b"_keys" and ours:
            self._granted(payload)
            return
        if kind == REP and rid.startswith(b"_tick") and ours:
            self._tock(rid, payload)
            return
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

    def _identity(self) -> dict[str, Any]:
        me = {"kind": self.kind, "pid": os.getpid(), "host": socket.gethostname()}
        if self.cfg.curve:  # direct clients check our sockets against this key
            me["curve_key"] = own_key(self.cfg)
        return me

    def info(self) -> dict[str, Any]:
        subs = ([self.sub] if self.sub is not None else []) + self._watched
        drops: dict[str, dict[str, int]] = {}
        garbage: Counter[str] = Counter()
        for s in subs:
            drops.update(s.seq.as_dict())
            garbage.update(s.garbage.counts)
        pub: Publisher | None = getattr(self, "pub", None)
        return {
            **self._identity(),
            "streams": self.streams,
            "pub_endpoint": pub.direct_endpoint if pub is not None else None,
            "cmd_endpoint": self.cmd_endpoint,
            "commands": sorted(k for k in self.handlers if not k.startswith("_")),
            "published": dict(pub.sent) if pub is not None else {},
            "last_seq": pub.last_seq if pub is not None else {},
            "received": {k: v["received"] for k, v in drops.items()},
            "dropped": {k: v["dropped"] for k, v in drops.items()},
            "garbage": {k: min(n, INT_MAX) for k, n in garbage.items()},
            "errors": dict(self.errors.counts),
            "clock_offset_ms": self.clock_offset_ns / 1e6,
            "clock_rtt_ms": None if self.clock_rtt_ns is None else self.clock_rtt_ns / 1e6,
        }

    def stats(self) -> dict[str, Any]:
        return self.info()

    def heartbeat(self, kind: bytes = HB) -> None:
        """Tell the broker we are alive (or, with ``BYE``, gone), with our counts."""
        # without a broker the queue fills after ~HWM beats; a lost beat is harmless
        self._next_hb = time.monotonic() + self.cfg.heartbeat_s
        try:
            info = pack_meta(self.info())
        except Exception as e:  # a stream spec that cannot be packed: say so, keep serving
            self.errors.record(e)
            info = pack_meta(self._identity())
        try_send(self.dealer, [BROKER, kind, self.name.encode(), info])
        if kind == HB:
            self._tick()
        if self.keys is not None and kind == HB:
            self._ask_keys()

    def heartbeat_if_due(self) -> None:
        """For loops that work through a long backlog between polls: stay listed."""
        if time.monotonic() >= self._next_hb:
            self.heartbeat()

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
            handle = self.sub.handle
            for _ in range(1000):
                try:
                    frames = recv_frames(self.sub.sock, zmq.NOBLOCK)
                except zmq.Again:
                    break
                try:
                    msg = handle(frames)
                except Exception as e:  # beyond garbage (FrameError, counted by handle)
                    self.errors.record(e)
                    continue
                if msg is not None:
                    out.append(msg)
        for sock in (self.router, self.dealer):
            if sock is not None and sock in events:
                # one request per wake-up: the next poll returns at once if more wait, and
                # we avoid the cost of the zmq.Again that ends a drain loop
                try:
                    self._serve(sock.recv_multipart(zmq.NOBLOCK), sock)
                except zmq.Again:
                    pass
                except Exception as e:
                    if isinstance(e, zmq.ContextTerminated):
                        raise
                    self.errors.record(e)
        return out

    def close(self, *, bye: bool = True) -> None:
        """Close every socket; first a goodbye with final counts (last seq per stream)."""
        if self.dealer.closed:
            return
        self._stop_auth_events()
        if bye:
            self.heartbeat(BYE)
        if hasattr(self, "pub"):
            self.pub.close()
        if self.sub is not None:
            self.sub.close()
        # a moment to deliver the goodbye; a broker that is gone costs no wait here
        self.dealer.close(linger=200 if bye else 0)
        if self.router is not None:
            self.router.close(linger=0)
        keys, self.keys = self.keys, None
        if keys is not None:
            keys.release()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
