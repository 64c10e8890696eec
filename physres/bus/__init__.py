"""The ZeroMQ bus: message codec, broker, nodes, commands, record and replay."""

from __future__ import annotations

import os
from collections.abc import Callable

import zmq

from physres.bus.broker import Broker
from physres.bus.codec import SCHEMA_VERSION, Message, decode, encode
from physres.bus.commands import CommandClient
from physres.bus.config import BusConfig, Endpoints, bus_for_run, bus_from_env
from physres.bus.node import Node
from physres.bus.pubsub import Publisher, SeqTracker, Subscriber
from physres.errors import BusError, CommandTimeout

__all__ = [
    "SCHEMA_VERSION",
    "Broker",
    "BusConfig",
    "CommandClient",
    "Endpoints",
    "Message",
    "Node",
    "Publisher",
    "SeqTracker",
    "Subscriber",
    "bus_for_run",
    "bus_from_env",
    "decode",
    "encode",
    "ensure_broker",
]


def ensure_broker(
    cfg: BusConfig,
    ctx: zmq.Context | None = None,
    *,
    timeout_s: float = 0.3,
    say: Callable[[str], object] | None = None,
) -> Broker | None:
    """Start an in-process broker unless one already answers; return it (None if external).

    This is what lets a single-machine user run ``physres run`` without ever
    starting ``physres bus`` by hand. ``say`` is told, in one line, which bus
    this process now uses and whose broker serves it: joining another
    process's broker means depending on that process staying up.
    """
    ctx = ctx or zmq.Context.instance()
    where = f"bus {cfg.name!r}"
    owner = _broker_owner(ctx, cfg, timeout_s)
    if owner is None:
        try:
            broker = Broker(cfg, ctx).start()
        except BusError:
            # lost a race with another starter: use theirs if it answers now
            owner = _broker_owner(ctx, cfg, 1.0)
            if owner is None:
                raise
        else:
            if say is not None:
                say(f"{where}: broker started in this process (pid {os.getpid()})")
            return broker
    if say is not None:
        say(
            f"{where}: joined the running broker of pid {owner}; this run stops if that "
            "process ends"
        )
    return None


def _broker_owner(ctx: zmq.Context, cfg: BusConfig, timeout_s: float) -> object | None:
    """The pid of the broker answering on ``cfg``'s bus ("?" if it does not say); None if none."""
    probe = CommandClient(ctx, cfg)
    try:
        info = probe.call("_broker", "ping", timeout_s=timeout_s)
    except CommandTimeout:
        return None
    finally:
        probe.close()
    return info.get("pid", "?") if isinstance(info, dict) else "?"
