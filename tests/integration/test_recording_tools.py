"""Recorder robustness, replay into an empty bus, and `physres info / export / replay` errors."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq
from mcap.reader import make_reader

from physres.bus import Broker, BusConfig, CommandClient, Publisher, Subscriber
from physres.bus.codec import encode
from physres.bus.record import Recorder, RecordingWriter, read_recording
from physres.bus.replay import replay
from physres.cli import main
from physres.errors import RecordingError

T0 = 1_700_000_000_000_000_000


def small_recording(path: Path, n: int = 50, chunk_bytes: int = 2048) -> None:
    """Two topics: a float stream at 1 kHz (by log time) and a rarer uint8 image."""
    w = RecordingWriter(path, chunk_bytes=chunk_bytes)
    for i in range(n):
        t = T0 + i * 1_000_000
        w.write(encode("esn", "state", i, {"state": np.full(8, i, np.float32)}, t_host=t), t)
        if i % 10 == 0:
            img = np.full((4, 5, 3), i // 10, np.uint8)
            w.write(encode("cam", "frame", i // 10, {"v": img}, units={"v": "counts"}), t)
    w.close("done")


def middle_of_chunk(path: Path, k: int) -> int:
    """A byte inside the k-th chunk's data, as mcap's own reader indexes the file."""
    with open(path, "rb") as f:
        c = make_reader(f).get_summary().chunk_indexes[k]
    return c.chunk_start_offset + c.chunk_length // 2


def raw_message(seq: int, th: int) -> list[bytes]:
    """A bus message as another writer might send it: any msgpack header, any clock."""
    header = msgpack.packb(
        {"v": 1, "src": "s", "st": "x", "seq": seq, "td": 0, "th": th, "b": [["v", "<i8", [3], ""]]}
    )
    return [b"s/x", header, np.arange(3).tobytes()]


def test_a_hostile_clock_is_recorded_as_sent(tmp_path: Path) -> None:
    """Negative or huge times fit no MCAP field; the message is kept byte for byte anyway."""
    path = tmp_path / "r.mcap"
    w = RecordingWriter(path)
    w.write(raw_message(0, -5), log_time=-1)
    w.write(raw_message(1, 2**64 - 1), log_time=2**70)
    w.write(encode("s", "x", 2, {"v": np.arange(3)}, t_host=2**63 - 1), log_time=5)
    w.close()
    info, msgs = read_recording(path, raw=True)
    got = list(msgs)
    assert [t for t, _ in got] == [0, 2**64 - 1, 5] and not info.is_damaged
    assert [bytes(f[1]) for _, f in got[:2]] == [
        raw_message(0, -5)[1],
        raw_message(1, 2**64 - 1)[1],
    ]


# ------------------------------------------------------------------- recorder
def recorder_hears(ctx: zmq.Context, cfg: BusConfig, send) -> None:
    """Send warm-up messages (stream ``warm``) until the recorder has written one."""
    client = CommandClient(ctx, cfg)
    try:
        end = time.monotonic() + 20
        while client.call("recorder", "stats")["messages"] == 0:
            assert time.monotonic() < end, "the recorder never heard the publisher"
            send()
            time.sleep(0.05)
    finally:
        client.close()


def not_warm(frames_or_msg) -> bool:
    topic = getattr(frames_or_msg, "topic", None) or bytes(frames_or_msg[0]).decode()
    return not topic.endswith("/warm")


def test_the_recorder_survives_hostile_headers(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, tmp_path: Path, closer: list
) -> None:
    """Headers with hostile clocks once killed the recorder's loop (struct.error)."""
    rec = Recorder(tmp_path / "r.mcap", ["s/"], bus_cfg, ctx).start()
    raw = ctx.socket(zmq.PUB)
    raw.connect(bus_cfg.endpoints.pub)
    closer.append(raw)
    recorder_hears(ctx, bus_cfg, lambda: raw.send_multipart(encode("s", "warm", 0, {})))
    for seq, th in enumerate([1, -5, -(2**63), 2**64 - 1, 2**63 - 1, 2]):
        raw.send_multipart(raw_message(seq, th))
    time.sleep(0.5)
    rec.stop("done")
    info, msgs = read_recording(tmp_path / "r.mcap", raw=True)
    kept = [msgpack.unpackb(bytes(f[1]))["th"] for _, f in msgs if not_warm(f)]
    # what the codec refuses is garbage (counted); everything else is on disk, unchanged
    assert kept[0] == 1 and kept[-1] == 2 and 2**63 - 1 in kept
    assert sum(rec.stats["garbage"].values()) + len(kept) == 6
    assert info.end_reason == "done" and rec.stats["faults"] == {}


