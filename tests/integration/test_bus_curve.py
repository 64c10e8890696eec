"""An encrypted bus (ZeroMQ CURVE): only listed keys publish, subscribe or command, and
what crosses the wire is not plain text. Loopback TCP; the netns tests run across hosts."""

from __future__ import annotations

import selectors
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zmq
import zmq.auth
from ports import free_ports

from physres.bus import Broker, BusConfig, CommandClient, Node, Publisher, Subscriber
from physres.bus.keys import allow_key, new_keys, revoke_key
from physres.bus.listing import ls_cells
from physres.bus.sockets import apply_security, bus_socket
from physres.errors import AuthError, BusError, CommandTimeout

MARKER = b"PLAINTEXT-MARKER-0123456789"


class Keys:
    def __init__(self, root: Path) -> None:
        self.dir, self.allowed = root / "keys", root / "allowed"
        for name in ("broker", "alice", "bob", "carol"):
            new_keys(self.dir, name)
        for listed in ("alice", "carol"):  # bob is never listed
            allow_key(self.dir / f"{listed}.key", self.allowed)
        self.base = {
            "name": f"c{uuid.uuid4().hex[:8]}",
            "transport": "tcp",
            "port": free_ports(),
            "heartbeat_s": 0.1,
            "command_timeout_s": 1.0,
        }

    def cfg(self, who: str, **kw: object) -> BusConfig:
        extra = (
            {"curve_allowed": str(self.allowed)}
            if who == "broker"
            else {"curve_broker": str(self.dir / "broker.key")}
        )
        return BusConfig(
            **self.base, curve_secret=str(self.dir / f"{who}.key_secret"), **extra, **kw
        )


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path)


@pytest.fixture
def curve_broker(keys: Keys, ctx: zmq.Context) -> Iterator[Broker]:
    b = Broker(keys.cfg("broker"), ctx).start()
    yield b
    b.stop()


def joined(pub: Publisher, sub: Subscriber, tries: int = 150) -> bool:
    for _ in range(tries):
        pub.publish("_join")
        if (m := sub.recv(0.02)) is not None and m.stream == "_join":
            sub.drain()
            return True
    return False


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "via-broker"])
def test_listed_key_streams_and_commands(
    direct: bool, curve_broker: Broker, keys: Keys, ctx: zmq.Context, closer: list
) -> None:
    cfg = keys.cfg("alice", direct=direct)
    node = Node("dev", cfg, ctx, register_timeout_s=3.0)
    node.command("gain", lambda: 2.5)
    sub = Subscriber(ctx, cfg, ["dev/"])
    client = CommandClient(ctx, cfg)
    closer += [node, sub, client]
    assert node.registered
    assert joined(node.pub, sub)
    t = threading.Thread(target=lambda: [node.spin_once(0.02) for _ in range(50)])
    t.start()
    assert client.call("dev", "gain", timeout_s=2.0) == 2.5
    t.join()
    assert ("dev" in client._direct) is direct  # the node's own ROUTER answered, encrypted
    assert client.call("_broker", "ping")["curve"] is True


def test_unlisted_key_cannot_subscribe(
    curve_broker: Broker, keys: Keys, ctx: zmq.Context, closer: list
) -> None:
    pub = Publisher(ctx, keys.cfg("alice"), "dev")
    good = Subscriber(ctx, keys.cfg("alice"), ["dev/"])
    bad = Subscriber(ctx, keys.cfg("bob"), ["dev/"])
    closer += [pub, good, bad]
    assert joined(pub, good)  # the listed subscriber receives ...
    for _ in range(20):
        pub.publish("x", {"v": np.arange(3)})
    assert good.recv(1.0) is not None
    assert bad.recv(0.3) is None  # ... the unlisted one nothing at all
    assert curve_broker.keys is not None and curve_broker.keys.refused > 0


