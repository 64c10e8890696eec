"""One socket factory: every bus socket gets the options BusConfig sets, in one place."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import zmq

import physres
from physres.bus import BusConfig
from physres.bus.sockets import bus_socket

#: the one module allowed to call ``ctx.socket``
FACTORY = Path(physres.__file__).parent / "bus" / "sockets.py"


@pytest.mark.parametrize(
    ("kind", "sndhwm", "rcvhwm"),
    [
        (zmq.PUB, 7, 1000),
        (zmq.XPUB, 7, 1000),
        (zmq.SUB, 1000, 9),
        (zmq.XSUB, 1000, 9),
        (zmq.DEALER, 1000, 1000),  # command sockets keep libzmq's bound on purpose
        (zmq.ROUTER, 1000, 1000),
    ],
)
def test_the_factory_applies_the_config(kind: int, sndhwm: int, rcvhwm: int) -> None:
    ctx = zmq.Context()
    cfg = BusConfig(sndhwm=7, rcvhwm=9, zero_copy_bytes=123)
    s = bus_socket(ctx, cfg, kind, "client")
    try:
        assert s.getsockopt(zmq.LINGER) == 0
        assert (s.getsockopt(zmq.SNDHWM), s.getsockopt(zmq.RCVHWM)) == (sndhwm, rcvhwm)
        if kind == zmq.PUB:
            assert s.copy_threshold == 123
    finally:
        s.close()
        ctx.term()


def test_no_other_module_makes_its_own_sockets() -> None:
    offenders = []
    for path in Path(physres.__file__).parent.rglob("*.py"):
        if path == FACTORY:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "socket"
                and node.args
                and "zmq." in ast.unparse(node.args[0])
            ):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
