"""On the bus, a silent servo makes the arm node publish a fault and hold, still serving
commands; when the servo answers again and the fault is cleared, the node carries on."""

from __future__ import annotations

import time

import zmq

from physres.bus import Broker, BusConfig, CommandClient, Subscriber
from physres.device.node import DeviceNode
from physres.drivers.arm import SO101
from physres.sim.servobus import ServoBus


def wait_fault(sub: Subscriber, kind: str | None, timeout_s: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        m = sub.recv(0.2)
        if m is not None and m.stream == "_fault" and (kind is None or m.meta["type"] == kind):
            return m.meta
    raise AssertionError(f"no {kind or 'any'} fault published within {timeout_s} s")


def test_silent_servo_is_published_as_a_fault_and_the_node_holds(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    with ServoBus() as servos:
        arm = SO101("arm", port=servos.port, timeout_s=0.1, retries=1, rate_hz=20.0)
        node = DeviceNode(arm, bus_cfg, ctx, fault_retry_s=0.2).start()
        sub = Subscriber.direct(ctx, bus_cfg, "arm", ["arm/_fault", "arm/joints"])
        client = CommandClient(ctx, bus_cfg)
        closer += [sub, client]
        try:
            assert sub.recv(5.0) is not None  # joint states are streaming
            servos.mute(3)
            fault = wait_fault(sub, "DeviceTimeout")
            assert "servo 3" in fault["message"]
            assert client.call("arm", "status")["fault"], "the node still answers commands"
            servos.unmute(3)
            client.call("arm", "clear_fault")
            wait_fault(sub, "cleared")
            assert node.faults >= 1
        finally:
            node.stop()
