"""The web side: a Starlette app with one WebSocket for panels and HTTP for controls.

* ``GET /`` the page; ``/static/…`` its script, styles and uPlot (shipped in the
  package: nothing is fetched from the internet).
* ``WS /ws`` panel snapshots (binary, see :mod:`physres.dashboard.reduce`),
  the layout and the node list (JSON); the page sends small JSON requests
  back (``latency`` reports, and ``seek``/``play``/``pause`` when replaying).
* ``POST /api/estop`` on its own path and its own threads: it never queues
  behind panel data or other requests. ``POST /api/prompt``,
  ``POST /api/run/start``, ``POST /api/run/stop``, ``GET /api/run``,
  ``GET /api/state``, ``GET /api/latency``.

A token, when set, is required on every request (header ``Authorization:
Bearer …``, the cookie the page gets from ``/?token=…``, or ``?token=`` on the
WebSocket); a wrong one gets 401 (403 on the WebSocket) and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from physres.dashboard.board import Board, PageCursor
from physres.dashboard.controls import Controls, RunControl

__all__ = ["Dashboard", "build_app", "serve_in_thread"]

STATIC = Path(__file__).parent / "static"
COOKIE = "physres_token"
#: largest JSON request the page may send (a prompt, a seek): anything bigger is refused
MAX_REQUEST_BYTES = 16 * 1024
#: how often a page's sender looks for new snapshots
TICK_S = 0.01


@dataclass
class Dashboard:
    """Everything the app serves: the board, the controls, and (when replaying) the player."""

    board: Board
    controls: Controls | None = None
    runs: RunControl | None = None
    player: Any = None
    token: str | None = None
    #: frame-to-screen latencies the pages reported (ms), newest last
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    #: malformed requests answered with an error (the bus never sees them)
    bad_requests: int = 0


class TokenGate:
    """ASGI middleware: every HTTP request and WebSocket must carry the token (when one is set)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    def _given(self, scope: Scope) -> str | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        if "cookie" in headers:
            jar: SimpleCookie = SimpleCookie()
            with contextlib.suppress(Exception):
                jar.load(headers["cookie"])
            if COOKIE in jar:
                return jar[COOKIE].value
        from urllib.parse import parse_qs

        q = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        return q.get("token", [None])[0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.token is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = self._given(scope)
        if given is not None and secrets.compare_digest(given.encode(), self.token.encode()):
            await self.app(scope, receive, send)
            return
        why = "missing token" if given is None else "wrong token"
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": why})
            return
        body = json.dumps(
            {
                "ok": False,
                "error": f"{why}: open the page as /?token=… or send Authorization: Bearer …",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _json_body(request: Request) -> dict[str, Any] | str:
    """The request's JSON object, or a one-line reason it is not one."""
    raw = await request.body()
    if len(raw) > MAX_REQUEST_BYTES:
        return f"request body of {len(raw)} bytes, over the limit of {MAX_REQUEST_BYTES}"
    try:
        body = json.loads(raw or b"{}")
    except ValueError as e:
        return f"request body is not JSON: {e}"
    if not isinstance(body, dict):
        return f"request body must be a JSON object, got {type(body).__name__}"
    return body


def _answer(result: dict[str, Any], status_if_failed: int = 409) -> JSONResponse:
    return JSONResponse(result, status_code=200 if result.get("ok") else status_if_failed)


def build_app(dash: Dashboard) -> ASGIApp:
    """The ASGI app for ``dash`` (wrapped in the token gate)."""
    board = dash.board

    async def index(request: Request) -> Response:
        resp = FileResponse(STATIC / "index.html")
        if dash.token is not None:  # the page's own requests carry it from now on
            resp.set_cookie(COOKIE, dash.token, httponly=True, samesite="strict")
        return resp

    def bad(why: str) -> JSONResponse:
        dash.bad_requests += 1
        return JSONResponse({"ok": False, "error": why}, status_code=400)

    async def estop(request: Request) -> Response:
        if dash.controls is None:
            return _answer({"ok": False, "error": "replaying a recording: nothing to stop"})
        fut = dash.controls.estop_entry.submit(dash.controls.estop)
        return _answer(await asyncio.wrap_future(fut), 502)

    async def prompt(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, str):
            return bad(body)
        if dash.controls is None:
            return _answer({"ok": False, "error": "replaying a recording: no robot to prompt"})
        result = await asyncio.to_thread(dash.controls.prompt, body.get("text"), body.get("node"))
        return _answer(result, 422)

    async def run_start(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, str):
            return bad(body)
        if dash.runs is None:
            return _answer({"ok": False, "error": "replaying a recording: runs start live only"})
        return _answer(await asyncio.to_thread(dash.runs.start, body.get("config")), 400)

    async def run_stop(request: Request) -> Response:
        if dash.runs is None:
            return _answer({"ok": False, "error": "replaying a recording: no run"})
        return _answer(await asyncio.to_thread(dash.runs.stop))

    async def run_status(request: Request) -> Response:
        return JSONResponse(dash.runs.status() if dash.runs else {"state": "replay"})

    async def state(request: Request) -> Response:
        player = dash.player.state() if dash.player is not None else None
        return JSONResponse({"layout": board.layout(), "nodes": board.nodes(), "replay": player})

    async def latency(request: Request) -> Response:
        return JSONResponse({"ms": list(dash.latency_ms), "bad_requests": dash.bad_requests})

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        cursor = PageCursor()
        sender = asyncio.create_task(_send_loop(websocket, board, cursor, dash))
        try:
            while True:
                msg = await websocket.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                reply = _handle_request(dash, msg.get("text"), msg.get("bytes"))
                if reply is not None:
                    await websocket.send_text(json.dumps(reply))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    routes = [
        Route("/", index),
        Route("/api/estop", estop, methods=["POST"]),
        Route("/api/prompt", prompt, methods=["POST"]),
        Route("/api/run/start", run_start, methods=["POST"]),
        Route("/api/run/stop", run_stop, methods=["POST"]),
        Route("/api/run", run_status),
        Route("/api/state", state),
        Route("/api/latency", latency),
        WebSocketRoute("/ws", ws),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return TokenGate(Starlette(routes=routes), dash.token)


def _handle_request(dash: Dashboard, text: str | None, data: bytes | None) -> dict[str, Any] | None:
    """One JSON request from a page; an error reply for anything malformed (never raises)."""

    def error(why: str) -> dict[str, Any]:
        dash.bad_requests += 1
        return {"type": "error", "error": why}

    if text is None:
        return error("send JSON text, not binary")
    if len(text) > MAX_REQUEST_BYTES:
        return error(f"request of {len(text)} characters, over the limit of {MAX_REQUEST_BYTES}")
    try:
        req = json.loads(text)
    except ValueError as e:
        return error(f"not JSON: {e}")
    if not isinstance(req, dict) or not isinstance(req.get("op"), str):
        return error('expected a JSON object with an "op" (latency, seek, play, pause)')
    op = req["op"]
    if op == "latency":
        ms = req.get("ms")
        if not isinstance(ms, list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x < 1e6 for x in ms
        ):
            return error("latency: ms must be a list of numbers of milliseconds")
        dash.latency_ms.extend(float(x) for x in ms[:1000])
        return None
    if op in ("seek", "play", "pause"):
        if dash.player is None:
            return error(f"{op}: this dashboard shows the live bus, not a recording")
        try:
            return {"type": "replay", **dash.player.request(op, req)}
        except ValueError as e:
            return error(f"{op}: {e}")
    return error(f"unknown op {op[:40]!r}; expected latency, seek, play or pause")


async def _send_loop(ws: WebSocket, board: Board, cursor: PageCursor, dash: Dashboard) -> None:
    """Send this page what changed, latest first; ends quietly when the page goes away."""
    try:
        while True:
            sent = False
            if cursor.layout != board.layout_version:
                layout = board.layout()
                cursor.layout = layout["v"]
                await ws.send_text(json.dumps(layout))
                sent = True
            if cursor.nodes != board.nodes_version:
                nodes = board.nodes()
                cursor.nodes = nodes["v"]
                if dash.player is not None:
                    nodes["replay"] = dash.player.state()
                await ws.send_text(json.dumps(nodes))
                sent = True
            for snap in board.due(cursor):
                await ws.send_bytes(snap)
                sent = True
            await asyncio.sleep(0 if sent else TICK_S)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    except Exception as e:  # a closed socket in another library's words: stop this page only
        if "close" not in str(e).lower() and "disconnect" not in type(e).__name__.lower():
            raise


def serve_in_thread(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0
) -> tuple[uvicorn.Server, threading.Thread, int]:
    """Run ``app`` with uvicorn in a thread; returns the server, the thread and the bound port."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard-http", daemon=True)
    thread.start()
    import time

    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the dashboard's web server did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, bound
