"""``physres dashboard``: a live web page over the bus, a recording player, a Foxglove bridge.

Panels are chosen from each stream's own description (:mod:`.panels`), fed and
downsampled on the server (:mod:`.reduce`, :mod:`.board`), served by Starlette
and uvicorn (:mod:`.app`); controls (e-stop, prompt, runs) are bus commands
(:mod:`.controls`). :mod:`.foxglove_bridge` speaks Foxglove's schemas for the
export and the live server.
"""

from physres.dashboard.app import Dashboard, build_app, serve_in_thread
from physres.dashboard.board import Board, PageCursor
from physres.dashboard.controls import Controls, RunControl
from physres.dashboard.live import LiveFeed
from physres.dashboard.panels import RULES, Panel, choose_panel, describe_message
from physres.dashboard.reduce import pack, unpack

__all__ = [
    "RULES",
    "Board",
    "Controls",
    "Dashboard",
    "LiveFeed",
    "PageCursor",
    "Panel",
    "RunControl",
    "build_app",
    "choose_panel",
    "describe_message",
    "pack",
    "serve_in_thread",
    "unpack",
]
