"""Every text the code asks for exists in every language, with the same placeholders."""

from __future__ import annotations

import ast
import string
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.features.menu import COMMANDS
from bot.i18n import LANGUAGE_NAMES, LOCALES_DIR, Languages, read_catalogs
from core.errors import MallError

BOT = Path(__file__).resolve().parents[2] / "bot"
# Keys the code builds at run time: their families are checked against what can fill them.
DYNAMIC_FAMILIES = ("error.", "reason.", "command.")


def _subclasses(cls: type[MallError]) -> Iterator[type[MallError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def used_keys() -> dict[str, set[str]]:
    """Every literal key passed to ``t(...)`` / ``t.n(...)`` in bot/, with the names it fills."""
    found: dict[str, set[str]] = {}
    for path in BOT.rglob("*.py"):
        if "sandbox" in path.parts:  # the sandbox's page is for developers, not members
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            plural = isinstance(func, ast.Attribute) and func.attr == "n"
            target = func.value if plural and isinstance(func, ast.Attribute) else func
            # t(...) in features; self(...) inside the Translator itself (bot/i18n.py)
            named_t = (isinstance(target, ast.Name) and target.id in ("t", "self")) or (
                isinstance(target, ast.Attribute) and target.attr == "t"
            )
            first = node.args[0]
            if (
                not named_t
                or not isinstance(first, ast.Constant)
                or not isinstance(first.value, str)
            ):
                continue
            names = {kw.arg for kw in node.keywords if kw.arg is not None}
            if plural:
                names.add("count")
            found.setdefault(first.value, set()).update(names)
    return found


def key_constants() -> set[str]:
    """Every string constant in bot/: keys kept in tables (menus, kinds) and looked up later."""
    found: set[str] = set()
    for path in BOT.rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.fixture(scope="module")
def catalogs() -> dict[str, dict[str, list[str]]]:
    """language -> key -> its texts (one, or each plural form)."""
    result: dict[str, dict[str, list[str]]] = {}
    for language in LANGUAGE_NAMES:
        catalog = read_catalogs(LOCALES_DIR / language / "LC_MESSAGES")
        texts: dict[str, list[str]] = {}
        for message in catalog:
            if not message.id:
                continue
            key = message.id if isinstance(message.id, str) else message.id[0]
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            texts[key] = [s for s in strings]
        result[language] = texts
    return result


def test_the_code_uses_texts(catalogs: dict[str, dict[str, list[str]]]) -> None:
    assert len(used_keys()) > 50


@pytest.mark.parametrize("language", list(LANGUAGE_NAMES))
def test_every_key_the_code_uses_is_translated_with_its_placeholders(
    language: str, catalogs: dict[str, dict[str, list[str]]]
) -> None:
    texts = catalogs[language]
    problems = []
    for key, filled in sorted(used_keys().items()):
        if key not in texts:
            problems.append(f"{language}: {key!r} is missing")
            continue
        for text in texts[key]:
            if not text:
                problems.append(f"{language}: {key!r} is empty")
            elif placeholders(text) != filled:
                found = sorted(placeholders(text))
                problems.append(f"{language}: {key!r} has {found}, code fills {sorted(filled)}")
    assert problems == []


@pytest.mark.parametrize("language", list(LANGUAGE_NAMES))
def test_every_refusal_and_command_has_words(
    language: str, catalogs: dict[str, dict[str, list[str]]]
) -> None:
    texts = catalogs[language]
    codes = {cls.code for cls in _subclasses(MallError)}
    # Refusals a member cannot cause from the chat need no wording of their own.
    internal = {
        "key_reused",
        "catalog_invalid",
        "already_refunded",
        "unknown_order",
        "unknown_hold",
        "hold_not_pending",
        "invalid_key",
        "unknown_invite",
    }
    missing = sorted(f"error.{code}" for code in codes - internal if f"error.{code}" not in texts)
    missing += sorted(f"command.{name}" for name in COMMANDS if f"command.{name}" not in texts)
    assert missing == []


def test_both_languages_have_the_same_keys_and_placeholders(
    catalogs: dict[str, dict[str, list[str]]],
) -> None:
    english, chinese = catalogs["en"], catalogs["zh_Hans"]
    assert sorted(english) == sorted(chinese)
    for key, texts in english.items():
        expected = placeholders(texts[-1])
        for text in chinese[key]:
            assert placeholders(text) == expected, key


def test_no_text_is_left_unused(catalogs: dict[str, dict[str, list[str]]]) -> None:
    used = used_keys().keys() | key_constants()
    orphans = [
        key for key in catalogs["en"] if key not in used and not key.startswith(DYNAMIC_FAMILIES)
    ]
    assert orphans == []


def test_the_catalogs_load_and_format() -> None:
    languages = Languages(ZoneInfo("Asia/Shanghai"))
    english, chinese = languages["en"], languages["zh-hans"]
    assert english.points(1) == "1 point"
    assert english.points(1234) == "1,234 points"
    assert chinese.points(2) == "2 积分"
    assert languages["fr"].language == "en"


def test_chinese_texts_address_the_member_one_way() -> None:
    """你 everywhere, never 您: a member reading one screen then a reminder should not be
    addressed two ways (issue 15)."""
    formal = sorted(
        f"{path.name}:{number}"
        for path in (LOCALES_DIR / "zh_Hans" / "LC_MESSAGES").glob("*.po")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "您" in line
    )
    assert formal == []


def test_back_is_one_arrow_and_previous_another() -> None:
    """⬅️ goes back to where the member came from; ◀️ only turns to the previous page or month
    (beside its ▶️): two arrows for one meaning confused members (issue 15)."""
    for language in LANGUAGE_NAMES:
        catalog = read_catalogs(LOCALES_DIR / language / "LC_MESSAGES")
        previous = sorted(
            str(message.id)
            for message in catalog
            if message.id and str(message.string).startswith("◀️")
        )
        assert all(key.endswith(("previous", "previous_month")) for key in previous), previous
