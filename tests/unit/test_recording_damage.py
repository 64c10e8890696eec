"""Damage in a recording is always found: nothing comes back changed, nothing good is lost.

Each test writes N known messages, damages the file the way disks and killed
processes do, and compares what comes back against what was written, using the
chunk layout that ``mcap``'s own reader sees in the undamaged file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader

from physres.bus.codec import encode
from physres.bus.record import RecordingWriter, read_recording
from physres.errors import ConfigError, RecordingError

N = 400
T0 = 1_700_000_000_000_000_000


def payload(i: int) -> np.ndarray:
    """Compressible but distinct per message, like a sensor stream."""
    return (np.sin(np.arange(200) * 0.05 + i) * 1000).astype(np.int16)


def write(path: Path, n: int = N, **kw) -> dict[int, bytes]:
    """n messages, log_time = T0 + i; returns i -> the array bytes written."""
    w = RecordingWriter(path, chunk_bytes=4096, **kw)
    for i in range(n):
        w.write(encode("s", "x", i, {"v": payload(i)}, t_host=T0 + i), log_time=T0 + i)
    w.close("done")
    return {i: payload(i).tobytes() for i in range(n)}


def chunks(path: Path) -> list[tuple[int, int, range]]:
    """(start, end, message indices) of each chunk, as mcap's own reader indexes them."""
    with open(path, "rb") as f:
        summary = make_reader(f).get_summary()
    return [
        (
            c.chunk_start_offset,
            c.chunk_start_offset + c.chunk_length,
            range(c.message_start_time - T0, c.message_end_time - T0 + 1),
        )
        for c in summary.chunk_indexes
    ]


def read_back(path: Path) -> tuple[object, dict[int, bytes]]:
    info, msgs = read_recording(path)
    got: dict[int, bytes] = {}
    for log_time, m in msgs:
        i = log_time - T0
        assert i not in got, f"message {i} came back twice"
        got[i] = m.data.tobytes()
    return info, got


