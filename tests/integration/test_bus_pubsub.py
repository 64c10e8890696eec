"""Streams through the broker: delivery, sequence gaps from slow consumers, HWM, liveness."""

from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pytest
import zmq
from ports import free_ports

from physres.bus import Broker, BusConfig, CommandClient, Node, Publisher, Subscriber


def wait_joined(pub: Publisher, sub: Subscriber, stream: str = "_join") -> None:
    """Publish probes until the subscriber sees one: the PUB/SUB slow-joiner handshake."""
    for _ in range(200):
        pub.publish(stream)
        if (m := sub.recv(0.02)) is not None and m.stream == stream:
            sub.drain()
            return
    raise AssertionError("subscriber never joined")


def test_frames_arrive_intact_with_seq_and_times(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context
) -> None:
    pub = Publisher(ctx, bus_cfg, "cam")
    sub = Subscriber(ctx, bus_cfg, ["cam/frame", "cam/_join"])
    wait_joined(pub, sub)
    frames = [np.full((480, 640, 3), i, np.uint8) for i in range(5)]
    for i, f in enumerate(frames):
        pub.publish("frame", {"frame": f}, t_dev=i * 40_000_000, units={"frame": "DN"})
    got = [sub.recv(2.0) for _ in frames]
    assert [m.seq for m in got] == [0, 1, 2, 3, 4]
    assert [m.t_dev for m in got] == [i * 40_000_000 for i in range(5)]
    assert all(np.array_equal(m.data, f) for m, f in zip(got, frames))
    assert got[0].units == {"frame": "DN"} and got[0].t_host > 0
    pub.close()
    sub.close()


