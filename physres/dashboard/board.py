"""The dashboard's state: panels by topic, the node list, and what each page still needs.

Written by one feeder thread (the live bus or a recording) and read by the
web server's pages; one lock guards it, held only to fold a message in or to
copy a snapshot out. Each page remembers which version of each panel it has
and when it got it, so it is sent only newer snapshots, at most ``max_hz`` per
panel (latest wins).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from physres.bus.codec import Message
from physres.dashboard.panels import Panel, choose_panel, describe_message
from physres.dashboard.reduce import Reducer, RobotReducer, make_reducer

__all__ = ["Board", "PageCursor", "node_health"]

#: topics that are bus plumbing, not data (join handshakes)
_PLUMBING = ("_sync",)
#: most panels one board holds (a sender inventing topics must not grow the page forever)
MAX_PANELS = 256


def node_health(row: Mapping[str, Any]) -> str:
    """``ok`` (alive, nothing lost), ``warn`` (drops, garbage, loop errors), ``bad`` (gone)."""
    state = row.get("state", "alive" if row.get("alive") else "gone")
    if state != "alive":
        return "bad"
    lost = any(
        isinstance(v, dict) and any(isinstance(x, int) and x > 0 for x in v.values())
        for v in (row.get("dropped"), row.get("garbage"), row.get("errors"))
    )
    return "warn" if lost else "ok"


def _total(v: Any) -> int:
    if isinstance(v, dict):
        return sum(x for x in v.values() if isinstance(x, int) and not isinstance(x, bool))
    return 0


@dataclass
class PageCursor:
    """What one page has been sent: each panel's version and when."""

    versions: dict[str, int] = field(default_factory=dict)
    sent_at: dict[str, float] = field(default_factory=dict)
    layout: int = -1
    nodes: int = -1


