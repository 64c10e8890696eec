"""Feeding the board from the live bus: one node that subscribes to everything.

The dashboard is a node of its own (``dashboard-<pid>``), so ``physres ls``
shows what it received, dropped and counted as garbage. Its thread owns its
sockets (ZeroMQ sockets are thread-bound): it folds messages into the board,
asks the broker for the node list every ``ls_every_s`` (and at once when a
message comes from a node it has not seen listed, so a stream's declared
description picks its panel rather than a guess), and hands each message to
the Foxglove bridge when one runs. Nothing the web side does reaches this
thread except through the board's lock.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

import zmq

from physres.bus.codec import Message
from physres.bus.commands import CommandClient
from physres.bus.config import BusConfig
from physres.bus.node import Node
from physres.bus.service import Service
from physres.dashboard.board import Board
from physres.errors import CommandTimeout

__all__ = ["LiveFeed"]

log = logging.getLogger(__name__)


class LiveFeed(Service):
    """Subscribe to the whole bus and keep ``board`` current until ``stop()``."""

    #: how often the node list is refreshed (rates are measured over it)
    ls_every_s = 1.0
    #: the soonest a message from an unlisted node asks for the list again
    ls_min_gap_s = 0.2

    def __init__(
        self,
        board: Board,
        cfg: BusConfig,
        ctx: zmq.Context | None = None,
        *,
        name: str | None = None,
        also: Callable[[Message], None] | None = None,
    ) -> None:
        super().__init__()
        self.board = board
        self.cfg = cfg
        self.ctx = ctx or zmq.Context.instance()
        self.name = name or f"dashboard-{os.getpid()}"
        #: called with every message after the board (the Foxglove bridge)
        self.also = also
        self.node: Node | None = None
        self._next_ls = 0.0
        self._last_ls = -1e9

    @property
    def service_name(self) -> str:
        return self.name

    def run(self) -> None:
        node = Node(self.name, self.cfg, self.ctx, subscribe=[""], kind="dashboard")
        client = CommandClient(self.ctx, self.cfg)
        self.node = node
        self._serving()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= self._next_ls:
                    self._refresh(client, now)
                for msg in node.spin_once(0.02):
                    try:
                        if msg.source != self.name and not self.board.knows_source(msg.source):
                            self._refresh(client, time.monotonic(), urgent=True)
                        self.board.feed(msg)
                        if self.also is not None:
                            self.also(msg)
                    except Exception as e:  # nothing that arrives may end the feed
                        node.errors.record(e)
        finally:
            client.close()
            node.close()

    def _refresh(self, client: CommandClient, now: float, *, urgent: bool = False) -> None:
        if urgent and now - self._last_ls < self.ls_min_gap_s:
            return
        self._last_ls = now
        self._next_ls = now + self.ls_every_s
        try:
            rows = client.call("_broker", "ls", timeout_s=0.5)
        except CommandTimeout:
            log.warning("dashboard: the broker of bus %r did not answer ls", self.cfg.name)
            return
        self.board.set_nodes(rows if isinstance(rows, list) else [], now)
