"""Every shipped example config validates (kinds, params, task names) without running."""

from __future__ import annotations

from pathlib import Path

import pytest

from physres import tasks
from physres.config import load_config

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_config_is_valid(path: Path) -> None:
    cfg = load_config(path)
    if cfg.task is not None:
        tasks.create(cfg.task.kind, **cfg.task.params)  # task params validate too
