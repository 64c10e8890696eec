"""A Device that lives on another node: the same contract, over the bus.

Experiment code drives a :class:`RemoteDevice` exactly as it drives a local
simulator, so the one drive loop serves both. ``connect()`` performs the join
handshake (a probe travels both ways until each side has seen the other), so
no input is published before the device node is subscribed and no output is
missed because this side joined late. Limits are checked here as well as on
the node: an unsafe value never even leaves this host.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np
import zmq

from physres.bus.commands import CommandClient, remote_error
from physres.bus.config import BusConfig
from physres.bus.pubsub import Publisher, Subscriber
from physres.device.base import Device
from physres.device.spec import Chunk, CommandSpec, Description
from physres.errors import DeviceTimeout

__all__ = ["RemoteDevice"]


class RemoteDevice(Device):
    """Proxy for the device served by a :class:`~physres.device.node.DeviceNode` named ``name``."""

    def __init__(
        self,
        name: str,
        *,
        cfg: BusConfig | None = None,
        ctx: zmq.Context | None = None,
        timeout_s: float = 30.0,
        mock: bool = False,
    ) -> None:
        super().__init__(name, mock=mock)
        self.cfg = cfg or BusConfig()
        self.ctx = ctx or zmq.Context.instance()
        self.timeout_s = timeout_s
        self._desc: Description | None = None
        self._client: CommandClient | None = None
        self._pub: Publisher | None = None
        self._sub: Subscriber | None = None
        self._last_in = -1
        self._inbox: dict[str, list[Chunk]] = {}
        self._done: dict[str, int] = {}

    @property
    def client(self) -> CommandClient:
        if self._client is None:
            self._client = CommandClient(self.ctx, self.cfg)
        return self._client

    def describe(self) -> Description:
        """Fetched once from the node (this proxy's only I/O outside connect)."""
        if self._desc is None:
            self._desc = Description.from_dict(self.client.call(self.name, "describe"))
            self.kind = self._desc.kind
            self.clock = self._desc.clock  # type: ignore[misc]
        return self._desc

    def command_specs(self) -> dict[str, CommandSpec]:  # type: ignore[override]
        return dict(self.describe().commands)

    def call(self, name: str, **kwargs: Any) -> Any:
        return self.client.call(self.name, name, timeout_s=self.timeout_s, **kwargs)

    def now_ns(self) -> int:
        return self._t_dev

    # ------------------------------------------------------------- contract
    def _connect(self) -> None:
        desc = self.describe()
        self._t_dev = 0
        self._pub = Publisher(self.ctx, self.cfg, f"{self.name}.driver-{uuid.uuid4().hex[:6]}")
        # outputs straight from the node's own socket when it has one (no broker hop)
        self._sub = Subscriber.direct(
            self.ctx, self.cfg, self.name, [f"{self.name}/"], name=f"{self.name}-proxy"
        )
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.timeout_s
        seen_reply = False
        while True:
            self._pub.publish("_sync", meta={"token": token}, topic=f"{self.name}/in")
            first = self._sub.recv(0.05)
            for msg in [first, *self._sub.drain()] if first else []:
                if msg.stream == "_sync" and msg.meta.get("token") == token:
                    seen_reply = True
            if seen_reply and self.client.call(self.name, "_synced", token=token):
                break
            if time.monotonic() > deadline:
                raise DeviceTimeout(
                    f"device node {self.name!r} did not complete the join handshake "
                    f"within {self.timeout_s:g} s on bus {self.cfg.name!r}"
                )
        self._streams = list(desc.streams)

    def _disconnect(self) -> None:
        for s in (self._pub, self._sub, self._client):
            if s is not None:
                s.close()
        self._pub = self._sub = self._client = None

    def _apply(self, inputs: dict[str, np.ndarray]) -> None:
        assert self._pub is not None
        self._last_in = self._pub.publish("apply", inputs, topic=f"{self.name}/in")

    def _read(self) -> dict[str, Chunk]:
        assert self._sub is not None
        if self.describe().clock == "stepped" and self._last_in >= 0:
            deadline = time.monotonic() + self.timeout_s
            while any(self._done.get(s, -1) < self._last_in for s in self._streams):
                m = self._sub.recv(max(0.0, deadline - time.monotonic()))
                if m is None:
                    missing = [s for s in self._streams if self._done.get(s, -1) < self._last_in]
                    raise DeviceTimeout(
                        f"device {self.name!r}: no {missing} for input {self._last_in} "
                        f"within {self.timeout_s:g} s"
                    )
                self._take(m)
        else:
            for m in self._sub.drain():
                self._take(m)
        out = {}
        for s in self._streams:
            chunks = self._inbox.pop(s, [])
            spec = self.describe().streams[s]
            if chunks:
                out[s] = Chunk(
                    np.concatenate([c.data for c in chunks]), chunks[0].t_dev_ns, chunks[-1].meta
                )
            else:
                shape = tuple(0 if d is None else d for d in spec.shape)
                out[s] = Chunk(np.zeros((0, *shape), dtype=spec.np_dtype), self._t_dev)
        return out

    def _take(self, m: Any) -> None:
        if m.stream == "_fault" and m.meta.get("type") != "cleared":
            raise remote_error(
                self.name, "apply", str(m.meta.get("type")), str(m.meta.get("message"))
            )
        if m.stream == "sent":
            # what the device really sent (after its own limits and quantisation) is
            # what the next slew check on this side must start from; only the answer
            # to the latest input counts (an older one would roll the state back)
            if m.meta.get("in_seq") != self._last_in:
                return
            for name, arr in m.arrays.items():
                if arr.ndim and len(arr):
                    self._last_sent[name] = np.array(arr[-1])
            return
        if m.stream not in self._streams:
            return
        self._inbox.setdefault(m.stream, []).append(Chunk(np.array(m.data), m.t_dev, dict(m.meta)))
        self._t_dev = max(self._t_dev, m.t_dev)
        if "in_seq" in m.meta:
            self._done[m.stream] = int(m.meta["in_seq"])

    def _reset(self, seed: int | None) -> None:
        self.call("reset", seed=seed)
        self._inbox.clear()
