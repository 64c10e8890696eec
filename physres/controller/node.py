"""``ControllerNode``: the controller on the bus, between a camera, an arm and a prompt.

Subscribes to the camera frames (``camera_topic``, default ``<arm>/image``),
the arm's ``ee`` and ``gripper`` streams (the arm contract's proprioception),
``<name>/prompt`` (meta ``{"prompt": text}``: a new prompt preempts the old
one) and ``<name>/estop``. Serves the command ``prompt(text)``, answering
``{"accepted", "similarity", "nearest", "reason"}`` (the dashboard calls it),
and ``stop()``.

At most ``rate_hz`` times a second, when a frame newer than the last one it
acted on has arrived, it computes an action and publishes it to ``<arm>/in``
(the arm's own safety limits apply as to any input) and on ``<name>/action``
with ``frame_seq`` (the frame's bus seq) and ``latency_ms`` (frame received →
action sent), which also goes to ``<name>/latency``. A ``terminate`` in the
action ends the episode (no motion is sent; ``<name>/state`` says ``done``);
an ``estop`` message calls the arm's ``estop`` command and stops acting until
a new prompt arrives.

Before the first action it checks the arm's description: an ``action`` input
of the checkpoint's size and a camera stream of the checkpoint's frame shape;
a mismatch ends the node with :class:`CheckpointError` before anything is sent.
A stepped arm (the simulator) publishes frames only after an input, so a new
prompt first sends one hold action (no motion, gripper unchanged).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import zmq

from physres.bus import BusConfig, CommandClient, Node
from physres.bus.service import Service
from physres.controller.checkpoint import CheckpointError
from physres.controller.runtime import Controller, PromptRefused
from physres.errors import ConfigError

__all__ = ["ControllerNode"]

log = logging.getLogger(__name__)


class ControllerNode(Service):
    """Serve a :class:`Controller` on the bus until ``stop()`` (see module docstring)."""

    def __init__(
        self,
        controller: Controller,
        arm: str,
        cfg: BusConfig | None = None,
        ctx: zmq.Context | None = None,
        *,
        name: str = "controller",
        camera_topic: str | None = None,
        rate_hz: float | None = None,
        poll_s: float = 0.005,
    ) -> None:
        super().__init__()
        self.ctrl = controller
        self.arm = arm
        self.name = name
        self.cfg = cfg or BusConfig()
        self.ctx = ctx or zmq.Context.instance()
        self.camera_topic = camera_topic or f"{arm}/image"
        hz = rate_hz or float(controller.ck.action_spec.get("control_hz", 10.0))
        if not 0 < hz <= 100:
            raise ConfigError(f"ControllerNode rate_hz {hz} outside (0, 100]")
        self.period = 1.0 / hz
        self.poll_s = poll_s
        self.state = "idle"  # idle → acting → done | stopped | refused
        self.actions = 0
        self.latencies_ms: list[float] = []
        self._frame: tuple[np.ndarray, int, float] | None = None
        self._ee: np.ndarray | None = None
        self._opening = 1.0
        self._acted_seq = -1
        self._next_t = 0.0
        self._pending_prompt: str | None = None
        self._checked = False

    @property
    def service_name(self) -> str:
        return f"controller-{self.name}"

    # ------------------------------------------------------------ commands
    def _prompt_reply(self, text: Any) -> dict[str, Any]:
        try:
            m = self.ctrl.set_prompt(text)
        except PromptRefused as e:
            self.state = "refused"
            return {
                "accepted": False,
                "similarity": e.similarity,
                "nearest": e.nearest,
                "reason": str(e),
            }
        except ConfigError as e:  # empty, non-text, too long
            return {"accepted": False, "similarity": None, "nearest": None, "reason": str(e)}
        self.state = "acting"
        self._acted_seq = self._frame[1] if self._frame else -1
        self._primed = False
        return {
            "accepted": True,
            "similarity": m.similarity,
            "nearest": m.nearest_prompt,
            "reason": "",
        }

    def _stop_cmd(self) -> dict[str, Any]:
        self.state = "stopped"
        return {"state": self.state}

    # ---------------------------------------------------------------- loop
    def _check_arm(self, client: CommandClient) -> None:
        desc = client.call(self.arm, "describe")
        want = self.ctrl.cfg.action_dim
        action = desc.get("inputs", {}).get("action")
        if action is None or tuple(action.get("shape", ())) != (want,):
            raise CheckpointError(
                f"arm {self.arm!r} takes no {want}-value 'action' input "
                f"(it declares {action}): the checkpoint's action spec does not fit it"
            )
        src, _, stream = self.camera_topic.partition("/")
        cam = desc if src == self.arm else client.call(src, "describe")
        spec = cam.get("streams", {}).get(stream)
        if spec is None or len(spec.get("shape", ())) != 3 or spec["shape"][2] != 3:
            raise CheckpointError(
                f"camera {self.camera_topic!r} is not an RGB frame stream ({spec}); the "
                f"checkpoint needs {self.ctrl.ck.camera}"
            )
        self.ctrl.check_arm(self.ctrl.ck.action_spec, int(spec["shape"][0]))
        self._checked = True

    def run(self) -> None:
        topics = [
            self.camera_topic,
            f"{self.arm}/ee",
            f"{self.arm}/gripper",
            f"{self.name}/prompt",
            f"{self.name}/estop",
        ]
        node = Node(self.name, self.cfg, self.ctx, subscribe=topics, kind="controller")
        client = CommandClient(self.ctx, self.cfg, name=f"{self.name}-client")
        self.node = node
        node.command("prompt", lambda text: self._prompt_reply(text))
        node.command("stop", self._stop_cmd)
        node.command(
            "status",
            lambda: {"state": self.state, "actions": self.actions, "prompt": self.ctrl.prompt},
        )
        node.declare_stream(
            "action",
            dtype="<f4",
            shape=[self.ctrl.cfg.action_dim],
            units="spec",
            rate_hz=1 / self.period,
        )
        node.declare_stream("latency", dtype="<f8", shape=[], units="ms")
        self._primed = False
        try:
            self._check_arm(client)
            self._serving()
            while not self._stop.is_set():
                for msg in node.spin_once(self.poll_s):
                    try:
                        self._take(node, client, msg)
                    except Exception as e:  # nothing that arrives may end the node
                        node.errors.record(e)
                self._tick(node, client)
        finally:
            client.close()
            node.close()

    def _take(self, node: Node, client: CommandClient, msg: Any) -> None:
        topic = msg.topic or f"{msg.source}/{msg.stream}"
        if topic == self.camera_topic:
            frame = np.asarray(next(iter(msg.arrays.values())))
            self._frame = (frame[-1] if frame.ndim == 4 else frame, msg.seq, time.perf_counter())
        elif topic == f"{self.arm}/ee":
            self._ee = np.asarray(next(iter(msg.arrays.values())), np.float32).reshape(-1, 4)[-1]
        elif topic == f"{self.arm}/gripper":
            self._opening = float(np.asarray(next(iter(msg.arrays.values()))).reshape(-1)[-1])
        elif topic == f"{self.name}/prompt":
            reply = self._prompt_reply(msg.meta.get("prompt"))
            node.pub.publish("state", meta={"state": self.state, **reply})
        elif topic == f"{self.name}/estop":
            self.state = "stopped"
            node.pub.publish("state", meta={"state": "stopped", "reason": "estop"})
            client.call(self.arm, "estop")

    def _tick(self, node: Node, client: CommandClient) -> None:
        if self.state != "acting" or time.perf_counter() < self._next_t:
            return
        if not self._primed:  # a stepped arm shows a frame only after an input: hold still
            hold = np.zeros(self.ctrl.cfg.action_dim, np.float32)
            hold[4] = 1.0 if self._opening < 0.5 else -1.0
            node.pub.publish("apply", {"action": hold[None]}, topic=f"{self.arm}/in")
            self._primed = True
            self._next_t = time.perf_counter() + self.period
            return
        if self._frame is None or self._ee is None or self._frame[1] == self._acted_seq:
            return
        frame, seq, t_frame = self._frame
        proprio = np.array([*self._ee, self._opening], np.float32)
        action = self.ctrl.step(frame, proprio)
        self._acted_seq = seq
        self._next_t = max(self._next_t + self.period, time.perf_counter())
        if action[-1] > 0.5:  # terminate: the controller says done; nothing moves
            self.state = "done"
            node.pub.publish("state", meta={"state": "done", "frame_seq": seq})
            return
        node.pub.publish("apply", {"action": action[None]}, topic=f"{self.arm}/in")
        latency = (time.perf_counter() - t_frame) * 1e3
        self.actions += 1
        self.latencies_ms.append(latency)
        node.pub.publish(
            "action", {"action": action[None]}, meta={"frame_seq": seq, "latency_ms": latency}
        )
        node.pub.publish("latency", {"latency": np.array([latency])}, meta={"frame_seq": seq})
