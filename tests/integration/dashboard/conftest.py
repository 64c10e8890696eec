"""A simulated rig on a private bus, and a dashboard watching it.

The rig is what a lab runs: a reservoir (``sim.esn``) driven with an input,
a readout trained live on its states (``ReadoutNode``, online, so its score
keeps moving), the pybullet arm (``sim.arm``) with its camera stepped by a
little policy, and a stand-in controller node offering the ``prompt``
command (it accepts prompts that name an object on the table, refuses others
and says how similar the closest known task was). The dashboard is the real
one: the live feed, the controls and the Starlette app under uvicorn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import zmq

from physres.bus import Broker, BusConfig, CommandClient, Node, Publisher
from physres.bus.service import Service
from physres.dashboard.app import Dashboard, build_app, serve_in_thread
from physres.dashboard.board import Board
from physres.dashboard.controls import Controls, RunControl
from physres.dashboard.live import LiveFeed
from physres.device.node import DeviceNode
from physres.device.remote import RemoteDevice
from physres.readout.node import ReadoutNode
from physres.sim.arm import SimArm
from physres.sim.esn import ESN

#: what the stand-in controller knows how to do
KNOWN = ("put the cube in the tray", "push the cube left")


class StandInController(Service):
    """A node offering ``prompt`` as the trained controller does: accepted or not, similarity."""

    def __init__(self, cfg: BusConfig, ctx: zmq.Context) -> None:
        super().__init__()
        self.cfg, self.ctx = cfg, ctx
        self.prompts: list[str] = []

    def prompt(self, text: str) -> dict[str, Any]:
        self.prompts.append(text)
        words = set(text.lower().split())
        sims = [len(words & set(k.split())) / len(words | set(k.split())) for k in KNOWN]
        best = int(np.argmax(sims))
        if "cube" not in words:
            return {"accepted": False, "similarity": sims[best], "reason": "no known object named"}
        return {"accepted": True, "similarity": sims[best], "task": KNOWN[best]}

    def run(self) -> None:
        node = Node("controller", self.cfg, self.ctx, kind="controller.standin")
        node.command("prompt", self.prompt)
        self._serving()
        try:
            while not self._stop.is_set():
                node.spin_once(0.01)
        finally:
            node.close()


@dataclass
class Rig:
    cfg: BusConfig
    ctx: zmq.Context
    arm: SimArm
    controller: StandInController
    base: str = ""
    token: str | None = None
    dash: Dashboard | None = None
    feed: LiveFeed | None = None
    steps: int = 0
    errors: list[BaseException] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        return f"{self.base}{path}"


def _drive(rig: Rig, stop: threading.Event) -> None:
    """Drive the reservoir (targets for the readout) and the arm, ~10 Hz, until stopped."""
    rng = np.random.default_rng(0)
    targets = Publisher(rig.ctx, rig.cfg, "task")
    try:
        with (
            RemoteDevice("esn", cfg=rig.cfg, ctx=rig.ctx) as esn,
            RemoteDevice("arm", cfg=rig.cfg, ctx=rig.ctx) as arm,
        ):
            u_prev = np.zeros((2, 1))
            while not stop.is_set():
                u = rng.uniform(0, 0.5, (40, 1))
                esn.apply({"u": u})
                seq = esn._last_in
                esn.read()
                y = np.concatenate([u_prev, u])[:-2]  # recall the input two steps back
                u_prev = u[-2:]
                targets.publish("target", {"y": y}, meta={"in_seq": seq})
                action = np.array([[0.01 * np.sin(rig.steps / 5), 0.0, 0.0, 0.0, 0.0, 0.0]])
                try:
                    arm.apply({"action": action})
                    arm.read()
                except Exception:
                    pass  # refused while e-stopped: the arm's own answer, published as a fault
                rig.steps += 1
                time.sleep(0.08)
    except BaseException as e:
        rig.errors.append(e)
    finally:
        targets.close()


@pytest.fixture
def rig(bus_cfg: BusConfig, ctx: zmq.Context, broker: Broker) -> Iterator[Rig]:
    arm = SimArm("arm", camera=True, render_size=64)
    controller = StandInController(bus_cfg, ctx)
    services = [
        DeviceNode(ESN("esn", n_units=40, seed=1), bus_cfg, ctx),
        ReadoutNode("readout", "esn/state", "task/target", bus_cfg, ctx, mode="online"),
        DeviceNode(arm, bus_cfg, ctx),
        controller,
    ]
    for s in services:
        s.start()
    r = Rig(bus_cfg, ctx, arm, controller)
    stop = threading.Event()
    driver = threading.Thread(target=_drive, args=(r, stop), daemon=True)
    driver.start()
    yield r
    stop.set()
    driver.join(10)
    for s in reversed(services):
        s.stop()


def start_dashboard(rig: Rig, token: str | None = None, runs_dir: Any = None) -> Iterator[Rig]:
    board = Board(f"bus {rig.cfg.name}")
    feed = LiveFeed(board, rig.cfg, rig.ctx).start()
    controls = Controls(board, rig.cfg, rig.ctx)
    dash = Dashboard(board, controls, RunControl(rig.cfg, runs_dir or "runs-unused"), token=token)
    server, thread, port = serve_in_thread(build_app(dash))
    rig.base, rig.token, rig.dash, rig.feed = f"http://127.0.0.1:{port}", token, dash, feed
    try:
        yield rig
    finally:
        server.should_exit = True
        thread.join(10)
        feed.stop()
        controls.close()


@pytest.fixture
def watched(rig: Rig, tmp_path: Any) -> Iterator[Rig]:
    """The rig with a dashboard (no token: it listens on 127.0.0.1 only)."""
    yield from start_dashboard(rig, runs_dir=tmp_path / "runs")


def wait_for(check: Any, timeout_s: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def arm_status(rig: Rig) -> dict[str, Any]:
    client = CommandClient(rig.ctx, rig.cfg)
    try:
        return client.call("arm", "status", timeout_s=5)
    finally:
        client.close()