def test_unlisted_key_cannot_publish(
    curve_broker: Broker, keys: Keys, ctx: zmq.Context, closer: list
) -> None:
    good_pub = Publisher(ctx, keys.cfg("alice"), "dev")
    bad_pub = Publisher(ctx, keys.cfg("bob"), "dev")
    sub = Subscriber(ctx, keys.cfg("alice"), ["dev/"])
    closer += [good_pub, bad_pub, sub]
    assert joined(good_pub, sub)  # the path works for a listed publisher
    for _ in range(50):
        bad_pub.publish("forged", {"v": np.arange(3)})
    got = []
    while (m := sub.recv(0.3)) is not None:
        got.append(m.stream)
    assert "forged" not in got


def test_unlisted_key_cannot_command(
    curve_broker: Broker, keys: Keys, ctx: zmq.Context, closer: list
) -> None:
    node = Node("dev", keys.cfg("alice"), ctx)
    node.command("move", lambda: "moved")
    bad = CommandClient(ctx, keys.cfg("bob"))
    closer += [node, bad]
    stop = threading.Event()
    t = threading.Thread(target=lambda: [node.spin_once(0.02) for _ in iter(stop.is_set, True)])
    t.start()
    try:
        with pytest.raises(CommandTimeout):
            bad.call("dev", "move", timeout_s=0.5)
        with pytest.raises(CommandTimeout):
            bad.call("_broker", "ls", timeout_s=0.3)
    finally:
        stop.set()
        t.join()
    # an unlisted node cannot even register its name, and is told why in one line
    with pytest.raises(AuthError, match="refused node 'dev2'"):
        Node("dev2", keys.cfg("bob"), ctx, register_timeout_s=3.0)
    good = CommandClient(ctx, keys.cfg("alice"))
    closer.append(good)
    assert "dev2" not in [r["name"] for r in good.call("_broker", "ls")]


def test_revoked_key_is_cut_off_at_its_next_connection(
    keys: Keys, ctx: zmq.Context, closer: list
) -> None:
    with Broker(keys.cfg("broker"), ctx):
        client = CommandClient(ctx, keys.cfg("alice"))
        closer.append(client)
        assert client.ping_broker(1.0)
        revoke_key("alice", keys.allowed)
        again = CommandClient(ctx, keys.cfg("alice"))  # a new connection: refused
        closer.append(again)
        assert not again.ping_broker(0.5)


class Relay:
    """A TCP relay on loopback that keeps every byte it passes on: the wire's view."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.seen = bytearray()
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.lsock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                a, _ = self.lsock.accept()
                break
            except TimeoutError:
                continue
        else:
            return
        b = socket.create_connection(("127.0.0.1", self.target))
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        with a, b:
            while not self._stop.is_set():
                for key, _ in sel.select(0.05):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    self.seen += data  # both directions: what a tap on the wire sees
                    key.data.sendall(data)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.lsock.close()


@pytest.mark.parametrize("curve", [True, False], ids=["curve", "plain-control"])
def test_traffic_on_the_wire_is_not_plain_text(
    curve: bool, keys: Keys, ctx: zmq.Context, closer: list
) -> None:
    if curve:
        bcfg, ccfg = keys.cfg("broker"), keys.cfg("alice")
    else:
        bcfg = ccfg = BusConfig(**keys.base)
    with Broker(bcfg, ctx):
        relay = Relay(bcfg.port)  # the publisher's connection to the broker's pub port
        pub = Publisher(ctx, ccfg, "dev", endpoint=f"tcp://127.0.0.1:{relay.port}")
        sub = Subscriber(ctx, ccfg, ["dev/"])
        closer += [relay, pub, sub]
        assert joined(pub, sub)
        payload = np.frombuffer(MARKER * 4, np.uint8)
        pub.publish("secret", {"v": payload})
        while (m := sub.recv(1.0)) is not None and m.stream != "secret":
            pass
        assert m is not None and m.data.tobytes() == MARKER * 4  # it went through the relay
    assert (MARKER in relay.seen) is not curve


class DirectRig:
    """A node in a context (a process) of its own, so its own sockets answer through its
    own key check, fed by the broker's list; and a spinning thread serving its commands."""

    def __init__(self, keys: Keys, closer: list) -> None:
        self.ctx = zmq.Context()
        self.node = Node("cam", keys.cfg("alice"), self.ctx, register_timeout_s=3.0)
        self.node.command("move", lambda: "moved")
        assert self.node.cfg.direct and self.node.keys is not None
        assert self.node.keys.granted, "the broker's key list arrived at start"
        self._stop = threading.Event()
        self.thread = threading.Thread(
            target=lambda: [self.node.spin_once(0.02) for _ in iter(self._stop.is_set, True)]
        )
        self.thread.start()
        closer.append(self)

    @property
    def key(self) -> bytes:
        return self.node.info()["curve_key"].encode()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.node.close()
        self.ctx.destroy(linger=0)


