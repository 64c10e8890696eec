"""The ZeroMQ bus: message codec, broker, nodes, commands, record and replay."""

from __future__ import annotations

import zmq

from physres.bus.broker import Broker
from physres.bus.codec import SCHEMA_VERSION, Message, decode, encode
from physres.bus.commands import CommandClient
from physres.bus.config import BusConfig, Endpoints
from physres.bus.node import Node
from physres.bus.pubsub import Publisher, SeqTracker, Subscriber
from physres.errors import BusError

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
    "decode",
    "encode",
    "ensure_broker",
]


def ensure_broker(
    cfg: BusConfig, ctx: zmq.Context | None = None, *, timeout_s: float = 0.3
) -> Broker | None:
    """Start an in-process broker unless one already answers; return it (None if external).

    This is what lets a single-machine user run ``physres run`` without ever
    starting ``physres bus`` by hand.
    """
    ctx = ctx or zmq.Context.instance()
    probe = CommandClient(ctx, cfg)
    try:
        if probe.ping_broker(timeout_s):
            return None
    finally:
        probe.close()
    try:
        return Broker(cfg, ctx).start()
    except BusError:
        # lost a race with another starter: use theirs if it answers now
        probe = CommandClient(ctx, cfg)
        try:
            if probe.ping_broker(1.0):
                return None
        finally:
            probe.close()
        raise
