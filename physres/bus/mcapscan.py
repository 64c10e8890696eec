"""A damage-tolerant walk over an MCAP file: every record checked, damage skipped.

Why not ``mcap``'s own ``StreamReader``: it stops at the first broken record
and, without ``validate_crcs``, hands back flipped bits as data. Here every
record is parsed with ``mcap``'s record classes and must fill its length
exactly; a chunk must decompress and match its CRC-32 (``breakup_chunk`` with
``validate_crc``); physres's own metadata carries a CRC-32 of its entries
(:func:`seal`). A record that fails is counted and skipped, and the walk
resynchronises on the next record that passes those checks, so good records
*after* damage are still read. Only records without any checksum (bare
messages of unchunked recordings made before chunking) are taken on their
structure alone.

A file that simply stops (the writer was killed) is *truncated*, not damaged:
every complete record before the torn tail is read.
"""

from __future__ import annotations

import io
import mmap
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcap.data_stream import ReadDataStream
from mcap.exceptions import UnsupportedCompressionError
from mcap.opcode import Opcode
from mcap.records import (
    Channel,
    Chunk,
    ChunkIndex,
    DataEnd,
    Footer,
    Header,
    McapRecord,
    Message,
    MessageIndex,
    Metadata,
    MetadataIndex,
    Schema,
    Statistics,
    SummaryOffset,
)
from mcap.stream_reader import CRCValidationError, breakup_chunk

from physres.errors import RecordingError

__all__ = ["MAGIC", "Damage", "Scan", "seal", "unseal", "walk"]

MAGIC = b"\x89MCAP0\r\n"
_REC = struct.Struct("<BQ")  # opcode, body length
_FOOTER_LEN = _REC.size + 20  # opcode, length, summary_start, summary_offset_start, crc
#: a plausible record start for resynchronisation: a chunk, metadata or message opcode and a
#: body length below 1 TiB (its top three bytes zero), so random bytes rarely even qualify
_RESYNC = re.compile(rb"[\x05\x06\x0c].{5}\x00\x00\x00", re.DOTALL)
_CRC_KEY = "crc32"

_READERS: dict[int, Callable[[ReadDataStream, int], McapRecord]] = {
    Opcode.HEADER: lambda s, n: Header.read(s),
    Opcode.SCHEMA: lambda s, n: Schema.read(s),
    Opcode.CHANNEL: lambda s, n: Channel.read(s),
    Opcode.MESSAGE: Message.read,
    Opcode.CHUNK: lambda s, n: Chunk.read(s),
    Opcode.MESSAGE_INDEX: lambda s, n: MessageIndex.read(s),
    Opcode.CHUNK_INDEX: lambda s, n: ChunkIndex.read(s),
    Opcode.METADATA: lambda s, n: Metadata.read(s),
    Opcode.METADATA_INDEX: lambda s, n: MetadataIndex.read(s),
    Opcode.STATISTICS: lambda s, n: Statistics.read(s),
    Opcode.SUMMARY_OFFSET: lambda s, n: SummaryOffset.read(s),
    Opcode.DATA_END: lambda s, n: DataEnd.read(s),
    Opcode.FOOTER: lambda s, n: Footer.read(s),
}


def _entries_crc(entries: dict[str, str]) -> str:
    text = "\0".join(f"{k}\0{v}" for k, v in sorted(entries.items()) if k != _CRC_KEY)
    return f"{zlib.crc32(text.encode()):08x}"


def seal(entries: dict[str, str]) -> dict[str, str]:
    """Metadata entries plus a CRC-32 of them (MCAP metadata records carry none)."""
    return {**entries, _CRC_KEY: _entries_crc(entries)}


def unseal(entries: dict[str, str]) -> dict[str, str] | None:
    """The entries without their CRC; None if they were sealed and no longer match."""
    if _CRC_KEY not in entries:
        return dict(entries)
    if entries[_CRC_KEY] != _entries_crc(entries):
        return None
    return {k: v for k, v in entries.items() if k != _CRC_KEY}


def _sealed(rec: McapRecord) -> bool:
    return isinstance(rec, Metadata) and _CRC_KEY in rec.metadata


class _Bad(Exception):
    """A record at this offset fails its checks (``incomplete``: it runs past the end)."""

    def __init__(self, why: str, *, incomplete: bool = False) -> None:
        super().__init__(why)
        self.incomplete = incomplete


@dataclass(frozen=True)
class Damage:
    """One skipped stretch of the file: where it starts, how long, and what was wrong."""

    offset: int
    length: int
    why: str


@dataclass
class Scan:
    """What a walk found besides the records: damage, a torn tail, the summary's counts."""

    path: Path
    size: int = 0
    damage: list[Damage] = field(default_factory=list)
    #: why the file stops early ("" when its data section ended properly)
    truncated: str = ""
    #: channel id -> topic from the summary (when the file's summary is intact)
    summary_channels: dict[int, str] = field(default_factory=dict)
    #: channel id -> message count the writer noted in the summary (None: no intact summary)
    summary_counts: dict[int, int] | None = None


