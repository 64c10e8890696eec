"""Server-side downsampling: a fast stream or a video never floods the page."""

from __future__ import annotations

import json

import numpy as np

from physres.bus import encode
from physres.bus.codec import decode
from physres.dashboard.board import Board, PageCursor
from physres.dashboard.panels import choose_panel
from physres.dashboard.reduce import make_reducer, pack, unpack

SPIKE = np.dtype([("t_ns", "<i8"), ("channel", "<i2")])


def _msg(source: str, stream: str, seq: int, arrays: dict, **kw: object):
    return decode(encode(source, stream, seq, arrays, **kw))


def test_pack_keeps_arrays_aligned_for_the_page_and_unpacks_exactly() -> None:
    arrays = {
        "frame": np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3),  # 45 bytes: odd length
        "x": np.linspace(0, 1, 7),
        "y": np.ones((2, 3), np.float32),
    }
    data = pack({"id": "a/b", "note": "é"}, arrays)
    head, back = unpack(data)
    assert head == {"id": "a/b", "note": "é"}
    for name, a in arrays.items():
        np.testing.assert_array_equal(back[name], a)
    n = int.from_bytes(data[:4], "little")
    layout = json.loads(data[4 : 4 + n])["arrays"]
    assert all((4 + n + off) % 8 == 0 for _name, _dt, _shape, off, _nb in layout)


def test_a_64_channel_25_khz_stream_becomes_a_few_hundred_points() -> None:
    panel = choose_panel("mea/raw", {"dtype": "<f4", "shape": [64], "rate_hz": 25_000})
    red = make_reducer(panel)
    ramp = np.arange(25_000 * 8, dtype=np.float32)  # 8 s, a ramp on every channel
    for i in range(400):  # 400 messages of 500 samples
        chunk = np.repeat(ramp[i * 500 : (i + 1) * 500, None], 64, axis=1) + np.arange(64)
        red.feed(_msg("mea", "raw", i, {"raw": chunk}))
    head, arrays = unpack(red.snapshot())
    assert head["channels"] == 64 and head["shown"] == 8
    assert arrays["y"].shape == (8, 600)  # 100 points/s kept, the last 6 s at most
    assert len(red.snapshot()) < 32_000  # versus 51 MB of samples fed
    # each point is the mean of 250 consecutive samples; x is in seconds
    np.testing.assert_allclose(arrays["y"][3, -1], ramp[-250:].mean() + 3)
    np.testing.assert_allclose(arrays["x"][-1], (200_000 - 250) / 25_000)


def test_video_frames_are_shrunk_and_sent_at_most_max_hz_latest_wins() -> None:
    board = Board("test")
    cursor = PageCursor()
    sent = []
    rng = np.random.default_rng(0)
    for i in range(60):  # 2 s of 30 fps video, 640×480
        frame = rng.integers(0, 255, (1, 480, 640, 3), dtype=np.uint8)
        board.feed(_msg("cam", "image", i, {"image": frame}, t_host=i))
        sent += board.due(cursor, now=i / 30)
    red = board.reducers["cam/image"]
    assert red.panel.kind == "image"
    assert len(sent) <= 2 * red.max_hz + 1  # 20 Hz at most, not 30
    head, arrays = unpack(sent[-1])
    assert arrays["frame"].shape == (180, 240, 3)  # 240 px on the long side
    assert head["t_host"] in (58, 59)  # the newest frame went out (latest wins)
    assert len(board.due(cursor, now=100)) <= 1 and board.due(cursor, now=200) == []


def test_raster_keeps_a_window_of_events_and_counts_rates_per_channel() -> None:
    red = make_reducer(choose_panel("lsm/spikes", {"dtype": SPIKE.descr, "carries": "events"}))
    for k in range(10):  # 5 s of events, 1 per 10 ms on channel 2 and 1 per 20 ms on channel 5
        t = np.arange(k * 500, (k + 1) * 500, 10) * 1_000_000
        ev = np.zeros(len(t) + len(t) // 2, SPIKE)
        ev["t_ns"][: len(t)], ev["channel"][: len(t)] = t, 2
        ev["t_ns"][len(t) :], ev["channel"][len(t) :] = t[::2], 5
        red.feed(_msg("lsm", "spikes", k, {"spikes": np.sort(ev, order="t_ns")}))
    head, arrays = unpack(red.snapshot())
    assert head["channels"] == 6
    assert arrays["t"].min() >= -2.0 and arrays["t"].max() == 0  # the last 2 s
    np.testing.assert_allclose(arrays["rates"][[2, 5]], [100, 50], rtol=0.02)


def test_readout_panel_keeps_the_running_nrmse_over_every_pair() -> None:
    red = make_reducer(choose_panel("r/scored", {"arrays": ["prediction", "target"]}))
    rng = np.random.default_rng(1)
    ys, ps = [], []
    for i in range(20):
        y = rng.normal(size=(50, 1))
        p = y + 0.1 * rng.normal(size=(50, 1))
        ys.append(y)
        ps.append(p)
        red.feed(_msg("r", "scored", i, {"prediction": p, "target": y}))
    y, p = np.concatenate(ys), np.concatenate(ps)
    head, arrays = unpack(red.snapshot())
    assert np.isclose(head["score"], np.sqrt(np.mean((y - p) ** 2) / np.var(y)))
    assert head["pairs"] == 1000 and arrays["prediction"].shape == (600,)


def test_a_sender_inventing_topics_cannot_grow_the_page_forever() -> None:
    board = Board("test")
    for i in range(300):
        board.feed(_msg(f"n{i}", "x", 0, {"x": np.zeros((1, 1))}))
    assert len(board.reducers) == 256 and board.overflow == 44
