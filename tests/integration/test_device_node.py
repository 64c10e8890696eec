"""Any Device on the bus: a remote device behaves like the local one, faults are published."""

from __future__ import annotations

import time

import numpy as np
import pytest
import zmq

from physres.bus import Broker, BusConfig, CommandClient, Publisher, Subscriber
from physres.device import Device, check_device
from physres.device.node import DeviceNode
from physres.device.remote import RemoteDevice
from physres.device.spec import Chunk, StreamSpec
from physres.errors import SafetyError
from physres.sim.esn import ESN


def test_remote_esn_matches_the_local_one_exactly(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context
) -> None:
    node = DeviceNode(ESN("esn", n_units=40, seed=3), bus_cfg, ctx).start()
    u = np.random.default_rng(0).uniform(-1, 1, (500, 1))
    with RemoteDevice("esn", cfg=bus_cfg, ctx=ctx) as remote:
        got = []
        for i in range(0, 500, 100):
            remote.apply({"u": u[i : i + 100]})
            got.append(remote.read()["state"].data)
    with ESN("local", n_units=40, seed=3) as local:
        local.apply({"u": u})
        np.testing.assert_array_equal(np.concatenate(got), local.read()["state"].data)
    node.stop()


def test_remote_device_passes_the_contract(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context
) -> None:
    node = DeviceNode(ESN("esn", n_units=10), bus_cfg, ctx).start()
    assert check_device(RemoteDevice("esn", cfg=bus_cfg, ctx=ctx)).ok
    node.stop()


def test_unsafe_input_is_refused_on_the_node_and_reported(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context
) -> None:
    node = DeviceNode(ESN("esn", n_units=10, input_limit=1.0), bus_cfg, ctx).start()
    with RemoteDevice("esn", cfg=bus_cfg, ctx=ctx) as remote:
        with pytest.raises(SafetyError, match=r"esn.u\[0, 0\] = 5 a.u. is above the limit 1 a.u."):
            remote.apply({"u": [[5.0]]})  # refused here, before it leaves this host
        # a client that bypasses the proxy's checks is refused by the node itself
        remote._pub.publish("apply", {"u": np.array([[7.0]])}, topic="esn/in")
        remote._last_in = 10**9
        with pytest.raises(SafetyError, match="above the limit"):
            remote._read()
    assert node.faults == 1
    node.stop()


