"""Publishing and subscribing with sequence numbers, gap counting and garbage counting.

Slow joiners: a subscriber cannot see what was published before it joined. The
first message it receives on a stream sets that stream's baseline (``first_seq``)
and nothing before it counts as missed; every later jump in ``seq`` is counted
as dropped (a slow consumer overran its high-water mark, or the publisher's). A
consumer that must not miss the start of a stream performs a handshake first
(see :class:`physres.device.remote.RemoteDevice`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import zmq

from physres.bus.codec import Message, decode, encode
from physres.bus.config import BusConfig
from physres.bus.memory import keep_large_buffers
from physres.bus.sockets import recv_frames, send_parts, timeout_ms
from physres.errors import FrameError

__all__ = ["GarbageCounter", "Publisher", "SeqTracker", "StreamStats", "Subscriber", "stream_key"]

log = logging.getLogger(__name__)


def stream_key(topic: str | None, source: str, stream: str) -> str:
    """How streams are named in counters: the topic, plus the sender when they differ."""
    own = f"{source}/{stream}"
    return own if topic is None or topic == own else f"{topic} ({own})"


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
        self.sock = ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, cfg.sndhwm)
        self.sock.copy_threshold = cfg.zero_copy_bytes
        self.sock.connect(endpoint or cfg.endpoints.pub)
        #: the publisher's own address, when it binds one (subscribers may connect directly)
        self.direct_endpoint: str | None = None
        if bind is not None:
            cfg.ensure_ipc_dir()
            self.sock.bind(bind)
            self.direct_endpoint = cfg.advertised(self.sock.last_endpoint.decode())
        self._seq: dict[str, int] = {}
        self.sent: Counter[str] = Counter()

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
            t_host=time.time_ns(),
            units=units,
            meta=meta,
            topic=topic,
        )
        send_parts(self.sock, frames)
        self.sent[stream] += 1
        return seq

    def send_raw(self, frames: list[Any]) -> None:
        """Forward already-encoded frames unchanged (replay keeps original headers)."""
        send_parts(self.sock, frames)

    def close(self) -> None:
        self.sock.close(linger=0)


@dataclass
class StreamStats:
    first_seq: int
    last_seq: int
    received: int = 0
    dropped: int = 0
    out_of_order: int = 0


class SeqTracker:
    """Per-(source, stream) counters: received, dropped (seq gaps), out of order."""

    def __init__(self) -> None:
        self.streams: dict[str, StreamStats] = {}

    def see(self, topic: str, seq: int) -> int:
        """Record a message; return how many were missed just before it."""
        st = self.streams.get(topic)
        if st is None:
            self.streams[topic] = StreamStats(first_seq=seq, last_seq=seq, received=1)
            return 0
        st.received += 1
        gap = seq - st.last_seq - 1
        if gap < 0:
            # a publisher restarted (seq back to 0) or reordering: re-baseline
            st.out_of_order += 1
            st.last_seq = seq
            return 0
        st.dropped += gap
        st.last_seq = seq
        return gap

    @property
    def dropped(self) -> int:
        return sum(s.dropped for s in self.streams.values())

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {k: vars(v).copy() for k, v in self.streams.items()}


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
        self.counts[err.kind] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


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
    ) -> None:
        if cfg.tune_malloc:
            keep_large_buffers()
        self.sock = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, cfg.rcvhwm)
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

        Falls back to the broker when the node advertises no address.
        """
        from physres.bus.commands import CommandClient

        client = CommandClient(ctx, cfg)
        try:
            rows = client.call("_broker", "ls", timeout_s=timeout_s)
        finally:
            client.close()
        ep = next((r.get("pub_endpoint") for r in rows if r["name"] == node and r["alive"]), None)
        return cls(ctx, cfg, topics, name=name, endpoint=ep)

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
