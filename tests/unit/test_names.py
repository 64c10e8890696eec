"""One meaning per name: ``kind`` a registered name, a task's ``problem``, a stream's ``carries``.

A device kind (``sim.esn``), a task (``narma10``), a pipeline stage (``delay``):
those are kinds. What a task scores is its ``problem``; what a stream holds is
what it ``carries``. Descriptions written before the rename still load.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from physres import registry
from physres.device.spec import Description, StreamSpec
from physres.errors import ConfigError
from physres.tasks.base import TaskData

ROOT = Path(__file__).resolve().parents[2]


def test_task_data_and_stream_specs_have_no_kind() -> None:
    assert [f.name for f in dataclasses.fields(TaskData) if "kind" in f.name] == []
    assert [f.name for f in dataclasses.fields(StreamSpec) if "kind" in f.name] == []
    assert not hasattr(StreamSpec(name="s"), "kind")
    assert StreamSpec(name="s").carries == "continuous"
    with pytest.raises(TypeError):
        StreamSpec(name="s", kind="frame")  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="carries 'video', not one of"):
        StreamSpec(name="s", carries="video")  # type: ignore[arg-type]


def _desc() -> Description:
    with registry.create("sim.esn", "esn", {"n_units": 5}) as dev:
        return dev.describe()


def test_a_description_writes_carries_and_keeps_kind_for_the_device_kind() -> None:
    d = _desc().to_dict()
    assert d["kind"] == "sim.esn"
    for s in d["streams"].values():
        assert "carries" in s and "kind" not in s
    assert Description.from_dict(d) == _desc()


def test_a_description_written_before_the_rename_still_loads() -> None:
    new = _desc()
    old = new.to_dict()
    for s in old["streams"].values():  # the pre-rename layout: "kind" for what a stream carries
        s["kind"] = s.pop("carries")
    assert Description.from_dict(old) == new
    assert StreamSpec.from_dict({"name": "f", "kind": "frame"}).carries == "frame"
    same = {"name": "f", "kind": "frame", "carries": "frame"}
    assert StreamSpec.from_dict(same).carries == "frame"
    with pytest.raises(ConfigError, match="both carries 'state' and the old key kind 'frame'"):
        StreamSpec.from_dict({"name": "f", "kind": "frame", "carries": "state"})


_STREAM_OR_PROBLEM = "continuous|frame|events|state|text|regression|classification"
_OTHER_MEANINGS = re.compile(
    rf"""(\.kind\s*[!=]=\s*|\bkind\s*=\s*)["']({_STREAM_OR_PROBLEM})["']"""
)


def test_no_code_uses_kind_for_a_stream_or_a_problem() -> None:
    for old in ('kind="frame"', "data.kind == 'classification'", 'spec.kind != "events"'):
        assert _OTHER_MEANINGS.search(old), old  # the scan would see the old spellings
    hits = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for top in ("physres", "sim", "drivers", "bench", "tests")
        for p in sorted((ROOT / top).rglob("*.py"))
        if p.name != "test_names.py"
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if _OTHER_MEANINGS.search(line)
    ]
    assert hits == []
