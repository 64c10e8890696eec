"""The drive loop over the bus: a remote reservoir gives the states a local one gives.

A :class:`DeviceNode` serves ``sim.esn`` on a private ZeroMQ bus; the
experiment side holds a :class:`RemoteDevice` and runs the unchanged task
code against it, resets included.
"""

from __future__ import annotations

import numpy as np
import zmq

from physres import tasks
from physres.bus import Broker, BusConfig
from physres.device.node import DeviceNode
from physres.device.remote import RemoteDevice
from physres.experiments import collect_states
from physres.sim.esn import ESN


def test_a_task_scores_the_same_on_a_remote_reservoir(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context
) -> None:
    task = tasks.create("xor", n_train=200, n_test=100, washout=10)
    data = task.generate(0)
    episodes = data.train + data.test
    node = DeviceNode(
        ESN("esn", n_units=40, n_inputs=2, bias_scaling=0.5, seed=2), bus_cfg, ctx
    ).start()
    try:
        with RemoteDevice("esn", cfg=bus_cfg, ctx=ctx) as remote:
            far = collect_states(remote, episodes, task, chunk=64)
    finally:
        node.stop()
    with ESN("local", n_units=40, n_inputs=2, bias_scaling=0.5, seed=2) as local:
        near = collect_states(local, episodes, task)
    for a, b in zip(far, near):
        np.testing.assert_array_equal(a, b)
    assert task.evaluate(far[:1], data.train, far[1:], data.test, data) == task.evaluate(
        near[:1], data.train, near[1:], data.test, data
    )
