"""The broker: an XSUB/XPUB proxy for streams and a ROUTER for commands and liveness.

Streams never pass through Python here: ``zmq.proxy_steerable`` moves them in
libzmq's own thread. The ROUTER thread routes commands to nodes by name,
answers for nodes that are not connected (so a caller gets an error at once
instead of waiting out its timeout), and keeps the table of live nodes from
their heartbeats (``physres ls``).

Command frames (DEALER → ROUTER), after ZeroMQ's routing id::

    [target, kind, request_id, *payload]      kind ∈ REQ, REP, ERR, HB

The broker rewrites ``target`` into the sender's id when forwarding, so the
receiver knows whom to answer.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack
import zmq

from physres.bus.codec import decode, encode
from physres.bus.config import BusConfig
from physres.bus.sockets import try_send
from physres.errors import BusError, FrameError

__all__ = ["BROKER", "Broker", "NodeInfo"]

log = logging.getLogger(__name__)

BROKER = b"_broker"
REQ, REP, ERR, HB = b"REQ", b"REP", b"ERR", b"HB"


@dataclass
class NodeInfo:
    name: str
    first_seen: float
    last_seen: float
    info: dict[str, Any] = field(default_factory=dict)


class Broker:
    """Run in-process (``start()``/``stop()``) or in the foreground (``run()``)."""

    def __init__(self, cfg: BusConfig | None = None, ctx: zmq.Context | None = None) -> None:
        self.cfg = cfg or BusConfig()
        self.ctx = ctx or zmq.Context.instance()
        self.nodes: dict[str, NodeInfo] = {}
        self.started = time.time()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ctrl_addr = f"inproc://physres-broker-ctrl-{id(self)}"
        self._bound = threading.Event()
        self._error: BaseException | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> Broker:
        """Bind and serve in background threads; raises BusError if the address is taken."""
        self.cfg.ensure_ipc_dir()
        ep = self.cfg.endpoints
        xsub = self.ctx.socket(zmq.XSUB)
        xpub = self.ctx.socket(zmq.XPUB)
        router = self.ctx.socket(zmq.ROUTER)
        for s in (xsub, xpub, router):
            s.setsockopt(zmq.LINGER, 0)
        xsub.setsockopt(zmq.RCVHWM, self.cfg.rcvhwm)
        xpub.setsockopt(zmq.SNDHWM, self.cfg.sndhwm)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        router.setsockopt(zmq.ROUTER_HANDOVER, 1)
        try:
            xsub.bind(ep.pub)
            xpub.bind(ep.sub)
            router.bind(ep.cmd)
        except zmq.ZMQError as e:
            for s in (xsub, xpub, router):
                s.close(linger=0)
            raise BusError(f"cannot bind the bus broker at {ep}: {e}") from e
        ctrl = self.ctx.socket(zmq.PAIR)
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
        self._unlink_ipc()

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
        import os

        ep = self.cfg.endpoints
        for addr in (ep.pub, ep.sub, ep.cmd):
            with contextlib.suppress(OSError):
                os.unlink(addr.removeprefix("ipc://"))

    # ---------------------------------------------------------------- proxy
    def _proxy(self, xsub: zmq.Socket, xpub: zmq.Socket) -> None:
        ctrl = self.ctx.socket(zmq.PAIR)
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
                frames = router.recv_multipart()
                if len(frames) < 4:
                    log.debug("broker: dropping short command message (%d parts)", len(frames))
                    continue
                sender, target, kind, rid, *payload = frames
                if kind == HB:
                    self._heartbeat(sender.decode(errors="replace"), payload)
                elif target == BROKER:
                    self._local(router, sender, kind, rid, payload)
                else:
                    self._forward(router, sender, target, kind, rid, payload)
        finally:
            router.close(linger=0)

    def _forward(
        self,
        router: zmq.Socket,
        sender: bytes,
        target: bytes,
        kind: bytes,
        rid: bytes,
        payload: list[bytes],
    ) -> None:
        """Relay a request or reply; a request that cannot be delivered is answered at once."""
        try:
            if try_send(router, [target, sender, kind, rid, *payload]):
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

    def _heartbeat(self, name: str, payload: list[bytes]) -> None:
        now = time.time()
        try:
            info = msgpack.unpackb(payload[0], raw=False) if payload else {}
        except Exception:
            info = {}
        node = self.nodes.get(name)
        if node is None:
            self.nodes[name] = NodeInfo(name, now, now, info if isinstance(info, dict) else {})
        else:
            node.last_seen = now
            if isinstance(info, dict):
                node.info = info

    def table(self) -> list[dict[str, Any]]:
        """Nodes with liveness: ``alive`` false once silent for ``heartbeat_misses`` beats."""
        now = time.time()
        limit = self.cfg.heartbeat_s * self.cfg.heartbeat_misses
        rows = []
        for n in sorted(self.nodes.values(), key=lambda n: n.name):
            age = now - n.last_seen
            rows.append(
                {
                    "name": n.name,
                    "alive": age <= limit,
                    "silent_s": round(age, 3),
                    "up_s": round(now - n.first_seen, 3),
                    **n.info,
                }
            )
        return rows

    def _local(
        self, router: zmq.Socket, sender: bytes, kind: bytes, rid: bytes, payload: list
    ) -> None:
        if kind != REQ:
            return
        try:
            cmd = decode(payload).stream
        except FrameError as e:
            self._reply(
                router, sender, BROKER, rid, error={"type": "FrameError", "message": str(e)}
            )
            return
        if cmd == "ping":
            result: Any = {"bus": self.cfg.name, "up_s": time.time() - self.started}
        elif cmd == "ls":
            result = self.table()
        elif cmd == "forget":
            self.nodes = {
                k: v
                for k, v in self.nodes.items()
                if time.time() - v.last_seen <= self.cfg.heartbeat_s * self.cfg.heartbeat_misses
            }
            result = True
        else:
            self._reply(
                router,
                sender,
                BROKER,
                rid,
                error={
                    "type": "ValueError",
                    "message": f"the broker has no command {cmd!r}; it has ping, ls, forget",
                },
            )
            return
        self._reply(router, sender, BROKER, rid, result=result)