def _parse(mm: Any, pos: int, size: int) -> tuple[int, McapRecord, int]:
    """(opcode, record, end offset) of the record at ``pos``, or raise _Bad."""
    if pos + _REC.size > size:
        raise _Bad(f"{size - pos} stray bytes where a record should start", incomplete=True)
    op, n = _REC.unpack_from(mm, pos)
    reader = _READERS.get(op)
    if reader is None:
        raise _Bad(f"unknown record opcode 0x{op:02x}")
    end = pos + _REC.size + n
    if end > size:
        raise _Bad(f"{Opcode(op).name} record of {n} bytes runs past the end", incomplete=True)
    stream = ReadDataStream(io.BytesIO(mm[pos + _REC.size : end]))
    try:
        rec = reader(stream, n)
    except Exception as e:  # the library's parsers raise whatever a wrong length leads to
        raise _Bad(f"{Opcode(op).name} record does not parse ({type(e).__name__})") from e
    if stream.count != n:
        raise _Bad(f"{Opcode(op).name} record fills {stream.count} of its {n} bytes")
    return op, rec, end


def _check(op: int, rec: McapRecord) -> list[McapRecord]:
    """The records inside ``rec`` that a reader wants, after its integrity checks."""
    if isinstance(rec, Chunk):
        if rec.uncompressed_crc == 0:
            raise _Bad("chunk carries no CRC to check it against")
        try:
            return breakup_chunk(rec, validate_crc=True)
        except UnsupportedCompressionError as e:
            raise RecordingError(f"cannot read {rec.compression} chunks: {e}") from e
        except CRCValidationError as e:
            raise _Bad("chunk fails its CRC-32 check") from e
        except Exception as e:  # bad compressed bytes raise the codec's own errors
            raise _Bad(f"chunk does not unpack ({type(e).__name__}: {e})") from e
    if isinstance(rec, Metadata):
        if unseal(rec.metadata) is None:
            raise _Bad(f"metadata {rec.name!r} fails its CRC")
        return [rec]
    if isinstance(rec, (Channel, Message, Schema)):
        return [rec]
    return []


def _resync(
    mm: Any, start: int, size: int, plausible: Callable[[Message], bool] | None
) -> tuple[int, list[McapRecord]] | None:
    """The next offset after ``start`` where a record passes every check.

    ``plausible`` None: bare messages are no resynchronisation point (in a chunked file
    they can only be the unchecked insides of a damaged uncompressed chunk).
    """
    for m in _RESYNC.finditer(mm, start):
        pos = m.start()
        if mm[pos] == Opcode.MESSAGE and plausible is None:
            continue
        try:
            op, rec, _ = _parse(mm, pos, size)
            inner = _check(op, rec)
        except _Bad:
            continue
        if isinstance(rec, Metadata) and not _sealed(rec):
            continue  # only sealed metadata is evidence enough of a record boundary
        if isinstance(rec, Message) and plausible is not None and not plausible(rec):
            continue
        return pos, inner
    return None


def _summary(mm: Any, size: int, scan: Scan) -> None:
    """Fill ``scan``'s summary fields from an intact footer and summary (CRC-checked)."""
    if size < len(MAGIC) * 2 + _FOOTER_LEN or mm[size - len(MAGIC) : size] != MAGIC:
        return
    at = size - len(MAGIC) - _FOOTER_LEN
    try:
        _, footer, _ = _parse(mm, at, size - len(MAGIC))
    except _Bad:
        return
    if not isinstance(footer, Footer) or not footer.summary_start:
        return
    start = footer.summary_start
    if not len(MAGIC) <= start <= at:
        return
    if footer.summary_crc:
        crc = zlib.crc32(mm[start : at + _REC.size + 16])
        if crc != footer.summary_crc:
            scan.damage.append(Damage(start, at - start, "summary section fails its CRC"))
            return
    pos, counts = start, None
    try:
        while pos < at:
            _, rec, pos = _parse(mm, pos, at)
            if isinstance(rec, Channel):
                scan.summary_channels[rec.id] = rec.topic
            elif isinstance(rec, Statistics):
                counts = dict(rec.channel_message_counts)
    except _Bad:
        return
    scan.summary_counts = counts


def walk(
    path: Path, scan: Scan, plausible: Callable[[Message], bool] = lambda m: True
) -> Iterator[McapRecord]:
    """Channel, Schema, Metadata and Message records of ``path`` in file order, checked.

    ``plausible`` vets a bare (unchecksummed) message found while resynchronising an
    unchunked file (made before physres chunked its recordings); a file is chunked once
    a chunk or physres's sealed file metadata has been seen. Damage and a torn tail are
    noted in ``scan``; the caller has checked the magic.
    """
    chunked = False
    with open(path, "rb") as f:
        size = scan.size = f.seek(0, io.SEEK_END)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            _summary(mm, size, scan)
            pos = len(MAGIC)
            while True:
                if pos == size:
                    scan.truncated = f"file ends at byte {size} before its data-end record"
                    return
                try:
                    op, rec, end = _parse(mm, pos, size)
                    if isinstance(rec, DataEnd):
                        return
                    inner = _check(op, rec)
                    chunked = chunked or isinstance(rec, Chunk) or _sealed(rec)
                except _Bad as e:
                    found = _resync(mm, pos + 1, size, None if chunked else plausible)
                    if found is None:
                        if e.incomplete:
                            scan.truncated = f"torn record at byte {pos}: {e}"
                        else:
                            scan.damage.append(Damage(pos, size - pos, str(e)))
                            scan.truncated = f"no intact record after byte {pos}"
                        return
                    nxt, inner = found
                    scan.damage.append(Damage(pos, nxt - pos, str(e)))
                    pos = nxt
                    end = pos + _REC.size + _REC.unpack_from(mm, pos)[1]
                yield from inner
                pos = end
