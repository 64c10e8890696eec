"""Put any Device on the bus: inputs in, streams out, commands answered.

Topics (``<name>`` is the device's name):

* ``<name>/in`` — inputs: a message whose arrays are named after the device's
  inputs (``{"u": (T, n_in)}``). Stream ``_sync`` is the join handshake.
* ``<name>/<stream>`` — each declared stream; messages carry ``in_seq`` (the
  input that produced them) for stepped devices, so a driver can wait for
  exactly its own results.
* ``<name>/sent`` — what the device actually sent after limits (recorded).
* ``<name>/_fault`` — a refused input or a device fault, with the reason.

The same loop serves stepped simulators (outputs published right after each
input) and wall-clock devices (outputs polled and published as they come).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import zmq

from physres.bus.config import BusConfig
from physres.bus.node import Node
from physres.bus.service import Service
from physres.device.base import Device
from physres.device.spec import InputSpec
from physres.errors import PhysresError

__all__ = ["DeviceNode"]

log = logging.getLogger(__name__)


class DeviceNode(Service):
    """Serve one device on the bus until ``stop()``; run it in a thread or the foreground."""

    def __init__(
        self,
        device: Device,
        cfg: BusConfig | None = None,
        ctx: zmq.Context | None = None,
        *,
        poll_s: float = 0.005,
        fault_retry_s: float = 0.5,
    ) -> None:
        super().__init__()
        self.device = device
        self.cfg = cfg or BusConfig()
        self.ctx = ctx or zmq.Context.instance()
        self.poll_s = poll_s
        self.faults = 0
        self._sync_tokens: dict[str, None] = {}  # an ordered set, oldest first
        self.fault_retry_s = fault_retry_s
        self._retry_at = 0.0
        self._last_fault = ""
        self._inputs: Mapping[str, InputSpec] = {}

    @property
    def service_name(self) -> str:
        return f"device-{self.device.name}"

    def run(self) -> None:
        """Serve in the calling thread (sockets are created here: they are thread-bound)."""
        dev = self.device
        dev.connect()
        try:
            node = Node(dev.name, self.cfg, self.ctx, subscribe=[f"{dev.name}/in"], kind=dev.kind)
        except BaseException:
            dev.disconnect()
            raise
        self.node = node
        desc = dev.describe()
        self._inputs = desc.inputs
        for s in desc.streams.values():
            node.declare_stream(
                s.name,
                dtype=s.dtype,
                shape=list(s.shape),
                units=s.units,
                rate_hz=s.rate_hz,
                carries=s.carries,
            )
        for name in desc.commands:
            node.command(name, lambda _n=name, **kw: dev.call(_n, **kw))
        node.command("describe", lambda: dev.describe().to_dict())
        node.command("reset", self._reset)
        node.command("_synced", lambda token: token in self._sync_tokens)
        self._serving()
        stepped = desc.clock == "stepped"
        try:
            while not self._stop.is_set():
                for msg in node.spin_once(self.poll_s):
                    try:
                        if msg.stream == "_sync":
                            self._sync(node, str(msg.meta.get("token"))[:256])
                            continue
                        self._handle_input(node, msg.seq, msg.arrays, stepped)
                    except Exception as e:  # nothing that arrives may end the node
                        node.errors.record(e)
                    node.heartbeat_if_due()  # a backlog of inputs must not look like death
                if not stepped:
                    self._poll_wall_device(node)
        finally:
            try:
                dev.disconnect()
            finally:
                node.close()

    _MAX_SYNC_TOKENS = 1024

    def _sync(self, node: Node, token: str) -> None:
        """Answer a join handshake; remember the latest tokens only (a flood cannot grow it)."""
        self._sync_tokens.pop(token, None)
        self._sync_tokens[token] = None
        while len(self._sync_tokens) > self._MAX_SYNC_TOKENS:
            del self._sync_tokens[next(iter(self._sync_tokens))]
        node.pub.publish("_sync", meta={"token": token})

    def _poll_wall_device(self, node: Node) -> None:
        """Publish what a live device produced; on a fault publish it once and hold.

        A device that raises (a silent servo, a lost serial link) is not
        disconnected: the node keeps serving commands (status, clear_fault...)
        and retries reading at most every ``fault_retry_s``.
        """
        now = time.monotonic()
        if now < self._retry_at:
            return
        try:
            chunks = self.device.read()
        except Exception as e:  # a driver's own error or one it failed to wrap: hold, report
            self.faults += 1
            if str(e) != self._last_fault:  # report each new fault once
                self._last_fault = str(e)
                node.pub.publish("_fault", meta={"type": type(e).__name__, "message": str(e)})
                log.log(
                    logging.WARNING if isinstance(e, PhysresError) else logging.ERROR,
                    "%s fault: %s (holding; retrying every %.1f s)",
                    self.device.name,
                    e,
                    self.fault_retry_s,
                    exc_info=not isinstance(e, PhysresError),  # a driver bug: keep the trace
                )
            self._retry_at = now + self.fault_retry_s
            return
        if self._last_fault:
            node.pub.publish("_fault", meta={"type": "cleared", "message": ""})
            self._last_fault = ""
        self._publish(node, chunks, None)

    def _reset(self, seed: int | None = None) -> bool:
        self.device.reset(seed)
        return True

    # ------------------------------------------------------------------ I/O
    def _handle_input(self, node: Node, seq: int, arrays: dict[str, Any], stepped: bool) -> None:
        try:
            for name, arr in arrays.items():  # size first: a huge input is refused unread
                if (spec := self._inputs.get(name)) is not None:
                    spec.check_len(self.device.name, arr)
            sent = self.device.apply(arrays)
            node.pub.publish("sent", sent, meta={"in_seq": seq}, t_dev=self.device.now_ns())
            if stepped:
                self._publish(node, self.device.read(), seq)
        except Exception as e:  # refuse or report this input; the node keeps serving
            self.faults += 1
            node.pub.publish(
                "_fault", meta={"in_seq": seq, "type": type(e).__name__, "message": str(e)}
            )
            if isinstance(e, (PhysresError, ValueError, TypeError)):
                log.warning("%s refused input %d: %s", self.device.name, seq, e)
            else:  # not a refusal: a driver bug or a lost transport; keep the traceback
                log.error("%s failed on input %d", self.device.name, seq, exc_info=True)

    def _publish(self, node: Node, chunks: dict[str, Any], in_seq: int | None) -> None:
        desc_streams = node.streams
        for name, chunk in chunks.items():
            if in_seq is None and len(chunk.data) == 0:
                continue
            meta = dict(chunk.meta)
            if in_seq is not None:
                meta["in_seq"] = in_seq
            units = desc_streams.get(name, {}).get("units", "")
            node.pub.publish(
                name,
                {name: chunk.data},
                t_dev=chunk.t_dev_ns,
                meta=meta,
                units={name: units} if units else None,
            )
