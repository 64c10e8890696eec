"""Commands: answers, remote errors that keep their type, and no hangs on dead nodes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import zmq

from physres.bus import Broker, BusConfig, CommandClient, Node
from physres.errors import CommandTimeout, NodeUnreachable, RemoteError, SafetyError


class Spinner:
    """Run a node's loop in a thread for the duration of a test."""

    def __init__(self, node_factory) -> None:
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.factory = node_factory
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()
        self.ready.wait(5)

    def run(self) -> None:
        node = self.factory()
        self.ready.set()
        while not self.stop.is_set():
            node.spin_once(0.01)
        node.close()

    def close(self) -> None:
        self.stop.set()
        self.t.join(5)


def make_motor_node(cfg: BusConfig, ctx: zmq.Context) -> Node:
    node = Node("motors", cfg, ctx)
    node.command("add", lambda a, b: a + b)
    node.command("scale", lambda x, k: x * k)

    def set_duty(duty: float) -> float:
        if duty > 1.0:
            raise SafetyError(f"motors.duty = {duty} is above the limit 1")
        return duty

    node.command("set_duty", set_duty)
    return node


def test_commands_return_values_and_arrays(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    s = Spinner(lambda: make_motor_node(bus_cfg, ctx))
    client = CommandClient(ctx, bus_cfg)
    closer.append(client)
    assert client.call("motors", "add", a=2, b=3) == 5
    np.testing.assert_array_equal(
        client.call("motors", "scale", x=np.arange(4.0), k=2), np.arange(4.0) * 2
    )
    s.close()


def test_remote_exceptions_come_back_with_type_and_message(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    s = Spinner(lambda: make_motor_node(bus_cfg, ctx))
    client = CommandClient(ctx, bus_cfg)
    closer.append(client)
    with pytest.raises(SafetyError, match="above the limit") as err:
        client.call("motors", "set_duty", duty=3.0)
    assert isinstance(err.value, RemoteError) and err.value.remote_type == "SafetyError"
    with pytest.raises(RemoteError, match="no command 'fly'"):
        client.call("motors", "fly")
    with pytest.raises(RemoteError, match="TypeError"):
        client.call("motors", "add", a=1)
    s.close()


def test_unknown_node_fails_at_once_naming_it(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    client = CommandClient(ctx, bus_cfg)
    closer.append(client)
    t0 = time.monotonic()
    with pytest.raises(NodeUnreachable, match="no node named 'ghost'"):
        client.call("ghost", "ping", timeout_s=5)
    assert time.monotonic() - t0 < 1.0


def test_hung_node_times_out_naming_node_and_command(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    node = Node("stuck", bus_cfg, ctx)  # connected, but nobody spins it
    time.sleep(0.1)
    client = CommandClient(ctx, bus_cfg)
    closer.append(client)
    t0 = time.monotonic()
    with pytest.raises(
        CommandTimeout, match=r"no reply from node 'stuck' to command 'status' within 0.5 s"
    ):
        client.call("stuck", "status", timeout_s=0.5)
    assert 0.4 < time.monotonic() - t0 < 1.5
    node.close()


@pytest.mark.parametrize("direct", [False, True], ids=["via-broker", "direct"])
def test_a_hung_node_flooded_with_calls_never_wedges_the_caller_or_the_broker(
    bus_cfg: BusConfig, ctx: zmq.Context, closer: list, direct: bool
) -> None:
    """Once a hung node's request queue is full, calls fail at once instead of blocking in send."""
    cfg = bus_cfg.model_copy(update={"direct": direct})
    with Broker(cfg, ctx):
        node = Node("frozen", cfg, ctx)  # registered, then never spins again
        closer.append(node)
        client = CommandClient(ctx, cfg)
        closer.append(client)
        refused = None
        t0 = time.monotonic()
        for _ in range(3000):  # ZeroMQ queues 1000 per peer by default
            try:
                client.call("frozen", "status", timeout_s=0.001)
            except NodeUnreachable as e:
                refused = e
                break
            except CommandTimeout:
                continue
        assert refused is not None and "not taking" in str(refused)
        assert "'frozen'" in str(refused)
        assert time.monotonic() - t0 < 20
        other = CommandClient(ctx, cfg)
        closer.append(other)
        assert other.call("_broker", "ping", timeout_s=2.0)["bus"] == cfg.name


def test_killed_node_process_gives_a_timeout_error_not_a_hang(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    code = (
        "import sys, time\n"
        "from physres.bus import BusConfig, Node\n"
        f"cfg = BusConfig.model_validate_json({bus_cfg.model_dump_json()!r})\n"
        "n = Node('child', cfg); n.command('ping', lambda: 'pong')\n"
        "print('ready', flush=True)\n"
        "while True: n.spin_once(0.01)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        client = CommandClient(ctx, bus_cfg)
        closer.append(client)
        assert client.call("child", "ping", timeout_s=5) == "pong"
        proc.kill()
        proc.wait(5)
        t0 = time.monotonic()
        with pytest.raises(CommandTimeout, match="child"):
            client.call("child", "ping", timeout_s=1.0)
        assert time.monotonic() - t0 < 2.0
    finally:
        proc.kill()
