"""Recordings survive kill -9, and a replay is indistinguishable from the live run."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from sklearn.linear_model import Ridge

from physres.bus import Broker, BusConfig, CommandClient, Publisher, Subscriber
from physres.bus.codec import encode
from physres.bus.record import Recorder, RecordingWriter, read_recording
from physres.bus.replay import replay
from physres.device.node import DeviceNode
from physres.device.remote import RemoteDevice
from physres.errors import RecordingError
from physres.sim.esn import ESN


def test_recorder_killed_with_sigkill_keeps_everything_up_to_the_last_flush(
    bus_cfg: BusConfig, ctx: zmq.Context, tmp_path: Path, closer: list
) -> None:
    out = tmp_path / "run.mcap"
    cfg = bus_cfg.model_copy(update={"sndhwm": 0, "rcvhwm": 0})  # this test is about the disk
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from physres.bus import BusConfig; from physres.bus.record import Recorder;"
            f"cfg = BusConfig.model_validate_json({cfg.model_dump_json()!r});"
            f"Recorder({str(out)!r}, ['sensor/'], cfg, flush_s=0.2).run()",
        ],
    )
    broker = Broker(cfg, ctx).start()
    pub = Publisher(ctx, cfg, "sensor")
    closer.append(pub)
    sub = Subscriber(ctx, cfg, ["sensor/"])  # our own view of what was published
    closer.append(sub)
    sent_at: list[float] = []
    t_end = time.monotonic() + 3.0
    i = 0
    while time.monotonic() < t_end:
        pub.publish("x", {"v": np.full(256, i, np.float32)})
        sent_at.append(time.monotonic())
        i += 1
        time.sleep(0.002)
    killed_at = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    broker.stop()
    info, msgs = read_recording(out)
    seqs = [m.seq for _, m in msgs if m.stream == "x"]
    assert info.truncated and not info.is_damaged  # a torn tail, no clean end, no damage
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "records are contiguous"
    # everything published before (kill - flush interval - margin) is on disk
    must_have = sum(1 for t in sent_at if t < killed_at - 0.2 - 0.3)
    assert seqs[-1] + 1 >= must_have > 100


def test_a_clean_stop_records_why_it_ended(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, tmp_path: Path, closer: list
) -> None:
    rec = Recorder(tmp_path / "r.mcap", ["a/"], bus_cfg, ctx).start()
    pub = Publisher(ctx, bus_cfg, "a")
    closer.append(pub)
    for _ in range(50):
        pub.publish("x", {"v": np.arange(3)})
        time.sleep(0.002)
    time.sleep(0.2)
    rec.stop("pty closed")
    info, msgs = read_recording(tmp_path / "r.mcap")
    assert len(list(msgs)) > 0 and info.end_reason == "pty closed" and not info.truncated


def test_a_file_that_is_not_a_recording_is_refused_with_the_reason(tmp_path: Path) -> None:
    p = tmp_path / "x.mcap"
    p.write_bytes(b"hello world, not mcap")
    with pytest.raises(RecordingError, match="is not an MCAP recording"):
        read_recording(p)
    with pytest.raises(RecordingError, match="does not exist"):
        read_recording(tmp_path / "missing.mcap")


def test_replayed_esn_run_gives_the_readout_identical_results(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, tmp_path: Path, closer: list
) -> None:
    rng = np.random.default_rng(1)
    u = rng.uniform(0, 0.5, (1200, 1))
    y = np.roll(u[:, 0], 3)  # recall the input from three steps ago
    node = DeviceNode(ESN("esn", n_units=50, seed=2), bus_cfg, ctx).start()
    rec = Recorder(tmp_path / "esn.mcap", ["esn/"], bus_cfg, ctx).start()
    live = []
    with RemoteDevice("esn", cfg=bus_cfg, ctx=ctx) as esn:
        for i in range(0, len(u), 100):
            esn.apply({"u": u[i : i + 100]})
            live.append(esn.read()["state"].data)
    time.sleep(0.3)
    rec.stop()
    node.stop()
    live_states = np.concatenate(live)

    sub = Subscriber(ctx, bus_cfg, ["esn/state"])
    closer.append(sub)
    _info, n = replay(tmp_path / "esn.mcap", bus_cfg, ctx, topics=["esn/state"], speed=0, wait_s=5)
    replayed = []
    while (m := sub.recv(1.0)) is not None:
        replayed.append(np.array(m.data))
    replayed_states = np.concatenate(replayed)
    np.testing.assert_array_equal(replayed_states, live_states)
    fit = lambda X: Ridge(alpha=1e-6).fit(X[100:1000], y[100:1000]).predict(X[1000:])
    np.testing.assert_array_equal(fit(replayed_states), fit(live_states))
    assert sub.seq.dropped == 0 and n == len(replayed)


def test_a_record_that_passes_its_checks_but_is_no_bus_message_is_counted_and_skipped(
    tmp_path: Path,
) -> None:
    """The CRC guards the bytes; what a writer put there wrongly is still counted, not fatal."""
    path = tmp_path / "r.mcap"
    writer = RecordingWriter(path)
    for i in range(20):
        if i == 10:
            writer.write([b"a/x", b"\xc1"], log_time=i + 1)  # 0xc1: a byte msgpack never uses
        else:
            writer.write(encode("a", "x", i, {"v": np.arange(4.0)}, meta={"i": i}), log_time=i + 1)
    writer.close()
    info, msgs = read_recording(path)
    marks = [m.meta["i"] for _, m in msgs]
    assert info.corrupt == 1 and not info.truncated and info.damaged == 0
    assert marks == [i for i in range(20) if i != 10]
    assert info.end_reason.startswith("damaged") and "1 records did not decode" in info.end_reason


def test_physres_ls_shows_the_recorders_drops(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, tmp_path: Path, closer: list
) -> None:
    """The recorder reads on a socket of its own; its seq gaps still reach `physres ls`."""
    rec = Recorder(tmp_path / "r.mcap", ["cam/"], bus_cfg, ctx, name="rec").start()
    raw = ctx.socket(zmq.PUB)
    raw.connect(bus_cfg.endpoints.pub)
    client = CommandClient(ctx, bus_cfg)
    closer += [raw, client]
    time.sleep(0.5)
    for seq in (0, 1, 2, 10, 11, 30):  # 7 + 18 missing
        raw.send_multipart(encode("cam", "frame", seq, {"v": np.zeros(3)}))
    deadline = time.monotonic() + 5
    row: dict = {}
    while time.monotonic() < deadline and row.get("dropped") != {"cam/frame": 25}:
        time.sleep(0.1)
        row = next(r for r in client.call("_broker", "ls") if r["name"] == "rec")
    rec.stop()
    assert row["dropped"] == {"cam/frame": 25} and row["received"] == {"cam/frame": 6}
    assert rec.stats["dropped"] == 25


@pytest.mark.parametrize("speed", [1.0, 2.0])
def test_replay_keeps_the_recorded_timing_scaled_by_speed(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, tmp_path: Path, closer: list, speed: float
) -> None:
    gaps_s = [0.1, 0.1, 0.3, 0.05, 0.25]
    writer = RecordingWriter(tmp_path / "timed.mcap")
    t = 1_000_000_000_000
    for i, gap in enumerate([0.0, *gaps_s]):
        t += int(gap * 1e9)
        writer.write(encode("a", "x", i, {"v": np.arange(3.0)}, t_host=t), log_time=t)
    writer.close()
    sub = Subscriber(ctx, bus_cfg, ["a/"])
    closer.append(sub)
    arrived: list[float] = []

    def receive() -> None:
        while sub.recv(2.0) is not None:
            arrived.append(time.monotonic())

    rx = threading.Thread(target=receive)
    rx.start()
    replay(tmp_path / "timed.mcap", bus_cfg, ctx, speed=speed, wait_s=5)
    rx.join()
    assert len(arrived) == len(gaps_s) + 1
    # replay schedules each message at its own due time, so compare offsets from the first
    # (one scheduling jitter each) rather than gaps (two)
    due = np.cumsum(gaps_s) / speed
    np.testing.assert_allclose(np.array(arrived[1:]) - arrived[0], due, atol=0.04)


def test_a_recorder_accounts_for_every_message_a_closed_publisher_sent(
    bus_cfg: BusConfig, ctx: zmq.Context, tmp_path: Path
) -> None:
    """Messages lost after the recorder's last one leave no gap in what it received; the
    publisher's goodbye (its last seq) lets the recorder count them as dropped."""
    from physres.bus.node import Node

    cfg = bus_cfg.model_copy(update={"sndhwm": 4, "heartbeat_s": 0.5})
    with Broker(cfg, ctx):
        rec = Recorder(tmp_path / "r.mcap", ["cam/"], cfg, ctx, flush_s=0.2).start()
        node = Node("cam", cfg, ctx)
        time.sleep(0.3)  # the subscription reaches the publisher
        for i in range(1452):
            node.pub.publish("frame", {"x": np.full(262_144, i % 256, np.uint8)})
        # the last 5 never reach the wire (a cable pulled mid-burst): only the goodbye,
        # which carries the publisher's last seq, can tell the recorder they existed
        node.pub._seq["cam/frame"] += 5
        node.close()
        time.sleep(0.3)
        rec.stop("done")
    _, msgs = read_recording(tmp_path / "r.mcap")
    seqs = [m.seq for _, m in msgs]
    stream = rec.stats["streams"]["cam/frame"]
    assert seqs == sorted(seqs) and seqs[0] == 0 and seqs[-1] <= 1451
    assert stream["tail_lost"] >= 5 and stream["last_seq"] == 1456
    # every message published is in the file or counted as dropped, the tail included
    assert len(seqs) + rec.stats["dropped"] == 1457, (len(seqs), rec.stats)
