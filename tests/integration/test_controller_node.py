"""The controller on the bus: prompt in, actions at the control rate, stamped and timed;
the arm's own limits apply; terminate, estop and bad prompts stop it before motion.

The checkpoint is a tiny untrained network (its skill is not under test: the wiring
is), the prompt encoder a hashing one, the arm the pybullet ``sim.arm`` served by a
DeviceNode, and the SO-101 driver on the servo-bus emulator.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from controller_kit import PROMPTS, TINY, hash_encoder, pin_terminate, tiny_dataset

from physres.bus import Broker, BusConfig, CommandClient, Node
from physres.controller import CheckpointError, Controller
from physres.controller.node import ControllerNode
from physres.controller.train import TrainSettings, train
from physres.device.node import DeviceNode
from physres.drivers.arm import SO101, Kinematics, load_model
from physres.drivers.arm.so101 import SO101Params
from physres.sim.arm import SimArm
from physres.sim.servobus import ServoBus
from physres.sim.servobus.protocol import INST_SYNC_WRITE

KIN = Kinematics(load_model())


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ctrlnode")
    data = tiny_dataset(root / "data", episodes=1, length=4)
    s = TrainSettings(
        data=[str(data)], out=str(root / "c.pt"), config=TINY, epochs=1, batch_size=2, threads=1
    )
    out, _ = train(s, encoder=hash_encoder(root / "emb"))
    return out, root / "emb"


def _wait(pred, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def _listen(bus_cfg: BusConfig, ctx: zmq.Context, topics: list[str], box: list, stop) -> None:
    with Node("observer", bus_cfg, ctx, subscribe=topics) as node:
        while not stop.is_set():
            box.extend(node.spin_once(0.02))


@pytest.fixture
def observe(bus_cfg, ctx):
    stop, threads = threading.Event(), []

    def start(topics: list[str]) -> list:
        box: list = []
        t = threading.Thread(target=_listen, args=(bus_cfg, ctx, topics, box, stop), daemon=True)
        t.start()
        threads.append(t)
        time.sleep(0.3)
        return box

    yield start
    stop.set()
    for t in threads:
        t.join(5)


def test_a_prompt_drives_the_simulated_arm_at_the_control_rate_and_estop_stops_it(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, ckpt, observe, tmp_path: Path
) -> None:
    path, emb = ckpt
    path = pin_terminate(path, tmp_path, done=False)
    arm = DeviceNode(SimArm("arm", camera=True, render_size=32), bus_cfg, ctx).start()
    ctrl = ControllerNode(Controller(path, encoder=hash_encoder(emb)), "arm", bus_cfg, ctx)
    ctrl.start()
    seen = observe(["controller/action", "controller/latency", "arm/image", "controller/state"])
    client = CommandClient(ctx, bus_cfg)
    try:
        refused = client.call("controller", "prompt", text="bake me a cake")
        assert refused["accepted"] is False and refused["similarity"] < 0.5
        assert "too far" in refused["reason"]
        empty = client.call("controller", "prompt", text="  ")
        assert empty["accepted"] is False and "empty" in empty["reason"]
        assert ctrl.actions == 0  # nothing moved on a refused prompt
        ok = client.call("controller", "prompt", text=PROMPTS["pick_place"])
        assert ok["accepted"] is True and ok["similarity"] == pytest.approx(1.0, abs=1e-5)
        _wait(lambda: ctrl.actions >= 6)
        acts = [m for m in seen if m.topic == "controller/action"]
        frames = {m.seq for m in seen if m.topic == "arm/image"}
        assert acts and all(m.meta["frame_seq"] in frames for m in acts)
        assert all(m.meta["latency_ms"] > 0 for m in acts)
        assert any(m.topic == "controller/latency" for m in seen)
        t = [m.t_host for m in acts]
        assert np.median(np.diff(t)) >= 0.09e9  # paced at 10 Hz, not as fast as frames come
        # a new prompt preempts: the history is forgotten, actions go on
        n = ctrl.actions
        client.call("controller", "prompt", text=PROMPTS["push_bowl"])
        _wait(lambda: ctrl.actions >= n + 2)
        assert ctrl.ctrl.prompt == PROMPTS["push_bowl"]
        with Node("panic", bus_cfg, ctx) as panic:  # the estop message
            time.sleep(0.3)
            panic.pub.publish("estop", meta={"why": "test"}, topic="controller/estop")
            _wait(lambda: ctrl.state == "stopped")
        n = ctrl.actions
        time.sleep(0.5)
        assert ctrl.actions == n
        assert client.call("arm", "status")["fault"] == "e-stop"
    finally:
        ctrl.stop()
        arm.stop()
        client.close()


def test_a_terminate_token_ends_the_episode_without_moving(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, ckpt, tmp_path: Path
) -> None:
    path, emb = ckpt
    arm = DeviceNode(SimArm("arm", camera=True, render_size=32), bus_cfg, ctx).start()
    ctrl = ControllerNode(
        Controller(pin_terminate(path, tmp_path), encoder=hash_encoder(emb)), "arm", bus_cfg, ctx
    ).start()
    client = CommandClient(ctx, bus_cfg)
    try:
        assert client.call("controller", "prompt", text=PROMPTS["pick_place"])["accepted"]
        _wait(lambda: ctrl.state == "done")
        assert ctrl.actions == 0
    finally:
        ctrl.stop()
        arm.stop()
        client.close()


def test_an_arm_without_a_matching_camera_is_refused_before_any_action(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, ckpt
) -> None:
    path, emb = ckpt
    arm = DeviceNode(SimArm("arm", camera=False), bus_cfg, ctx).start()
    node = ControllerNode(Controller(path, encoder=hash_encoder(emb)), "arm", bus_cfg, ctx)
    try:
        with pytest.raises(CheckpointError, match="not an RGB frame stream"):
            node.start(timeout_s=30)
    finally:
        arm.stop()


def test_the_so101_takes_the_controllers_actions_through_its_own_safety(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, ckpt, observe, tmp_path: Path
) -> None:
    """A real driver on the emulated servo bus; frames come from a separate camera node."""
    path, emb = ckpt
    path = pin_terminate(path, tmp_path, done=False)
    with ServoBus() as servos:
        arm = DeviceNode(SO101("so101", port=servos.port, timeout_s=0.2), bus_cfg, ctx).start()
        seen = observe(["so101/sent", "so101/_fault", "controller/action"])
        stop = threading.Event()

        def camera() -> None:
            with Node("cam", bus_cfg, ctx) as cam:
                cam.declare_stream("image", dtype="|u1", shape=[32, 32, 3])
                cam.command("describe", lambda: {"streams": {"image": {"shape": [32, 32, 3]}}})
                rng = np.random.default_rng(0)
                while not stop.is_set():
                    cam.pub.publish(
                        "image", {"image": rng.integers(0, 255, (1, 32, 32, 3), dtype=np.uint8)}
                    )
                    cam.spin_once(0.03)

        cam_thread = threading.Thread(target=camera, daemon=True)
        cam_thread.start()
        with Node("jog", bus_cfg, ctx) as jog:  # bring the tool into its box first
            time.sleep(0.3)
            for _ in range(40):
                jog.pub.publish(
                    "apply", {"ee": np.array([[0.16, 0.0, 0.06, 0.0]])}, topic="so101/in"
                )
                time.sleep(0.1)
        t0 = time.monotonic()
        ctrl = ControllerNode(
            Controller(path, encoder=hash_encoder(emb)),
            "so101",
            bus_cfg,
            ctx,
            camera_topic="cam/image",
        ).start()
        client = CommandClient(ctx, bus_cfg)
        try:
            assert client.call("controller", "prompt", text=PROMPTS["push_bowl"])["accepted"]
            _wait(lambda: ctrl.actions >= 5)
            _wait(lambda: sum(m.topic == "so101/sent" for m in seen) >= 5)
        finally:
            ctrl.stop()
            stop.set()
            cam_thread.join(5)
            arm.stop()
            client.close()
        assert sum(m.topic == "so101/sent" for m in seen) >= 5
        low, high = SO101Params().workspace_low, SO101Params().workspace_high
        tcp = np.array([KIN.fk(q[:5]) for q in _wire_goals(servos, t0)])
        assert len(tcp) >= 5  # the actions reached the servos ...
        assert (tcp[:, :3] >= np.array(low[:3]) - 1e-3).all()  # ... inside the arm's box
        assert (tcp[:, :3] <= np.array(high[:3]) + 1e-3).all()


def _wire_goals(servos: ServoBus, since: float) -> list[np.ndarray]:
    """Joint angles of servos 1..6 in every goal-position sync write received since then."""
    out = []
    for pkt in list(servos.log):
        if pkt.code != INST_SYNC_WRITE or pkt.t < since or pkt.params[0] != 42:  # 42: goal position
            continue
        n, p = pkt.params[1], pkt.params
        goals = {p[k]: int.from_bytes(p[k + 1 : k + 3], "little") for k in range(2, len(p), n + 1)}
        out.append((np.array([goals[i] for i in range(1, 7)]) - 2048) * (2 * np.pi / 4096))
    return out
