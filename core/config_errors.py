"""How a configuration's problems read: one line per problem, naming the key.

The mall's tables (``core.config``) and the bot's (``bot.settings``) are validated by their
own models, in one pass over the one file; either way a mistake reads the same, and an admin
can fix the file without reading the code: ``config.toml: checkin.rewards[2] = -1: expected an
integer >= 0``, the closest known key for a typo, and never a secret's value.

Validators raise :func:`expected` (what a value should have been: the line shows the value) or
:func:`rule` (a rule about several values: the line shows none).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from typing import Any, NoReturn

from pydantic import BaseModel
from pydantic_core import ErrorDetails, PydanticCustomError


class ConfigError(Exception):
    """The configuration cannot be used: unreadable, not TOML, or a setting is wrong.

    ``problems`` holds one human-readable line per problem; ``str(error)`` joins them.
    """

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems: tuple[str, ...] = (
            (problems,) if isinstance(problems, str) else tuple(problems)
        )
        super().__init__("\n".join(self.problems))


def expected(what: str) -> NoReturn:
    """Refuse a value, saying what it should have been."""
    raise PydanticCustomError("config_expected", what)


def rule(sentence: str) -> NoReturn:
    """Refuse a combination of values, stating the rule it breaks."""
    raise PydanticCustomError("config_rule", sentence)


def hide_url_password(url: str) -> str:
    """The URL with any inline password replaced by ``***`` (also for URLs that do not parse)."""
    return re.sub(r"^([^:/]+://[^:/@]*):.*@", r"\1:***@", url, flags=re.DOTALL)


_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "tuple_type": "an array",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "datetime_type": "a TOML date-time such as 2025-06-07T09:00:00 (with a time, without quotes)",
    "timezone_aware": "a date-time with a time zone",
}


def describe(
    error: ErrorDetails,
    source: str,
    blamed: Mapping[tuple[str, str], str],
    *,
    root: type[BaseModel],
    secret_keys: frozenset[str],
) -> str:
    """One line for one validation error of the ``root`` model: where (the file, or the
    environment variable ``blamed`` for it), the value (unless under one of ``secret_keys``),
    and what was expected."""
    loc = tuple(part for part in error["loc"] if part != "[key]")
    prefix = blamed.get(typing.cast(tuple[str, str], loc[:2]), source)
    where = f"{prefix}: {_dotted(loc)}" if loc else prefix
    kind = error["type"]
    ctx = error.get("ctx", {})
    value = error["input"]
    if kind == "extra_forbidden":
        return f"{where}: unknown key{_suggestion(root, loc)}"
    if kind == "missing":
        return f"{where}: missing; this setting is required"
    if kind == "config_rule":
        return f"{where}: {error['msg']}"
    if kind == "config_expected":
        expected = error["msg"]
    elif kind == "greater_than_equal":
        expected = f"an integer >= {ctx['ge']}"
    elif kind == "greater_than":
        expected = f"an integer > {ctx['gt']}"
    elif kind == "less_than_equal":
        expected = f"an integer <= {ctx['le']}"
    elif kind == "literal_error":
        expected = str(ctx["expected"])
    elif kind == "too_short":
        count = ctx["min_length"]
        expected = f"at least {count} item" + ("" if count == 1 else "s")
    elif kind.startswith("decimal_"):
        expected = "a number"
    else:
        expected = _EXPECTED.get(kind, error["msg"])
    if any(isinstance(part, str) and part in secret_keys for part in loc):
        return f"{where} = <hidden>: expected {expected}"
    if expected == "a table" or isinstance(value, Mapping | list | tuple):
        # A table's content is not repeated: a misplaced table may hold a secret.
        return f"{where}: expected {expected}, got {_kind(value)}"
    return f"{where} = {_render(value)}: expected {expected}"


def _dotted(loc: tuple[int | str, ...]) -> str:
    """``('checkin', 'rewards', 2)`` -> ``checkin.rewards[2]``, quoting keys TOML would quote."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'
            text += f".{key}" if text else key
    return text


def _render(value: object) -> str:
    """A scalar as an admin would recognize it from the file (URL passwords hidden)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(hide_url_password(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _kind(value: object) -> str:
    """The TOML kind of a value, for errors that do not repeat the value itself."""
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return f"an array of {len(value)}" if value else "an empty array"
    kinds: list[tuple[type | types.UnionType, str]] = [
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a float"),
        (str, "a string"),
        (datetime, "a date-time"),
        (date, "a date"),
        (time, "a time"),
    ]
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def _suggestion(root: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """For an unknown key: the closest known key, or the list of known keys."""
    known = _known_keys(root, loc[:-1])
    if not known:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (known keys: {', '.join(known)})"


def _known_keys(root: type[BaseModel], parent: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] | None = root
    for part in parent:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model is not None else None
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The settings model inside an annotation such as ``tuple[Tier, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.GenericAlias | types.UnionType) or typing.get_origin(
        annotation
    ):
        for argument in typing.get_args(annotation):
            found = _model_in(argument)
            if found is not None:
                return found
    return None
