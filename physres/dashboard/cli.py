"""``physres dashboard``: serve the live page (or a recording's) on this machine.

It binds 127.0.0.1 unless told otherwise; beyond this machine a token is
required (``PHYSRES_DASHBOARD_TOKEN``, or ``--token``, which other users can
see in the process list) and the command refuses to start without one.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from pathlib import Path
from typing import Any

from physres.errors import ConfigError

__all__ = ["check_token", "register"]

TOKEN_ENV = "PHYSRES_DASHBOARD_TOKEN"
#: shortest token accepted: a guessable one protects nothing
MIN_TOKEN_CHARS = 16


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token(host: str, token: str | None) -> str | None:
    """The token to require (None: none); ConfigError when listening beyond loopback without."""
    if token is not None:
        if len(token) < MIN_TOKEN_CHARS or not token.isprintable() or " " in token:
            raise ConfigError(
                f"dashboard token: {len(token)} characters; use at least {MIN_TOKEN_CHARS} "
                "printable characters without spaces (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe())'`)"
            )
        return token
    if not _loopback(host):
        raise ConfigError(
            f"--host {host}: the dashboard controls the rig (e-stop, prompts, runs), so beyond "
            f"this machine it needs a token; set {TOKEN_ENV} (or --token) and open "
            "http://HOST:PORT/?token=…"
        )
    return None


def _cmd(args: argparse.Namespace) -> int:
    from physres.cli import _bus_cfg, console

    token = check_token(args.host, args.token or os.environ.get(TOKEN_ENV) or None)
    if args.replay is not None:
        from physres.dashboard.player import serve_replay

        return serve_replay(
            args.replay, host=args.host, port=args.port, token=token, say=console.print
        )
    return _serve_live(_bus_cfg(args), args, token, console)


def _serve_live(cfg: Any, args: argparse.Namespace, token: str | None, console: Any) -> int:
    import uvicorn
    import zmq

    from physres.bus import ensure_broker
    from physres.dashboard.app import Dashboard, build_app
    from physres.dashboard.board import Board
    from physres.dashboard.controls import Controls, RunControl
    from physres.dashboard.live import LiveFeed

    ctx = zmq.Context.instance()
    broker = ensure_broker(cfg, ctx, say=console.print)
    board = Board(f"bus {cfg.name}")
    bridge = None
    if args.foxglove:
        from physres.dashboard.foxglove_bridge import LiveBridge

        bridge = LiveBridge(port=args.foxglove_port)
        console.print(f"Foxglove: ws://127.0.0.1:{bridge.port} (open it in the Foxglove app)")
    feed = LiveFeed(board, cfg, ctx, also=bridge.log if bridge else None).start()
    controls = Controls(board, cfg, ctx)
    dash = Dashboard(board, controls, RunControl(cfg, Path(args.runs_dir)), token=token)
    console.print(
        f"physres dashboard: http://{args.host}:{args.port}/ on bus {cfg.name!r} (Ctrl-C stops)"
    )
    try:
        uvicorn.run(
            build_app(dash),
            host=args.host,
            port=args.port,
            log_level="warning",
            ws="websockets-sansio",
            timeout_graceful_shutdown=2,  # pages that never close must not hold Ctrl-C up
        )
    finally:
        feed.stop()
        controls.close()
        if bridge is not None:
            bridge.close()
        if broker is not None:
            broker.stop()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from physres.cli import _add_bus_args

    p = sub.add_parser(
        "dashboard",
        help="a live web page of the bus: nodes, a panel per stream, e-stop, prompts, runs",
        description="Serve a web page that subscribes to the bus and draws one panel per "
        "stream, chosen from the stream's description; with --replay, the same panels over a "
        "recording with a time slider. Binds 127.0.0.1 unless --host says otherwise; beyond "
        f"this machine a token is required ({TOKEN_ENV} or --token).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8600, help="port of the page")
    p.add_argument("--token", help=f"token every request must carry (prefer {TOKEN_ENV})")
    p.add_argument("--replay", metavar="FILE.mcap", help="show a recording instead of the live bus")
    p.add_argument(
        "--foxglove",
        action="store_true",
        help="also serve the live bus to the Foxglove app (its WebSocket protocol, on 127.0.0.1)",
    )
    p.add_argument("--foxglove-port", type=int, default=8765, help="port of the Foxglove server")
    p.add_argument("--runs-dir", default="runs", help="where runs started from the page write")
    _add_bus_args(p)
    p.set_defaults(func=_cmd)
