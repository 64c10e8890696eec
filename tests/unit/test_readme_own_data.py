"""README "Your own data in three steps": its blocks run, and the run it describes works."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from physres.cli import main

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _section() -> str:
    m = re.search(r"^## Your own data in three steps\n(.*?)(?=^## )", README, flags=re.S | re.M)
    assert m, "README has no '## Your own data in three steps' section"
    return m.group(1)


def test_the_three_steps_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _section()
    [code] = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    [config] = re.findall(r"^```yaml\n(.*?)^```", text, flags=re.S | re.M)
    assert "`physres run mydata.yaml`" in text
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README own-data step 1", "exec"), {"__name__": "readme"})
    Path("mydata.yaml").write_text(config)
    assert main(["check", "mydata.yaml"]) == 0
    assert main(["run", "mydata.yaml", "--out", "run", "--quiet"]) == 0
    m = json.loads(Path("run/metrics.json").read_text())
    assert m["status"] == "ok" and m["task"] == "dataset"
    assert m["metrics"]["accuracy"] >= 0.9  # calm vs gusty, held-out day
    assert "control_raw_input_accuracy" in m["metrics"]
