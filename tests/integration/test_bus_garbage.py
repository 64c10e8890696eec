"""A live device node survives 10,000 malformed messages, counts them, and keeps working."""

from __future__ import annotations

import logging
import time

import msgpack
import numpy as np
import zmq

from physres.bus import Broker, BusConfig
from physres.bus.codec import decode, encode
from physres.device.node import DeviceNode
from physres.device.remote import RemoteDevice
from physres.errors import FrameError
from physres.sim.esn import ESN


def garbage_messages(n: int, seed: int = 0) -> list[list[bytes]]:
    """Random parts, truncated real messages, wrong sizes, bad headers, all aimed at esn/in."""
    rng = np.random.default_rng(seed)
    good = [
        bytes(memoryview(f).cast("B")) if not isinstance(f, bytes) else f
        for f in encode("attacker", "apply", 0, {"u": np.ones((4, 1))}, topic="esn/in")
    ]
    out = []
    for i in range(n):
        k = i % 5
        if k == 0:  # random bytes in 1-5 parts
            parts = [b"esn/in"] + [
                rng.bytes(int(rng.integers(0, 64))) for _ in range(rng.integers(0, 5))
            ]
        elif k == 1:  # header only, buffer missing
            parts = good[:2]
        elif k == 2:  # buffer truncated by a random amount
            parts = [good[0], good[1], good[2][: int(rng.integers(0, len(good[2])))]]
        elif k == 3:  # header with a flipped byte
            h = bytearray(good[1])
            h[int(rng.integers(0, len(h)))] ^= 0xFF
            parts = (
                [good[0], bytes(h), good[2]] if bytes(h) != good[1] else [good[0], b"\xc1", good[2]]
            )
        else:  # a well-formed header for the wrong schema version
            parts = [
                good[0],
                msgpack.packb({"v": 2, "src": "x", "st": "y", "seq": 0, "td": 0, "th": 0, "b": []}),
            ]
        out.append(parts if _is_garbage(parts) else [b"esn/in", b"\xc1"])
    return out


def _is_garbage(parts: list[bytes]) -> bool:
    """A flipped byte can land in a number and leave a valid message: those are not garbage."""
    try:
        decode(parts)
    except FrameError:
        return True
    return False


def test_device_node_survives_garbage_fuzz(bus_cfg: BusConfig, ctx: zmq.Context, caplog) -> None:
    cfg = bus_cfg.model_copy(update={"sndhwm": 0, "rcvhwm": 0})  # count exactly: no HWM drops
    n_garbage = 10_000
    with Broker(cfg, ctx):
        node = DeviceNode(ESN("esn", n_units=20), cfg, ctx).start()
        try:
            _fuzz(node, cfg, ctx, caplog, n_garbage)
        finally:
            node.stop()


def _fuzz(node: DeviceNode, cfg: BusConfig, ctx: zmq.Context, caplog, n_garbage: int) -> None:
    esn = RemoteDevice("esn", cfg=cfg, ctx=ctx).connect()
    before = esn.apply({"u": np.ones((3, 1))}) and esn.read()["state"].data
    raw = ctx.socket(zmq.PUB)
    raw.setsockopt(zmq.LINGER, 0)
    raw.setsockopt(zmq.SNDHWM, 0)
    raw.connect(cfg.endpoints.pub)
    time.sleep(0.3)  # let the raw publisher's subscription forwarding settle
    with caplog.at_level(logging.WARNING, logger="physres.bus.pubsub"):
        for i, parts in enumerate(garbage_messages(n_garbage)):
            raw.send_multipart(parts)
            if i % 1000 == 0:  # good inputs interleaved with the garbage still get answers
                esn.apply({"u": np.full((2, 1), 0.5)})
                assert esn.read()["state"].data.shape == (2, 20)
        deadline = time.monotonic() + 10
        while node.node.sub.garbage.total < n_garbage and time.monotonic() < deadline:
            time.sleep(0.05)
    garbage = node.node.sub.garbage
    assert garbage.total == n_garbage
    # "range": a flipped byte that made seq or a time negative
    assert {"parts", "header", "size", "version"} <= set(garbage.counts)
    assert set(garbage.counts) <= {"parts", "header", "size", "version", "range"}
    # logged once per kind, not 10,000 times
    warnings = [r for r in caplog.records if "malformed" in r.getMessage() and r.args[0] == "esn"]
    assert len(warnings) == len(garbage.counts)
    esn.reset(seed=0)
    esn.apply({"u": np.ones((3, 1))})
    np.testing.assert_array_equal(esn.read()["state"].data, before)
    raw.close()
    esn.disconnect()


