"""Recording what crosses the bus to MCAP files, and reading them back.

Why MCAP (via the ``mcap`` library) rather than HDF5: a recorder must survive
``kill -9``. HDF5 without SWMR can be left unreadable when a writer dies
mid-update of its B-trees; MCAP is an append-only log of length-prefixed
records, so a killed writer leaves every record up to the last flush intact
and a streaming reader stops cleanly at the torn tail. It is also what
Foxglove and ROS 2 read, so a lab can open a physres run in their tools.

We write without chunking, one record per bus message, and hand the data to
the OS every ``flush_s`` (what survives ``kill -9``: a crash of the recorder
loses at most that interval); ``fsync`` (what survives a power cut) runs in a
background thread so a slow disk never stalls reception. The message
data is the bus message itself, byte for byte::

    u32 little-endian header length | msgpack header | buffer 0 | buffer 1 ...

(buffer sizes follow from the header's dtype × shape), on a channel named by
the topic with encoding ``physres/v1``. ``log_time`` is when the recorder got
it; ``publish_time`` the publisher's host time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import zmq
from mcap.exceptions import McapError
from mcap.stream_reader import StreamReader
from mcap.writer import CompressionType, Writer

from physres import __version__
from physres.bus.codec import Message, decode
from physres.bus.config import BusConfig
from physres.bus.dtypes import dtype_from_wire
from physres.bus.node import Node
from physres.bus.pubsub import Subscriber, stream_key
from physres.bus.service import Service
from physres.bus.sockets import recv_frames
from physres.errors import ConfigError, FrameError, RecordingError

__all__ = ["ENCODING", "Recorder", "Recording", "RecordingWriter", "read_recording"]

log = logging.getLogger(__name__)

ENCODING = "physres/v1"
_LEN = struct.Struct("<I")


def _bytes(frame: Any) -> bytes | memoryview:
    return frame.buffer if hasattr(frame, "buffer") else frame


def _check_flush(flush_s: float) -> None:
    if not (0 < flush_s < math.inf):
        raise ConfigError(f"flush interval must be a finite number of seconds > 0, got {flush_s}")


class RecordingWriter:
    """Append bus messages (raw frames) to an MCAP file, flushing on a timer."""

    def __init__(
        self, path: str | Path, *, flush_s: float = 0.5, metadata: dict[str, str] | None = None
    ) -> None:
        _check_flush(flush_s)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.flush_s = flush_s
        self._f = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._w = Writer(self._f, use_chunking=False, compression=CompressionType.NONE)
        self._w.start(profile="physres", library=f"physres {__version__}")
        self._w.add_metadata(
            "physres", {"format": ENCODING, "version": __version__, **(metadata or {})}
        )
        self._channels: dict[str, int] = {}
        self._next_flush = time.monotonic() + flush_s
        self._syncer: threading.Thread | None = None
        self.count = 0
        self.flush()

    def write(self, frames: list[Any], log_time: int | None = None) -> None:
        """Write one multipart ``[topic, header, *buffers]`` as received."""
        topic = bytes(_bytes(frames[0])).decode(errors="replace")
        ch = self._channels.get(topic)
        if ch is None:
            ch = self._w.register_channel(topic=topic, message_encoding=ENCODING, schema_id=0)
            self._channels[topic] = ch
        header = bytes(_bytes(frames[1]))
        parts = [_LEN.pack(len(header)), header, *(bytes(_bytes(f)) for f in frames[2:])]
        th = 0
        with contextlib.suppress(Exception):
            th = int(msgpack.unpackb(header, raw=False).get("th", 0))
        seq = self.count & 0xFFFFFFFF
        self._w.add_message(ch, log_time or time.time_ns(), b"".join(parts), th, seq)
        self.count += 1
        if time.monotonic() >= self._next_flush:
            self.flush()

    def flush(self) -> None:
        """Hand everything so far to the OS (what ``kill -9`` cannot take away)."""
        self._f.flush()
        self._next_flush = time.monotonic() + self.flush_s
        if self._syncer is None or not self._syncer.is_alive():
            self._syncer = threading.Thread(target=self._fsync, daemon=True, name="recorder-fsync")
            self._syncer.start()

    def _fsync(self) -> None:
        try:
            os.fsync(self._f.fileno())
        except (OSError, ValueError):  # closed meanwhile: close() syncs itself
            pass

    def close(self, reason: str = "stopped") -> None:
        """Finish the file: an end-of-recording note, summary and footer."""
        if self._f.closed:
            return
        self._w.add_metadata("physres.end", {"reason": reason, "messages": str(self.count)})
        self._w.finish()
        self._f.flush()
        if self._syncer is not None:
            self._syncer.join()
        os.fsync(self._f.fileno())
        self._f.close()


@dataclass
class Recording:
    """What :func:`read_recording` found: messages, metadata and how the file ended."""

    path: Path
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    truncated: bool = False
    problem: str = ""
    #: records skipped because their bytes no longer decode (counted, never fatal)
    corrupt: int = 0

    @property
    def end_reason(self) -> str:
        if self.truncated:
            return f"truncated ({self.problem})"
        return self.metadata.get("physres.end", {}).get("reason", "unknown")


def _frames_of(topic: str, data: bytes) -> list[bytes]:
    (hlen,) = _LEN.unpack_from(data, 0)
    header = data[4 : 4 + hlen]
    h = msgpack.unpackb(header, raw=False)
    frames = [topic.encode(), header]
    off = 4 + hlen
    for _name, dt, shape, _u in h.get("b", []):
        n = math.prod(shape) * dtype_from_wire(dt).itemsize
        frames.append(data[off : off + n])
        off += n
    if off != len(data):
        raise FrameError(
            f"{topic}: record holds {len(data)} bytes, header accounts for {off}", kind="size"
        )
    return frames


def read_recording(
    path: str | Path, topics: Iterable[str] | None = None, *, raw: bool = False
) -> tuple[Recording, Iterator[tuple[int, Any]]]:
    """Open a recording: ``(info, iterator of (log_time_ns, Message or raw frames))``.

    A torn tail (the writer was killed) ends the iteration cleanly and sets
    ``info.truncated``; a file that is not a physres MCAP raises RecordingError.
    Corrupt records in the middle are counted and skipped.
    """
    p = Path(path)
    if not p.exists():
        raise RecordingError(f"recording {p} does not exist")
    with open(p, "rb") as f:
        magic = f.read(8)
    if magic != b"\x89MCAP0\r\n":
        raise RecordingError(f"{p} is not an MCAP recording (starts with {magic!r})")
    info = Recording(p)
    prefixes = tuple(topics) if topics else None

    def gen() -> Iterator[tuple[int, Any]]:
        from mcap.records import Channel, Metadata
        from mcap.records import Message as McapMessage

        channels: dict[int, str] = {}
        with open(p, "rb") as f:
            reader = StreamReader(f, skip_magic=False)
            try:
                for rec in reader.records:
                    if isinstance(rec, Channel):
                        channels[rec.id] = rec.topic
                    elif isinstance(rec, Metadata):
                        info.metadata[rec.name] = dict(rec.metadata)
                    elif isinstance(rec, McapMessage):
                        topic = channels.get(rec.channel_id, "?")
                        if prefixes and not topic.startswith(prefixes):
                            continue
                        try:
                            frames = _frames_of(topic, rec.data)
                            yield rec.log_time, (frames if raw else decode(frames))
                        except (FrameError, struct.error, ValueError) as e:
                            if not info.corrupt:
                                log.warning("%s: skipping corrupt record on %s: %s", p, topic, e)
                            info.corrupt += 1
            except (McapError, struct.error, EOFError, ValueError) as e:
                info.truncated = True
                info.problem = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__

    return info, gen()


class Recorder(Service):
    """Subscribe to topic prefixes and write everything to an MCAP file."""

    def __init__(
        self,
        path: str | Path,
        topics: Iterable[str] = ("",),
        cfg: BusConfig | None = None,
        ctx: zmq.Context | None = None,
        *,
        name: str = "recorder",
        flush_s: float = 0.5,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        _check_flush(flush_s)
        self.path = Path(path)
        self.topics = list(topics) or [""]
        self.cfg = cfg or BusConfig()
        self.ctx = ctx or zmq.Context.instance()
        self.name = name
        self.flush_s = flush_s
        self.metadata = metadata or {}
        self.count = 0
        self.stats: dict[str, Any] = {}
        self.end_reason = "stopped"

    @property
    def service_name(self) -> str:
        return f"recorder-{self.name}"

    def stop(self, reason: str = "stopped") -> None:
        """Finish the file, noting ``reason`` as why the recording ended."""
        self.end_reason = reason
        super().stop()

    def run(self, duration_s: float | None = None) -> None:
        """Record until ``stop()`` (or ``duration_s``); sockets live in this thread."""
        # the node only heartbeats and answers commands; the subscriber is ours alone, so
        # node.spin_once() can never swallow a message meant for the file
        node = Node(self.name, self.cfg, self.ctx, kind="recorder")
        cfg = self.cfg.model_copy(update={"rcvhwm": 0})  # never drop on the recorder's side
        sub = Subscriber(self.ctx, cfg, self.topics, name=self.name)
        node.watch(sub)  # `physres ls` shows the recorder's drops and garbage
        writer = RecordingWriter(
            self.path,
            flush_s=self.flush_s,
            metadata={"topics": ",".join(self.topics), **self.metadata},
        )
        node.command("stats", lambda: {"messages": writer.count, "path": str(self.path)})
        self._serving()
        end = None if duration_s is None else time.monotonic() + duration_s
        poll_ms = int(min(self.flush_s, self.cfg.heartbeat_s) * 1000)
        try:
            while not self._stop.is_set() and (end is None or time.monotonic() < end):
                if sub.sock.poll(poll_ms):
                    self._drain(sub, writer, limit=10_000)
                node.spin_once(0)
                if time.monotonic() >= writer._next_flush:
                    writer.flush()
            if sub.sock.poll(50):  # what is already queued still belongs to the run
                self._drain(sub, writer, limit=None)
        finally:
            self.count = writer.count
            self.stats = {
                "messages": writer.count,
                "dropped": sub.seq.dropped,
                "garbage": dict(sub.garbage.counts),
                "streams": sub.seq.as_dict(),
            }
            writer.close(self.end_reason)
            sub.close()
            node.close()

    @staticmethod
    def _drain(sub: Any, writer: RecordingWriter, limit: int | None) -> None:
        n = 0
        while limit is None or n < limit:
            try:
                frames = recv_frames(sub.sock, zmq.NOBLOCK)
            except zmq.Again:
                return
            n += 1
            try:
                msg: Message = decode(frames)
            except FrameError as e:
                sub.garbage(e)  # garbage is counted, never written
                continue
            sub.seq.see(stream_key(msg.topic, msg.source, msg.stream), msg.seq)
            writer.write(frames)
