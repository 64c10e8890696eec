"""The dashboard's prompt box against the real ControllerNode (a tiny untrained checkpoint and
a hashing prompt encoder, as in test_controller_node.py): accepted, refused, shown; e-stop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import zmq
from controller_kit import PROMPTS, TINY, hash_encoder, pin_terminate, tiny_dataset

from physres.bus import Broker, BusConfig, CommandClient
from physres.controller import Controller
from physres.controller.node import ControllerNode
from physres.controller.train import TrainSettings, train
from physres.dashboard.app import Dashboard, build_app, serve_in_thread
from physres.dashboard.board import Board
from physres.dashboard.controls import Controls
from physres.dashboard.live import LiveFeed
from physres.device.node import DeviceNode
from physres.sim.arm import SimArm


@pytest.fixture
def page(
    broker: Broker, bus_cfg: BusConfig, ctx: zmq.Context, tmp_path: Path
) -> Iterator[tuple[str, ControllerNode]]:
    data = tiny_dataset(tmp_path / "data", episodes=1, length=4)
    s = TrainSettings(
        data=[str(data)], out=str(tmp_path / "c.pt"), config=TINY, epochs=1, batch_size=2, threads=1
    )
    ckpt, _ = train(s, encoder=hash_encoder(tmp_path / "emb"))
    ckpt = pin_terminate(ckpt, tmp_path, done=False)  # a one-epoch network must still act
    arm = DeviceNode(SimArm("arm", camera=True, render_size=32), bus_cfg, ctx).start()
    ctrl = ControllerNode(
        Controller(ckpt, encoder=hash_encoder(tmp_path / "emb")), "arm", bus_cfg, ctx
    )
    ctrl.start()
    board = Board("test")
    feed = LiveFeed(board, bus_cfg, ctx).start()
    controls = Controls(board, bus_cfg, ctx)
    server, thread, port = serve_in_thread(build_app(Dashboard(board, controls)))
    try:
        yield f"http://127.0.0.1:{port}", ctrl
    finally:
        server.should_exit = True
        thread.join(10)
        controls.close()
        feed.stop()
        ctrl.stop()
        arm.stop()


def test_the_controller_answers_the_prompt_box_and_the_estop_stops_the_arm(
    page: tuple[str, ControllerNode], bus_cfg: BusConfig, ctx: zmq.Context
) -> None:
    base, ctrl = page
    refused = httpx.post(f"{base}/api/prompt", json={"text": "bake me a cake"}, timeout=30)
    assert refused.status_code == 200, refused.text
    body = refused.json()
    assert body["accepted"] is False and "too far" in body["result"]["reason"]
    assert ctrl.actions == 0  # nothing moved on a refused prompt
    ok = httpx.post(f"{base}/api/prompt", json={"text": PROMPTS["pick_place"]}, timeout=30).json()
    assert ok["accepted"] is True and ok["result"]["similarity"] == pytest.approx(1.0, abs=1e-5)
    deadline = time.monotonic() + 30
    while ctrl.actions < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ctrl.actions >= 3  # the controller acts on the prompt the page sent
    stop = httpx.post(f"{base}/api/estop", timeout=30).json()
    assert stop["ok"] and [n["node"] for n in stop["nodes"]] == ["arm"]
    client = CommandClient(ctx, bus_cfg)
    try:
        assert client.call("arm", "status")["fault"] == "e-stop"
    finally:
        client.close()