@pytest.mark.parametrize("compression", ["lz4", "none"])
def test_flipped_bits_a_zeroed_block_and_a_torn_tail_lose_only_the_chunks_they_hit(
    tmp_path: Path, compression: str
) -> None:
    """Uncompressed chunks hold bare message records: resync must not take them as good."""
    path = tmp_path / "r.mcap"
    sent = write(path, compression=compression)
    layout = chunks(path)
    assert len(layout) > 12, "the test needs many chunks"
    raw = bytearray(path.read_bytes())
    hit: set[int] = set()  # chunk numbers whose bytes were damaged

    def damage(start: int, end: int) -> None:
        hit.update(k for k, (a, b, _) in enumerate(layout) if a < end and start < b)

    a, b, _ = layout[2]
    raw[(a + b) // 2] ^= 0x10  # a flipped bit in compressed data
    damage((a + b) // 2, (a + b) // 2 + 1)
    a, _, _ = layout[5]
    raw[a + 3] ^= 0x01  # a flipped bit in a chunk's length field: the reader must resync
    damage(a + 3, a + 4)
    a, b, _ = layout[8]
    z = (a + b) // 2
    raw[z : z + 4096] = bytes(4096)  # a zeroed 4 KiB block, across chunk boundaries
    damage(z, z + 4096)
    cut = (layout[-3][0] + layout[-3][1]) // 2  # a torn tail, mid-chunk
    del raw[cut:]
    damage(cut, len(path.read_bytes()))
    path.write_bytes(bytes(raw))

    info, got = read_back(path)
    lost = {i for k in hit for i in layout[k][2]}
    assert {i: sent[i] for i in got} == got, "a message came back changed"
    assert set(got) == set(sent) - lost, "an undamaged message was not read"
    assert info.damaged >= 3 and info.truncated
    assert info.end_reason.startswith("damaged (") and "truncated" in info.end_reason
    assert max(got) > layout[8][2][-1], "records after the damage were read"


def test_with_an_intact_summary_the_lost_messages_are_counted_exactly(tmp_path: Path) -> None:
    path = tmp_path / "r.mcap"
    sent = write(path)
    layout = chunks(path)
    raw = bytearray(path.read_bytes())
    for k in (1, 4):
        raw[layout[k][1] - 40] ^= 0xFF
    path.write_bytes(bytes(raw))
    info, got = read_back(path)
    expected_lost = len(layout[1][2]) + len(layout[4][2])
    assert info.damaged == 2 and info.lost == expected_lost == len(sent) - len(got)
    assert not info.truncated and info.end_reason.endswith("then done")
    assert f"{expected_lost} messages lost" in info.end_reason


def test_no_single_bit_flip_anywhere_goes_unnoticed_or_returns_a_changed_message(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.mcap"
    sent = write(path, n=60)
    pristine = path.read_bytes()
    rng = np.random.default_rng(7)
    offsets = sorted({*rng.integers(0, len(pristine), 400).tolist(), *range(8, 120)})
    outcomes = {"refused": 0, "noticed": 0, "harmless": 0}
    for off in offsets:
        raw = bytearray(pristine)
        raw[off] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(raw))
        try:
            info, got = read_back(path)
        except RecordingError:
            outcomes["refused"] += 1  # the magic itself: refused as no MCAP file
            continue
        assert {i: sent[i] for i in got} == got, f"bit flip at byte {off} changed a message"
        if len(got) < len(sent) or info.end_reason != "done":
            assert info.is_damaged or info.truncated, f"bit flip at {off} lost data silently"
            outcomes["noticed"] += 1
        else:
            outcomes["harmless"] += 1  # e.g. an index or the writer's library name
    assert outcomes["noticed"] > outcomes["harmless"], outcomes


def test_a_file_cut_anywhere_yields_every_complete_chunk_and_no_damage(tmp_path: Path) -> None:
    """What a recorder killed mid-write leaves: a torn tail is truncation, not damage."""
    path = tmp_path / "r.mcap"
    sent = write(path, n=120)
    layout = chunks(path)
    pristine = path.read_bytes()
    # the footer's summary_start: the data section (messages, end note, data-end) lies before it
    (data_end,) = struct.unpack_from("<Q", pristine, len(pristine) - 8 - 20)
    for cut in [*range(8, len(pristine), 97), data_end - 1, data_end]:
        path.write_bytes(pristine[:cut])
        info, got = read_back(path)
        complete = {i for a, b, msgs in layout if b <= cut for i in msgs}
        assert set(got) == complete, f"cut at {cut}"
        assert {i: sent[i] for i in got} == got
        assert not info.is_damaged, (cut, info.end_reason)
        # a cut in the summary after the data section loses nothing a reader needs
        assert info.truncated == (cut < data_end), (cut, info.end_reason)


def test_compression_is_on_by_default_and_the_file_reads_in_plain_mcap(tmp_path: Path) -> None:
    packed, plain = tmp_path / "lz4.mcap", tmp_path / "none.mcap"
    write(packed)
    write(plain, compression="none")
    with open(packed, "rb") as f:
        compressions = {c.compression for c in make_reader(f).get_summary().chunk_indexes}
        f.seek(0)
        n = sum(1 for _ in make_reader(f).iter_messages())  # what Foxglove and friends read
    assert compressions == {"lz4"} and n == N
    assert packed.stat().st_size < 0.7 * plain.stat().st_size
    assert read_back(plain)[1] == read_back(packed)[1]


@pytest.mark.parametrize("bad", [{"compression": "gzip"}, {"chunk_bytes": 0}])
def test_writer_options_are_checked_before_a_file_is_made(tmp_path: Path, bad: dict) -> None:
    with pytest.raises(ConfigError, match="compression 'gzip' is not one of|positive byte"):
        RecordingWriter(tmp_path / "r.mcap", **bad)
    assert not (tmp_path / "r.mcap").exists()


def test_flipped_bits_in_message_data_never_come_back_as_changed_messages(tmp_path: Path) -> None:
    """The bug as filed: default writer, bits flipped mid-file, the reader said `completed`."""
    path = tmp_path / "r.mcap"
    w = RecordingWriter(path)
    for i in range(200):
        w.write(encode("s", "x", i, {"v": payload(i)}), log_time=T0 + i)
    w.close("done")
    raw = bytearray(path.read_bytes())
    for off in range(len(raw) // 5, len(raw) * 4 // 5, len(raw) // 7):
        raw[off] ^= 0x04
    path.write_bytes(bytes(raw))
    info, got = read_back(path)
    changed = [i for i, b in got.items() if b != payload(i).tobytes()]
    assert changed == [] and len(got) < 200
    assert info.end_reason.startswith("damaged")


def test_recordings_made_before_chunking_still_read_and_resync_after_damage(
    tmp_path: Path,
) -> None:
    """Old files: bare message records, no CRC; structure damage is still skipped."""
    from mcap.writer import CompressionType, Writer

    path = tmp_path / "old.mcap"
    with open(path, "wb") as f:
        w = Writer(f, use_chunking=False, compression=CompressionType.NONE)
        w.start(profile="physres", library="physres 0.0.9")
        w.add_metadata("physres", {"format": "physres/v1"})
        ch = w.register_channel(topic="s/x", message_encoding="physres/v1", schema_id=0)
        for i in range(N):
            frames = encode("s", "x", i, {"v": payload(i)})
            data = struct.pack("<I", len(frames[1])) + b"".join(bytes(x) for x in frames[1:])
            w.add_message(ch, T0 + i, data, T0 + i, i)
        w.add_metadata("physres.end", {"reason": "done", "messages": str(N)})
        w.finish()
    info, got = read_back(path)
    assert len(got) == N and info.end_reason == "done" and not info.is_damaged
    raw = bytearray(path.read_bytes())
    z = len(raw) // 2
    raw[z : z + 4096] = bytes(4096)
    path.write_bytes(bytes(raw))
    info, got = read_back(path)
    record = len(raw) // N  # about one message record
    first_hit = (z - record - 8) // record
    untouched = [i for i in range(N) if i < first_hit - 2 or i > (z + 4096) // record + 2]
    assert all(got.get(i) == payload(i).tobytes() for i in untouched)
    assert len(got) < N and info.damaged >= 1 and info.end_reason.startswith("damaged")


def test_an_mcap_file_from_another_tool_is_refused_not_called_damaged(tmp_path: Path) -> None:
    from mcap.writer import Writer

    path = tmp_path / "ros.mcap"
    with open(path, "wb") as f:
        w = Writer(f)
        w.start(profile="ros2", library="other")
        ch = w.register_channel(topic="/imu", message_encoding="cdr", schema_id=0)
        w.add_message(ch, 1, b"\x00\x01", 1)
        w.finish()
    _, msgs = read_recording(path)
    with pytest.raises(
        RecordingError, match="not a physres recording: channel '/imu' carries 'cdr'"
    ):
        list(msgs)