def test_late_subscriber_counts_nothing_missed_before_it_joined(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    pub = Publisher(ctx, bus_cfg, "esn")
    early = Subscriber(ctx, bus_cfg, ["esn/"])
    closer += [pub, early]
    wait_joined(pub, early)
    for i in range(100):
        pub.publish("state", {"x": np.array([i])})
    assert len([m for m in iter(lambda: early.recv(0.3), None) if m.stream == "state"]) == 100
    late = Subscriber(ctx, bus_cfg, ["esn/"])
    closer.append(late)
    wait_joined(pub, late)
    for i in range(100, 110):
        pub.publish("state", {"x": np.array([i])})
    seen = [m for m in iter(lambda: late.recv(0.3), None) if m.stream == "state"]
    assert [int(m.data[0]) for m in seen] == list(range(100, 110))
    assert late.seq.streams["esn/state"].first_seq == 100  # the baseline is the first message seen
    assert late.seq.dropped == 0


def test_slow_subscriber_gaps_are_counted_not_hidden(
    bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    cfg = bus_cfg.model_copy(update={"sndhwm": 50, "rcvhwm": 50})
    with Broker(cfg, ctx):
        pub = Publisher(ctx, cfg, "fast")
        slow = Subscriber(ctx, cfg, ["fast/"])
        closer += [pub, slow]
        wait_joined(pub, slow)
        n = 20_000
        for i in range(n):
            pub.publish("x", {"i": np.array([i], np.int64)})
        time.sleep(0.5)  # the consumer falls behind; queues overflow at the HWM
        got = []
        while (m := slow.recv(0.3)) is not None:
            if m.stream == "x":
                got.append(int(m.arrays["i"][0]))
        st = slow.seq.streams["fast/x"]
        assert len(got) < n, "HWM of 50 should have dropped something"
        assert st.dropped > 0
        # every message is either received or counted as dropped (after the first one seen)
        assert st.received + st.dropped == st.last_seq - st.first_seq + 1
        assert got == sorted(got)


def _ls_until(client: CommandClient, node: Node | None, want, timeout_s: float = 3.0) -> list:
    deadline = time.monotonic() + timeout_s
    rows: list = []
    while time.monotonic() < deadline:
        if node is not None:
            node.spin_once(0.02)
        else:
            time.sleep(0.02)
        rows = client.call("_broker", "ls")
        if want(rows):
            break
    return rows


def test_liveness_lists_a_closed_node_as_closed_then_expires_it(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context
) -> None:
    node = Node("camera", bus_cfg, ctx, kind="drivers.camera")
    node.declare_stream("frame", dtype="|u1", shape=[480, 640], rate_hz=25.0, units="DN")
    client = CommandClient(ctx, bus_cfg)
    rows = _ls_until(client, node, bool)
    assert rows[0]["name"] == "camera" and rows[0]["alive"] and rows[0]["state"] == "alive"
    assert rows[0]["streams"]["frame"]["rate_hz"] == 25.0
    node.close()  # says goodbye: listed as closed, no longer alive
    rows = _ls_until(client, None, lambda r: r and r[0]["state"] == "closed", 1.0)
    assert rows[0]["name"] == "camera" and not rows[0]["alive"]
    time.sleep(bus_cfg.heartbeat_s * (bus_cfg.heartbeat_misses + 2))
    assert client.call("_broker", "ls") == []  # expired: dead nodes are not listed forever
    client.close()


def test_a_silent_node_is_no_longer_listed_after_its_missed_heartbeats(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context
) -> None:
    node = Node("camera", bus_cfg, ctx)
    client = CommandClient(ctx, bus_cfg)
    assert _ls_until(client, node, bool)[0]["alive"]
    # the node stops spinning (hung, or killed without a goodbye)
    time.sleep(bus_cfg.heartbeat_s * (bus_cfg.heartbeat_misses + 2))
    assert client.call("_broker", "ls") == []
    node.spin_once(0.02)  # it comes back: listed again under the same connection
    assert _ls_until(client, node, bool)[0]["alive"]
    node.close()
    client.close()


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_both_transports_work_and_tcp_binds_loopback(
    transport: str, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    cfg = bus_cfg.model_copy(update={"transport": transport, "port": free_ports()})
    if transport == "tcp":
        assert cfg.endpoints.pub.startswith("tcp://127.0.0.1:")
    with Broker(cfg, ctx):
        pub = Publisher(ctx, cfg, "a")
        sub = Subscriber(ctx, cfg, ["a/"])
        closer += [pub, sub]
        wait_joined(pub, sub)
        pub.publish("x", {"v": np.arange(3)})
        assert np.array_equal(sub.recv(2.0).data, np.arange(3))


@pytest.mark.parametrize(
    ("bind_host", "advertised"), [("127.0.0.2", "127.0.0.2"), ("0.0.0.0", "127.0.0.1")]
)
def test_nodes_on_another_interface_are_reached_where_they_bind(
    bind_host: str, advertised: str, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    """Across machines a node's own sockets bind where ``bind_host`` says (not the broker's
    address, which is not this machine's) and are advertised at an address peers can reach.
    127.0.0.2 stands in for a second machine's interface; a wildcard bind is advertised as
    the interface that routes to the broker."""
    port = free_ports()
    # binding every interface exposes plain TCP beyond loopback: allowed here, and it warns
    wild = bind_host == "0.0.0.0"
    cfg = bus_cfg.model_copy(
        update={"transport": "tcp", "port": port, "bind_host": bind_host, "allow_plain_tcp": wild}
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore" if wild else "error", "bus .* PLAIN TCP", UserWarning)
        with Broker(cfg, ctx):
            node = Node("cam", cfg, ctx)
            node.command("gain", lambda: 2.5)
            closer.append(node)
            assert node.pub.direct_endpoint.startswith(f"tcp://{advertised}:")
            assert node.cmd_endpoint.startswith(f"tcp://{advertised}:")
            stop = threading.Event()

            def spin() -> None:
                while not stop.is_set():
                    node.spin_once(0.02)

            spinner = threading.Thread(target=spin)
            spinner.start()
            try:
                client = CommandClient(ctx, cfg)
                closer.append(client)
                assert client.call("cam", "gain", timeout_s=2) == 2.5
                assert client._direct["cam"].last_endpoint.decode() == node.cmd_endpoint
            finally:
                stop.set()
                spinner.join()


def test_recv_waits_no_longer_than_asked_even_while_garbage_arrives(
    bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    """The timeout bounds the whole call: skipped garbage does not restart the clock."""
    pub = Publisher(ctx, bus_cfg, "noisy", bind=bus_cfg.node_endpoint("noisy", "pub"))
    sub = Subscriber(ctx, bus_cfg, ["noisy/"], endpoint=pub.direct_endpoint)
    closer += [pub, sub]
    wait_joined(pub, sub)
    assert sub.recv(0.0) is None  # nothing queued: returns at once

    stop = threading.Event()

    def spray() -> None:  # garbage every 5 ms for as long as the test waits
        while not stop.wait(0.005):
            pub.send_raw([b"noisy/x", b"\xc1 not a header"])

    sprayer = threading.Thread(target=spray)
    sprayer.start()
    try:
        t0 = time.monotonic()
        got = sub.recv(0.3)
        waited = time.monotonic() - t0
    finally:
        stop.set()
        sprayer.join()
    assert got is None and 0.25 < waited < 1.0  # a restarted clock would never return
    assert sub.garbage.counts["header"] > 0
    pub.publish("x", {"v": np.arange(3)})
    assert sub.recv(1.0).data.tolist() == [0, 1, 2]  # still delivers the good ones


def test_receive_buffers_are_kept_mapped_on_glibc() -> None:
    """Frames reuse freed buffers instead of page-faulting new ones (physres.bus.memory)."""
    import platform
    import subprocess
    import sys

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc tuning applies to glibc only")
    code = "from physres.bus.memory import keep_large_buffers as k; print(k(), k())"
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert on.stdout.split() == ["True", "True"]
    env = {"PHYSRES_TUNE_MALLOC": "0", "PATH": ""}
    off = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert off.stdout.split() == ["False", "False"]


def test_messages_lost_at_the_end_of_a_stream_are_counted(
    bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    """Before: a stalled subscriber lost 452 of 1,452 messages and reported none,
    because nothing after the loss showed a gap."""
    cfg = bus_cfg.model_copy(update={"sndhwm": 50, "rcvhwm": 50, "heartbeat_s": 0.5})
    with Broker(cfg, ctx):
        sub = Subscriber(ctx, cfg, ["cam/"])
        closer.append(sub)
        node = Node("cam", cfg, ctx)
        time.sleep(0.3)  # the subscription reaches the publisher
        for i in range(1452):
            node.pub.publish("frame", {"x": np.full(4096, i % 256, np.uint8)})
        node.close()  # the goodbye says: last seq 1451
        time.sleep(0.2)
        got = [m.seq for m in sub.drain()]
        st = sub.seq.streams["cam/frame"]
        assert 0 < len(got) < 1452 and st.dropped == (got[-1] - got[0] + 1) - len(got)
        found = sub.reconcile()
        assert found == 1451 - got[-1] > 0
        assert st.tail_lost == found and st.last_seq == 1451
        assert st.received + st.dropped == 1452 - got[0]  # every message is accounted for
        assert sub.reconcile() == 0  # nothing is counted twice


def test_reconcile_ignores_live_publishers_and_foreign_rows(
    bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    sub = Subscriber(ctx, bus_cfg, ["cam/"])
    closer.append(sub)
    sub.seq.see("cam/frame", 3)
    sub.seq.see("esn/in (drv/apply)", 7)
    rows = [
        {"name": "cam", "state": "alive", "last_seq": {"cam/frame": 10}},  # in flight
        {"name": "drv", "state": "closed", "last_seq": {"esn/in (drv/apply)": 9}},
        {"name": "x", "state": "closed", "last_seq": "junk"},
        "junk",
    ]
    assert sub.reconcile(rows) == 2
    assert sub.seq.streams["cam/frame"].dropped == 0
    assert sub.seq.streams["esn/in (drv/apply)"].tail_lost == 2
