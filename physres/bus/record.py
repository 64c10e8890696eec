"""Recording what crosses the bus to MCAP files, and reading them back.

Why MCAP (via the ``mcap`` library) rather than HDF5: a recorder must survive
``kill -9``. HDF5 without SWMR can be left unreadable when a writer dies
mid-update of its B-trees; MCAP is an append-only log of length-prefixed
records, so a killed writer leaves every record up to the last flush intact.
Foxglove and ROS 2 tools open MCAP files too, but decode only schemas they
know, and these channels have none: ``physres export foxglove`` writes a copy
in Foxglove's schemas.

Messages go into lz4-compressed chunks (camera frames shrink several-fold and
lz4 keeps up with the bus; ``compression="none"`` turns it off). Each chunk
carries a CRC-32 of its content, so flipped bits or a zeroed block are found
on reading instead of coming back as changed messages (see
:mod:`physres.bus.mcapscan`). Every ``flush_s`` the chunk in progress is closed
and handed to the OS (what survives ``kill -9``: a killed recorder loses at
most that interval); ``fsync`` (what survives a power cut) runs in a
background thread so a slow disk never stalls reception. The message data is
the bus message itself, byte for byte::

    u32 little-endian header length | msgpack header | buffer 0 | buffer 1 ...

(buffer sizes follow from the header's dtype × shape), on a channel named by
the topic with encoding ``physres/v1``. ``log_time`` is when the recorder got
it; ``publish_time`` the publisher's host time. Each new channel is also noted
in a CRC-sealed ``physres.channel`` metadata record outside the chunks, so a
damaged first chunk does not orphan the topic's later messages.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import stat
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import zmq
from mcap.exceptions import McapError
from mcap.records import Channel, Metadata
from mcap.records import Message as McapMessage
from mcap.writer import CompressionType, Writer

from physres import __version__
from physres.bus.codec import Message, decode
from physres.bus.config import BusConfig
from physres.bus.dtypes import dtype_from_wire
from physres.bus.guard import LoopErrors
from physres.bus.mcapscan import MAGIC, Damage, Scan, seal, unseal, walk
from physres.bus.node import Node
from physres.bus.pubsub import Subscriber, stream_key
from physres.bus.service import Service
from physres.bus.sockets import recv_frames
from physres.errors import ConfigError, FrameError, RecordingError

__all__ = [
    "COMPRESSIONS",
    "ENCODING",
    "Recorder",
    "Recording",
    "RecordingWriter",
    "check_recording_path",
    "read_recording",
]

log = logging.getLogger(__name__)

ENCODING = "physres/v1"
_LEN = struct.Struct("<I")


def _bytes(frame: Any) -> bytes | memoryview:
    return frame.buffer if hasattr(frame, "buffer") else frame


def _check_flush(flush_s: float) -> None:
    if not (0 < flush_s < math.inf):
        raise ConfigError(f"flush interval must be a finite number of seconds > 0, got {flush_s}")


_U64_MAX = 2**64 - 1
#: chunk size before compression: small enough that damage costs little, big enough for lz4
CHUNK_BYTES = 256 * 1024
COMPRESSIONS = {
    "lz4": CompressionType.LZ4,
    "zstd": CompressionType.ZSTD,
    "none": CompressionType.NONE,
}
_CHANNEL_NOTE = "physres.channel"


def _host_time(header: bytes) -> int:
    with contextlib.suppress(Exception):
        return int(msgpack.unpackb(header, raw=False).get("th", 0))
    return 0


class RecordingWriter:
    """Append bus messages (raw frames) to an MCAP file in checked chunks, flushing on a timer."""

    def __init__(
        self,
        path: str | Path,
        *,
        flush_s: float = 0.5,
        metadata: dict[str, str] | None = None,
        compression: str = "lz4",
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        _check_flush(flush_s)
        if compression not in COMPRESSIONS:
            raise ConfigError(
                f"recording compression {compression!r} is not one of {sorted(COMPRESSIONS)}"
            )
        if not (isinstance(chunk_bytes, int) and chunk_bytes > 0):
            raise ConfigError(
                f"recording chunk size must be a positive byte count, got {chunk_bytes!r}"
            )
        self.path = Path(path)
        self._check_target()
        self.flush_s = flush_s
        for up in self.path.parents:  # mkdir would only say "File exists"
            if up.exists() and not up.is_dir():
                raise RecordingError(f"cannot write recording {self.path}: {up} is not a folder")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as e:
            raise RecordingError(f"cannot write recording {self.path}: {e.strerror or e}") from None
        try:
            self._w = Writer(
                self._f,
                chunk_size=chunk_bytes,
                compression=COMPRESSIONS[compression],
                use_chunking=True,
            )
        except McapError as e:  # the codec's package is missing
            self._f.close()
            self.path.unlink()
            raise ConfigError(f"recording compression {compression!r}: {e}") from None
        self._w.start(profile="physres", library=f"physres {__version__}")
        self._w.add_metadata(
            "physres",
            seal(
                {
                    "format": ENCODING,
                    "version": __version__,
                    "compression": compression,
                    **(metadata or {}),
                }
            ),
        )
        self._channels: dict[str, int] = {}
        self._next_flush = time.monotonic() + flush_s
        self._syncer: threading.Thread | None = None
        self.count = 0
        self.flush()

    def _check_target(self) -> None:
        """Refuse a target that is not a regular file, before open() (a pipe would block it)."""
        try:
            mode = self.path.stat().st_mode
        except OSError:
            return  # absent (created below) or unreachable (open says why)
        if not stat.S_ISREG(mode):
            what = (
                "a directory"
                if stat.S_ISDIR(mode)
                else "a named pipe"
                if stat.S_ISFIFO(mode)
                else "not a regular file"
            )
            raise RecordingError(f"recording {self.path} is {what}; expected a .mcap file to write")

    def write(
        self, frames: list[Any], log_time: int | None = None, publish_time: int | None = None
    ) -> None:
        """Write one multipart ``[topic, header, *buffers]`` as received.

        The times are clamped into MCAP's unsigned 64-bit fields: a message whose header
        carries a hostile clock is still recorded byte for byte, and a failed pack can
        never leave half a record in the chunk being built.
        """
        topic = bytes(_bytes(frames[0])).decode(errors="replace")
        ch = self._channels.get(topic)
        if ch is None:
            ch = self._w.register_channel(topic=topic, message_encoding=ENCODING, schema_id=0)
            self._channels[topic] = ch
            self._w.add_metadata(_CHANNEL_NOTE, seal({"id": str(ch), "topic": topic}))
        header = bytes(_bytes(frames[1]))
        parts = [_LEN.pack(len(header)), header, *(_bytes(f) for f in frames[2:])]  # no copies
        th = _host_time(header) if publish_time is None else publish_time
        lt = time.time_ns() if log_time is None else log_time
        self._w.add_message(
            ch,
            min(max(int(lt), 0), _U64_MAX),
            b"".join(parts),
            min(max(int(th), 0), _U64_MAX),
            self.count & 0xFFFFFFFF,
        )
        self.count += 1
        if time.monotonic() >= self._next_flush:
            self.flush()

    def flush(self) -> None:
        """Close the chunk in progress; hand all to the OS (what ``kill -9`` cannot take)."""
        self._w.flush()
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
        """Finish the file: the last chunk, an end-of-recording note, summary and footer."""
        if self._f.closed:
            return
        self._w.flush()
        self._w.add_metadata("physres.end", seal({"reason": reason, "messages": str(self.count)}))
        self._w.finish()
        self._f.flush()
        if self._syncer is not None:
            self._syncer.join()
        os.fsync(self._f.fileno())
        self._f.close()


@dataclass
class Recording:
    """What :func:`read_recording` found: metadata, damage and how the file ended.

    Filled while the messages are iterated; final once the iterator is exhausted.
    """

    path: Path
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    truncated: bool = False
    problem: str = ""
    #: records that passed their checks but do not decode as bus messages (counted, skipped)
    corrupt: int = 0
    #: stretches of the file skipped because they failed their checks (CRC, structure)
    damage: list[Damage] = field(default_factory=list)
    #: messages the writer's summary counts but the reader never got (None: no intact summary)
    lost: int | None = None
    #: messages read, every topic
    messages: int = 0

    @property
    def damaged(self) -> int:
        return len(self.damage)

    @property
    def is_damaged(self) -> bool:
        return bool(self.damage or self.corrupt or self.lost)

    @property
    def end_reason(self) -> str:
        base = (
            f"truncated ({self.problem})"
            if self.truncated
            else self.metadata.get("physres.end", {}).get("reason", "unknown")
        )
        if not self.is_damaged:
            return base
        bits = []
        if self.damage:
            d = self.damage[0]
            bits.append(
                f"{self.damaged} damaged stretch{'es' if self.damaged > 1 else ''} skipped, "
                f"first at byte {d.offset}: {d.why}"
            )
        if self.lost:
            bits.append(f"{self.lost} messages lost")
        if self.corrupt:
            bits.append(f"{self.corrupt} records did not decode")
        return f"damaged ({'; '.join(bits)}), then {base}"


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


def _is_bus_message(m: McapMessage) -> bool:
    """Does a bare record's data parse as a bus message (vets resynchronisation points)?"""
    try:
        _frames_of("?", m.data)
    except Exception:
        return False
    return True


