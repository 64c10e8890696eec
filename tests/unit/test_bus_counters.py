"""Valid-but-hostile messages: whatever decodes keeps every counter packable.

The garbage fuzz elsewhere feeds messages that do *not* decode. These feed
messages that do, with hostile integers, and hold the receiving side (seq
tracking, garbage and error counters, the heartbeat that packs them) to
"nothing that arrives can end a process".
"""

from __future__ import annotations

import logging
import struct

import msgpack
import numpy as np
import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from physres.bus.codec import INT_MAX, decode, encode, pack_meta
from physres.bus.guard import LoopErrors
from physres.bus.pubsub import GarbageCounter, SeqTracker, stream_key
from physres.errors import FrameError

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
MSGPACK_INT = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # all msgpack carries


def _frames(seq: int, td: int, th: int) -> list[bytes]:
    """A message in the encoder's fixed layout with arbitrary int64s written into its tail."""
    frames = [bytes(memoryview(f).cast("B")) for f in encode("pub", "s", 0, {"x": np.zeros(2)})]
    h = bytearray(frames[1])
    tail = len(h) - 37
    for off, v in zip((5, 17, 29), (seq, td, th), strict=True):
        struct.pack_into(">q", h, tail + off, v)
    return [frames[0], bytes(h), *frames[2:]]


def _general(seq: int, td: int, th: int) -> list[bytes]:
    h = {"v": 1, "src": "pub", "st": "s", "seq": seq, "td": td, "th": th, "b": []}
    return [b"pub/s", msgpack.packb(h)]


def _receive(tracker: SeqTracker, garbage: GarbageCounter, frames: list[bytes]) -> None:
    """What a subscriber does with one message."""
    try:
        msg = decode(frames)
    except FrameError as e:
        garbage(e)
        return
    assert 0 <= msg.seq <= INT_MAX and 0 <= msg.t_dev <= INT_MAX and 0 <= msg.t_host <= INT_MAX
    tracker.see(stream_key(msg.topic, msg.source, msg.stream), msg.seq)


def _assert_packable(tracker: SeqTracker, garbage: GarbageCounter) -> None:
    for counts in tracker.as_dict().values():
        assert all(0 <= v <= INT_MAX for v in counts.values())
    assert tracker.dropped <= INT_MAX and garbage.total <= INT_MAX
    pack_meta({"streams": tracker.as_dict(), "garbage": dict(garbage.counts)})  # a heartbeat


def test_four_messages_alternating_seq_extremes_leave_counters_packable() -> None:
    """Before: 0 and 2**63-1 (or -2**63) alternating pushed ``dropped`` past 2**64."""
    tracker, garbage = SeqTracker(), GarbageCounter("t")
    for seq in (0, INT_MAX, 0, INT_MAX, -(2**63), INT_MAX, 0, INT_MAX):
        _receive(tracker, garbage, _frames(seq, 1, 1))
    assert tracker.dropped == INT_MAX  # saturated, not wrapped
    assert garbage.counts["range"] == 1  # the negative seq is refused, not tracked
    _assert_packable(tracker, garbage)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(INT64, INT64, INT64), min_size=1, max_size=12))
def test_hostile_integers_in_the_fixed_layout_never_break_the_counters(ints: list) -> None:
    tracker, garbage = SeqTracker(), GarbageCounter("t")
    for seq, td, th in ints:
        _receive(tracker, garbage, _frames(seq, td, th))
    _assert_packable(tracker, garbage)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(MSGPACK_INT, MSGPACK_INT, MSGPACK_INT), min_size=1, max_size=12))
def test_hostile_integers_in_any_layout_never_break_the_counters(ints: list) -> None:
    tracker, garbage = SeqTracker(), GarbageCounter("t")
    for seq, td, th in ints:
        _receive(tracker, garbage, _general(seq, td, th))
    _assert_packable(tracker, garbage)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.integers(0, 2**63 - 1)),
        min_size=1,
        max_size=40,
    )
)
def test_random_byte_mutations_of_valid_messages_that_still_decode(muts: list) -> None:
    """Flip bytes of valid messages and keep the ones that still decode (the class the
    garbage fuzz discards): a run of them never takes a counter out of range."""
    tracker, garbage = SeqTracker(), GarbageCounter("t")
    for at, value, seq in muts:
        frames = _frames(seq, seq, seq)
        h = bytearray(frames[1])
        h[at % len(h)] = value
        _receive(tracker, garbage, [frames[0], bytes(h), *frames[2:]])
    _assert_packable(tracker, garbage)


def test_counters_at_their_limit_stay_there() -> None:
    tracker, garbage = SeqTracker(), GarbageCounter("t")
    tracker.see("a/b", 0)
    s = tracker.streams["a/b"]
    s.received = s.dropped = s.out_of_order = INT_MAX
    tracker.see("a/b", 5)  # a gap
    tracker.see("a/b", 1)  # out of order
    assert (s.received, s.dropped, s.out_of_order) == (INT_MAX, INT_MAX, INT_MAX)
    tracker.see("c/d", 0)
    tracker.streams["c/d"].dropped = INT_MAX
    assert tracker.dropped == INT_MAX  # the sum saturates too
    garbage.counts["header"] = INT_MAX
    garbage.counts["size"] = INT_MAX
    garbage(FrameError("x", kind="header"))
    assert garbage.counts["header"] == INT_MAX and garbage.total == INT_MAX


def test_loop_errors_contain_count_and_log_each_type_once(caplog) -> None:
    errors = LoopErrors("t")
    with caplog.at_level(logging.ERROR, logger="physres.bus.guard"):
        for i in range(5):
            with errors:
                raise KeyError(i)
            with errors:
                raise OverflowError("big")
    assert errors.counts == {"KeyError": 5, "OverflowError": 5}
    assert len([r for r in caplog.records if "contained" in r.getMessage()]) == 2
    assert caplog.records[0].exc_info is not None  # the first keeps its traceback
    errors.counts["KeyError"] = INT_MAX
    with errors:
        raise KeyError("again")
    assert errors.counts["KeyError"] == INT_MAX


@pytest.mark.parametrize(
    "exc", [KeyboardInterrupt(), SystemExit(1), zmq.ContextTerminated()], ids=repr
)
def test_loop_errors_let_the_ways_a_loop_is_meant_to_end_through(exc: BaseException) -> None:
    errors = LoopErrors("t")
    with pytest.raises(type(exc)), errors:
        raise exc
    assert errors.total == 0


def test_a_new_source_name_per_message_cannot_grow_the_tracker_without_bound() -> None:
    """Each mutated source name is a new stream; a heartbeat must stay small."""
    tracker = SeqTracker()
    n = SeqTracker.MAX_STREAMS + 500
    for i in range(n):
        tracker.see(f"x/in (src{i}/s)", 0)
    counts = tracker.as_dict()
    assert len(tracker.streams) == SeqTracker.MAX_STREAMS
    assert counts[SeqTracker.UNTRACKED]["received"] == 500
    assert sum(c["received"] for c in counts.values()) == n
    assert len(pack_meta(counts)) < 200_000


def test_a_very_long_stream_name_is_counted_but_not_listed() -> None:
    tracker = SeqTracker()
    tracker.see("x/in (" + "s" * 500_000 + "/a)", 0)
    assert tracker.streams == {} and tracker.as_dict()[SeqTracker.UNTRACKED]["received"] == 1
