"""The broker's node list, polled off the caller's thread: what a recorder notes beside its data.

A recorder must never wait on a command (a late broker would stall the file),
so a thread of this class asks the broker for ``ls`` every ``every_s`` on a
socket of its own and hands back only rows that are new or whose kind,
streams or commands changed.
"""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

import zmq

from physres.bus.commands import CommandClient
from physres.bus.config import BusConfig
from physres.errors import BusError

__all__ = ["NodeLister"]


class NodeLister:
    """Poll ``ls`` in a thread; ``changed()`` returns rows not handed out before in that form."""

    def __init__(
        self, ctx: zmq.Context, cfg: BusConfig, *, skip: str = "", every_s: float = 1.0
    ) -> None:
        self.ctx, self.cfg, self.skip, self.every_s = ctx, cfg, skip, every_s
        self._rows: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._seen: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="node-lister", daemon=True)

    def start(self) -> NodeLister:
        self._thread.start()
        return self

    def _run(self) -> None:
        client = CommandClient(self.ctx, self.cfg)
        try:
            while True:
                try:
                    rows = client.call("_broker", "ls", timeout_s=min(1.0, self.every_s))
                except BusError:
                    rows = []
                for r in rows if isinstance(rows, list) else []:
                    if isinstance(r, dict) and isinstance(r.get("name"), str):
                        self._rows.put(r)
                if self._stop.wait(self.every_s):
                    return
        finally:
            client.close()

    def changed(self) -> list[dict[str, Any]]:
        """Rows of nodes first listed, or listed differently, since the last call."""
        out = []
        while True:
            try:
                r = self._rows.get_nowait()
            except queue.Empty:
                return out
            if r["name"] == self.skip:
                continue
            key = json.dumps(
                [r.get("kind"), r.get("streams"), r.get("commands")], sort_keys=True, default=str
            )
            known = r["name"] in self._seen
            if self._seen.get(r["name"]) != key and (known or len(self._seen) < 4096):
                self._seen[r["name"]] = key
                out.append(r)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