class Board:
    """Panels and nodes, shared between the feeder thread and the pages."""

    def __init__(self, source: str) -> None:
        #: what feeds it, for the page's title: ``bus NAME`` or the recording's path
        self.source = source
        self.lock = threading.Lock()
        self.reducers: dict[str, Reducer] = {}
        self.layout_version = 0
        self.nodes_version = 0
        self._nodes: list[dict[str, Any]] = []
        self._rows: dict[str, Mapping[str, Any]] = {}
        self._published: dict[str, tuple[float, dict[str, int]]] = {}
        self._cache: dict[str, tuple[int, bytes]] = {}
        #: messages on topics past MAX_PANELS (counted, not shown)
        self.overflow = 0
        self.prompt: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}

    # ------------------------------------------------------------ feeding
    def set_nodes(self, rows: list[Any], now: float | None = None) -> None:
        """The broker's ``ls`` rows: kept for panel choice, summarised for the page."""
        now = time.monotonic() if now is None else now
        out = []
        good = [r for r in rows if isinstance(r, dict) and isinstance(r.get("name"), str)]
        for r in good:
            name = r["name"]
            published = r.get("published") if isinstance(r.get("published"), dict) else {}
            before = self._published.get(name)
            rates: dict[str, float] = {}
            if before is not None and now > before[0]:
                dt = now - before[0]
                for st, n in published.items():
                    if isinstance(n, int) and isinstance(before[1].get(st), int):
                        rates[st] = round(max(0, n - before[1][st]) / dt, 1)
            self._published[name] = (now, dict(published))
            streams = r.get("streams") if isinstance(r.get("streams"), dict) else {}
            out.append(
                {
                    "name": name,
                    "kind": str(r.get("kind", "")),
                    "state": str(r.get("state", "alive" if r.get("alive") else "gone")),
                    "health": r.get("health")
                    if isinstance(r.get("health"), str)
                    else node_health(r),
                    "streams": sorted(str(s) for s in streams),
                    "rates_hz": rates,
                    "commands": [c for c in r.get("commands") or [] if isinstance(c, str)],
                    "dropped": _total(r.get("dropped")),
                    "garbage": _total(r.get("garbage")),
                    "errors": _total(r.get("errors")),
                }
            )
        with self.lock:
            self._rows = {r["name"]: r for r in good}
            self._nodes = out
            self.nodes_version += 1
            self._rechoose()

    def _rechoose(self) -> None:
        """A node's row grew (its commands came a heartbeat after its streams): panels follow."""
        for topic, red in list(self.reducers.items()):
            source = topic.split("/", 1)[0]
            row = self._rows.get(source)
            if row is None:
                continue
            panel = self._choose(topic, source, topic.split("/", 1)[-1], red.panel.spec, row)
            if panel.kind != red.panel.kind:
                self.reducers[topic] = make_reducer(panel)
                self.reducers[topic].version = red.version + 1
                self.layout_version += 1

    def touch_nodes(self) -> None:
        """Have pages fetch the node message again (a replay's cursor moved)."""
        with self.lock:
            self.nodes_version += 1

    def node_row(self, name: str) -> Mapping[str, Any] | None:
        return self._rows.get(name)

    def nodes_offering(self, command: str) -> list[str]:
        """Names of live nodes that list ``command`` (the e-stop and the prompt find theirs)."""
        return [
            n["name"] for n in self._nodes if command in n["commands"] and n["state"] == "alive"
        ]

    def knows_source(self, source: str) -> bool:
        return source in self._rows

    def feed(self, msg: Message) -> None:
        """Fold one bus message into its panel (made on first sight from its description)."""
        topic = msg.topic
        stream = topic.rsplit("/", 1)[-1]
        if stream in _PLUMBING or msg.stream in _PLUMBING:  # a join handshake on <dev>/in too
            return
        if stream == "_fault":  # a device refused an input or faulted: its node row says so
            with self.lock:
                faults = self.extra.setdefault("faults", {})
                if msg.source in faults or len(faults) < MAX_PANELS:
                    faults[msg.source] = {k: str(v)[:300] for k, v in msg.meta.items()}
            return
        with self.lock:
            red = self._reducer(msg)
            if red is None:
                self.overflow += 1
                return
            red.feed(msg)
            if stream == "sent":
                robot = self.reducers.get(f"{msg.source}/image")
                if isinstance(robot, RobotReducer):
                    robot.note_actions(msg)

    def add_panel(self, msg: Message) -> None:
        """Make ``msg``'s panel without showing ``msg`` (a replay lays out every topic first)."""
        with self.lock:
            self._reducer(msg)

    def _reducer(self, msg: Message) -> Reducer | None:
        """The panel of ``msg``'s topic, made on first sight; None past MAX_PANELS."""
        red = self.reducers.get(msg.topic)
        if red is None:
            if len(self.reducers) >= MAX_PANELS:
                return None
            red = make_reducer(self._panel_for(msg))
            if isinstance(red, RobotReducer) and self.prompt:
                red.note_prompt(self.prompt)
            self.reducers[msg.topic] = red
            self.layout_version += 1
        return red

    def _panel_for(self, msg: Message) -> Panel:
        row = self._rows.get(msg.source) or {}
        own = msg.topic == f"{msg.source}/{msg.stream}"
        return self._choose(
            msg.topic, msg.source, msg.stream if own else "", describe_message(msg), row
        )

    @staticmethod
    def _choose(
        topic: str, source: str, stream: str, seen: Mapping[str, Any], row: Mapping[str, Any]
    ) -> Panel:
        """The declared description when the node declares the stream, else what was seen."""
        streams = row.get("streams") if isinstance(row.get("streams"), dict) else {}
        declared = streams.get(stream) if stream else None
        desc = (
            dict(declared) if isinstance(declared, dict) and declared.get("dtype") else dict(seen)
        )
        if seen.get("arrays") and "arrays" not in desc:
            desc["arrays"] = list(seen["arrays"])
        return choose_panel(topic, desc, row)

    def note_prompt(self, prompt: Mapping[str, Any]) -> None:
        """The prompt sent last and its answer: shown on every robot panel."""
        with self.lock:
            self.prompt = dict(prompt)
            for red in self.reducers.values():
                if isinstance(red, RobotReducer):
                    red.note_prompt(prompt)

    def reset_panels(self) -> None:
        """Forget every panel's data (a replay seeks): the layout is kept."""
        with self.lock:
            for topic, red in list(self.reducers.items()):
                fresh = make_reducer(red.panel)
                fresh.version = red.version + 1
                self.reducers[topic] = fresh
            self._cache.clear()

    # ------------------------------------------------------------ reading
    def layout(self) -> dict[str, Any]:
        with self.lock:
            return {
                "type": "layout",
                "v": self.layout_version,
                "source": self.source,
                "panels": [r.panel.to_dict() for r in self.reducers.values()],
            }

    def nodes(self) -> dict[str, Any]:
        with self.lock:
            return {
                "type": "nodes",
                "v": self.nodes_version,
                "nodes": list(self._nodes),
                "overflow": self.overflow,
                **self.extra,
            }

    def due(self, cursor: PageCursor, now: float | None = None) -> list[bytes]:
        """Snapshots this page has not seen and may have now (rate limit per panel)."""
        now = time.monotonic() if now is None else now
        out = []
        with self.lock:
            for topic, red in self.reducers.items():
                if cursor.versions.get(topic) == red.version:
                    continue
                if now - cursor.sent_at.get(topic, -1e9) < 1.0 / red.max_hz:
                    continue
                cached = self._cache.get(topic)
                if cached is None or cached[0] != red.version:
                    cached = (red.version, red.snapshot())
                    self._cache[topic] = cached
                cursor.versions[topic] = red.version
                cursor.sent_at[topic] = now
                out.append(cached[1])
        return out
