"""The live page: panels chosen from the rig's own descriptions, fed as the rig runs."""

from __future__ import annotations

import asyncio

import httpx
import websockets
from conftest import Rig, wait_for

from physres.dashboard import unpack


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
    got = wait_for(lambda: (k := kinds()) and all(t in k for t in want) and k, what="panels")
    assert {t: got[t] for t in want} == want
    nodes = httpx.get(watched.url("/api/state")).json()["nodes"]["nodes"]
    rows = {n["name"]: n for n in nodes}
    assert rows["arm"]["health"] == "ok" and "estop" in rows["arm"]["commands"]
    assert wait_for(
        lambda: (
            httpx.get(watched.url("/api/state")).json()["nodes"]["nodes"][0]["rates_hz"] is not None
        )
    )


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
