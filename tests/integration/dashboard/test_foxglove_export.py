"""`physres export foxglove`: every channel of the export decodes through its declared schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from mcap.decoder import DecoderFactory as McapDecoderFactory
from mcap.reader import make_reader
from mcap.records import Schema
from mcap_protobuf.decoder import DecoderFactory as ProtobufDecoderFactory

from physres.bus import encode
from physres.bus.record import RecordingWriter, read_recording
from physres.cli import main
from physres.dashboard.foxglove_export import export_foxglove
from physres.errors import RecordingError

SPIKE = np.dtype([("t_ns", "<i8"), ("channel", "<i2")])


class JsonSchemaDecoder(McapDecoderFactory):
    """Decodes a json channel by validating each message against its jsonschema."""

    def decoder_for(self, message_encoding: str, schema: Schema | None) -> Any:
        if message_encoding != "json" or schema is None or schema.encoding != "jsonschema":
            return None
        validator = jsonschema.Draft202012Validator(json.loads(schema.data))

        def decode(data: bytes) -> Any:
            obj = json.loads(data)
            validator.validate(obj)
            return obj

        return decode


def _recording(path: Path) -> Path:
    w = RecordingWriter(path)
    t0 = 1_700_000_000_000_000_000
    for i in range(5):
        frame = np.full((1, 32, 32, 3), 40 * i, np.uint8)
        w.write(
            encode(
                "arm", "image", i, {"image": frame}, t_host=t0 + i * 10**8, units={"image": "rgb"}
            )
        )
        ee = np.array([[0.4, 0.1 * i, 0.2, 0.5]])
        w.write(
            encode("arm", "ee", i, {"ee": ee}, t_host=t0 + i * 10**8, units={"ee": "m, m, m, rad"})
        )
        state = np.random.default_rng(i).normal(size=(250, 40))  # 250 samples: block-averaged
        w.write(encode("esn", "state", i, {"state": state}, t_host=t0 + i * 10**8))
        spikes = np.array([(t0 + i * 10**8 + k, k % 7) for k in range(3)], SPIKE)
        w.write(encode("mea", "spikes", i, {"spikes": spikes}, t_host=t0 + i * 10**8))
        w.write(
            encode(
                "controller",
                "prompt",
                i,
                meta={"text": f"put the cube in the tray {i}"},
                t_host=t0 + i * 10**8,
            )
        )
    w.close()
    return path


def test_every_channel_decodes_through_its_declared_schema(tmp_path: Path) -> None:
    rec = _recording(tmp_path / "run.mcap")
    raw_before = rec.read_bytes()
    r = export_foxglove(rec, tmp_path / "fox.mcap")
    assert r.channels == {
        "/arm/image": "foxglove.RawImage",
        "/arm/ee": "foxglove.FrameTransform",
        "/esn/state": "physres.Series",
        "/mea/spikes": "foxglove.Event",
        "/controller/prompt": "foxglove.Log",
    }
    decoded: dict[str, list[Any]] = {}
    with open(r.out, "rb") as f:
        reader = make_reader(f, decoder_factories=[ProtobufDecoderFactory(), JsonSchemaDecoder()])
        summary = reader.get_summary()
        assert (
            summary is not None and summary.chunk_indexes
        )  # chunked and indexed, unlike physres/v1
        for schema, channel, _m, obj in reader.iter_decoded_messages():
            assert schema is not None and schema.name == r.channels[channel.topic]
            decoded.setdefault(channel.topic, []).append(obj)
    assert set(decoded) == set(r.channels)
    img = decoded["/arm/image"][3]
    assert (img.width, img.height, img.encoding, img.step) == (32, 32, "rgb8", 96)
    assert np.frombuffer(img.data, np.uint8).reshape(32, 32, 3)[0, 0, 0] == 120
    tf = decoded["/arm/ee"][2]
    assert (tf.parent_frame_id, tf.child_frame_id) == ("table", "arm/tool")
    assert tf.translation.y == pytest.approx(0.2)
    # tool pointing down, turned by yaw 0.5: q = (cos 0.25, sin 0.25, 0, 0)
    assert (tf.rotation.x, tf.rotation.y) == pytest.approx((np.cos(0.25), np.sin(0.25)))
    series = decoded["/esn/state"]
    assert len(series) == 5 * 84  # 250 samples in blocks of 3: 84 points per message
    _, messages = read_recording(rec)
    first = next(m for _t, m in messages if m.topic == "esn/state")
    np.testing.assert_allclose(series[0]["state"], first.data[:3].mean(axis=0))
    ev = decoded["/mea/spikes"]
    assert len(ev) == 15 and {kv.key: kv.value for kv in ev[4].metadata}["channel"] == "1"
    assert decoded["/controller/prompt"][0].message == "put the cube in the tray 0"
    assert rec.read_bytes() == raw_before  # the raw recording is kept for exact replay


def test_the_command_refuses_to_overwrite_the_recording_or_another_file(
    tmp_path: Path, capsys: Any
) -> None:
    rec = _recording(tmp_path / "run.mcap")
    with pytest.raises(RecordingError, match="the recording itself"):
        export_foxglove(rec, rec, overwrite=True)
    assert main(["export", "foxglove", str(rec), "--out", str(tmp_path / "f.mcap")]) == 0
    assert "/arm/image: foxglove.RawImage" in capsys.readouterr().out
    assert main(["export", "foxglove", str(rec), "--out", str(tmp_path / "f.mcap")]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert (
        main(["export", "foxglove", str(tmp_path / "nope.mcap"), "--out", str(tmp_path / "g.mcap")])
        == 2
    )