def test_a_node_s_own_sockets_accept_only_the_broker_s_keys(
    curve_broker: Broker, keys: Keys, ctx: zmq.Context, closer: list
) -> None:
    """Direct streams and commands skip the broker hop, not its key check: an unlisted key
    gets nothing from the node's own PUB and no answer from its own ROUTER."""
    rig = DirectRig(keys, closer)
    good = Subscriber.direct(ctx, keys.cfg("carol"), "cam", ["cam/"])
    closer.append(good)
    assert good.sock.last_endpoint.decode() == rig.node.pub.direct_endpoint
    bad = Subscriber(
        ctx, keys.cfg("bob"), ["cam/"], endpoint=rig.node.pub.direct_endpoint, server_key=rig.key
    )
    closer.append(bad)
    assert joined(rig.node.pub, good)
    for _ in range(20):
        rig.node.pub.publish("x", {"v": np.arange(3)})
    assert good.recv(1.0) is not None
    assert bad.recv(0.3) is None
    assert rig.node.keys is not None and rig.node.keys.refused > 0
    client = CommandClient(ctx, keys.cfg("carol"))
    closer.append(client)
    assert client.call("cam", "move", timeout_s=2.0) == "moved" and "cam" in client._direct
    intruder = bus_socket(ctx, keys.cfg("bob"), zmq.DEALER, "client", server_key=rig.key)
    closer.append(intruder)
    intruder.connect(rig.node.cmd_endpoint)
    intruder.send_multipart([b"x", b"REQ", b"1", b"junk"])  # queued, never delivered
    assert not intruder.poll(500)


def test_a_key_revoked_at_the_broker_is_refused_by_node_sockets_after_a_heartbeat(
    curve_broker: Broker, keys: Keys, ctx: zmq.Context, closer: list
) -> None:
    rig = DirectRig(keys, closer)
    before = Subscriber.direct(ctx, keys.cfg("carol"), "cam", ["cam/"])
    closer.append(before)
    assert joined(rig.node.pub, before)
    revoke_key("carol", keys.allowed)
    deadline = time.monotonic() + 5  # the node asks the broker's list with every heartbeat
    while _carol(keys) in rig.node.keys.granted and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.05)
    assert _carol(keys) not in rig.node.keys.granted  # type: ignore[union-attr]
    after = Subscriber(
        ctx, keys.cfg("carol"), ["cam/"], endpoint=rig.node.pub.direct_endpoint, server_key=rig.key
    )  # a new connection: refused
    closer.append(after)
    for _ in range(20):
        rig.node.pub.publish("x", {"v": np.arange(3)})
    assert after.recv(0.5) is None


