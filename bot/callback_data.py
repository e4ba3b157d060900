"""Typed callback data: one class per button route, packed and parsed in one place.

A button carries ``route:field:field`` (Telegram allows 64 bytes). Each route is a frozen
dataclass, the shape of aiogram's ``CallbackData`` but for both adapters::

    class HistoryPage(CallbackData, route="hist"):
        page: Page = 0

    HistoryPage(page=3).pack()            # "hist:3"
    HistoryPage.unpack("hist:3")          # HistoryPage(page=3)
    HistoryPage.unpack("hist:99999999999999999999")  # raises Stale

Field types say what a field may hold, and so what a forged button may not:

* ``int`` (or :data:`Id`): 0 to :data:`MAX_INT_ARG`, what an id column holds;
  :data:`Page`: 0 to :data:`MAX_PAGE`; ``Annotated[int, Ints(lo, hi)]`` for any other range;
* ``Annotated[str, Chars(alphabet, max_len)]``: a short ASCII word of that alphabet;
* ``Literal["a", "b"]``: one of a few words;
* ``Annotated[T, Codec(encode, decode, max_len)]``: anything else with its own text form
  (``decode`` raises ``ValueError`` on text it does not accept).

A field with a default may be missing at the end of the data, so a button sent before the field
existed still works; ``pack`` leaves out trailing fields at their defaults (``SalesPage()`` packs
to ``"sales"``, as the button was written before). Whatever does not parse, is out of range, has too
many or too few fields or names another route raises :class:`Stale`, which the member sees as
"this button is out of date". Every class is checked when it is defined: its route is a
distinct word without the separator, and its data with the largest values fits 64 bytes.

Several routes with the same fields (each guided admin form has its own) subclass one shape
defined with ``route=None``, which has fields and no route of its own.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, ClassVar, Literal, Self, dataclass_transform

from bot.screens import CALLBACK_DATA_LIMIT

SEPARATOR = ":"
MAX_INT_ARG = 2**53 - 1
"""The largest number a button may carry. Telegram's ids have at most 52 significant bits, and
a page number times a page size stays well inside the 64-bit integers of SQLite and PostgreSQL
(a larger OFFSET or id makes the database driver raise OverflowError)."""
MAX_PAGE = 10_000
"""The last page number a paging button may carry."""


class Stale(Exception):
    """A button that no longer matches anything (old menu, bad arguments, someone else's)."""


@dataclass(frozen=True)
class Ints:
    """An integer field from ``lo`` to ``hi`` (both included, ``lo`` at least 0)."""

    lo: int
    hi: int

    def __post_init__(self) -> None:
        if not 0 <= self.lo <= self.hi:
            raise TypeError(f"bad integer range {self.lo}..{self.hi}")

    @property
    def max_len(self) -> int:
        return len(str(self.hi))

    def encode(self, value: Any) -> str:
        if type(value) is not int or not self.lo <= value <= self.hi:
            raise ValueError(f"{value!r} is not an integer from {self.lo} to {self.hi}")
        return str(value)

    def decode(self, text: str) -> int:
        # isascii: str.isdigit() also accepts digits int() refuses, such as '²'; the length
        # check keeps int() from reading a thousand digits.
        if not (text.isascii() and text.isdigit()) or len(text) > self.max_len:
            raise Stale(f"bad number {text!r}")
        value = int(text)
        if not self.lo <= value <= self.hi:
            raise Stale(f"{value} is not from {self.lo} to {self.hi}")
        return value


@dataclass(frozen=True)
class Chars:
    """A short ASCII word: ``min_len`` to ``max_len`` characters of ``alphabet``, a regular
    expression character set such as ``"a-z0-9_"``."""

    alphabet: str
    max_len: int
    min_len: int = 1

    def __post_init__(self) -> None:
        if re.fullmatch(self._pattern(), SEPARATOR * max(self.min_len, 1)):
            raise TypeError(f"alphabet {self.alphabet!r} allows the separator {SEPARATOR!r}")
        if not 0 <= self.min_len <= self.max_len:
            raise TypeError(f"bad length range {self.min_len}..{self.max_len}")

    def _pattern(self) -> str:
        return f"[{self.alphabet}]{{{self.min_len},{self.max_len}}}"

    def encode(self, value: Any) -> str:
        if not isinstance(value, str) or not self._fits(value):
            raise ValueError(f"{value!r} is not {self._pattern()}")
        return value

    def decode(self, text: str) -> str:
        if not self._fits(text):
            raise Stale(f"bad word {text!r}")
        return text

    def _fits(self, text: str) -> bool:
        return text.isascii() and re.fullmatch(self._pattern(), text) is not None


@dataclass(frozen=True)
class Choice:
    """One of a few words (what a ``Literal["a", "b"]`` field becomes)."""

    words: tuple[str, ...]

    def __post_init__(self) -> None:
        for word in self.words:
            if not isinstance(word, str) or not word.isascii() or SEPARATOR in word:
                raise TypeError(f"choice {word!r} is not an ASCII word without {SEPARATOR!r}")

    @property
    def max_len(self) -> int:
        return max(len(word) for word in self.words)

    def encode(self, value: Any) -> str:
        if value not in self.words:
            raise ValueError(f"{value!r} is not one of {self.words}")
        return str(value)

    def decode(self, text: str) -> str:
        if text not in self.words:
            raise Stale(f"{text!r} is not one of {self.words}")
        return text


@dataclass(frozen=True)
class Codec:
    """A field with its own text form: ``encode`` gives at most ``max_len`` ASCII characters
    without the separator, ``decode`` reads them back or raises ``ValueError``."""

    to_text: Callable[[Any], str]
    from_text: Callable[[str], Any]
    max_len: int

    def encode(self, value: Any) -> str:
        text = self.to_text(value)
        if not text.isascii() or SEPARATOR in text or len(text) > self.max_len:
            raise ValueError(f"{value!r} encodes to {text!r}")
        return text

    def decode(self, text: str) -> Any:
        if not text.isascii() or len(text) > self.max_len:
            raise Stale(f"bad value {text!r}")
        try:
            return self.from_text(text)
        except ValueError as exc:
            raise Stale(f"bad value {text!r}: {exc}") from None


Spec = Ints | Chars | Choice | Codec
Id = Annotated[int, Ints(0, MAX_INT_ARG)]
"""A database id (what a plain ``int`` field is too)."""
Page = Annotated[int, Ints(0, MAX_PAGE)]
"""A page number of a paged list."""


def _day_text(day: date) -> str:
    return day.strftime("%Y%m%d")


def _day_of(text: str) -> date:
    if len(text) != 8 or not text.isdigit():
        raise ValueError(text)
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


Day = Annotated[date, Codec(_day_text, _day_of, 8)]
"""A day, as ``YYYYMMDD``."""

_ROUTES: dict[str, type[CallbackData]] = {}  # route -> its class


@dataclass(frozen=True)
class _Field:
    name: str
    spec: Spec
    required: bool
    default: Any


def _spec(name: str, hint: Any) -> Spec:
    if typing.get_origin(hint) is Literal:
        return Choice(typing.get_args(hint))
    if typing.get_origin(hint) is Annotated:
        specs = [a for a in hint.__metadata__ if isinstance(a, Ints | Chars | Choice | Codec)]
        if len(specs) == 1:
            return specs[0]
    elif hint is int:
        return Ints(0, MAX_INT_ARG)
    raise TypeError(
        f"field {name!r}: use int, Literal[...] or Annotated[..., Ints/Chars/Codec], not {hint!r}"
    )


@dataclass_transform(frozen_default=True)
class CallbackData:
    """The data of one route's buttons; subclass with ``route="..."`` and typed fields."""

    route: ClassVar[str]
    fields_: ClassVar[tuple[_Field, ...]]

    def __init_subclass__(cls, *, route: str | None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if route is None:  # a shape several routes share (route=None): its fields, no route
            dataclass(frozen=True)(cls)
            return
        if not route or not route.isascii() or SEPARATOR in route:
            raise TypeError(f"route {route!r} must be an ASCII word without {SEPARATOR!r}")
        name = f"{cls.__module__}.{cls.__qualname__}"
        other = _ROUTES.get(route)
        if other is not None and f"{other.__module__}.{other.__qualname__}" != name:
            raise TypeError(f"route {route!r} is already {other.__module__}.{other.__qualname__}")
        dataclass(frozen=True)(cls)
        # Each class's annotations resolve in its own module (the fields' types must be
        # importable there, not only under TYPE_CHECKING).
        hints = typing.get_type_hints(cls, include_extras=True)
        fields: list[_Field] = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required and fields and not fields[-1].required:
                raise TypeError(f"{name}: {f.name!r} has no default but follows one that has")
            fields.append(_Field(f.name, _spec(f.name, hints[f.name]), required, f.default))
        cls.route = route
        cls.fields_ = tuple(fields)
        longest = len(route) + sum(len(SEPARATOR) + f.spec.max_len for f in fields)
        if longest > CALLBACK_DATA_LIMIT:
            raise TypeError(
                f"{name}: its data can be {longest} bytes, over Telegram's {CALLBACK_DATA_LIMIT}"
            )
        _ROUTES[route] = cls

    def pack(self) -> str:
        """``route:field:field``; ``ValueError`` if a field holds what it may not."""
        parts = [self.route]
        fields = list(self.fields_)
        # Trailing fields left at their defaults are left out, as buttons were written before
        # ("sales", not "sales:0"); unpack fills them in again.
        while (
            fields
            and not fields[-1].required
            and getattr(self, fields[-1].name) == fields[-1].default
        ):
            fields.pop()
        parts += [f.spec.encode(getattr(self, f.name)) for f in fields]
        return SEPARATOR.join(parts)

    @classmethod
    def unpack(cls, data: str) -> Self:
        """The instance ``data`` is the packed form of, or :class:`Stale`."""
        route, separated, rest = data.partition(SEPARATOR)
        if route != cls.route:
            raise Stale(f"{data!r} is not a {cls.route!r} button")
        return cls.from_args(tuple(rest.split(SEPARATOR)) if separated else ())

    @classmethod
    def from_args(cls, args: tuple[str, ...]) -> Self:
        """The instance from the fields after the route (as the router splits them)."""
        if len(args) > len(cls.fields_):
            raise Stale(f"{len(args)} fields for {cls.route!r}, at most {len(cls.fields_)}")
        values: dict[str, Any] = {}
        for index, f in enumerate(cls.fields_):
            if index < len(args):
                values[f.name] = f.spec.decode(args[index])
            elif f.required:
                raise Stale(f"{cls.route!r} is missing {f.name!r}")
        try:
            return cls(**values)
        except ValueError as exc:  # a __post_init__ refusing a combination of fields
            raise Stale(f"bad {cls.route!r} button: {exc}") from None


def registered() -> dict[str, type[CallbackData]]:
    """Every callback data class defined so far, by route."""
    return dict(_ROUTES)


def route_of(data: str) -> str:
    """The route a packed button names."""
    return data.partition(SEPARATOR)[0]
