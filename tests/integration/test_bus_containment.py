"""Any exception in a node's or the broker's loop is contained, counted, logged once."""

from __future__ import annotations

import logging

import numpy as np
import zmq

from physres.bus import Broker, BusConfig, CommandClient, Node, Publisher


def test_the_broker_contains_an_exception_and_keeps_routing(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, monkeypatch, caplog, closer: list
) -> None:
    calls = {"n": 0}
    real = broker.nodes.claim

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] <= 3:
            raise RuntimeError("a bug in the table")
        return real(*a, **kw)

    monkeypatch.setattr(broker.nodes, "claim", flaky)
    client = CommandClient(ctx, bus_cfg)
    closer.append(client)
    with caplog.at_level(logging.ERROR, logger="physres.bus.guard"):
        node = Node("n", bus_cfg, ctx, register_timeout_s=0.3)  # its claims hit the bug
        for _ in range(3):
            node.heartbeat()
        node.spin_once(0.1)
        ping = client.call("_broker", "ping")
    assert ping["errors"] == {"RuntimeError": 3}  # counted
    assert len([r for r in caplog.records if "contained" in r.getMessage()]) == 1  # said once
    node.heartbeat()  # the router still runs: the next claim goes through
    node.spin_once(0.1)
    assert [r["name"] for r in client.call("_broker", "ls")] == ["n"]
    node.close()


def test_a_node_contains_an_exception_while_handling_a_message(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, monkeypatch, closer: list
) -> None:
    import time

    node = Node("sink", bus_cfg, ctx, subscribe=["src/"])
    pub = Publisher(ctx, bus_cfg, "src")
    closer.extend([pub])
    time.sleep(0.3)
    real = node.sub.handle
    monkeypatch.setattr(
        node.sub,
        "handle",
        lambda f: (_ for _ in ()).throw(KeyError("x")) if b"boom" in f[0] else real(f),
    )
    pub.publish("boom", {"x": np.zeros(1)})
    pub.publish("ok", {"x": np.ones(1)})
    got = []
    deadline = time.monotonic() + 3
    while not got and time.monotonic() < deadline:
        got = node.spin_once(0.05)
    assert [m.stream for m in got] == ["ok"]  # the message after the bad one still arrives
    assert node.errors.counts == {"KeyError": 1}
    assert node.info()["errors"] == {"KeyError": 1}
    node.close()


def test_a_stream_spec_that_cannot_be_packed_does_not_stop_heartbeats(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    node = Node("odd", bus_cfg, ctx)
    node.declare_stream("s", rate_hz=object())  # not msgpack-able
    assert node.errors.counts == {"TypeError": 1}
    client = CommandClient(ctx, bus_cfg)
    closer.append(client)
    node.spin_once(0.05)
    rows = client.call("_broker", "ls")
    assert [r["name"] for r in rows] == ["odd"] and rows[0]["alive"]  # still listed
    node.close()


def test_closing_a_node_twice_is_harmless(broker: Broker, bus_cfg: BusConfig, ctx) -> None:
    node = Node("twice", bus_cfg, ctx)
    node.close()
    node.close()
