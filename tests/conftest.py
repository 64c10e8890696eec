"""Shared fixtures: a private bus per test, on ipc sockets in the test's tmp folder."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import zmq

from physres.bus import Broker, BusConfig


@pytest.fixture
def bus_cfg(tmp_path_factory: pytest.TempPathFactory) -> BusConfig:
    """A bus nobody else uses: unique name, sockets under a short tmp path."""
    d = tmp_path_factory.mktemp("bus")
    return BusConfig(
        name=f"t{uuid.uuid4().hex[:8]}", ipc_dir=str(d), heartbeat_s=0.1, command_timeout_s=2.0
    )


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


@pytest.fixture
def broker(bus_cfg: BusConfig, ctx: zmq.Context) -> Iterator[Broker]:
    b = Broker(bus_cfg, ctx).start()
    yield b
    b.stop()


@pytest.fixture
def closer() -> Iterator[list]:
    """Append anything with .close(); it is closed at teardown (unclosed sockets block ctx.term)."""
    things: list = []
    yield things
    for t in reversed(things):
        t.close()
