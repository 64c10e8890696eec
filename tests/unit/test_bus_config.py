"""Bus addresses and timeouts: where nodes bind, what they advertise, how long they wait."""

from __future__ import annotations

import math

import pytest

from physres.bus import BusConfig
from physres.bus.config import interface_towards
from physres.bus.sockets import timeout_ms
from physres.errors import BusError


@pytest.mark.parametrize(
    ("seconds", "ms"),
    [
        (None, -1),
        (math.inf, -1),
        (3e6, -1),  # 34 days: beyond a C int of milliseconds, so "forever"
        (2.0, 2000),
        (0.05, 50),
        (1e-6, 1),  # rounded up: a tiny wait is still a wait
        (0.0, 0),
        (-1.0, 0),  # a deadline already passed: do not block
    ],
)
def test_timeouts_in_seconds_become_milliseconds_zeromq_accepts(seconds, ms: int) -> None:
    assert timeout_ms(seconds) == ms


def test_local_tcp_stays_on_loopback() -> None:
    cfg = BusConfig(transport="tcp")
    assert cfg.endpoints.cmd.startswith("tcp://127.0.0.1:")
    assert cfg.node_endpoint("cam", "pub") == "tcp://127.0.0.1:*"
    assert interface_towards("localhost") == "127.0.0.1"


def test_a_broker_on_every_interface_has_its_nodes_bind_everywhere_too() -> None:
    """``host: 0.0.0.0`` says where the broker binds, not where peers reach a node: the
    node binds every interface and advertises the one its default route uses."""
    cfg = BusConfig(transport="tcp", host="0.0.0.0")
    assert cfg.node_endpoint("cam", "pub") == "tcp://0.0.0.0:*"
    advertised = cfg.advertised("tcp://0.0.0.0:40000")
    assert advertised.endswith(":40000") and "0.0.0.0" not in advertised


def test_an_explicit_bind_host_wins_and_a_bad_broker_host_is_named() -> None:
    cfg = BusConfig(transport="tcp", host="127.0.0.1", bind_host="127.0.0.2")
    assert cfg.node_endpoint("cam", "cmd") == "tcp://127.0.0.2:*"
    assert cfg.advertised("tcp://127.0.0.2:5") == "tcp://127.0.0.2:5"
    with pytest.raises(BusError, match="'no-such-host.invalid' does not resolve"):
        BusConfig(transport="tcp", host="no-such-host.invalid").node_endpoint("cam", "pub")


def test_a_bus_name_too_long_for_an_ipc_socket_path_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"bus name of 120 characters makes ipc socket paths"):
        BusConfig(name="x" * 120)
    BusConfig(name="x" * 120, transport="tcp")  # tcp endpoints have no path


def test_every_legal_node_name_gets_an_ipc_endpoint_that_fits_and_stays_unique() -> None:
    cfg = BusConfig(name="b" * 40)
    long_a, long_b = "n" * 199 + "a", "n" * 199 + "b"
    eps = {cfg.node_endpoint(n, "cmd") for n in (long_a, long_b, "esn")}
    assert len(eps) == 3
    assert all(len(e.removeprefix("ipc://").encode()) <= 107 for e in eps)
    assert cfg.node_endpoint("esn", "pub").endswith("-esn-pub")  # short names unchanged