def _topic_from_header(data: bytes) -> str:
    """A message whose channel record was lost still names its source and stream."""
    with contextlib.suppress(Exception):
        (hlen,) = _LEN.unpack_from(data, 0)
        h = msgpack.unpackb(data[4 : 4 + hlen], raw=False)
        return f"{h['src']}/{h['st']}"
    return "?"


def check_recording_path(path: str | Path) -> Path:
    """The path if it names a readable MCAP file, else one clear RecordingError.

    Checked with ``stat`` before anything opens it: opening a named pipe would block.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise RecordingError(f"recording {p} does not exist") from None
    except OSError as e:
        raise RecordingError(f"recording {p} cannot be examined: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise RecordingError(f"recording {p} is a directory; expected an MCAP file (.mcap)")
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a named pipe"
            if stat.S_ISFIFO(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "a device"
        )
        raise RecordingError(f"recording {p} is {kind}, not a regular file; expected an MCAP file")
    if st.st_size == 0:
        raise RecordingError(f"recording {p} is empty (0 bytes); expected an MCAP file")
    try:
        with open(p, "rb") as f:
            magic = f.read(len(MAGIC))
    except OSError as e:
        raise RecordingError(f"recording {p} cannot be read: {e.strerror}") from None
    if magic != MAGIC:
        raise RecordingError(f"{p} is not an MCAP recording (starts with {magic!r})")
    return p


def read_recording(
    path: str | Path, topics: Iterable[str] | None = None, *, raw: bool = False
) -> tuple[Recording, Iterator[tuple[int, Any]]]:
    """Open a recording: ``(info, iterator of (log_time_ns, Message or raw frames))``.

    Every record is checked; damaged stretches are skipped and noted in
    ``info.damage`` (the end reason then starts with "damaged"), records that
    pass but do not decode are counted in ``info.corrupt``, and a torn tail (the
    writer was killed) ends the iteration cleanly with ``info.truncated``. A
    path that is not a readable MCAP file raises RecordingError at once.
    """
    p = check_recording_path(path)
    info = Recording(p)
    prefixes = tuple(topics) if topics else None

    def gen() -> Iterator[tuple[int, Any]]:
        scan = Scan(p, damage=info.damage)
        channels: dict[int, str] = {}
        seen: Counter[int] = Counter()
        warned = False
        for rec in walk(p, scan, _is_bus_message):
            if scan.damage and not warned:
                warned = True  # once per file, on the first damage
                d = scan.damage[0]
                log.warning("%s: skipping %d damaged bytes at %d: %s", p, d.length, d.offset, d.why)
            if isinstance(rec, Channel):
                if rec.message_encoding != ENCODING:
                    raise RecordingError(
                        f"{p} is an MCAP file but not a physres recording: channel "
                        f"{rec.topic!r} carries {rec.message_encoding!r}, not {ENCODING!r}"
                    )
                channels[rec.id] = rec.topic
            elif isinstance(rec, Metadata):
                entries = unseal(rec.metadata) or {}
                if rec.name == _CHANNEL_NOTE:
                    with contextlib.suppress(KeyError, ValueError):
                        channels.setdefault(int(entries["id"]), entries["topic"])
                else:
                    info.metadata[rec.name] = entries
            elif isinstance(rec, McapMessage):
                seen[rec.channel_id] += 1
                info.messages += 1
                topic = (
                    channels.get(rec.channel_id)
                    or scan.summary_channels.get(rec.channel_id)
                    or _topic_from_header(rec.data)
                )
                if prefixes and not topic.startswith(prefixes):
                    continue
                try:
                    frames = _frames_of(topic, rec.data)
                    item = frames if raw else decode(frames)
                except Exception as e:  # bytes that passed their checks yet are no bus message
                    if not info.corrupt:
                        log.warning("%s: skipping undecodable record on %s: %s", p, topic, e)
                    info.corrupt += 1
                    continue
                yield rec.log_time, item
        info.truncated = bool(scan.truncated)
        info.problem = scan.truncated
        if scan.summary_counts is not None:
            info.lost = sum(max(0, n - seen.get(ch, 0)) for ch, n in scan.summary_counts.items())

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
        compression: str = "lz4",
    ) -> None:
        super().__init__()
        _check_flush(flush_s)
        if compression not in COMPRESSIONS:
            raise ConfigError(
                f"recording compression {compression!r} is not one of {sorted(COMPRESSIONS)}"
            )
        self.compression = compression
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
        #: exceptions contained by the loop, by type (each type is logged once)
        self.errors = LoopErrors(f"recorder {name}", log)

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
        writer = RecordingWriter(  # first: a path it cannot write leaves no sockets behind
            self.path,
            flush_s=self.flush_s,
            metadata={"topics": ",".join(self.topics), **self.metadata},
            compression=self.compression,
        )
        node = Node(self.name, self.cfg, self.ctx, kind="recorder")
        cfg = self.cfg.model_copy(update={"rcvhwm": 0})  # never drop on the recorder's side
        sub = Subscriber(self.ctx, cfg, self.topics, name=self.name)
        node.watch(sub)  # `physres ls` shows the recorder's drops and garbage
        node.errors = self.errors  # ... and what its loop contained, as `errors`
        node.command("stats", lambda: {"messages": writer.count, "path": str(self.path)})
        self._serving()
        end = None if duration_s is None else time.monotonic() + duration_s
        poll_ms = int(min(self.flush_s, self.cfg.heartbeat_s) * 1000)
        try:
            while not self._stop.is_set() and (end is None or time.monotonic() < end):
                if sub.sock.poll(poll_ms):
                    self._drain(sub, writer, limit=10_000)
                try:
                    node.spin_once(0)
                    if time.monotonic() >= writer._next_flush:
                        writer.flush()
                except Exception as e:
                    self.errors.record(e)
            if sub.sock.poll(50):  # what is already queued still belongs to the run
                self._drain(sub, writer, limit=None)
            try:  # publishers that said goodbye: what they sent after our last is lost
                sub.reconcile(timeout_s=min(1.0, self.cfg.command_timeout_s))
            except Exception as e:  # no broker any more: nothing to reconcile against
                self.errors.record(e)
        finally:
            self.count = writer.count
            self.stats = {
                "messages": writer.count,
                "dropped": sub.seq.dropped,  # gaps and (reconciled) tail losses
                "garbage": dict(sub.garbage.counts),
                "faults": dict(self.errors.counts),
                "streams": sub.seq.as_dict(),
            }
            try:
                writer.close(self.end_reason)
            finally:
                sub.close()
                node.close()

    def _drain(self, sub: Any, writer: RecordingWriter, limit: int | None) -> None:
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
            try:
                sub.seq.see(stream_key(msg.topic, msg.source, msg.stream), msg.seq)
                writer.write(frames, publish_time=msg.t_host)
            except Exception as e:  # a message that decodes must never stop the recording
                self.errors.record(e)
