"""`physres ls` renders any row a broker (of any version) sends, never crashing."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from physres.bus.listing import COLUMNS, ls_cells, ls_table

ODD_ROWS = [
    "not a row",
    {},
    {"name": 7, "alive": "yes", "silent_s": "long", "streams": "cam"},
    {"name": "a", "streams": {"s": {"shape": 7}, "t": None}, "commands": "ping"},
    {"name": "b", "published": {"s": "many"}, "dropped": [1, 2], "garbage": {"x": 1}},
    {"name": "[red]c[/]", "state": "refused", "conflict": "[b]taken[/]", "kind": None},
    {"name": "d", "state": "closed", "silent_s": 0.5, "published": {"s": 2**63 - 1}},
]


@pytest.mark.parametrize("row", ODD_ROWS, ids=repr)
def test_every_odd_row_gives_one_cell_per_column(row) -> None:
    cells = ls_cells(row)
    assert len(cells) == len(COLUMNS) and all(isinstance(c, str) for c in cells)


def test_a_table_of_odd_rows_renders_and_shows_markup_as_text() -> None:
    console = Console(width=250, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(ls_table(ODD_ROWS, "bus [x]"))
    text = console.export_text()
    console.file.close()
    assert "[red]c[/]" in text and "refused: [b]taken[/]" in text
    assert "closed (0.5 s silent)" in text and str(2**63 - 1) in text
    assert "bus [x]" in text


def test_a_reply_that_is_not_a_list_renders_an_empty_table() -> None:
    assert ls_table({"oops": 1}, "bus x").row_count == 0


def test_terminal_control_sequences_in_a_heartbeat_are_shown_escaped_never_sent_raw() -> None:
    evil = "\x1b]0;PWNED\x07\x1b[2J\x9b31m"
    row = {
        "name": f"n{evil}",
        "kind": evil,
        "state": "refused",
        "conflict": evil,
        "streams": {evil: {"dtype": evil, "shape": [1], "rate_hz": evil}},
        "commands": [evil],
        "published": {evil: 1},
        "dropped": {evil: 5},
    }
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, width=300).print(ls_table([row], f"bus {evil}"))
    out = buf.getvalue()
    assert "\x1b]" not in out and "\x1b[2J" not in out and "\x9b" not in out and "\x07" not in out
    assert "\\x1b]0;PWNED" in out  # shown, as text
