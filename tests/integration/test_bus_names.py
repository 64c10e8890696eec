"""Names on the bus: bound to the connection that claimed them, heartbeats checked.

Every test here plays a hostile or careless peer with a raw DEALER on the
broker's command socket, the way anything on the machine can.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import msgpack
import pytest
import zmq
from test_bus_commands import Spinner, make_motor_node  # tests/integration is on sys.path

from physres.bus import Broker, BusConfig, CommandClient, Node
from physres.bus.broker import BROKER, HB
from physres.bus.codec import decode
from physres.errors import NameTaken


def raw_dealer(ctx: zmq.Context, cfg: BusConfig, rid: bytes) -> zmq.Socket:
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.ROUTING_ID, rid)
    s.connect(cfg.endpoints.cmd)
    return s


def heartbeat(sock: zmq.Socket, name: str, info: dict | bytes) -> None:
    payload = info if isinstance(info, bytes) else msgpack.packb(info)
    sock.send_multipart([BROKER, HB, name.encode(), payload])


def replies(sock: zmq.Socket, wait_s: float = 0.5) -> list[list[bytes]]:
    out = []
    deadline = time.monotonic() + wait_s
    while (left := deadline - time.monotonic()) > 0:
        if sock.poll(int(left * 1000) + 1):
            out.append(sock.recv_multipart())
    return out


def ls(cfg: BusConfig, ctx: zmq.Context) -> list[dict]:
    client = CommandClient(ctx, cfg)
    try:
        return client.call("_broker", "ls")
    finally:
        client.close()


@pytest.mark.parametrize(
    "info",
    [
        {"cmd_endpoint": "tcp://no-port-here"},
        {"cmd_endpoint": "carrier-pigeon://coop"},
        {"cmd_endpoint": 12},
        {"pub_endpoint": "tcp://127.0.0.1:99999"},
        {"pid": -1},
        {"dropped": {"x/y": 2**64 - 1}},
        {"streams": ["not", "a", "map"]},
        b"\xc1 not msgpack",
        msgpack.packb([1, 2, 3]),
    ],
    ids=repr,
)
def test_a_heartbeat_out_of_schema_is_refused_and_breaks_no_client(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, closer: list, info
) -> None:
    """Before: one peer advertising a malformed command endpoint made every new
    command client on the bus fail (and a whole `physres run` abort)."""
    s = Spinner(lambda: make_motor_node(bus_cfg, ctx))
    closer.append(s)
    evil = raw_dealer(ctx, bus_cfg, b"evil-conn")
    closer.append(evil)
    heartbeat(evil, "evil", info)
    (answer,) = replies(evil)
    assert answer[1] == b"ERR" and answer[2] == b"_hb"
    assert "heartbeat refused" in decode(answer[3:]).meta["error"]["message"]
    client = CommandClient(ctx, bus_cfg)  # a new client, as `physres run` makes them
    closer.append(client)
    assert client.call("motors", "add", a=2, b=3) == 5
    assert [r["name"] for r in ls(bus_cfg, ctx)] == ["motors"]
    assert broker.refused == 1


def test_a_heartbeat_cannot_claim_a_live_nodes_name_or_its_commands(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    s = Spinner(lambda: make_motor_node(bus_cfg, ctx))
    closer.append(s)
    impostor = raw_dealer(ctx, bus_cfg, b"motors")  # even with the name as routing id
    closer.append(impostor)
    heartbeat(impostor, "motors", {"kind": "evil", "cmd_endpoint": None})
    (answer,) = replies(impostor)
    err = decode(answer[3:]).meta["error"]
    assert err["type"] == "NameTaken" and f"pid {os.getpid()}" in err["message"]
    client = CommandClient(ctx, bus_cfg.model_copy(update={"direct": False}))  # via the broker
    closer.append(client)
    for i in range(5):
        assert client.call("motors", "add", a=i, b=1) == i + 1  # the real node answers
    assert replies(impostor, 0.2) == []  # and the impostor never saw a request
    heartbeat(impostor, "motors", {"kind": "evil"})  # still claiming: listed as a conflict
    time.sleep(0.05)
    rows = ls(bus_cfg, ctx)
    states = sorted((r["name"], r["state"]) for r in rows)
    assert states == [("motors", "alive"), ("motors", "refused")]  # the conflict is shown
    refused = next(r for r in rows if r["state"] == "refused")
    assert refused["kind"] == "evil" and "taken" in refused["conflict"]


def test_a_second_live_node_with_a_taken_name_is_refused(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context
) -> None:
    first = Node("recorder", bus_cfg, ctx, kind="recorder")
    with pytest.raises(NameTaken, match=r"'recorder' is taken by a live node \(pid \d+ on "):
        Node("recorder", bus_cfg, ctx, kind="recorder")
    rows = ls(bus_cfg, ctx)  # the holder, and the refused claim for a few heartbeats
    assert [(r["name"], r["state"]) for r in rows] == [
        ("recorder", "alive"),
        ("recorder", "refused"),
    ]
    first.close()  # its goodbye frees the name at once
    second = Node("recorder", bus_cfg, ctx)
    assert second.registered
    second.close()


def test_a_killed_nodes_name_is_free_again_without_waiting_for_expiry(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context
) -> None:
    """kill -9 sends no goodbye; the broker sees the connection gone and frees the name."""
    cfg = bus_cfg.model_copy(update={"heartbeat_s": 5.0})  # expiry alone would take 15 s
    code = (
        "import sys, time\n"
        "from physres.bus import BusConfig, Node\n"
        "cfg = BusConfig.model_validate_json(sys.argv[1])\n"
        "n = Node('worker', cfg)\n"
        "print('ready', n.registered, flush=True)\n"
        "time.sleep(60)\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code, cfg.model_dump_json()], stdout=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout is not None and p.stdout.readline().split() == ["ready", "True"]
        with pytest.raises(NameTaken):
            Node("worker", cfg, ctx)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        t0 = time.monotonic()
        deadline = t0 + 3
        while True:
            try:
                node = Node("worker", cfg, ctx)
                break
            except NameTaken:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert time.monotonic() - t0 < 3
        node.close()
    finally:
        p.kill()
        p.wait(10)


def test_the_node_table_is_bounded(bus_cfg: BusConfig, ctx: zmq.Context, closer: list) -> None:
    cfg = bus_cfg.model_copy(update={"max_nodes": 3, "heartbeat_s": 2.0})  # no expiry here
    with Broker(cfg, ctx) as b:
        socks = [raw_dealer(ctx, cfg, f"c{i}".encode()) for i in range(6)]
        closer.extend(socks)
        for i, s in enumerate(socks):
            heartbeat(s, f"n{i}", {"kind": "flood"})
        answers = [replies(s, 0.3) for s in socks]  # connections race: any 3 get in
        refused = [i for i, a in enumerate(answers) if a]
        assert len(refused) == 3
        assert "table is full" in decode(answers[refused[0]][0][3:]).meta["error"]["message"]
        listed = sorted(r["name"] for r in ls(cfg, ctx))
        assert listed == [f"n{i}" for i in range(6) if i not in refused]
        assert b.refused == 3


def test_odd_heartbeats_within_the_schema_still_list(
    ctx: zmq.Context, closer: list, capsys, monkeypatch
) -> None:
    """Four odd heartbeats used to crash the table view of `physres ls`."""
    import uuid

    from physres import cli
    from physres.cli import main

    monkeypatch.setattr(cli.console, "width", 250)  # one line per cell

    # where `ls` looks; slow beats: the raw peers beat once, and the CLI imports slowly
    cfg = BusConfig(name=f"ls{uuid.uuid4().hex[:6]}", heartbeat_s=5.0)
    odd = [
        {},  # nothing at all
        {"streams": {"s": {"shape": 7, "dtype": ["nested"], "rate_hz": "fast"}}},
        {"kind": "[bold red]markup[/]", "commands": ["[x]"], "published": {"s": 2**63 - 1}},
        {"streams": {"t": {}}, "dropped": {"a/b": 0}, "garbage": {"header": 3}},
    ]
    with Broker(cfg, ctx):
        for i, info in enumerate(odd):
            s = raw_dealer(ctx, cfg, f"odd{i}".encode())
            closer.append(s)
            heartbeat(s, f"odd{i}", info)
        time.sleep(0.1)
        assert main(["ls", "--bus", cfg.name]) == 0
    out = capsys.readouterr().out
    assert all(f"odd{i}" in out for i in range(4)) and "[bold red]markup[/]" in out