def test_any_exception_in_the_recorders_loop_is_contained_counted_and_logged_once(
    broker: Broker,
    bus_cfg: BusConfig,
    ctx: zmq.Context,
    tmp_path: Path,
    closer: list,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_write = RecordingWriter.write

    def fragile(self, frames, *a, **kw):  # a fault we cannot foresee, on some messages
        if b"poison" in bytes(frames[1]):
            raise RuntimeError("disk says no")
        return real_write(self, frames, *a, **kw)

    monkeypatch.setattr(RecordingWriter, "write", fragile)
    rec = Recorder(tmp_path / "r.mcap", ["a/"], bus_cfg, ctx).start()
    pub = Publisher(ctx, bus_cfg, "a")
    closer.append(pub)
    recorder_hears(ctx, bus_cfg, lambda: pub.publish("warm", {}))
    for i in range(30):
        meta = {"p": "poison"} if i in (5, 17) else {"i": i}
        pub.publish("x", {"v": np.arange(3)}, meta=meta)
        time.sleep(0.002)
    time.sleep(0.5)
    client = CommandClient(ctx, bus_cfg)
    closer.append(client)
    row: dict = {}
    deadline = time.monotonic() + 5  # the next heartbeat carries the count to `physres ls`
    while row.get("errors") != {"RuntimeError": 2} and time.monotonic() < deadline:
        time.sleep(0.1)
        row = next(r for r in client.call("_broker", "ls") if r["name"] == "recorder")
    assert row["errors"] == {"RuntimeError": 2}
    rec.stop("done")
    info, msgs = read_recording(tmp_path / "r.mcap")
    assert [m.meta["i"] for _, m in msgs if not_warm(m)] == [
        i for i in range(30) if i not in (5, 17)
    ]
    assert rec.stats["faults"] == {"RuntimeError": 2}
    assert info.end_reason == "done"


def test_the_fault_is_reported_once(
    bus_cfg: BusConfig, ctx: zmq.Context, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder("unused.mcap", ["a/"], bus_cfg, ctx)
    with caplog.at_level(logging.ERROR, logger="physres.bus.record"):
        for _ in range(3):
            rec.errors.record(RuntimeError("disk says no"))
    assert len(caplog.records) == 1 and "disk says no" in caplog.text
    assert rec.errors.counts == {"RuntimeError": 3}


# --------------------------------------------------------------------- replay
def test_replay_into_a_bus_where_nobody_listens_says_so(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, tmp_path: Path, closer: list
) -> None:
    small_recording(tmp_path / "r.mcap")
    heard: list[str] = []
    _, n = replay(tmp_path / "r.mcap", bus_cfg, ctx, speed=0, wait_s=0.3, warn=heard.append)
    assert n == 55 and len(heard) == 1
    assert "nobody subscribed" in heard[0] and "55 replayed messages reached no node" in heard[0]

    heard.clear()
    sub = Subscriber(ctx, bus_cfg, ["esn/"])
    closer.append(sub)
    _, n = replay(
        tmp_path / "r.mcap", bus_cfg, ctx, topics=["esn/"], speed=0, wait_s=5, warn=heard.append
    )
    got = 0
    while sub.recv(0.5) is not None:
        got += 1
    assert n == got == 50 and heard == []


def test_replay_never_republishes_a_damaged_record(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, tmp_path: Path, closer: list
) -> None:
    path = tmp_path / "r.mcap"
    small_recording(path, n=200, chunk_bytes=1024)
    raw = bytearray(path.read_bytes())
    at = middle_of_chunk(path, 3)
    raw[at : at + 64] = bytes(64)
    path.write_bytes(bytes(raw))
    sub = Subscriber(ctx, bus_cfg, ["esn/"])
    closer.append(sub)
    info, n = replay(path, bus_cfg, ctx, topics=["esn/"], speed=0, wait_s=5)
    got = []
    while (m := sub.recv(0.5)) is not None:
        got.append(m)
    assert 0 < n == len(got) < 200 and info.end_reason.startswith("damaged")
    assert all(np.all(m.data == m.seq) for m in got), "a republished message was changed"


# ------------------------------------------------------------- the commands
@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: os.mkfifo(p), "is a named pipe, not a regular file; expected an MCAP file"),
        (lambda p: p.mkdir(), "is a directory; expected an MCAP file"),
        (lambda p: p.write_bytes(b""), "is empty (0 bytes); expected an MCAP file"),
        (lambda p: p.write_bytes(b"PK\x03\x04 a zip"), "is not an MCAP recording"),
        (lambda p: None, "does not exist"),
    ],
)
@pytest.mark.parametrize("cmd", ["replay", "info", "export"])
def test_a_path_that_is_no_recording_gets_one_clear_line(
    cmd: str, make, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.mcap"
    make(path)
    args = {
        "replay": ["replay", str(path), "--wait", "0", "--bus", f"t{os.getpid()}"],
        "info": ["info", str(path)],
        "export": ["export", "topic", str(path), "esn/state", "--out", str(tmp_path / "o.npy")],
    }[cmd]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and says in err, err
    with pytest.raises(RecordingError, match=re.escape(says)):
        read_recording(path)


def test_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd, want in (
        ("record", ["(default: 0.5)", "(default: lz4)"]),
        ("replay", ["(default: 1.0)", "(default: 5.0)"]),
    ):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert all(w in out for w in want), out


def test_info_lists_topics_counts_layouts_span_and_rates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small_recording(tmp_path / "r.mcap")
    assert main(["info", str(tmp_path / "r.mcap"), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    esn, cam = s["topics"]["esn/state"], s["topics"]["cam/frame"]
    assert (esn["count"], cam["count"], s["messages"]) == (50, 5, 55)
    assert esn["arrays"] == {"state": {"dtype": "float32", "shape": [8], "units": ""}}
    assert cam["arrays"]["v"] == {"dtype": "uint8", "shape": [4, 5, 3], "units": "counts"}
    assert esn["rate_hz"] == pytest.approx(1000.0) and cam["rate_hz"] == pytest.approx(100.0)
    assert s["duration_s"] == pytest.approx(0.049) and s["start_ns"] == T0
    assert s["damaged"] == 0 and s["end_reason"] == "done" and esn["seq_gaps"] == 0
    assert main(["info", str(tmp_path / "r.mcap")]) == 0
    out = capsys.readouterr().out
    assert "esn/state" in out and "float32(8,)" in out and "ended: done" in out


def test_info_on_a_damaged_file_counts_the_damage_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.mcap"
    small_recording(path, n=300, chunk_bytes=1024)
    raw = bytearray(path.read_bytes())
    raw[middle_of_chunk(path, 4)] ^= 0x40
    path.write_bytes(bytes(raw))
    assert main(["info", str(path), "--json"]) == 1
    s = json.loads(capsys.readouterr().out)
    assert s["damaged"] == 1 and s["lost"] > 0 and s["end_reason"].startswith("damaged")
    assert s["messages"] + s["lost"] == 330


def test_export_npy_and_csv_hold_every_message_with_its_timestamps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small_recording(tmp_path / "r.mcap")
    npy, csv = tmp_path / "s.npy", tmp_path / "f.csv"
    assert main(["export", "topic", str(tmp_path / "r.mcap"), "esn/state", "--out", str(npy)]) == 0
    a = np.load(npy)  # no pickle needed
    assert a.shape == (50,) and a["state"].shape == (50, 8)
    np.testing.assert_array_equal(a["state"][:, 0], np.arange(50))
    np.testing.assert_array_equal(a["log_time"], T0 + np.arange(50) * 1_000_000)
    np.testing.assert_array_equal(a["t_host"], a["log_time"])
    assert main(["export", "topic", str(tmp_path / "r.mcap"), "cam/frame", "--out", str(csv)]) == 0
    lines = csv.read_text().splitlines()
    head = lines[0].split(",")
    assert head[:5] == ["log_time", "t_host", "t_dev", "seq", "v[0]"] and len(head) == 4 + 60
    assert len(lines) == 6 and lines[2].split(",")[0] == str(T0 + 10_000_000)
    assert lines[2].split(",")[4:] == ["1"] * 60
    assert not list(tmp_path.glob(".*partial")), "no temporary file left behind"


def test_export_of_an_unknown_topic_suggests_the_nearest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small_recording(tmp_path / "r.mcap")
    out = tmp_path / "o.npy"
    assert main(["export", "topic", str(tmp_path / "r.mcap"), "esn/stat", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no topic 'esn/stat'; did you mean 'esn/state'?" in err and err.count("\n") == 1
    assert main(["export", "topic", str(tmp_path / "r.mcap"), "esn/", "--out", str(out)]) == 2
    assert "no topic 'esn/'" in capsys.readouterr().err, "a prefix is not a topic"
    assert main(["export", "topic", str(tmp_path / "r.mcap"), "esn/state", "--out", "o.txt"]) == 2
    assert "expected a file ending in .npy or .csv" in capsys.readouterr().err
    (tmp_path / "d.npy").mkdir()
    assert (
        main(
            [
                "export",
                "topic",
                str(tmp_path / "r.mcap"),
                "esn/state",
                "--out",
                str(tmp_path / "d.npy"),
            ]
        )
        == 2
    )
    assert f"export to {tmp_path / 'd.npy'}: is a directory" in capsys.readouterr().err
    assert not out.exists()


def test_export_of_a_damaged_file_writes_the_good_records_and_says_what_it_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.mcap"
    small_recording(path, n=300, chunk_bytes=1024)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 4096] = bytes(4096)
    path.write_bytes(bytes(raw))
    out = tmp_path / "s.npy"
    assert main(["export", "topic", str(path), "esn/state", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "exported the intact records only: damaged (" in err
    a = np.load(out)
    assert 0 < len(a) < 300 and a["seq"][0] == 0 and a["seq"][-1] == 299
    np.testing.assert_array_equal(a["state"][:, 0], a["seq"])  # nothing changed


def test_replay_says_when_its_last_listener_left_midway(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, tmp_path: Path
) -> None:
    w = RecordingWriter(tmp_path / "r.mcap")
    for i in range(40):  # 2 s at speed 1
        w.write(encode("esn", "state", i, {"v": np.zeros(2)}), log_time=T0 + i * 50_000_000)
    w.close()
    sub = Subscriber(ctx, bus_cfg, ["esn/"])
    threading.Timer(0.6, sub.close).start()  # the only listener goes away during the replay
    heard: list[str] = []
    _, n = replay(tmp_path / "r.mcap", bus_cfg, ctx, speed=1, wait_s=5, warn=heard.append)
    assert n == 40 and len(heard) == 1, heard
    unheard = int(heard[0].split(" of ")[0])
    assert 10 < unheard < 35 and "while no node on bus" in heard[0]


@pytest.mark.parametrize("where", ["a directory", "under a file"])
def test_record_to_a_path_it_cannot_write_says_so_in_one_line(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    why = {
        "a directory": "is a directory; expected a .mcap file to write",
        "under a file": f"{tmp_path / 'file'} is not a folder",
    }
    (tmp_path / "file").write_text("x")
    out = tmp_path if where == "a directory" else tmp_path / "file" / "r.mcap"
    args = ["record", "--out", str(out), "--duration", "0.1", "--start-broker"]
    assert main([*args, "--bus", f"w{os.getpid()}"]) == 2
    errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: ") and why[where] in errors[0]


def test_info_and_export_show_control_characters_in_topic_names_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = "e\x1b]0;PWN\x07\x1b[2J"
    path = tmp_path / "evil.mcap"
    writer = RecordingWriter(path)
    writer.write(encode(evil, "s\x9b2J", 0, {"x\x1b[2J": np.zeros((1, 2), np.float32)}))
    writer.close()
    assert main(["info", str(path)]) == 0
    assert (
        main(["export", "topic", str(path), f"{evil}/s\x9b2J", "--out", str(tmp_path / "e.csv")])
        == 0
    )
    assert main(["export", "topic", str(path), "nope", "--out", str(tmp_path / "e.csv")]) == 2
    out = "".join(capsys.readouterr())
    assert not any(c in out for c in "\x1b\x07\x9b"), "control characters reached the terminal"
    assert "\\x1b]0;PWN" in out and "\\x9b2J" in out


@pytest.mark.parametrize("what", ["named pipe", "directory"])
def test_recording_into_a_pipe_or_directory_is_refused_at_once(tmp_path: Path, what: str) -> None:
    out = tmp_path / "rec.mcap"
    os.mkfifo(out) if what == "named pipe" else out.mkdir()
    t0 = time.monotonic()
    with pytest.raises(RecordingError, match=rf"recording {re.escape(str(out))} is a {what}"):
        RecordingWriter(out)
    assert time.monotonic() - t0 < 1.0
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(RecordingError, match=r"cannot write recording .* is not a folder"):
        RecordingWriter(tmp_path / "afile" / "x.mcap")


def test_export_to_a_directory_or_under_a_file_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.mcap"
    writer = RecordingWriter(path)
    writer.write(encode("esn", "state", 0, {"x": np.zeros((1, 2), np.float32)}))
    writer.close()
    (tmp_path / "out.csv").mkdir()
    (tmp_path / "afile").write_text("mine")
    for out in (tmp_path / "out.csv", tmp_path / "afile" / "x.csv"):
        assert main(["export", "topic", str(path), "esn/state", "--out", str(out)]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert err.startswith(f"error: export to {out}:") and "Traceback" not in err
    assert (tmp_path / "afile").read_text() == "mine"
