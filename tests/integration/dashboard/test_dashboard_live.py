"""The live page: panels chosen from the rig's own descriptions, fed as the rig runs."""

from __future__ import annotations

import asyncio
import time

import httpx
import websockets
from conftest import Rig, wait_for

from physres.dashboard.reduce import unpack


def test_every_stream_of_the_rig_gets_the_panel_its_description_asks_for(watched: Rig) -> None:
    def kinds() -> dict[str, str]:
        layout = httpx.get(watched.url("/api/state")).json()["layout"]
        return {p["id"]: p["kind"] for p in layout["panels"]}

    want = {
        "esn/state": "heatmap",  # a reservoir's 40 states
        "readout/scored": "readout",  # prediction and target arrays
        "arm/image": "robot",  # a camera on a node with an e-stop
        "arm/joints": "traces",  # seven joint angles
        "esn/in": "traces",  # the driving input, undeclared: inferred from the message
    }

    def chosen() -> dict[str, str | None]:
        k = kinds()
        return {t: k.get(t) for t in want}

    # a node's commands reach the list a heartbeat after its streams: panels follow within 1 s
    got, deadline = chosen(), time.monotonic() + 30
    while got != want and time.monotonic() < deadline:
        time.sleep(0.1)
        got = chosen()
    assert got == want

    def rows() -> dict[str, dict]:
        nodes = httpx.get(watched.url("/api/state")).json()["nodes"]["nodes"]
        return {n["name"]: n for n in nodes}

    arm = rows()["arm"]
    assert arm["health"] == "ok" and "estop" in arm["commands"]
    # rates are measured between listings: the reservoir is driven ~10 times a second
    rate = wait_for(lambda: rows()["esn"]["rates_hz"].get("state"), 20, "a measured rate")
    assert 1 < rate < 50


def test_a_page_receives_frames_and_a_moving_score(watched: Rig) -> None:
    async def watch() -> tuple[set[str], list[float]]:
        seen: set[str] = set()
        scores: list[float] = []
        async with websockets.connect(watched.url("/ws").replace("http", "ws")) as ws:
            while len(scores) < 3 or "arm/image" not in seen:
                msg = await asyncio.wait_for(ws.recv(), 20)
                if isinstance(msg, str):
                    continue
                head, arrays = unpack(msg)
                if arrays:  # a robot panel may show its actions before its first frame
                    seen.add(head["id"])
                if head["id"] == "arm/image" and arrays:
                    assert arrays["frame"].shape == (64, 64, 3) and arrays["frame"].any()
                if head["id"] == "readout/scored" and head["score"] is not None:
                    scores.append(head["score"])
        return seen, scores

    seen, scores = asyncio.run(watch())
    assert {"arm/image", "readout/scored"} <= seen
    assert len(set(scores)) > 1  # the running score moves as the rig runs
    assert all(0 <= s < 10 for s in scores)