def test_input_of_the_wrong_dtype_is_refused_and_the_node_keeps_serving(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    node = DeviceNode(ESN("esn", n_units=10), bus_cfg, ctx).start()
    intruder = Publisher(ctx, bus_cfg, "intruder")
    faults = Subscriber(ctx, bus_cfg, ["esn/_fault"])
    closer += [intruder, faults]
    records = np.zeros((3, 1), dtype=[("a", "<f4"), ("b", "<i4")])
    fault = None
    for _ in range(50):  # until the subscriptions are joined
        intruder.publish("apply", {"u": records}, topic="esn/in")
        if (fault := faults.recv(0.1)) is not None:
            break
    assert fault is not None and "expected numbers (float64)" in fault.meta["message"]
    client = CommandClient(ctx, bus_cfg)
    closer.append(client)
    assert client.call("esn", "_ping", timeout_s=2) == "pong"
    node.stop()


def test_device_commands_and_describe_are_served(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context
) -> None:
    node = DeviceNode(ESN("esn", n_units=10), bus_cfg, ctx).start()
    client = CommandClient(ctx, bus_cfg)
    desc = client.call("esn", "describe")
    assert desc["streams"]["state"]["shape"] == [10] and desc["clock"] == "stepped"
    assert client.call("esn", "status")["connected"] is True
    rows = client.call("_broker", "ls")
    assert rows[0]["streams"]["state"]["shape"] == [10]
    client.close()
    node.stop()


class FlakyPort(Device):
    """A wall-clock device whose driver lets a raw OSError out of read() once ``broken``."""

    kind = "test.flaky"
    broken = False

    def describe(self):
        return self._description(streams=[StreamSpec(name="y", shape=(1,))], inputs=[])

    def _apply(self, inputs):
        return None

    def _read(self):
        if self.broken:
            raise OSError(5, "Input/output error: /dev/ttyUSB0")
        return {"y": Chunk(np.zeros((1, 1)), self.now_ns())}


def test_an_unwrapped_driver_error_is_reported_once_and_the_node_keeps_serving(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    port = FlakyPort("flaky")
    watch = Subscriber(ctx, bus_cfg, ["flaky/"])
    client = CommandClient(ctx, bus_cfg)
    closer += [watch, client]
    node = DeviceNode(port, bus_cfg, ctx, fault_retry_s=0.05).start()
    assert watch.recv(3.0).stream == "y"  # subscribed: nothing published from here is missed
    port.broken = True
    fault = next(m for m in iter(lambda: watch.recv(3.0), None) if m.stream == "_fault")
    assert fault.meta["type"] == "OSError" and "ttyUSB0" in fault.meta["message"]
    time.sleep(0.3)  # several retries later: counted, not re-published
    assert watch.drain() == [] and node.faults >= 3
    assert client.call("flaky", "_ping", timeout_s=2) == "pong"
    node.stop()


def test_an_input_over_its_declared_length_is_refused_unread(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    """Before: one 16 MB input kept an ESN node busy (deaf to commands) for 13 s."""
    node = DeviceNode(ESN("esn", n_units=200), bus_cfg, ctx).start()
    faults = Subscriber(ctx, bus_cfg, ["esn/_fault"])
    pub = Publisher(ctx, bus_cfg, "attacker")
    closer.extend([faults, pub])
    time.sleep(0.3)  # subscriptions settle
    max_len = ESN("x", n_units=2).describe().inputs["u"].max_len
    t0 = time.monotonic()
    pub.publish("apply", {"u": np.zeros((2_000_000, 1))}, topic="esn/in")  # 16 MB
    fault = faults.recv(timeout_s=10)
    assert fault is not None and time.monotonic() - t0 < 3
    assert fault.meta["type"] == "SafetyError"
    assert "2000000 samples in one message" in fault.meta["message"]
    assert f"max_len {max_len}" in fault.meta["message"]
    with RemoteDevice("esn", cfg=bus_cfg, ctx=ctx) as remote:  # still serving
        remote.apply({"u": np.zeros((max_len, 1))})  # exactly at the limit is fine
        assert remote.read()["state"].data.shape == (max_len, 200)
    node.stop()


def test_max_len_must_be_a_whole_positive_number() -> None:
    from physres.device.spec import InputSpec
    from physres.errors import ConfigError

    for bad in (0, -1, 2.5, None):
        with pytest.raises(ConfigError, match="max_len"):
            InputSpec(name="u", max_len=bad)


def test_a_flood_of_join_handshakes_cannot_grow_a_node(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    cfg = bus_cfg.model_copy(update={"sndhwm": 0, "rcvhwm": 0})
    node = DeviceNode(ESN("esn", n_units=4), cfg, ctx).start()
    pub = Publisher(ctx, cfg, "attacker")
    closer.append(pub)
    time.sleep(0.3)
    for i in range(3000):
        pub.publish("_sync", meta={"token": f"t{i}" * 200}, topic="esn/in")
    deadline = time.monotonic() + 20
    while node.node.sub.seq.streams.get("esn/in (attacker/_sync)") is None or (
        node.node.sub.seq.streams["esn/in (attacker/_sync)"].received < 3000
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert len(node._sync_tokens) == DeviceNode._MAX_SYNC_TOKENS
    with RemoteDevice("esn", cfg=cfg, ctx=ctx) as remote:  # its own handshake still works
        remote.apply({"u": np.ones((2, 1))})
        assert remote.read()["state"].data.shape == (2, 4)
    node.stop()
