"""A readout trained live on the bus predicts what an offline fit of the same states does."""

from __future__ import annotations

import time

import numpy as np
import zmq

from physres.bus import Broker, BusConfig, CommandClient, Publisher, Subscriber
from physres.device.node import DeviceNode
from physres.device.remote import RemoteDevice
from physres.readout import RidgeReadout
from physres.readout.node import ReadoutNode
from physres.sim.esn import ESN


def test_live_readout_matches_the_offline_fit(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, closer: list
) -> None:
    rng = np.random.default_rng(0)
    u = rng.uniform(0, 0.5, (1000, 1))
    y = np.roll(u, 2, axis=0)  # recall the input from two steps back
    node = DeviceNode(ESN("esn", n_units=30, seed=1), bus_cfg, ctx).start()
    readout = ReadoutNode(
        "readout", "esn/state", "task/target", bus_cfg, ctx, n_train=600, alpha=1e-6
    ).start()
    preds = Subscriber.direct(ctx, bus_cfg, "readout", ["readout/prediction"])
    targets = Publisher(ctx, bus_cfg, "task")
    closer += [preds, targets]
    states = []
    with RemoteDevice("esn", cfg=bus_cfg, ctx=ctx) as esn:
        for i in range(0, 1000, 100):
            esn.apply({"u": u[i : i + 100]})
            seq = esn._last_in  # the input seq the states will carry as in_seq
            states.append(esn.read()["state"].data)
            targets.publish("target", {"y": y[i : i + 100]}, meta={"in_seq": seq})
            time.sleep(0.05)  # let the readout pair and, after 600 rows, train
    got = []
    while (m := preds.recv(1.0)) is not None:
        got.append(np.array(m.data))
    client = CommandClient(ctx, bus_cfg)
    closer.append(client)
    stats = client.call("readout", "stats")
    readout.stop()
    node.stop()
    assert stats["trained"] and stats["rows_seen"] >= 600
    X = np.concatenate(states)
    offline = RidgeReadout(alpha=1e-6).fit(X[:600], y[:600])
    live = np.concatenate(got)
    np.testing.assert_allclose(
        live, offline.predict(X[-len(live) :]).reshape(live.shape), atol=1e-10
    )
    assert len(live) >= 300
