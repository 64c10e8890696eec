"""Publishing and subscribing with sequence numbers, gap counting and garbage counting.

Slow joiners: a subscriber cannot see what was published before it joined. The
first message it receives on a stream sets that stream's baseline (``first_seq``)
and nothing before it counts as missed; every later jump in ``seq`` is counted
as dropped (a slow consumer overran its high-water mark, or the publisher's). A
consumer that must not miss the start of a stream performs a handshake first
(see :class:`physres.device.remote.RemoteDevice`).

Tail loss: messages dropped after the last one a subscriber received leave no
gap behind them. A node's goodbye to the broker carries the last ``seq`` of
each stream it published; :meth:`Subscriber.reconcile` compares those with
what arrived and counts the difference as dropped (``tail_lost``).
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import zmq

from physres.bus.codec import INT_MAX, Message, decode, encode
from physres.bus.config import BusConfig
from physres.bus.memory import keep_large_buffers
from physres.bus.sockets import bus_socket, recv_frames, send_parts, timeout_ms
from physres.errors import FrameError

__all__ = ["GarbageCounter", "Publisher", "SeqTracker", "StreamStats", "Subscriber", "stream_key"]

log = logging.getLogger(__name__)


def stream_key(topic: str | None, source: str, stream: str) -> str:
    """How streams are named in counters: the topic, plus the sender when they differ."""
    own = f"{source}/{stream}"
    return own if topic is None or topic == own else f"{topic} ({own})"


_FOREIGN = re.compile(r"^.* \(([^/]+)/.*\)$")


def _source_of(key: str) -> str:
    """The publishing node of a counter key made by :func:`stream_key`."""
    m = _FOREIGN.match(key)
    return m.group(1) if m else key.split("/", 1)[0]


class Publisher:
    """A PUB socket that stamps every message with source, per-stream seq and times."""

    def __init__(
        self,
        ctx: zmq.Context,
        cfg: BusConfig,
        source: str,
        *,
        endpoint: str | None = None,
        bind: str | None = None,
    ) -> None:
        self.source = source
        # plain: one socket both connects to the broker and binds our own address. CURVE:
        # a socket is either a server or a client, so the bound one is a second socket
        # (a PUB encrypts only for connected subscribers that want the topic: no cost idle)
        own = bind is not None and not cfg.curve
        self.sock = bus_socket(ctx, cfg, zmq.PUB, "server" if own else "client")
        self.sock.connect(endpoint or cfg.endpoints.pub)
        self._socks = [self.sock]
        #: the publisher's own address, when it binds one (subscribers may connect directly)
        self.direct_endpoint: str | None = None
        if bind is not None:
            cfg.ensure_ipc_dir()
            bound = self.sock if own else bus_socket(ctx, cfg, zmq.PUB, "server")
            try:
                bound.bind(bind)
            except zmq.ZMQError:
                if bound is not self.sock:
                    bound.close(linger=0)
                self.sock.close(linger=0)
                raise
            if bound is not self.sock:
                self._socks.append(bound)
            self.direct_endpoint = cfg.advertised(bound.last_endpoint.decode())
        self._seq: dict[str, int] = {}
        self.sent: Counter[str] = Counter()
        #: host time in headers (ns); a node sets it to its clock corrected to the broker's
        self.clock: Callable[[], int] = time.time_ns

    def publish(
        self,
        stream: str,
        arrays: Mapping[str, np.ndarray] | None = None,
        *,
        t_dev: int = 0,
        units: Mapping[str, str] | None = None,
        meta: Mapping[str, Any] | None = None,
        topic: str | None = None,
    ) -> int:
        """Send one message; returns its seq. Never blocks (PUB drops at the HWM).

        ``topic`` routes elsewhere than ``<source>/<stream>`` (e.g. ``<device>/in``).
        """
        key = stream_key(topic, self.source, stream)
        seq = self._seq.get(key, -1) + 1
        self._seq[key] = seq
        frames = encode(
            self.source,
            stream,
            seq,
            arrays,
            t_dev=t_dev,
            t_host=self.clock(),
            units=units,
            meta=meta,
            topic=topic,
        )
        for sock in self._socks:
            send_parts(sock, frames)
        self.sent[stream] += 1
        return seq

    @property
    def last_seq(self) -> dict[str, int]:
        """The seq of the last message sent on each stream (keyed like subscribers' counters)."""
        return dict(self._seq)

    def send_raw(self, frames: list[Any]) -> None:
        """Forward already-encoded frames unchanged (replay keeps original headers)."""
        for sock in self._socks:
            send_parts(sock, frames)

    def close(self) -> None:
        for sock in self._socks:
            sock.close(linger=0)


@dataclass
class StreamStats:
    first_seq: int
    last_seq: int
    received: int = 0
    dropped: int = 0
    out_of_order: int = 0
    #: of ``dropped``: lost after the last message received (see ``Subscriber.reconcile``)
    tail_lost: int = 0


class SeqTracker:
    """Per-(source, stream) counters: received, dropped (seq gaps), out of order.

    Every counter saturates at :data:`~physres.bus.codec.INT_MAX`: a hostile
    sender alternating ``seq`` between 0 and 2**63-1 would otherwise push
    ``dropped`` past what a heartbeat can pack, and end the node that counts.
    """

    #: streams counted one by one; messages on further ones are only counted in total
    #: (a sender inventing a new source name per message must not grow a heartbeat)
    MAX_STREAMS = 1024
    #: longer stream names (a hostile sender's 500 KB source name) are only counted
    #: in total too: a heartbeat listing them would outgrow what the broker accepts
    MAX_KEY = 200
    UNTRACKED = "(other streams)"

    def __init__(self) -> None:
        self.streams: dict[str, StreamStats] = {}
        self.untracked = 0

    def see(self, topic: str, seq: int) -> int:
        """Record a message; return how many were missed just before it."""
        st = self.streams.get(topic)
        if st is None:
            if len(self.streams) >= self.MAX_STREAMS or len(topic) > self.MAX_KEY:
                self.untracked = min(self.untracked + 1, INT_MAX)
                return 0
            self.streams[topic] = StreamStats(first_seq=seq, last_seq=seq, received=1)
            return 0
        if st.received < INT_MAX:
            st.received += 1
        gap = seq - st.last_seq - 1
        if gap < 0:
            # a publisher restarted (seq back to 0) or reordering: re-baseline
            if st.out_of_order < INT_MAX:
                st.out_of_order += 1
            st.last_seq = seq
            return 0
        if gap:
            st.dropped = min(st.dropped + gap, INT_MAX)
        st.last_seq = seq
        return gap

    @property
    def dropped(self) -> int:
        return min(sum(s.dropped for s in self.streams.values()), INT_MAX)

    def as_dict(self) -> dict[str, dict[str, int]]:
        out = {k: vars(v).copy() for k, v in self.streams.items()}
        if self.untracked:
            out[self.UNTRACKED] = {"received": self.untracked, "dropped": 0}
        return out


class GarbageCounter:
    """Counts malformed messages by kind and logs each kind once."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.counts: Counter[str] = Counter()

    def __call__(self, err: FrameError) -> None:
        if self.counts[err.kind] == 0:
            log.warning(
                "%s: skipping malformed message (%s): %s; further ones are only counted",
                self.owner,
                err.kind,
                err,
            )
        if self.counts[err.kind] < INT_MAX:
            self.counts[err.kind] += 1

    @property
    def total(self) -> int:
        return min(sum(self.counts.values()), INT_MAX)


class Subscriber:
    """A SUB socket that decodes, validates, tracks gaps and skips garbage."""

    def __init__(
        self,
        ctx: zmq.Context,
        cfg: BusConfig,
        topics: Iterable[str] = ("",),
        *,
        name: str = "subscriber",
        endpoint: str | None = None,
        server_key: bytes | None = None,
    ) -> None:
        if cfg.tune_malloc:
            keep_large_buffers()
        self.ctx, self.cfg = ctx, cfg
        self.sock = bus_socket(ctx, cfg, zmq.SUB, "client", server_key=server_key)
        self.sock.connect(endpoint or cfg.endpoints.sub)
        for t in topics:
            self.subscribe(t)
        self.seq = SeqTracker()
        self.garbage = GarbageCounter(name)
        self._timeout_s: float | None = None  # what RCVTIMEO is set to now (None: -1)

    @classmethod
    def direct(
        cls,
        ctx: zmq.Context,
        cfg: BusConfig,
        node: str,
        topics: Iterable[str] = ("",),
        *,
        name: str = "subscriber",
        timeout_s: float = 2.0,
    ) -> Subscriber:
        """Subscribe straight to ``node``'s own socket (no broker hop: for heavy streams).

        Falls back to the broker when the node advertises no address. On an encrypted
        bus the connection is a CURVE client of the node's own key, as the broker's
        listing (which came over the authenticated channel) gives it.
        """
        from physres.bus.commands import CommandClient

        client = CommandClient(ctx, cfg)
        try:
            rows = client.call("_broker", "ls", timeout_s=timeout_s)
        finally:
            client.close()
        row = next((r for r in rows if r.get("name") == node and r.get("alive")), {})
        ep, key = row.get("pub_endpoint"), row.get("curve_key")
        if ep and cfg.curve and not key:  # an encrypted bus: no key, no direct connection
            ep = None
        server_key = key.encode() if ep and key else None
        return cls(ctx, cfg, topics, name=name, endpoint=ep, server_key=server_key)

    def subscribe(self, topic_prefix: str) -> None:
        self.sock.setsockopt(zmq.SUBSCRIBE, topic_prefix.encode())

    def recv(self, timeout_s: float | None = None) -> Message | None:
        """Next valid message, or None after ``timeout_s`` (None: wait forever).

        One blocking receive bounded by the socket's own timeout (set only when
        it changes: a syscall). A frame-rate consumer mostly waits for the next
        message; a poll before every receive, or a failed try and its exception,
        would cost it on every frame.
        """
        t0 = time.monotonic()
        left = timeout_s
        while True:
            if left != self._timeout_s:
                self.sock.setsockopt(zmq.RCVTIMEO, timeout_ms(left))
                self._timeout_s = left  # only once the socket has it
            try:
                frames = recv_frames(self.sock)
            except zmq.Again:
                return None
            msg = self.handle(frames)
            if msg is not None:
                return msg
            if timeout_s is not None:  # garbage arrived: wait only for what is left
                left = timeout_s - (time.monotonic() - t0)
                if left <= 0:
                    return None

    def handle(self, frames: list[Any]) -> Message | None:
        """Decode raw frames (from this socket or a poller); None if garbage."""
        try:
            msg = decode(frames)
        except FrameError as e:
            self.garbage(e)
            return None
        self.seq.see(stream_key(msg.topic, msg.source, msg.stream), msg.seq)
        return msg

    def reconcile(self, rows: list[Any] | None = None, *, timeout_s: float = 2.0) -> int:
        """Count messages lost at the end of finished streams; return how many were found.

        ``rows`` is the broker's ``ls`` (fetched when None). Only publishers that
        said goodbye count: for a live one, messages in flight are not lost. Call
        it after draining; calling it again finds nothing twice.
        """
        if rows is None:
            from physres.bus.commands import CommandClient

            client = CommandClient(self.ctx, self.cfg)
            try:
                rows = client.call("_broker", "ls", timeout_s=timeout_s)
            finally:
                client.close()
        closed = {
            r.get("name"): r.get("last_seq")
            for r in rows or []
            if isinstance(r, dict) and r.get("state") == "closed"
        }
        found = 0
        for key, st in self.seq.streams.items():
            last = closed.get(_source_of(key))
            final = last.get(key) if isinstance(last, dict) else None
            if type(final) is int and st.last_seq < final <= INT_MAX:
                lost = final - st.last_seq
                st.dropped = min(st.dropped + lost, INT_MAX)
                st.tail_lost = min(st.tail_lost + lost, INT_MAX)
                st.last_seq = final
                found = min(found + lost, INT_MAX)
        return found

    def drain(self) -> list[Message]:
        """Every message already queued, without waiting."""
        out = []
        while True:
            try:
                frames = recv_frames(self.sock, zmq.NOBLOCK)
            except zmq.Again:
                return out
            m = self.handle(frames)
            if m is not None:
                out.append(m)

    def close(self) -> None:
        self.sock.close(linger=0)
