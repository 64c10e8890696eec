"""`physres dashboard --foxglove`: a client of Foxglove's WebSocket protocol watches the bus."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import websockets
from conftest import Rig
from mcap.records import Schema
from mcap_protobuf.decoder import DecoderFactory

from physres.dashboard.board import Board
from physres.dashboard.foxglove_bridge import LiveBridge
from physres.dashboard.live import LiveFeed

WANT = {
    "/arm/image": "foxglove.RawImage",
    "/arm/ee": "foxglove.FrameTransform",
    "/esn/state": "physres.Series",
    "/readout/scored": "physres.Series",
}


@pytest.fixture
def bridged(rig: Rig) -> Iterator[int]:
    bridge = LiveBridge(port=0)
    feed = LiveFeed(Board("fox"), rig.cfg, rig.ctx, also=bridge.log).start()
    yield bridge.port
    feed.stop()
    bridge.close()


def _decoder(channel: dict[str, Any]) -> Any:
    """How a Foxglove app decodes a channel: from the schema the server advertised."""
    if channel["encoding"] == "json":
        validator = jsonschema.Draft202012Validator(json.loads(channel["schema"]))

        def decode(data: bytes) -> Any:
            obj = json.loads(data)
            validator.validate(obj)
            return obj

        return decode
    schema = Schema(
        id=channel["id"],
        name=channel["schemaName"],
        encoding=channel["schemaEncoding"],
        data=base64.b64decode(channel["schema"]),
    )
    return DecoderFactory().decoder_for(channel["encoding"], schema)


def test_a_foxglove_client_subscribes_and_decodes_the_live_streams(bridged: int, rig: Rig) -> None:
    deadline = time.monotonic() + 60

    async def watch() -> dict[str, Any]:
        url = f"ws://127.0.0.1:{bridged}"
        async with websockets.connect(url, subprotocols=["foxglove.sdk.v1"]) as ws:
            channels: dict[int, dict[str, Any]] = {}
            subs: dict[int, dict[str, Any]] = {}
            got: dict[str, Any] = {}
            while set(got) != set(WANT):
                # say what never came (and why the rig stopped, if it did), not hang
                assert time.monotonic() < deadline and not rig.errors, (
                    f"missing {sorted(set(WANT) - set(got))}; advertised "
                    f"{sorted(c['topic'] for c in channels.values())}; rig errors {rig.errors}"
                )
                m = await asyncio.wait_for(ws.recv(), 30)
                if isinstance(m, str):
                    msg = json.loads(m)
                    if msg["op"] == "advertise":
                        for c in msg["channels"]:
                            if c["topic"] in WANT and c["id"] not in channels:
                                channels[c["id"]] = c
                                sid = len(subs) + 1
                                subs[sid] = c
                                await ws.send(
                                    json.dumps(
                                        {
                                            "op": "subscribe",
                                            "subscriptions": [{"id": sid, "channelId": c["id"]}],
                                        }
                                    )
                                )
                    continue
                assert m[0] == 1  # a message data frame: sub id, log time, payload
                sid, _log_time = struct.unpack_from("<IQ", m, 1)
                c = subs[sid]
                assert c["schemaName"] == WANT[c["topic"]]
                got[c["topic"]] = _decoder(c)(m[13:])
            return got

    got = asyncio.run(watch())
    img = got["/arm/image"]
    assert (img.width, img.height, img.encoding) == (64, 64, "rgb8") and len(
        img.data
    ) == 64 * 64 * 3
    tf = got["/arm/ee"]
    assert (tf.parent_frame_id, tf.child_frame_id) == ("table", "arm/tool")
    assert 0.0 < tf.translation.z < 1.0  # the tool above the table
    assert len(got["/esn/state"]["state"]) == 40
    scored = got["/readout/scored"]
    assert len(scored["prediction"]) == len(scored["target"]) == 1