@pytest.mark.parametrize("routing_id", [None, b"_broker"], ids=["as-itself", "posing-as-broker"])
def test_a_listed_peer_cannot_forge_the_broker_s_key_list_or_clock(
    routing_id: bytes | None, curve_broker: Broker, keys: Keys, ctx: zmq.Context, closer: list
) -> None:
    """A node takes its key list and clock only from the broker: a listed peer that
    addresses a forged answer to it through the broker (even under the broker's name)
    grants no key and moves no clock."""
    from physres.bus.codec import encode

    rig = DirectRig(keys, closer)
    bob = zmq.auth.load_certificate(keys.dir / "bob.key")[0]
    forger = bus_socket(ctx, keys.cfg("carol"), zmq.DEALER, "client")
    closer.append(forger)
    if routing_id is not None:
        forger.setsockopt(zmq.ROUTING_ID, routing_id)
    forger.connect(keys.cfg("carol").endpoints.cmd)
    offset = rig.node.clock_offset_ns
    granted_bob = 0  # sampled after every forgery: a real list may overwrite a forged one later
    for _ in range(20):
        keys_list = encode("x", "keys", 0, meta={"result": [bob.decode()]})
        forger.send_multipart([b"cam", b"REP", b"_keys", *keys_list])
        for n in range(1, 9):
            fake = encode("x", "time", 0, meta={"result": time.time_ns() + 10**12})
            forger.send_multipart([b"cam", b"REP", f"_tick{n}".encode(), *fake])
        time.sleep(0.05)
        granted_bob += bob in rig.node.keys.granted  # type: ignore[union-attr]
    assert granted_bob == 0
    assert abs(rig.node.clock_offset_ns - offset) < 50_000_000  # no 1000 s jump
    intruder = Subscriber(
        ctx, keys.cfg("bob"), ["cam/"], endpoint=rig.node.pub.direct_endpoint, server_key=rig.key
    )
    closer.append(intruder)
    for _ in range(20):
        rig.node.pub.publish("x", {"v": np.arange(3)})
    assert intruder.recv(0.3) is None


def _carol(keys: Keys) -> bytes:
    return zmq.auth.load_certificate(keys.dir / "carol.key")[0]


@pytest.mark.parametrize("curve", [True, False], ids=["curve", "plain-control"])
def test_direct_traffic_on_the_wire_is_not_plain_text(
    curve: bool, keys: Keys, ctx: zmq.Context, closer: list
) -> None:
    """A subscriber on a node's own PUB, through a tap: ciphertext only (plain: the marker)."""
    with Broker(keys.cfg("broker") if curve else BusConfig(**keys.base), ctx):
        node_ctx = zmq.Context()
        node = Node("cam", keys.cfg("alice") if curve else BusConfig(**keys.base), node_ctx)
        port = int(node.pub.direct_endpoint.rsplit(":", 1)[1])
        relay = Relay(port)  # the subscriber's connection to the node's own PUB
        key = node.info()["curve_key"].encode() if curve else None
        cfg = keys.cfg("carol") if curve else BusConfig(**keys.base)
        sub = Subscriber(
            ctx, cfg, ["cam/"], endpoint=f"tcp://127.0.0.1:{relay.port}", server_key=key
        )
        try:
            assert joined(node.pub, sub)
            node.pub.publish("secret", {"v": np.frombuffer(MARKER * 4, np.uint8)})
            while (m := sub.recv(1.0)) is not None and m.stream != "secret":
                pass
            assert m is not None and m.data.tobytes() == MARKER * 4  # it went through the tap
        finally:
            for c in (sub, relay, node):
                c.close()
            node_ctx.destroy(linger=0)
    assert (MARKER in relay.seen) is not curve


def test_plain_tcp_beyond_loopback_is_refused_or_warns(ctx: zmq.Context) -> None:
    base = {"transport": "tcp", "host": "192.0.2.7"}
    sock = ctx.socket(zmq.PUB)
    try:
        with pytest.raises(BusError, match="plain TCP"):
            apply_security(sock, BusConfig(**base), "client")
        with pytest.warns(UserWarning, match="PLAIN TCP"):
            apply_security(sock, BusConfig(**base, allow_plain_tcp=True), "client")
        apply_security(sock, BusConfig(transport="tcp"), "client")  # loopback: fine, quiet
    finally:
        sock.close(linger=0)


def test_curve_config_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="need curve_secret"):
        BusConfig(curve_broker="x.key")
    new_keys(tmp_path, "me")
    with pytest.raises(BusError, match="already exist"):
        new_keys(tmp_path, "me")
    with pytest.raises(BusError, match="needs a folder"):
        Broker(BusConfig(curve_secret=str(tmp_path / "me.key_secret"))).start()


