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
    assert set(garbage.counts) == {"parts", "header", "size", "version"}
    # logged once per kind, not 10,000 times
    warnings = [r for r in caplog.records if "malformed" in r.getMessage() and r.args[0] == "esn"]
    assert len(warnings) == len(garbage.counts)
    esn.reset(seed=0)
    esn.apply({"u": np.ones((3, 1))})
    np.testing.assert_array_equal(esn.read()["state"].data, before)
    raw.close()
    esn.disconnect()
