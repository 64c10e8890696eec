"""The rule table: every stream gets its panel from its own description, new substrates too."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

from physres import registry
from physres.bus import encode
from physres.bus.codec import decode
from physres.dashboard.panels import PANEL_KINDS, RULES, choose_panel, describe_message
from physres.device import StreamSpec


def _panels_of(kind: str) -> dict[str, str]:
    d = registry.create(kind).describe()  # a description needs no I/O
    node = {"commands": sorted(d.commands)}
    return {s.name: choose_panel(f"x/{s.name}", asdict(s), node).kind for s in d.streams.values()}


def test_every_stream_of_every_registered_kind_gets_a_panel_the_page_can_draw() -> None:
    for kind in registry.kinds():
        for s in registry.create(kind).describe().streams.values():
            assert choose_panel(f"x/{s.name}", asdict(s)).kind in PANEL_KINDS, (kind, s.name)


@pytest.mark.parametrize(
    ("kind", "stream", "panel"),
    [
        ("sim.esn", "state", "heatmap"),  # a reservoir's states
        ("sim.lsm", "spikes", "raster"),  # spike events with a channel field
        ("sim.bucket", "frame", "image"),  # a camera frame
        ("mock.bucket_camera", "features", "heatmap"),  # 1,024 image features
        ("mock.bucket_motors", "duty_out", "traces"),  # four motors
        ("mock.arm", "joints", "traces"),  # five joint angles
        ("mock.bucket_motors", "status", "value"),  # a status record: its latest value
    ],
)
def test_registered_substrates_get_the_panel_their_data_calls_for(
    kind: str, stream: str, panel: str
) -> None:
    assert _panels_of(kind)[stream] == panel


def test_a_camera_on_a_node_with_an_estop_is_a_robot_panel() -> None:
    cam = asdict(StreamSpec(name="image", dtype="|u1", shape=(64, 64, 3), carries="frame"))
    assert choose_panel("arm/image", cam, {"commands": ["estop", "status"]}).kind == "robot"
    assert choose_panel("cam/image", cam, {"commands": ["status"]}).kind == "image"


def test_a_new_substrate_gets_panels_without_dashboard_code() -> None:
    """An electrode array nobody wrote a panel for: its description is enough."""
    signal = StreamSpec(name="raw", dtype="<i2", shape=(64,), units="uV", rate_hz=25_000)
    spikes = StreamSpec(
        name="spikes", dtype=[("t_ns", "<i8"), ("electrode", "<u2")], shape=(), carries="events"
    )
    assert choose_panel("mea/raw", asdict(signal)).kind == "traces"
    p = choose_panel("mea/spikes", asdict(spikes))
    assert (p.kind, p.spec["channel_field"]) == ("raster", "electrode")
    assert p.rule == "events with a channel field"  # the page says which rule chose it


def test_prediction_and_target_arrays_make_a_readout_panel() -> None:
    desc = {"dtype": "<f8", "shape": [None], "arrays": ["prediction", "target"]}
    assert choose_panel("readout/scored", desc).kind == "readout"


def test_the_last_rule_takes_anything() -> None:
    assert RULES[-1].when({"dtype": "garbage"}, {})
    assert choose_panel("x/y", {"dtype": "not a dtype", "shape": "nonsense"}).kind == "value"


@pytest.mark.parametrize(
    ("arrays", "meta", "carries"),
    [
        ({"image": np.zeros((1, 48, 64, 3), np.uint8)}, None, "frame"),
        ({"gray": np.zeros((2, 32, 32), np.uint8)}, None, "frame"),
        ({"ev": np.zeros(5, [("t_ns", "<i8"), ("channel", "<i2")])}, None, "events"),
        ({"u": np.zeros((40, 1))}, None, "continuous"),
        ({"small": np.zeros((1, 4, 4), np.uint8)}, None, "continuous"),  # too small for a frame
        ({}, {"text": "put the cube in the tray"}, "text"),
    ],
)
def test_undeclared_topics_are_described_from_their_first_message(
    arrays: dict, meta: dict | None, carries: str
) -> None:
    msg = decode(encode("dev", "x", 0, arrays, meta=meta))
    assert describe_message(msg).get("carries") == carries