def test_clock_offset_of_seconds_is_aligned_within_a_millisecond(
    curve_broker: Broker, keys: Keys, ctx: zmq.Context, closer: list
) -> None:
    """A node whose host clock is 5 s ahead measures that against the broker (NTP-style,
    on the command channel); its stream headers then carry host times on the broker's
    clock, and ``physres ls`` shows the offset and the round trip."""
    skew = 5_000_000_000
    cfg = keys.cfg("alice")
    node = Node("dev", cfg, ctx, clock=lambda: time.time_ns() + skew)
    sub = Subscriber(ctx, cfg, ["dev/"])
    client = CommandClient(ctx, cfg)
    closer += [node, sub, client]
    assert node.clock_rtt_ns is not None
    assert abs(node.clock_offset_ns + skew) < 1_000_000
    assert joined(node.pub, sub)
    before = time.time_ns()  # this process's clock is the broker's (one machine)
    node.pub.publish("x")
    m = sub.recv(1.0)
    assert m is not None and before - 1_000_000 < m.t_host < time.time_ns() + 1_000_000
    node.heartbeat()
    row = next(r for r in client.call("_broker", "ls") if r["name"] == "dev")
    assert abs(row["clock_offset_ms"] + 5000) < 1 and 0 < row["clock_rtt_ms"] < 1000
    offset_ms, rtt_ms = (float(x) for x in ls_cells(row)[-1].split("/"))
    assert abs(offset_ms + 5000) < 1 and rtt_ms > 0


def test_the_offset_follows_a_broker_restarted_with_another_clock(
    keys: Keys, ctx: zmq.Context, closer: list
) -> None:
    """Every heartbeat carries one clock exchange, so a node follows drift and a broker
    restarted elsewhere (here: a clock 2 s ahead) without being restarted itself."""
    skew = 5_000_000_000
    node_ctx = zmq.Context()
    with Broker(keys.cfg("broker"), ctx):
        node = Node("dev", keys.cfg("alice"), node_ctx, clock=lambda: time.time_ns() + skew)
        assert abs(node.clock_offset_ns + skew) < 1_000_000
    ahead = 2_000_000_000
    try:
        with Broker(keys.cfg("broker"), ctx, clock=lambda: time.time_ns() + ahead):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                node.spin_once(0.05)
                if abs(node.clock_offset_ns - (ahead - skew)) < 1_000_000:
                    break
            assert abs(node.clock_offset_ns - (ahead - skew)) < 1_000_000, node.clock_offset_ns
            assert node.clock_rtt_ns is not None and 0 < node.clock_rtt_ns < 1_000_000_000
    finally:
        node.close()
        node_ctx.destroy(linger=0)


def test_a_broker_restarted_at_once_in_the_same_process_gets_its_key_check(
    keys: Keys,
) -> None:
    """The ZAP handler's socket closes asynchronously: restarting a CURVE broker in the
    same context used to fail now and then with EADDRINUSE on inproc://zeromq.zap.01
    (it failed on the second start in a tight loop here)."""
    ctx = zmq.Context()
    try:
        for k in range(20):
            with Broker(keys.cfg("broker"), ctx) as broker:
                assert broker.keys is not None and broker.keys.auth.is_alive(), k
    finally:
        ctx.term()


def test_keys_and_serve_commands_fail_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from physres.cli import main

    for var in ("PHYSRES_BUS", "PHYSRES_BUS_KEY", "PHYSRES_BUS_BROKER_KEY", "PHYSRES_BUS_ALLOWED"):
        monkeypatch.delenv(var, raising=False)
    assert main(["keys", "new", "hostA", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "hostA.key").is_file() and (tmp_path / "hostA.key_secret").is_file()
    capsys.readouterr()
    assert main(["keys", "new", "hostA", "--dir", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip()
    assert "already exist" in err and len(err.splitlines()) == 1
    cfg = tmp_path / "one.yaml"
    cfg.write_text("name: one\ndevices:\n  esn:\n    kind: sim.esn\n")
    assert main(["serve", str(cfg)]) != 0  # an ipc bus: nothing on another machine to join
    err = capsys.readouterr().err.strip()
    assert "PHYSRES_BUS=HOST:PORT" in err and len(err.splitlines()) == 1
    monkeypatch.setenv("PHYSRES_BUS", "no-port")
    assert main(["serve", str(cfg)]) != 0
    assert "expected HOST:PORT" in capsys.readouterr().err