def _raw_pub(ctx: zmq.Context, cfg: BusConfig) -> zmq.Socket:
    raw = ctx.socket(zmq.PUB)
    raw.setsockopt(zmq.LINGER, 0)
    raw.setsockopt(zmq.SNDHWM, 0)
    raw.connect(cfg.endpoints.pub)
    time.sleep(0.3)  # subscription forwarding settles
    return raw


def _esn_row(cfg: BusConfig, ctx: zmq.Context, after: float) -> dict:
    """The esn node's row in `physres ls`, from a heartbeat sent after ``after``."""
    from physres.bus import CommandClient

    client = CommandClient(ctx, cfg)
    try:
        time.sleep(after)
        deadline = time.monotonic() + 15  # a node busy with a backlog misses heartbeats
        while True:
            rows = [r for r in client.call("_broker", "ls") if r["name"] == "esn"]
            if rows or time.monotonic() > deadline:
                return rows[0]
            time.sleep(0.05)
    finally:
        client.close()


def test_seq_alternating_between_extremes_cannot_end_a_device_node(
    bus_cfg: BusConfig, ctx: zmq.Context
) -> None:
    """Four well-formed inputs: before, the drop counter passed 2**64 and the next
    heartbeat could not be packed, ending the node."""
    import struct

    from physres.bus.codec import INT_MAX

    cfg = bus_cfg.model_copy(update={"sndhwm": 0, "rcvhwm": 0})
    with Broker(cfg, ctx):
        node = DeviceNode(ESN("esn", n_units=8), cfg, ctx).start()
        raw = _raw_pub(ctx, cfg)
        try:
            for seq in (0, INT_MAX, 0, INT_MAX, 0, INT_MAX, -(2**63), INT_MAX):
                frames = [
                    bytes(memoryview(f).cast("B"))
                    for f in encode("attacker", "apply", 0, {"u": np.ones((1, 1))}, topic="esn/in")
                ]
                h = bytearray(frames[1])
                struct.pack_into(">q", h, len(h) - 37 + 5, seq)
                raw.send_multipart([frames[0], bytes(h), *frames[2:]])
            row = _esn_row(cfg, ctx, after=cfg.heartbeat_s * 3)
            assert row["alive"] and node._thread is not None and node._thread.is_alive()
            assert 0 < row["dropped"]["esn/in (attacker/apply)"] <= INT_MAX
            assert row["garbage"] == {"range": 1}
            esn = RemoteDevice("esn", cfg=cfg, ctx=ctx).connect()
            esn.apply({"u": np.ones((2, 1))})
            assert esn.read()["state"].data.shape == (2, 8)  # still serving
            esn.disconnect()
        finally:
            raw.close()
            node.stop()


