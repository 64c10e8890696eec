"""Controls from the page: the e-stop (also with the page flooded), prompts, runs; bad input."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from conftest import Rig, arm_status, start_dashboard, wait_for
from websockets.exceptions import InvalidStatus

from physres.bus import CommandClient, Publisher


def _flood(rig: Rig, stop: threading.Event) -> None:
    """A 64-channel 25 kHz signal (50 messages/s of 500 samples) and 30 fps 640×480 video."""
    pub = Publisher(rig.ctx, rig.cfg, "flood")
    frame = np.random.default_rng(0).integers(0, 255, (1, 480, 640, 3), dtype=np.uint8)
    signal = np.random.default_rng(1).normal(size=(500, 64)).astype(np.float32)
    try:
        t0 = time.monotonic()
        for tick in range(10**9):  # 150 ticks a second: raw every 3rd, video every 5th
            if stop.wait(max(0.0, t0 + tick / 150 - time.monotonic())):
                break
            if tick % 3 == 0:
                pub.publish("raw", {"raw": signal})
            if tick % 5 == 0:
                pub.publish("video", {"video": frame})
    finally:
        pub.close()


def test_the_estop_reaches_the_arm_while_the_page_is_flooded(watched: Rig) -> None:
    stop = threading.Event()
    flood = threading.Thread(target=_flood, args=(watched, stop), daemon=True)
    flood.start()

    async def flooded_pages_then_estop() -> dict[str, Any]:
        url = watched.url("/ws").replace("http", "ws")
        # pages that never read: the server's sends to them back up
        stalled = [await websockets.connect(url, max_size=None) for _ in range(4)]
        try:
            await asyncio.sleep(2.0)  # let the flood fill their buffers
            t0 = time.monotonic()
            async with httpx.AsyncClient() as http:
                r = await http.post(watched.url("/api/estop"), timeout=10)
            return {**r.json(), "wall_s": time.monotonic() - t0, "status": r.status_code}
        finally:
            for ws in stalled:
                ws.transport.abort()  # they never read: no close handshake either

    try:
        wait_for(lambda: "flood/video" in watched.dash.board.reducers, what="the flood")
        answer = asyncio.run(flooded_pages_then_estop())
    finally:
        stop.set()
        flood.join(5)
    print(
        f"e-stop answered in {answer['wall_s'] * 1000:.0f} ms with the page flooded, "
        f"{answer['ms']} ms of it in the bus call"
    )
    assert answer["status"] == 200 and answer["ok"], answer
    assert [n["node"] for n in answer["nodes"]] == ["arm"]
    # the bus call itself takes ~10 ms; the rest is this process (rig, flood and server share it)
    # on a shared 2-core machine: bench/dashboard.py measures it with the server on its own
    assert answer["wall_s"] < 10.0
    assert arm_status(watched)["fault"] == "e-stop"  # it reached the arm itself


def test_a_prompt_is_sent_to_the_node_offering_it_and_its_answer_shown(watched: Rig) -> None:
    wait_for(lambda: "controller" in watched.dash.board.nodes_offering("prompt") or None, what="ls")
    ok = httpx.post(watched.url("/api/prompt"), json={"text": "put the  cube in the tray"}).json()
    assert ok["ok"] and ok["accepted"] and ok["result"]["similarity"] == 1.0
    assert watched.controller.prompts == ["put the cube in the tray"]  # spaces collapsed
    refused = httpx.post(watched.url("/api/prompt"), json={"text": "dance"})
    assert refused.status_code == 200 and refused.json()["accepted"] is False
    assert refused.json()["result"]["reason"] == "no known object named"
    # the robot panel shows the prompt it follows, and whether it was accepted
    robot = watched.dash.board.reducers["arm/image"]
    assert robot.prompt["text"] == "dance" and robot.prompt["accepted"] is False


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"text": ""}, 422, "prompt: empty"),
        ({"text": "x" * 501}, 422, "over the limit of 500"),
        ({"text": "cube\x1b[2J"}, 422, "control characters"),
        ({"text": 42}, 422, "expected text, got int"),
        ({"text": "cube", "node": "arm"}, 422, "offers no prompt command"),
        ([1, 2], 400, "must be a JSON object"),
    ],
)
def test_bad_prompts_get_a_clear_answer_and_never_reach_the_bus(
    watched: Rig, body: Any, status: int, says: str
) -> None:
    wait_for(lambda: watched.dash.board.nodes_offering("prompt") or None, what="ls")
    r = httpx.post(watched.url("/api/prompt"), json=body)
    assert r.status_code == status and says in r.json()["error"]
    assert watched.controller.prompts == []
    r = httpx.post(
        watched.url("/api/prompt"),
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and "not JSON" in r.json()["error"]


def test_with_no_controller_on_the_bus_the_prompt_says_so(watched: Rig) -> None:
    watched.controller.stop()
    time.sleep(0.3)
    r = httpx.post(watched.url("/api/prompt"), json={"text": "put the cube in the tray"})
    assert r.status_code == 422 and "offers a prompt command" in r.json()["error"]


def test_malformed_websocket_messages_get_errors_and_the_bus_never_notices(watched: Rig) -> None:
    async def send_garbage() -> list[dict[str, Any]]:
        async with websockets.connect(watched.url("/ws").replace("http", "ws")) as ws:
            for bad in [
                "not json",
                "[1,2]",
                '{"op": 3}',
                '{"op": "launch"}',
                b"\x00\xff",
                '{"op": "seek", "t_ns": 1}',
                '{"op": "latency", "ms": ["x"]}',
                "x" * 20_000,
            ]:
                await ws.send(bad)
            errors = []
            while len(errors) < 8:
                m = await asyncio.wait_for(ws.recv(), 10)
                if isinstance(m, str) and json.loads(m)["type"] == "error":
                    errors.append(json.loads(m))
            # the connection still serves panels after all that
            while not isinstance(await asyncio.wait_for(ws.recv(), 10), bytes):
                pass
            return errors

    errors = asyncio.run(send_garbage())
    said = [e["error"] for e in errors]
    assert said[0].startswith("not JSON") and "expected a JSON object" in said[1]
    assert "unknown op 'launch'" in said[3] and "not binary" in said[4]
    assert "not a recording" in said[5] and "list of numbers" in said[6]
    assert "over the limit" in said[7]
    client = CommandClient(watched.ctx, watched.cfg)
    try:
        rows = {r["name"]: r for r in client.call("_broker", "ls")}
    finally:
        client.close()
    for name in ("arm", "esn", "readout", watched.feed.name):
        assert not rows[name].get("garbage") and not rows[name].get("errors"), rows[name]


def test_a_page_that_disconnects_mid_stream_leaves_the_others_and_the_bus_alone(
    watched: Rig,
) -> None:
    async def go() -> int:
        url = watched.url("/ws").replace("http", "ws")
        rude = await websockets.connect(url)
        await asyncio.wait_for(rude.recv(), 10)
        rude.transport.abort()  # no close handshake: gone mid-stream
        async with websockets.connect(url) as polite:
            got = 0
            while got < 10:
                if isinstance(await asyncio.wait_for(polite.recv(), 10), bytes):
                    got += 1
            return got

    assert asyncio.run(go()) == 10
    assert watched.feed._thread is not None and watched.feed._thread.is_alive()
    assert not watched.feed.node.errors.counts


@pytest.fixture
def guarded(rig: Rig, tmp_path: Path) -> Any:
    yield from start_dashboard(rig, token="correct-horse-battery-staple")


def test_a_wrong_token_gets_nothing(guarded: Rig) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-of-some-length"}):
        r = httpx.get(guarded.url("/api/state"), headers=headers)
        assert r.status_code == 401 and "token" in r.json()["error"]
        r = httpx.post(guarded.url("/api/estop"), headers=headers)
        assert r.status_code == 401
    assert arm_status(guarded)["fault"] is None  # the refused e-stop did nothing
    assert httpx.get(guarded.url("/static/dashboard.js")).status_code == 401

    async def ws(query: str) -> Any:
        async with websockets.connect(guarded.url("/ws").replace("http", "ws") + query) as s:
            return await asyncio.wait_for(s.recv(), 10)

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(ws("?token=nope"))
    assert refused.value.response.status_code == 403
    assert asyncio.run(ws("?token=correct-horse-battery-staple"))  # the right one is served
    good = {"Authorization": "Bearer correct-horse-battery-staple"}
    assert httpx.get(guarded.url("/api/state"), headers=good).status_code == 200
    # the page, opened with ?token=, gets a cookie its own requests then carry
    with httpx.Client() as browser:
        page = browser.get(guarded.url("/?token=correct-horse-battery-staple"))
        assert page.status_code == 200 and "E-STOP" in page.text
        assert browser.get(guarded.url("/static/dashboard.js")).status_code == 200


def test_a_run_starts_from_a_config_and_stops_like_ctrl_c(watched: Rig, tmp_path: Path) -> None:
    cfg = tmp_path / "long.yaml"
    cfg.write_text(
        "name: long_narma\nseed: 0\n"
        "devices:\n  res:\n    kind: sim.esn\n    params: {n_units: 50}\n"
        "task:\n  kind: narma10\n  params: {n_train: 200000, n_test: 2000}\n"
        "drive:\n  chunk: 20\n"
    )
    bad = httpx.post(watched.url("/api/run/start"), json={"config": str(tmp_path / "none.yaml")})
    assert bad.status_code == 400 and "none.yaml" in bad.json()["error"]
    started = httpx.post(watched.url("/api/run/start"), json={"config": str(cfg)}).json()
    assert started["ok"], started
    again = httpx.post(watched.url("/api/run/start"), json={"config": str(cfg)})
    assert again.status_code == 400 and "a run is going" in again.json()["error"]
    # its device joins the dashboard's bus and gets a panel
    wait_for(lambda: "res/state" in watched.dash.board.reducers, 60, "the run's reservoir")
    stopped = httpx.post(watched.url("/api/run/stop"), timeout=60).json()
    assert stopped["ok"] and stopped["returncode"] == 130, stopped
    run = json.loads((Path(started["out"]) / "run.json").read_text())
    assert run["status"] == "interrupted"
