"""The broker's table of nodes: who holds which name, from which connection, and how alive.

A heartbeat comes from any peer that can reach the command socket, so the
table trusts nothing in it:

* the info a heartbeat carries is checked field by field (:func:`check_info`);
  what does not fit the schema is refused with a one-line reason, so a peer
  advertising an address libzmq would refuse never reaches a command client;
* a name is bound to the connection (ZeroMQ routing id) that claimed it first;
  another connection claiming it is refused and listed as a conflict while its
  holder is still connected (a holder that closed, or whose connection is gone,
  gives the name up at once);
* the table holds at most ``max_nodes`` names; rows silent for
  ``heartbeat_misses`` beats are no longer listed, and are the first evicted
  when the table is full.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack

from physres.bus.codec import INT_MAX, MAX_HEADER_BYTES

__all__ = ["NodeTable", "check_info", "check_name"]

MAX_NAME = 200  # a routing id holds 255 bytes: the name plus a per-connection suffix
_MAX_TEXT = 1024
_MAX_ITEMS = 4096
_MAX_CONFLICTS = 64
_ENDPOINT = re.compile(
    r"^(tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})|ipc://[^\x00]{1,107}|inproc://[^\x00]+)$"
)


def check_name(name: Any) -> str:
    """A node name as the bus allows it; ValueError naming what is wrong."""
    if type(name) is not str or not name or "/" in name or name.startswith("_"):
        raise ValueError(
            f"node name {name!r} must be a non-empty string without '/', not starting with '_'"
        )
    if len(name.encode()) > MAX_NAME:
        raise ValueError(f"node name of {len(name.encode())} bytes is over the limit {MAX_NAME}")
    return name


def _text(key: str, v: Any) -> str:
    if type(v) is not str or len(v) > _MAX_TEXT:
        raise ValueError(f"{key} must be a string of at most {_MAX_TEXT} characters")
    return v


def _endpoint(key: str, v: Any) -> str | None:
    if v is None:
        return None
    m = _ENDPOINT.match(v) if type(v) is str else None
    if m is None or (m.group(3) is not None and not 0 < int(m.group(3)) < 65536):
        raise ValueError(f"{key} {v!r} is not a tcp://host:port, ipc:// or inproc:// address")
    return v


_Z85_KEY = re.compile(r"^[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$")


def _curve_key(key: str, v: Any) -> str | None:
    if v is None:
        return None
    if type(v) is not str or not _Z85_KEY.match(v):
        raise ValueError(f"{key} must be a 40-character z85 CURVE public key")
    return v


def _pid(key: str, v: Any) -> int:
    if type(v) is not int or not 0 <= v <= INT_MAX:
        raise ValueError(f"{key} must be a non-negative integer")
    return v


def _names(key: str, v: Any) -> list[str]:
    if type(v) is not list or len(v) > _MAX_ITEMS:
        raise ValueError(f"{key} must be a list of at most {_MAX_ITEMS} strings")
    return [_text(key, x) for x in v]


def _counts(key: str, v: Any) -> dict[str, int]:
    if type(v) is not dict or len(v) > _MAX_ITEMS:
        raise ValueError(f"{key} must be a map of at most {_MAX_ITEMS} entries")
    for k, n in v.items():
        _text(key, k)
        if type(n) is not int or not 0 <= n <= INT_MAX:
            raise ValueError(f"{key}[{k!r}] must be an integer in 0..2**63-1")
    return v


def _streams(key: str, v: Any) -> dict[str, dict[str, Any]]:
    if type(v) is not dict or len(v) > _MAX_ITEMS:
        raise ValueError(f"{key} must be a map of at most {_MAX_ITEMS} streams")
    for k, spec in v.items():
        _text(key, k)
        if type(spec) is not dict or not all(type(x) is str for x in spec):
            raise ValueError(f"{key}[{k!r}] must be a map with string keys")
    return v


def _ms(key: str, v: Any) -> float | None:
    if v is None:
        return None
    if type(v) not in (int, float) or not abs(v) < 1e12:
        raise ValueError(f"{key} must be a finite number of milliseconds")
    return float(v)


def _flag(key: str, v: Any) -> bool:
    if type(v) is not bool:
        raise ValueError(f"{key} must be true or false")
    return v


_FIELDS: dict[str, Callable[[str, Any], Any]] = {
    "kind": _text,
    "pid": _pid,
    "host": _text,
    "streams": _streams,
    "pub_endpoint": _endpoint,
    "cmd_endpoint": _endpoint,
    "curve_key": _curve_key,
    "commands": _names,
    "published": _counts,
    "received": _counts,
    "dropped": _counts,
    "garbage": _counts,
    "errors": _counts,
    "last_seq": _counts,
    "closed": _flag,
    "clock_offset_ms": _ms,
    "clock_rtt_ms": _ms,
}


def check_info(raw: bytes) -> dict[str, Any]:
    """The heartbeat's info map, every known field checked; unknown keys are dropped.

    Raises ValueError with a one-line reason for anything out of schema.
    """
    if len(raw) > MAX_HEADER_BYTES:
        raise ValueError(f"heartbeat of {len(raw)} bytes is over the limit {MAX_HEADER_BYTES}")
    try:
        info = msgpack.unpackb(raw, raw=False) if raw else {}
    except Exception as e:  # msgpack raises several unrelated types
        raise ValueError(f"heartbeat is not msgpack ({type(e).__name__})") from None
    if type(info) is not dict:
        raise ValueError(f"heartbeat is a {type(info).__name__}, expected a map")
    return {k: check(k, info[k]) for k, check in _FIELDS.items() if k in info}


@dataclass
class Entry:
    """One claimed name (``conn``: the routing id of the connection that holds it)."""

    name: str
    conn: bytes
    first_seen: float
    last_seen: float
    info: dict[str, Any] = field(default_factory=dict)
    closed: bool = False


@dataclass
class Conflict:
    """A connection that claimed a name another live connection holds."""

    name: str
    conn: bytes
    first_seen: float
    last_seen: float
    reason: str
    info: dict[str, Any] = field(default_factory=dict)
    claims: int = 1


class NodeTable:
    """Names bound to connections; see the module docstring for the rules."""

    def __init__(self, silent_after_s: float, max_nodes: int) -> None:
        self.silent_after_s = silent_after_s
        self.max_nodes = max_nodes
        self.nodes: dict[str, Entry] = {}
        self.conflicts: dict[bytes, Conflict] = {}

    def claim(
        self,
        name: str,
        conn: bytes,
        info: dict[str, Any],
        now: float,
        connected: Callable[[bytes], bool],
    ) -> str | None:
        """Bind or refresh ``name`` for ``conn``; None, or why the claim is refused.

        ``connected(conn)`` asks the socket whether a holder's connection still exists.
        """
        e = self.nodes.get(name)
        if e is not None and e.conn != conn:
            if not e.closed and connected(e.conn):
                return self._conflict(name, conn, info, now, e)
            del self.nodes[name]  # its holder closed or went away
            e = None
        if e is None:
            if len(self.nodes) >= self.max_nodes:
                self._evict(now)
            if len(self.nodes) >= self.max_nodes:
                return (
                    f"the broker's node table is full ({self.max_nodes} live nodes); "
                    "raise bus.max_nodes"
                )
            self.nodes[name] = Entry(name, conn, now, now, info)
        else:
            e.last_seen, e.info, e.closed = now, info, False
        self.conflicts.pop(conn, None)
        return None

    def close(self, name: str, conn: bytes, info: dict[str, Any], now: float) -> None:
        """A node said goodbye: its name is free; its last counts stay listed a while."""
        e = self.nodes.get(name)
        if e is not None and e.conn == conn:
            e.last_seen, e.info, e.closed = now, {**info, "closed": True}, True
        self.conflicts.pop(conn, None)

    def route(self, name: str) -> bytes | None:
        """The connection commands for ``name`` go to (None: no open holder)."""
        e = self.nodes.get(name)
        return None if e is None or e.closed else e.conn

    def forget(self, now: float) -> None:
        """Drop every row that is not alive now."""
        self.nodes = {k: e for k, e in self.nodes.items() if self._alive(e, now)}
        self.conflicts.clear()

    def rows(self, now: float) -> list[dict[str, Any]]:
        """What ``physres ls`` shows: live and recently closed nodes, then refused claims."""
        out = []
        for e in sorted(self.nodes.values(), key=lambda e: e.name):
            silent = now - e.last_seen
            if silent > self.silent_after_s:
                continue  # expired: N missed heartbeats (or closed that long ago)
            state = "closed" if e.closed else "alive"
            out.append(self._row(e.name, state, e.first_seen, silent, now, e.info))
        for c in sorted(self.conflicts.values(), key=lambda c: c.name):
            silent = now - c.last_seen
            if silent <= self.silent_after_s:
                row = self._row(c.name, "refused", c.first_seen, silent, now, c.info)
                out.append({**row, "conflict": c.reason, "claims": c.claims})
        return out

    # ----------------------------------------------------------------- helpers
    def _alive(self, e: Entry, now: float) -> bool:
        return not e.closed and now - e.last_seen <= self.silent_after_s

    @staticmethod
    def _row(
        name: str, state: str, first: float, silent: float, now: float, info: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            **info,
            "name": name,
            "state": state,
            "alive": state == "alive",
            "silent_s": round(silent, 3),
            "up_s": round(now - first, 3),
        }

    def _conflict(
        self, name: str, conn: bytes, info: dict[str, Any], now: float, holder: Entry
    ) -> str:
        where = f"pid {holder.info.get('pid', '?')} on {holder.info.get('host', '?')}"
        reason = (
            f"node name {name!r} is taken by a live node ({where}); stop it or choose another name"
        )
        c = self.conflicts.get(conn)
        if c is None:
            if len(self.conflicts) >= _MAX_CONFLICTS:
                oldest = min(self.conflicts.values(), key=lambda c: c.last_seen)
                del self.conflicts[oldest.conn]
            self.conflicts[conn] = Conflict(name, conn, now, now, reason, info)
        else:
            c.name, c.last_seen, c.reason, c.info = name, now, reason, info
            c.claims = min(c.claims + 1, INT_MAX)
        return reason

    def _evict(self, now: float) -> None:
        """Make room: drop closed and silent rows (they can claim their name again)."""
        for k in [k for k, e in self.nodes.items() if not self._alive(e, now)]:
            del self.nodes[k]