def test_mutated_valid_messages_that_still_decode_cannot_end_a_device_node(
    bus_cfg: BusConfig, ctx: zmq.Context
) -> None:
    """The class the garbage fuzz discards: byte flips that leave a decodable message
    (a new seq, a time, a name, a size). Before, ~1,600 of them ended a node."""
    rng = np.random.default_rng(3)
    good = [
        bytes(memoryview(f).cast("B"))
        for f in encode("attacker", "apply", 0, {"u": np.ones((4, 1))}, topic="esn/in")
    ]
    valid = []
    while len(valid) < 3000:
        h = bytearray(good[1])
        for _ in range(int(rng.integers(1, 3))):
            h[int(rng.integers(len(h)))] = int(rng.integers(256))
        parts = [good[0], bytes(h), good[2]]
        if not _is_garbage(parts):
            valid.append(parts)
    cfg = bus_cfg.model_copy(update={"sndhwm": 0, "rcvhwm": 0})
    with Broker(cfg, ctx):
        node = DeviceNode(ESN("esn", n_units=8), cfg, ctx).start()
        raw = _raw_pub(ctx, cfg)
        try:
            for parts in valid:
                raw.send_multipart(parts)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                st = node.node.sub.seq.streams
                if sum(v.received for v in st.values()) >= len(valid):
                    break
                time.sleep(0.05)
            row = _esn_row(cfg, ctx, after=cfg.heartbeat_s * 3)
            assert row["alive"] and node._thread is not None and node._thread.is_alive()
            assert sum(row["received"].values()) == len(valid)  # tracked + "(other streams)"
            esn = RemoteDevice("esn", cfg=cfg, ctx=ctx).connect()
            esn.apply({"u": np.ones((2, 1))})
            assert esn.read()["state"].data.shape == (2, 8)
            esn.disconnect()
        finally:
            raw.close()
            node.stop()


def test_the_recorder_survives_a_message_with_a_negative_host_time(
    bus_cfg: BusConfig, ctx: zmq.Context, tmp_path
) -> None:
    """Before: it decoded, the MCAP writer refused its negative publish time, and the
    recorder died (the file kept 48 of 221 good messages)."""
    import struct

    from physres.bus import Publisher
    from physres.bus.record import Recorder, read_recording

    cfg = bus_cfg.model_copy(update={"sndhwm": 0, "rcvhwm": 0})
    with Broker(cfg, ctx):
        rec = Recorder(tmp_path / "r.mcap", ["x/"], cfg, ctx, flush_s=0.05).start()
        pub = Publisher(ctx, cfg, "x")
        raw = _raw_pub(ctx, cfg)
        try:
            for i in range(221):
                if i == 48:
                    frames = [bytes(memoryview(f).cast("B")) for f in encode("x", "s", 0, {})]
                    h = bytearray(frames[1])
                    struct.pack_into(">q", h, len(h) - 8, -1)  # th, the last int64
                    raw.send_multipart([frames[0], bytes(h)])
                    time.sleep(0.05)  # lands between the good ones
                pub.publish("s", {"v": np.full(3, i)})
            time.sleep(0.5)
        finally:
            pub.close()
            raw.close()
            rec.stop()
    assert rec.stats["garbage"] == {"range": 1}
    info, msgs = read_recording(tmp_path / "r.mcap")
    assert [int(m.data[0]) for _, m in msgs] == list(range(221))
    assert info.end_reason == "stopped" and not info.truncated


def test_a_huge_source_name_cannot_hide_a_node_from_ls(
    bus_cfg: BusConfig, ctx: zmq.Context
) -> None:
    """Its stream key would make the node's heartbeat too big for the broker to accept."""
    cfg = bus_cfg.model_copy(update={"sndhwm": 0, "rcvhwm": 0})
    with Broker(cfg, ctx) as b:
        node = DeviceNode(ESN("esn", n_units=4), cfg, ctx).start()
        raw = _raw_pub(ctx, cfg)
        try:
            for i in range(3):
                src = f"{i}" + "s" * 400_000
                raw.send_multipart(encode(src, "apply", 0, {"u": np.ones((1, 1))}, topic="esn/in"))
            row = _esn_row(cfg, ctx, after=cfg.heartbeat_s * 4)
            assert row["alive"] and row["received"]["(other streams)"] == 3
            assert b.refused == 0
        finally:
            raw.close()
            node.stop()
