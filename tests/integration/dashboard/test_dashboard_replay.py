"""`physres dashboard --replay`: a recording through the same panels, scrubbed with seek/play."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets
from conftest import Rig, wait_for

from physres.bus import encode
from physres.bus.record import Recorder, RecordingWriter, read_recording
from physres.cli import main
from physres.dashboard.app import Dashboard, build_app, serve_in_thread
from physres.dashboard.board import Board
from physres.dashboard.player import Player
from physres.dashboard.reduce import unpack

T0 = 1_700_000_000_000_000_000
SPIKE = np.dtype([("t_ns", "<i8"), ("channel", "<i2")])


def _recording(path: Path) -> Path:
    """10 s at 10 Hz: a 40-wide state whose every value is the step number, frames, spikes."""
    w = RecordingWriter(path)
    for i in range(100):
        t = T0 + i * 100_000_000
        w.write(
            encode("esn", "state", i, {"state": np.full((1, 40), float(i))}, t_host=t),
            log_time=t,
        )
        w.write(
            encode("cam", "image", i, {"image": np.full((1, 32, 32, 3), i, np.uint8)}, t_host=t),
            log_time=t,
        )
        ev = np.array([(t, i % 4)], SPIKE)
        w.write(encode("lsm", "spikes", i, {"spikes": ev}, t_host=t), log_time=t)
    w.close()
    return path


@pytest.fixture
def replay(tmp_path: Path) -> Iterator[tuple[str, Player]]:
    board = Board("recording")
    player = Player(_recording(tmp_path / "run.mcap"), board).start()
    server, thread, port = serve_in_thread(build_app(Dashboard(board, player=player)))
    yield f"ws://127.0.0.1:{port}/ws", player
    server.should_exit = True
    thread.join(10)
    player.stop()


async def _until(ws: Any, check: Any) -> Any:
    while True:
        m = await asyncio.wait_for(ws.recv(), 10)
        got = check(json.loads(m) if isinstance(m, str) else unpack(m))
        if got is not None:
            return got


def test_seeking_shows_each_panel_as_it_was_at_that_moment(replay: tuple[str, Player]) -> None:
    url, _player = replay

    async def go() -> tuple[dict, float, int, dict]:
        async with websockets.connect(url) as ws:
            layout = await _until(
                ws,
                lambda m: (
                    m
                    if isinstance(m, dict) and m.get("type") == "layout" and len(m["panels"]) == 3
                    else None
                ),
            )
            await ws.send(json.dumps({"op": "seek", "t_ns": T0 + 4_250_000_000}))
            reply = await _until(
                ws, lambda m: m if isinstance(m, dict) and m.get("type") == "replay" else None
            )

            latest: dict[str, Any] = {}

            def both_at_seek(m: Any) -> Any:
                if isinstance(m, tuple) and m[1]:
                    latest[m[0]["id"]] = m[1]
                state, cam = latest.get("esn/state"), latest.get("cam/image")
                if state is None or cam is None or cam["frame"][0, 0, 0] != 42:
                    return None
                y = state["y"]
                return (float(y[:, -1].mean()), y.shape[1]) if y[0, -1] == 42 else None

            last, points = await _until(ws, both_at_seek)
            return {p["id"]: p["kind"] for p in layout["panels"]}, last, points, reply

    kinds, last, points, reply = asyncio.run(go())
    # written without the recorder's notes: each stream is described by what it holds (40 floats)
    assert kinds == {"esn/state": "traces", "cam/image": "image", "lsm/spikes": "raster"}
    assert reply["t_ns"] == T0 + 4_250_000_000 and reply["playing"] is False
    assert last == 42  # the last step at or before 4.25 s
    assert points == 43  # 0 … 4.2 s: everything in the 6 s before the cursor, nothing after


def test_play_moves_the_cursor_and_the_panels_with_it(replay: tuple[str, Player]) -> None:
    url, player = replay

    async def go() -> list[int]:
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"op": "seek", "t_ns": T0 + 1_000_000_000}))
            await ws.send(json.dumps({"op": "play"}))
            seen: list[int] = []
            while len(seen) < 5 or seen[-1] - seen[0] < 5:
                head = await _until(
                    ws,
                    lambda m: m[0] if isinstance(m, tuple) and m[0]["id"] == "esn/state" else None,
                )
                seen.append((head["t_host"] - T0) // 100_000_000)  # the step it shows
            await ws.send(json.dumps({"op": "pause"}))
            return seen

    steps = asyncio.run(go())
    assert steps == sorted(steps) and steps[-1] - steps[0] >= 5  # half a second of recording
    assert player.t_ns > T0 + 1_000_000_000


@pytest.mark.parametrize(
    "bad", ['{"op": "seek"}', '{"op": "seek", "t_ns": "soon"}', '{"op": "seek", "t_ns": true}']
)
def test_a_bad_seek_is_answered_and_changes_nothing(replay: tuple[str, Player], bad: str) -> None:
    url, player = replay

    async def go() -> dict:
        async with websockets.connect(url) as ws:
            await ws.send(bad)
            return await _until(
                ws, lambda m: m if isinstance(m, dict) and m.get("type") == "error" else None
            )

    assert "t_ns must be a whole number of nanoseconds" in asyncio.run(go())["error"]
    assert player.t_ns == player.start_ns


def test_the_command_refuses_what_is_not_a_recording(tmp_path: Path, capsys: Any) -> None:
    assert main(["dashboard", "--replay", str(tmp_path / "none.mcap")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "notes.mcap").write_text("hello")
    assert main(["dashboard", "--replay", str(tmp_path / "notes.mcap")]) == 2
    assert "not an MCAP recording" in capsys.readouterr().err


def test_a_recorded_run_replays_with_the_panels_it_had_live(rig: Rig, tmp_path: Path) -> None:
    """The recorder notes what each node declared, so the replay chooses as the live page did."""
    path = tmp_path / "live.mcap"
    rec = Recorder(path, [""], rig.cfg, rig.ctx).start()
    wait_for(lambda: rig.steps >= 15, 60, "the rig to run")
    rec.stop()
    info, messages = read_recording(path)
    list(messages)
    notes = {k: v for k, v in info.metadata.items() if k.startswith("physres.node.")}
    assert {"physres.node.arm", "physres.node.esn", "physres.node.readout"} <= set(notes)
    assert "estop" in json.loads(notes["physres.node.arm"]["commands"])
    board = Board("replay")
    player = Player(path, board).start()
    try:
        wait_for(lambda: {"esn/state", "arm/image"} <= set(board.reducers), 10, "panels")
        kinds = {p["id"]: p["kind"] for p in board.layout()["panels"]}
    finally:
        player.stop()
    assert kinds["esn/state"] == "heatmap" and kinds["arm/image"] == "robot"
    assert kinds["readout/scored"] == "readout"
