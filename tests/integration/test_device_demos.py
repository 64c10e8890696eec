"""Demonstrations recorded through the arm Device, locally and on the bus.

A real arm driven by a person or a policy has only its Device; the recording
must land in the same dataset format as the env's collector writes, and be
the same whether the device is local or served by a node on the bus.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zmq

from physres import registry
from physres.bus import Broker, BusConfig
from physres.datasets import DatasetWriter, DemoDataset
from physres.datasets.device_demo import DeviceDemo, proprio_names
from physres.device.node import DeviceNode
from physres.device.remote import RemoteDevice
from physres.errors import ConfigError
from physres.sim.arm import ACTION_SPEC, SimArm

#: a person's joystick session, in the contract's action layout: down, close, up, done
ACTIONS = [
    *[[0.0, 0.0, -0.05, 0.0, -1.0, 0.0]] * 4,
    *[[0.0, 0.0, 0.0, 0.0, 1.0, 0.0]] * 2,
    [0.3, 0.0, 0.9, 0.0, 1.0, 0.0],  # out of the action spec's bounds: clipped, as the env does
    [0.0, 0.0, 0.0, 0.0, 1.0, 1.0],  # terminate
]


def record(device, root: Path) -> dict:
    demo = DeviceDemo(device, "pick up the cube", action_spec=ACTION_SPEC)
    for a in ACTIONS:
        demo.step(a)
    writer = DatasetWriter(root, action_spec=ACTION_SPEC.to_dict())
    return demo.write(writer, task="teleop")


def test_a_demo_recorded_through_the_device_on_the_bus_matches_the_local_one(
    tmp_path: Path, broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context
) -> None:
    with SimArm("arm", seed=3) as local:
        record(local, tmp_path / "local")
    node = DeviceNode(SimArm("arm", seed=3), bus_cfg, ctx).start()
    try:
        with RemoteDevice("arm", cfg=bus_cfg, ctx=ctx) as remote:
            line = record(remote, tmp_path / "bus")
    finally:
        node.stop()
    assert line["device"]["name"] == "arm" and line["length"] == len(ACTIONS)
    eps = [DemoDataset(tmp_path / d).episode(0) for d in ("local", "bus")]
    for key in ("obs.proprio", "action", "expert_action"):
        np.testing.assert_array_equal(eps[0][key], eps[1][key])
    ep = eps[1]
    assert ep["obs.proprio"].shape == (len(ACTIONS), 4 + 1 + 7)
    assert ep.info.meta["proprio_names"][:5] == ["x", "y", "z", "yaw", "gripper_open"]
    np.testing.assert_array_equal(ep["action"][6], np.float32([0.05, 0.0, 0.05, 0.0, 1.0, 0.0]))
    z = ep["obs.proprio"][:, 2]
    assert z[4] < z[0] - 0.1  # the recorded observations follow the arm down ...
    assert ep["obs.proprio"][6, 4] < 0.5  # ... and see the gripper closed


def test_the_real_arm_records_the_same_format_through_its_mock(tmp_path: Path) -> None:
    with registry.create("mock.arm", "so101") as arm:
        demo = DeviceDemo(arm, "wave", action_spec=ACTION_SPEC)
        for _ in range(3):
            demo.step([0.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        demo.write(DatasetWriter(tmp_path, action_spec=ACTION_SPEC.to_dict()))
        names = proprio_names(arm)
    ep = DemoDataset(tmp_path).episode(0)
    assert ep["obs.proprio"].shape == (3, 4 + 1 + 5) and len(names) == 10
    assert ep.info.meta["device"]["kind"] == "mock.arm"


def test_a_device_that_is_no_arm_is_refused_by_name() -> None:
    esn = registry.create("sim.esn", "esn", {"n_units": 10})
    with esn, pytest.raises(ConfigError, match="sim.esn device 'esn' is no arm: it lacks"):
        DeviceDemo(esn, "anything", action_spec=ACTION_SPEC)
