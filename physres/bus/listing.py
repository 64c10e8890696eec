"""``physres ls`` as a table: every row renders, whatever a broker put in it.

The broker checks heartbeats, but ``ls`` may talk to a broker of another
version, so nothing here assumes a field's type: a value that is not what it
should be is shown as it came (``repr``), never a crash of the listing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rich.markup import escape
from rich.table import Table

__all__ = ["COLUMNS", "ls_cells", "ls_table"]

COLUMNS = (
    "node",
    "kind",
    "state",
    "streams (dtype shape @ rate)",
    "commands",
    "published",
    "dropped",
    "garbage",
    "clock offset / rtt (ms)",
)


#: C0/C1 control characters: a heartbeat's text could otherwise drive the terminal
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _text(v: Any) -> str:
    s = v if isinstance(v, str) else repr(v)
    return escape(_CONTROL.sub(lambda m: repr(m.group())[1:-1], s))


def _streams(v: Any) -> str:
    if not isinstance(v, dict):
        return _text(v) if v else ""
    lines = []
    for name, s in v.items():
        if isinstance(s, dict):
            shape = s.get("shape", ())
            shape = tuple(shape) if isinstance(shape, (list, tuple)) else shape
            rate = s.get("rate_hz") or "-"
            lines.append(
                f"{_text(name)}: {_text(s.get('dtype'))} {_text(shape)} @ {_text(rate)} Hz"
            )
        else:
            lines.append(f"{_text(name)}: {_text(s)}")
    return "\n".join(lines)


def _total(v: Any) -> str:
    if isinstance(v, dict):
        vals = list(v.values())
        if all(isinstance(x, int) and not isinstance(x, bool) for x in vals):
            return str(sum(vals))
    return _text(v)


def _clock(offset: Any, rtt: Any) -> str:
    """The node's clock against the broker's: offset and the round trip it was measured on."""
    if not isinstance(rtt, (int, float)):
        return "-" if rtt is None else _text(rtt)
    if not isinstance(offset, (int, float)):
        return _text(offset)
    return f"{offset:+.3f} / {rtt:.3f}"


def _state(r: dict[str, Any]) -> str:
    state = r.get("state")
    if state is None:  # a broker from before states: only "alive"
        state = "alive" if r.get("alive") else "gone"
    silent = r.get("silent_s")
    silent_txt = f" ({silent:.1f} s silent)" if isinstance(silent, (int, float)) else ""
    if state == "alive":
        return "[green]alive[/]"
    if state == "refused":
        return f"[red]refused[/]: {_text(r.get('conflict', 'name taken'))}"
    return f"[yellow]{_text(state)}[/]{silent_txt}"


def ls_cells(r: Any) -> list[str]:
    """One row's cells, in :data:`COLUMNS` order."""
    if not isinstance(r, dict):
        return [_text(r), "", "[red]unreadable row[/]", "", "", "", "", "", ""]
    drops = r.get("dropped")
    if isinstance(drops, dict):
        drops = {k: v for k, v in drops.items() if v}
    commands = r.get("commands")
    if isinstance(commands, list):
        commands = ", ".join(_text(c) for c in commands)
    return [
        _text(r.get("name", "?")),
        _text(r.get("kind", "")),
        _state(r),
        _streams(r.get("streams")),
        commands if isinstance(commands, str) else _text(commands),
        _total(r.get("published") or {}),
        _text(drops or 0),
        _text(r.get("garbage") or 0),
        _clock(r.get("clock_offset_ms"), r.get("clock_rtt_ms")),
    ]


def ls_table(rows: Iterable[Any], title: str) -> Table:
    table = Table(title=_text(title))
    for col in COLUMNS:
        table.add_column(col)
    for r in rows if isinstance(rows, list) else []:
        table.add_row(*ls_cells(r))
    return table
