"""Values quoted in error messages, cut so every message stays one readable line.

A config may hold a 1 MB string or a structure that expands to thousands of
values; a message that quotes it must still fit a terminal line.
"""

from __future__ import annotations

import difflib
import re
import reprlib
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

__all__ = ["SHOWN_CHARS", "issues", "one_line", "printable", "short"]

#: characters of a value quoted in a message
SHOWN_CHARS = 60

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = SHOWN_CHARS
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6
_repr.maxlevel = 3


#: C0/C1 control characters: text from a file or the bus could otherwise drive the terminal
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str, keep: str = "") -> str:
    """``text`` with control characters (escape sequences, BEL...) shown as ``\\x1b``-style
    text; characters in ``keep`` (such as a newline) pass through."""
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else repr(m.group())[1:-1], text)


def short(value: Any) -> str:
    """``repr(value)``, cut (without building the whole repr) to about two SHOWN_CHARS."""
    return one_line(_repr.repr(value), 2 * SHOWN_CHARS)


def one_line(text: str, limit: int = 4 * SHOWN_CHARS) -> str:
    """``text`` with its whitespace runs (newlines included) as single spaces, cut to ``limit``."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def issues(
    error: ValidationError, model: type[BaseModel] | None = None
) -> list[tuple[tuple[str, ...], str]]:
    """A pydantic error as (key path, "what was expected (got value)") pairs, one a field.

    A validator that raised :class:`~physres.errors.RuleError` names the field
    the rule is about, so the message points at that key (and its line), not
    at the whole model; pydantic's "Value error, " prefix is dropped; an
    unknown key gets the nearest field name of ``model`` (the validated one).
    """
    out = []
    for err in error.errors():
        loc = tuple(str(p) for p in err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        got_value = err.get("input")
        msg = err["msg"]
        if isinstance(cause, BaseException):
            msg = str(cause)
            key = getattr(cause, "key", None)
            if key is not None:
                loc = (*loc, key)
                got_value = got_value.get(key) if isinstance(got_value, dict) else got_value
        elif err["type"] == "extra_forbidden" and loc:
            near = difflib.get_close_matches(loc[-1], _field_names(model, err["loc"]), n=1)
            msg += f"; did you mean {near[0]!r}?" if near else ""
        got = "missing" if err["type"] == "missing" else f"got {short(got_value)}"
        out.append((loc, f"{one_line(msg)} ({got})"))
    return out


def _field_names(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model that holds ``loc`` inside ``model`` ([] when unknown)."""
    tp = model
    for part in loc[:-1]:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            tp = field.annotation if field is not None else None
        elif get_origin(tp) in (dict, list, tuple) and get_args(tp):
            tp = get_args(tp)[-1]  # part is a key or an index: step to the values' type
        else:
            return []
    tp = _unwrap(tp)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _unwrap(tp: Any) -> Any:
    """``X | None`` → ``X``."""
    args = [a for a in get_args(tp) if a is not type(None)]
    return _unwrap(args[0]) if get_origin(tp) in (Union, UnionType) and len(args) == 1 else tp
