"""The bus message format: every dtype and shape round-trips; anything malformed is refused."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from physres.bus.codec import SCHEMA_VERSION, decode, encode
from physres.errors import FrameError

DTYPES = [
    "?",
    "i1",
    "u1",
    "<i2",
    "<u2",
    "<i4",
    "<u4",
    "<i8",
    "<u8",
    "<f2",
    "<f4",
    "<f8",
    "<c8",
    "<c16",
    ">f8",
    ">i4",
]
SHAPES = [(), (0,), (1,), (5,), (3, 4), (0, 7), (2, 3, 4), (480, 640, 3)]
SPIKE = np.dtype([("t_ns", "<i8"), ("channel", "<i2")])


def frames_to_bytes(frames: list) -> list[bytes]:
    """What a receiving socket hands over: plain bytes per part."""
    return [bytes(memoryview(f).cast("B")) if not isinstance(f, bytes) else f for f in frames]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_every_dtype_and_shape_round_trips(dtype: str, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shape) * 100).astype(dtype)
    msg = decode(
        frames_to_bytes(encode("cam", "frame", 7, {"x": a}, t_dev=11, t_host=22, units={"x": "V"}))
    )
    assert msg.source == "cam" and msg.stream == "frame" and msg.topic == "cam/frame"
    assert (msg.seq, msg.t_dev, msg.t_host) == (7, 11, 22)
    assert msg.units == {"x": "V"}
    assert msg.data.dtype == a.dtype and msg.data.shape == a.shape
    np.testing.assert_array_equal(msg.data, a)


def test_structured_spike_lists_and_several_buffers_round_trip() -> None:
    spikes = np.array([(1000, 3), (2500, 17)], dtype=SPIKE)
    aer = np.zeros(0, dtype=[("t_us", "<u4"), ("addr", "<u2")])
    frames = encode(
        "mea", "spikes", 0, {"spikes": spikes, "aer": aer, "x": np.arange(6).reshape(2, 3)}
    )
    msg = decode(frames_to_bytes(frames))
    np.testing.assert_array_equal(msg.arrays["spikes"], spikes)
    assert msg.arrays["aer"].dtype.names == ("t_us", "addr") and msg.arrays["aer"].size == 0
    np.testing.assert_array_equal(msg.arrays["x"], np.arange(6).reshape(2, 3))


def test_non_contiguous_arrays_are_sent_in_c_order() -> None:
    a = np.arange(12.0).reshape(3, 4).T
    np.testing.assert_array_equal(decode(frames_to_bytes(encode("s", "x", 0, {"a": a}))).data, a)


def test_text_prompts_and_small_extras_travel_in_meta() -> None:
    msg = decode(
        encode(
            "ui",
            "prompt",
            3,
            meta={"text": "pick the cube and place it in the bowl", "n": np.int64(2)},
        )
    )
    assert msg.meta == {"text": "pick the cube and place it in the bowl", "n": 2}
    assert msg.arrays == {}


def test_objects_are_never_pickled() -> None:
    with pytest.raises(TypeError, match="Python objects"):
        encode("s", "x", 0, {"a": np.array([object()])})
    with pytest.raises(TypeError, match="cannot put"):
        encode("s", "x", 0, meta={"f": object()})


def _header(**over: object) -> bytes:
    h = {
        "v": SCHEMA_VERSION,
        "src": "s",
        "st": "x",
        "seq": 0,
        "td": 0,
        "th": 0,
        "b": [["a", "<f4", [2], ""]],
    }
    h.update(over)
    return msgpack.packb(h)


@pytest.mark.parametrize(
    ("frames", "kind"),
    [
        ([b"s/x"], "parts"),
        ([b"s/x", b"\xc1garbage", b"12345678"], "header"),
        ([b"s/x", msgpack.packb([1, 2]), b"12345678"], "header"),
        ([b"s/x", _header(v=99), b"12345678"], "version"),
        ([b"s/x", _header(seq="one"), b"12345678"], "header"),
        ([b"s/x", _header(), b"1234"], "size"),
        ([b"s/x", _header()], "parts"),
        ([b"s/x", _header(), b"12345678", b"extra"], "parts"),
        ([b"s/x", _header(b=[["a", "|O", [2], ""]]), b"12345678"], "dtype"),
        ([b"s/x", _header(b=[["a", "<f4", [-2], ""]]), b"12345678"], "header"),
        ([b"\xff\xfe", _header(), b"12345678"], "topic"),
        ([b"s/x", _header(b=[["a", "V0", [3], ""]]), b""], "dtype"),
        ([b"s/x", _header(b=[["a", [], [0], ""]]), b""], "dtype"),
        ([b"s/x", _header(b=[["a", "(2,3)f8", [], ""]]), b"\0" * 48], "dtype"),
    ],
    ids=[
        "one-part",
        "not-msgpack",
        "not-a-map",
        "version",
        "seq-type",
        "short-buffer",
        "missing-buffer",
        "extra-buffer",
        "object-dtype",
        "negative-shape",
        "topic-not-utf8",
        "zero-size-dtype",
        "empty-structured-dtype",
        "sub-array-dtype",
    ],
)
def test_malformed_messages_raise_frame_error_with_a_kind(frames: list[bytes], kind: str) -> None:
    with pytest.raises(FrameError) as err:
        decode(frames)
    assert err.value.kind == kind


# ------------------------------------------------------------ the steady-state path
# A stream's header differs from message to message only in seq and the clocks,
# so decode() remembers a layout it has validated (keyed by the exact header
# bytes before the integers) and skips msgpack for the rest of the stream. These
# tests hold that path to the same rules as the general one.


def _canonical(seq: int = 0, **kw: object) -> list[bytes]:
    frames = encode("s", "x", seq, {"a": np.arange(2, dtype="<f4")}, t_dev=5, t_host=6, **kw)
    return frames_to_bytes(frames)


def test_a_remembered_layout_decodes_like_the_first_message() -> None:
    first, later = decode(_canonical(0)), decode(_canonical(41))
    assert (later.source, later.stream, later.topic) == (first.source, first.stream, first.topic)
    assert (later.seq, later.t_dev, later.t_host) == (41, 5, 6)
    np.testing.assert_array_equal(later.data, first.data)


@pytest.mark.parametrize(
    ("mangle", "kind"),
    [
        (lambda f: [f[0], f[1], f[2][:4]], "size"),
        (lambda f: f[:2], "parts"),
        (lambda f: [*f, b"extra"], "parts"),
        (lambda f: [b"\xff\xfe", *f[1:]], "topic"),
        # a byte of the remembered part changed: not the layout that was validated
        (lambda f: [f[0], f[1].replace(b"<f4", b"|O4"), f[2]], "dtype"),
        # the integers' type byte changed from int64 to a string marker: not a header
        (lambda f: [f[0], f[1][:-9] + b"\xd9" + f[1][-8:], f[2]], "header"),
    ],
    ids=["short-buffer", "missing-buffer", "extra-buffer", "topic", "body-byte", "tail-byte"],
)
def test_the_remembered_layout_refuses_what_the_general_path_refuses(mangle, kind: str) -> None:
    decode(_canonical())  # layout now remembered
    with pytest.raises(FrameError) as err:
        decode(mangle(_canonical(3)))
    assert err.value.kind == kind


def test_headers_in_other_key_orders_still_decode() -> None:
    """Recordings written before the fixed layout (or by other writers) pack a plain map."""
    frames = [b"s/x", _header(seq=9, td=1, th=2), np.arange(2, dtype="<f4").tobytes()]
    msg = decode(frames)
    assert (msg.seq, msg.t_dev, msg.t_host) == (9, 1, 2)
    np.testing.assert_array_equal(msg.data, [0, 1])


def test_meta_takes_the_general_path_and_integers_beyond_int64_are_refused() -> None:
    msg = decode(_canonical(2**62, meta={"in_seq": [1, 2]}))
    assert msg.seq == 2**62 and msg.meta == {"in_seq": [1, 2]}
    with pytest.raises(ValueError, match="2\\*\\*63-1"):
        _canonical(2**63 + 1)  # the encoder refuses what no receiver would accept


@pytest.mark.parametrize(
    "over",
    [{"seq": -1}, {"th": -1}, {"td": -(2**63)}, {"seq": 2**63}, {"th": 2**64 - 1}],
    ids=["negative-seq", "negative-host-time", "negative-device-time", "seq-2^63", "th-2^64"],
)
def test_out_of_range_seq_and_times_are_refused_on_the_general_path(over: dict) -> None:
    """A negative host time used to decode and then end the recorder that stamped it."""
    with pytest.raises(FrameError) as err:
        decode([b"s/x", _header(**over), b"12345678"])
    assert err.value.kind == "range"


@pytest.mark.parametrize("field_at", [0, 1, 2], ids=["seq", "td", "th"])
def test_negative_integers_in_a_remembered_layout_are_refused(field_at: int) -> None:
    """The cached path unpacks the fixed int64 tail: its sign bit must be checked too."""
    import struct

    frames = _canonical(3)
    decode(frames)  # remembered
    h = bytearray(frames[1])
    tail = len(h) - 37
    offsets = [tail + 5, tail + 5 + 8 + 4, tail + 5 + 8 + 4 + 8 + 4]
    struct.pack_into(">q", h, offsets[field_at], -5)
    with pytest.raises(FrameError) as err:
        decode([frames[0], bytes(h), *frames[2:]])
    assert err.value.kind == "range"


def test_negative_times_are_refused_by_the_encoder() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        encode("s", "x", 0, t_host=-1)


def test_a_huge_header_is_refused_before_msgpack_expands_it() -> None:
    """8 MB of empty msgpack arrays cost ~530 MB of Python objects when unpacked."""
    import time
    import tracemalloc

    from physres.bus.codec import MAX_HEADER_BYTES

    header = b"\xdd" + (8 << 20).to_bytes(4, "big") + b"\x90" * (8 << 20)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(FrameError, match="over the limit") as err:
            decode([b"s/x", header])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.kind == "size"
    assert peak < 4 * len(header)  # no Python object per array element
    assert time.perf_counter() - t0 < 0.5
    ok = msgpack.packb(
        {
            "v": 1,
            "src": "s",
            "st": "x",
            "seq": 0,
            "td": 0,
            "th": 0,
            "b": [],
            "m": {"pad": "x" * (MAX_HEADER_BYTES - 200)},
        }
    )
    assert decode([b"s/x", ok]).meta["pad"]  # just under the limit still decodes


def test_mutated_headers_decode_the_same_on_both_paths_or_are_refused() -> None:
    """Flip, cut and stretch bytes of remembered headers: the cached path must agree with the
    field-by-field one on every message, and nothing but FrameError may escape."""
    from physres.bus.codec import _decode_general, _never_crash

    general = _never_crash(_decode_general)  # as decode() calls it

    rng = np.random.default_rng(7)
    layouts = [
        encode("cam", "frame", 3, {"f": np.zeros((4, 5), np.uint8)}, t_dev=1, t_host=2),
        encode("mea", "spikes", 9, {"s": np.zeros(3, SPIKE), "x": np.ones(2)}, units={"x": "V"}),
        encode("arm", "state", 1, {"q": np.arange(7.0)}, meta={"in_seq": 4}),
    ]
    outcomes = {"same": 0, "refused": 0}
    for _ in range(6000):
        frames = frames_to_bytes(layouts[rng.integers(len(layouts))])
        decode(frames)  # remembered
        h = bytearray(frames[1])
        what = rng.integers(3)
        if what == 0:  # flip one byte anywhere in the header
            h[rng.integers(len(h))] = rng.integers(256)
        elif what == 1:  # cut the header short
            h = h[: rng.integers(len(h))]
        else:  # stretch it
            h += bytes(rng.integers(0, 256, rng.integers(1, 4), dtype=np.uint8))
        frames[1] = bytes(h)
        try:
            fast = decode(frames)
        except FrameError:
            with pytest.raises(FrameError):
                general(frames, frames[1])
            outcomes["refused"] += 1
            continue
        slow = general(frames, frames[1])
        assert (fast.source, fast.stream, fast.seq, fast.t_dev, fast.t_host, fast.meta) == (
            slow.source,
            slow.stream,
            slow.seq,
            slow.t_dev,
            slow.t_host,
            slow.meta,
        )
        assert fast.arrays.keys() == slow.arrays.keys()
        assert all(np.array_equal(fast.arrays[k], slow.arrays[k]) for k in fast.arrays)
        outcomes["same"] += 1
    assert outcomes["same"] > 500 and outcomes["refused"] > 500  # both branches exercised


def test_nesting_too_deep_is_refused_whether_or_not_the_layout_is_remembered() -> None:
    """msgpack's depth limit must count the same on the cached path (which unpacks only the
    meta) as on the general path (which unpacks the whole header)."""
    from physres.bus import codec

    good = encode("dev", "s", 1, {"x": np.zeros(2)}, meta={"a": 1})
    deep = b"\x81\xa1k" + b"\x91" * 1023 + b"\xc0"  # the meta map one level past the limit
    bad = [good[0], good[1][: -len(codec.pack_meta({"a": 1}))] + deep, *good[2:]]
    codec._DEC.clear()
    codec._META_BODY_LENS.clear()
    with pytest.raises(FrameError):
        decode(bad)  # nothing remembered: the general path
    decode(good)  # now remembered
    with pytest.raises(FrameError):
        decode(bad)


def test_decoding_while_other_threads_learn_new_layouts() -> None:
    """Nodes, the broker and the recorder decode in threads of one process."""
    import sys
    import threading

    known = encode("cli", "cmd", 1, {}, meta={"id": 1})
    decode(known)
    failures: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                assert decode(known).meta == {"id": 1}
            except BaseException as e:  # any failure is the finding
                failures.append(e)
                return

    def learn() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            decode(encode(f"w{i}", "s" + "x" * (i % 50), 0, {}, meta={"a": 1}))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    threads = [threading.Thread(target=read), threading.Thread(target=learn)]
    try:
        for t in threads:
            t.start()
        stop.wait(1.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
        sys.setswitchinterval(old)
    assert failures == []
