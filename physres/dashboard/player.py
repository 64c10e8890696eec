"""``physres dashboard --replay FILE.mcap``: a recording through the same panels, with a slider.

The recording is read once (damaged stretches skipped and counted, as
``physres info`` does) and held in memory. Seeking to ``t`` clears the panels
and folds in the messages of the ``window_s`` before it, so every panel shows
what it would have shown live at that moment; playing feeds messages as their
recorded times come, at ``speed``. A recording carries the data, not the
nodes' command lists, so a camera shows as a camera panel (there is no arm to
stop in a file).
"""

from __future__ import annotations

import bisect
import queue
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from physres.bus.codec import Message
from physres.bus.record import read_recording
from physres.bus.service import Service
from physres.dashboard.board import Board

__all__ = ["Player", "serve_replay"]


class Player(Service):
    """Feeds a board from a recording: seek, play, pause (requests from any thread)."""

    #: how much recording before the cursor a seek folds in (the traces' span)
    window_s = 6.0
    tick_s = 0.02

    def __init__(self, path: str | Path, board: Board) -> None:
        super().__init__()
        self.path = Path(path)
        self.board = board
        info, it = read_recording(self.path)
        self.messages: list[tuple[int, Message]] = sorted(it, key=lambda m: m[0])
        self.info = info
        self.times = [t for t, _m in self.messages]
        self.start_ns = self.times[0] if self.times else 0
        self.end_ns = self.times[-1] if self.times else 0
        self.t_ns = self.start_ns
        self.playing = False
        self.speed = 1.0
        self._next = 0  # index of the first message after the cursor
        self._requests: queue.Queue[tuple[str, int | None]] = queue.Queue()
        self._rows()

    def _rows(self) -> None:
        by_source: dict[str, Counter[str]] = {}
        for _t, m in self.messages:
            by_source.setdefault(m.source, Counter())[m.stream] += 1
        self.board.set_nodes(
            [
                {
                    "name": src,
                    "kind": "recorded",
                    "state": "recorded",
                    "health": "ok",
                    "streams": {s: {} for s in counts},
                    "published": dict(counts),
                }
                for src, counts in sorted(by_source.items())
            ]
        )

    def state(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "t_ns": self.t_ns,
            "playing": self.playing,
            "speed": self.speed,
            "messages": len(self.messages),
            "recording_ended": self.info.end_reason,
        }

    def request(self, op: str, req: dict[str, Any]) -> dict[str, Any]:
        """Check a page's request and queue it; ValueError names what is wrong."""
        if op == "seek":
            t = req.get("t_ns")
            if not isinstance(t, int) or isinstance(t, bool):
                raise ValueError(f"t_ns must be a whole number of nanoseconds, got {t!r}")
            t = min(max(t, self.start_ns), self.end_ns)
            self._requests.put(("seek", t))
            return {**self.state(), "t_ns": t}
        self._requests.put((op, None))
        return {**self.state(), "playing": op == "play"}

    # ------------------------------------------------------------ thread
    def run(self) -> None:
        self.seek(self.start_ns)
        self._serving()
        last = time.monotonic()
        while not self._stop.is_set():
            try:
                op, t = self._requests.get(timeout=self.tick_s)
            except queue.Empty:
                op, t = "", None
            now = time.monotonic()
            if op == "seek" and t is not None:
                self.seek(t)
            elif op == "play":
                self.playing = True
                if self.t_ns >= self.end_ns:
                    self.seek(self.start_ns)
                self.board.touch_nodes()
            elif op == "pause":
                self.playing = False
                self.board.touch_nodes()
            if self.playing:
                self.advance(self.t_ns + int((now - last) * self.speed * 1e9))
            last = now

    def seek(self, t_ns: int) -> None:
        """Show the recording as it was at ``t_ns``."""
        self.board.reset_panels()
        lo = bisect.bisect_left(self.times, t_ns - int(self.window_s * 1e9))
        self._next = lo
        self.t_ns = t_ns
        self._feed_until(t_ns)
        self.board.touch_nodes()

    def advance(self, t_ns: int) -> None:
        before = int(self.t_ns // 2e8)
        self.t_ns = min(t_ns, self.end_ns)
        self._feed_until(self.t_ns)
        if self.t_ns >= self.end_ns:
            self.playing = False
        if self.t_ns // 2e8 != before or not self.playing:  # the slider moves 5 times a second
            self.board.touch_nodes()

    def _feed_until(self, t_ns: int) -> None:
        end = bisect.bisect_right(self.times, t_ns)
        for _t, msg in self.messages[self._next : end]:
            self.board.feed(msg)
        self._next = max(self._next, end)


def serve_replay(
    path: str,
    *,
    host: str,
    port: int,
    token: str | None,
    say: Callable[[str], object],
) -> int:
    import uvicorn

    from physres.dashboard.app import Dashboard, build_app

    board = Board(f"recording {path}")
    player = Player(path, board).start()
    say(
        f"physres dashboard: http://{host}:{port}/ replaying {path} "
        f"({len(player.messages)} messages, {(player.end_ns - player.start_ns) / 1e9:.1f} s; "
        "Ctrl-C stops)"
    )
    try:
        uvicorn.run(
            build_app(Dashboard(board, player=player, token=token)),
            host=host,
            port=port,
            log_level="warning",
            ws="websockets-sansio",
            timeout_graceful_shutdown=2,  # pages that never close must not hold Ctrl-C up
        )
    finally:
        player.stop()
    return 0
