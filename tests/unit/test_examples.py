"""Every shipped example config validates (kinds, params, task names) without running."""

from __future__ import annotations

from pathlib import Path

import pytest

from physres import tasks
from physres.config import load_config

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))
#: examples another command runs (not `physres run`), checked by that command's loader
OTHER_COMMANDS = {"mea_pong": "physres pong"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_config_is_valid(path: Path) -> None:
    if OTHER_COMMANDS.get(path.stem) == "physres pong":
        from physres.experiments.pong import load

        load(path)
        return
    cfg = load_config(path)
    if cfg.task is not None:
        tasks.create(cfg.task.kind, **cfg.task.params)  # task params validate too
