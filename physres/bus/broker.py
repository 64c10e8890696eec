"""The broker: an XSUB/XPUB proxy for streams and a ROUTER for commands and liveness.

Streams never pass through Python here: ``zmq.proxy_steerable`` moves them in
libzmq's own thread. The ROUTER thread routes commands to nodes by name,
answers for nodes that are not connected (so a caller gets an error at once
instead of waiting out its timeout), and keeps the table of live nodes from
their heartbeats (``physres ls``).

Command frames (DEALER → ROUTER), after ZeroMQ's routing id::

    [target, kind, request_id, *payload]      kind ∈ REQ, REP, ERR, HB, BYE

The broker rewrites ``target`` into the sender's id when forwarding, so the
receiver knows whom to answer. A heartbeat (HB) or goodbye (BYE) carries the
node's name in place of the request id and its info map as payload. Names are
bound to the connection that claimed them (see :mod:`physres.bus.nodetable`):
a command for a name goes to that connection only, and a claim on a name
another connection holds is answered with ERR ``NameTaken``.

Nothing a peer sends can stop the router: each message is handled inside
:class:`~physres.bus.guard.LoopErrors` (counted, logged once per type).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from physres.bus.codec import decode, encode
from physres.bus.config import BusConfig
from physres.bus.guard import LoopErrors
from physres.bus.nodetable import NodeTable, check_info, check_name
from physres.bus.sockets import KeyCheck, bus_socket, try_send
from physres.errors import BusError, FrameError

__all__ = ["BROKER", "Broker"]

log = logging.getLogger(__name__)

BROKER = b"_broker"
REQ, REP, ERR, HB, BYE = b"REQ", b"REP", b"ERR", b"HB", b"BYE"


class Broker:
    """Run in-process (``start()``/``stop()``) or in the foreground (``run()``)."""

    def __init__(
        self,
        cfg: BusConfig | None = None,
        ctx: zmq.Context | None = None,
        *,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.cfg = cfg or BusConfig()
        #: the bus's reference clock (ns since the epoch) every node aligns to; a test
        #: may hand in a skewed one, as for a broker restarted on another host
        self.clock = clock
        self.ctx = ctx or zmq.Context.instance()
        self.nodes = NodeTable(self.cfg.heartbeat_s * self.cfg.heartbeat_misses, self.cfg.max_nodes)
        #: heartbeats refused (out of schema, bad name, name taken, table full)
        self.refused = 0
        self.errors = LoopErrors("broker")
        self.started = time.time()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ctrl_addr = f"inproc://physres-broker-ctrl-{id(self)}"
        self._bound = threading.Event()
        self._error: BaseException | None = None
        self.keys: KeyCheck | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> Broker:
        """Bind and serve in background threads; raises BusError if the address is taken."""
        self.cfg.ensure_ipc_dir()
        ep = self.cfg.endpoints
        # the key check answers before any socket binds: a CURVE server without a ZAP
        # handler in its context would accept every key
        self.keys = KeyCheck.for_broker(self.ctx, self.cfg) if self.cfg.curve else None
        xsub = bus_socket(self.ctx, self.cfg, zmq.XSUB, "server")
        xpub = bus_socket(self.ctx, self.cfg, zmq.XPUB, "server")
        router = bus_socket(self.ctx, self.cfg, zmq.ROUTER, "server")
        # unroutable sends raise (a node gone is answered at once, and a name's holder can
        # be probed); no handover: a second connection can never take over a routing id
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        try:
            xsub.bind(ep.pub)
            xpub.bind(ep.sub)
            router.bind(ep.cmd)
        except zmq.ZMQError as e:
            for s in (xsub, xpub, router):
                s.close(linger=0)
            self._stop_keys()
            raise BusError(f"cannot bind the bus broker at {ep}: {e}") from e
        ctrl = bus_socket(self.ctx, self.cfg, zmq.PAIR, "inproc")
        ctrl.bind(self._ctrl_addr)
        self._ctrl = ctrl
        self._threads = [
            threading.Thread(
                target=self._proxy, args=(xsub, xpub), name="physres-proxy", daemon=True
            ),
            threading.Thread(
                target=self._route, args=(router,), name="physres-router", daemon=True
            ),
        ]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if hasattr(self, "_ctrl"):
            with contextlib.suppress(zmq.ZMQError):
                self._ctrl.send(b"TERMINATE")
        for t in self._threads:
            t.join(timeout=5)
        if hasattr(self, "_ctrl"):
            self._ctrl.close(linger=0)
            del self._ctrl
        self._stop_keys()
        self._unlink_ipc()

    def _stop_keys(self) -> None:
        keys, self.keys = getattr(self, "keys", None), None
        if keys is not None:
            keys.release(self.cfg.curve_allowed)

    def run(self) -> None:
        """Serve until interrupted (``physres bus``)."""
        self.start()
        try:
            while not self._stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _unlink_ipc(self) -> None:
        if self.cfg.transport != "ipc":
            return
        ep = self.cfg.endpoints
        for addr in (ep.pub, ep.sub, ep.cmd):
            with contextlib.suppress(OSError):
                os.unlink(addr.removeprefix("ipc://"))

    # ---------------------------------------------------------------- proxy
    def _proxy(self, xsub: zmq.Socket, xpub: zmq.Socket) -> None:
        ctrl = bus_socket(self.ctx, self.cfg, zmq.PAIR, "inproc")
        ctrl.connect(self._ctrl_addr)
        try:
            zmq.proxy_steerable(xsub, xpub, None, ctrl)
        except zmq.ZMQError as e:  # context terminated
            if not self._stop.is_set():
                log.error("bus proxy stopped: %s", e)
        finally:
            for s in (xsub, xpub, ctrl):
                s.close(linger=0)

    # --------------------------------------------------------------- router
    def _route(self, router: zmq.Socket) -> None:
        try:
            while not self._stop.is_set():
                if not router.poll(100):
                    continue
                frames = router.recv_multipart(zmq.NOBLOCK)
                try:
                    self._handle(router, frames)
                except zmq.ContextTerminated:
                    raise
                except Exception as e:  # a peer's message must never stop the router
                    self.errors.record(e)
        except zmq.ContextTerminated:
            pass
        finally:
            router.close(linger=0)

    def _handle(self, router: zmq.Socket, frames: list[bytes]) -> None:
        if len(frames) < 4:
            log.debug("broker: dropping short command message (%d parts)", len(frames))
            return
        sender, target, kind, rid, *payload = frames
        if sender == BROKER:  # a peer naming its connection after us could forge our answers
            self.refused += 1
            log.debug("broker: dropping a message from a connection that calls itself %r", BROKER)
            return
        if kind in (HB, BYE):
            self._heartbeat(router, sender, rid, payload, bye=kind == BYE)
        elif target == BROKER:
            self._local(router, sender, kind, rid, payload)
        else:
            self._forward(router, sender, target, kind, rid, payload)

    def _forward(
        self,
        router: zmq.Socket,
        sender: bytes,
        target: bytes,
        kind: bytes,
        rid: bytes,
        payload: list[bytes],
    ) -> None:
        """Relay a request or reply; a request that cannot be delivered is answered at once.

        A node's name routes to the connection that holds it; anything else (a
        command client's own id, which a reply goes back to) is used as given.
        """
        conn = self.nodes.route(target.decode(errors="replace"))
        try:
            if try_send(router, [conn or target, sender, kind, rid, *payload]):
                return
            etype = "NodeBusy"
            text = (
                f"node {target.decode(errors='replace')!r} is not taking commands: its queue "
                "of requests is full (hung, or far too slow?)"
            )
        except zmq.ZMQError as e:
            if e.errno != zmq.EHOSTUNREACH:
                raise
            etype = "NodeNotFound"
            text = (
                f"no node named {target.decode(errors='replace')!r} is connected to bus "
                f"{self.cfg.name!r} (see `physres ls`)"
            )
        if kind == REQ:
            self._reply(router, sender, target, rid, error={"type": etype, "message": text})

    def _reply(
        self,
        router: zmq.Socket,
        to: bytes,
        frm: bytes,
        rid: bytes,
        *,
        result: Any = None,
        error: dict[str, str] | None = None,
    ) -> None:
        meta = (
            {"ok": error is None, "result": result}
            if error is None
            else {"ok": False, "error": error}
        )
        frames = encode(frm.decode(errors="replace"), "reply", 0, meta=meta)
        try:
            try_send(router, [to, frm, REP if error is None else ERR, rid, *frames])
        except zmq.ZMQError:
            pass  # the asker went away (or stopped reading): nothing to tell

    def _heartbeat(
        self, router: zmq.Socket, conn: bytes, rid: bytes, payload: list[bytes], *, bye: bool
    ) -> None:
        """Check a heartbeat (or goodbye) and apply it to the table; refuse it with a reason."""
        try:
            name = check_name(rid.decode() if rid else conn.decode())
            info = check_info(payload[0] if payload else b"")
        except (ValueError, UnicodeDecodeError) as e:
            self._refuse(router, conn, f"heartbeat refused: {e}")
            return
        now = time.time()
        if bye:
            self.nodes.close(name, conn, info, now)
            return
        why = self.nodes.claim(name, conn, info, now, lambda c: self._connected(router, c))
        if why is not None:
            self._refuse(router, conn, why, etype="NameTaken")

    def _refuse(self, router: zmq.Socket, conn: bytes, why: str, etype: str = "BusError") -> None:
        """Count a refused heartbeat, log the first, and tell its sender why."""
        if self.refused == 0:
            log.warning("bus %r: %s (further refusals are only counted)", self.cfg.name, why)
        self.refused = min(self.refused + 1, 2**63 - 1)
        self._reply(router, conn, BROKER, b"_hb", error={"type": etype, "message": why})

    @staticmethod
    def _connected(router: zmq.Socket, conn: bytes) -> bool:
        """Whether a connection with routing id ``conn`` is still there (probe, no reply)."""
        try:
            router.send_multipart([conn, BROKER, HB, b"_probe"], zmq.NOBLOCK)
        except zmq.Again:
            return True  # there, but its queue is full
        except zmq.ZMQError as e:
            if e.errno == zmq.EHOSTUNREACH:
                return False
            raise
        return True

    def table(self) -> list[dict[str, Any]]:
        """Rows for ``physres ls``: live nodes, nodes closed within the last
        ``heartbeat_misses`` beats, and refused claims on a taken name."""
        return self.nodes.rows(time.time())

    def _local(
        self, router: zmq.Socket, sender: bytes, kind: bytes, rid: bytes, payload: list
    ) -> None:
        if kind != REQ:
            return
        try:
            req = decode(payload)
        except FrameError as e:
            self._reply(
                router, sender, BROKER, rid, error={"type": "FrameError", "message": str(e)}
            )
            return
        cmd = req.stream
        if cmd == "ping":
            result: Any = {
                "bus": self.cfg.name,
                "up_s": time.time() - self.started,
                "pid": os.getpid(),
                "refused": self.refused,
                "refused_keys": self.keys.refused if self.keys is not None else 0,
                "curve": self.cfg.curve,
                "errors": dict(self.errors.counts),
            }
        elif cmd == "time":
            result = self.clock()  # a node's clock exchange (Node.measure_clock)
        elif cmd == "ls":
            result = self.table()
        elif cmd == "keys":
            # the keys a node's own (direct) sockets accept: the same list as ours, so
            # revoking a key here reaches every node at its next heartbeat
            result = sorted(k.decode() for k in self.keys.allowed()) if self.keys else []
        elif cmd == "forget":
            self.nodes.forget(time.time())
            result = True
        elif cmd == "register":
            self._register(router, sender, rid, req.meta.get("args"))
            return
        else:
            self._reply(
                router,
                sender,
                BROKER,
                rid,
                error={
                    "type": "ValueError",
                    "message": (
                        f"the broker has no command {cmd!r}; "
                        "it has ping, ls, time, keys, forget, register"
                    ),
                },
            )
            return
        self._reply(router, sender, BROKER, rid, result=result)

    def _register(self, router: zmq.Socket, conn: bytes, rid: bytes, args: Any) -> None:
        """A node claims its name before it binds anything (answered REP, or ERR NameTaken)."""
        try:
            if type(args) is not dict:
                raise ValueError("register needs args {name, info}")
            name = check_name(args.get("name"))
            info = check_info(args.get("info") or b"")
        except ValueError as e:
            self._reply(router, conn, BROKER, rid, error={"type": "BusError", "message": str(e)})
            return
        why = self.nodes.claim(name, conn, info, time.time(), lambda c: self._connected(router, c))
        if why is None:
            self._reply(router, conn, BROKER, rid, result=True)
        else:
            self._reply(router, conn, BROKER, rid, error={"type": "NameTaken", "message": why})
