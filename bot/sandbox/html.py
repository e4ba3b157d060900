"""Telegram's HTML parse mode: markup in, plain text and message entities out.

A port of TDLib's ``parse_html`` (td/telegram/MessageEntity.cpp), so the sandbox accepts and
rejects exactly what Telegram does, with the same error wording and byte offsets. Entity
offsets and lengths are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

Entity = dict[str, Any]

_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins",
        "tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote",
    }
)  # fmt: skip
_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
}
_SPACES = b" \t\r\n\x0b\x0c"


class EntityParseError(ValueError):
    """Markup Telegram refuses; the message is what follows "can't parse entities: "."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _is_space(c: int) -> bool:
    return c in _SPACES


def _is_alnum(c: int) -> bool:
    return 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122


def _decode_entity(data: bytes, pos: int) -> tuple[int, int] | None:
    """The character an ``&...;`` reference at ``pos`` stands for, and where it ends."""
    end = pos + 1
    size = len(data)
    value = 0
    if end < size and data[end] == ord("#"):
        end += 1
        if end < size and data[end] == ord("x"):
            end += 1
            while end < size and chr(data[end]) in "0123456789abcdefABCDEF":
                value = value * 16 + int(chr(data[end]), 16)
                end += 1
        else:
            while end < size and 48 <= data[end] <= 57:
                value = value * 10 + data[end] - 48
                end += 1
        if value == 0 or value >= 0x10FFFF or end - pos >= 10:
            return None
    else:
        while end < size and (65 <= data[end] <= 90 or 97 <= data[end] <= 122):
            end += 1
        named = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}.get(data[pos + 1 : end])
        if named is None:
            return None
        value = ord(named)
    if end < size and data[end] == ord(";"):
        end += 1
    return value, end


def checked_url(url: str) -> str | None:
    """The link Telegram would keep for an ``<a href>``, or None if it would drop it."""
    if not url or any(c.isspace() for c in url):
        return None
    if "://" not in url and not url.startswith("tg:"):
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme.lower() in ("http", "https", "ftp"):
        if not parts.netloc or " " in parts.netloc:
            return None
        if not parts.path:
            url = parts._replace(path="/").geturl()
    elif parts.scheme.lower() not in ("tg", "ton"):
        return None
    return url


class _Open:
    __slots__ = ("argument", "byte_start", "offset", "tag")

    def __init__(self, tag: str, argument: str, offset: int, byte_start: int) -> None:
        self.tag = tag
        self.argument = argument
        self.offset = offset
        self.byte_start = byte_start


def parse_html(markup: str) -> tuple[str, list[Entity]]:
    """Plain text and entities, or EntityParseError with Telegram's own message."""
    data = markup.encode("utf-8")
    size = len(data)
    out = bytearray()
    entities: list[Entity] = []
    utf16 = 0
    stack: list[_Open] = []

    def at(index: int) -> int:
        return data[index] if index < size else 0

    i = 0
    while i < size:
        c = data[i]
        if c == ord("&"):
            decoded = _decode_entity(data, i)
            if decoded is not None:
                value, i = decoded
                if 0xD800 <= value <= 0xDFFF:
                    raise EntityParseError(
                        "Text contains invalid Unicode characters after decoding HTML entities,"
                        " check for unmatched surrogate code units"
                    )
                utf16 += 2 if value > 0xFFFF else 1
                out += chr(value).encode("utf-8")
                continue
        if c != ord("<"):
            if c & 0xC0 != 0x80:  # the first byte of a character
                utf16 += 2 if c >= 0xF0 else 1
            out.append(c)
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != ord("/"):
            while i < size and not _is_space(data[i]) and data[i] != ord(">"):
                i += 1
            if i >= size:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            tag = data[begin + 1 : i].decode("utf-8", "replace").lower()
            if tag not in _TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument = ""
            while at(i) != ord(">"):
                while i < size and _is_space(data[i]):
                    i += 1
                if at(i) == ord(">"):
                    break
                name_start = i
                while i < size and not _is_space(data[i]) and data[i] not in b"=>":
                    i += 1
                name = data[name_start:i].decode("utf-8", "replace").lower()
                if not name:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                    )
                while i < size and _is_space(data[i]):
                    i += 1
                if at(i) != ord("="):
                    if i >= size:
                        raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                    if tag == "blockquote" and name == "expandable":
                        argument = "expandable"
                    continue
                i += 1
                while i < size and _is_space(data[i]):
                    i += 1
                if i >= size:
                    raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                if data[i] not in b"'\"":
                    token_start = i
                    while i < size and (_is_alnum(data[i]) or data[i] in b".-"):
                        i += 1
                    value_text = data[token_start:i].decode("utf-8", "replace").lower()
                    if i < size and not _is_space(data[i]) and data[i] != ord(">"):
                        raise EntityParseError(
                            f"Unexpected end of name token at byte offset {token_start}"
                        )
                else:
                    quote = data[i]
                    i += 1
                    raw = bytearray()
                    while i < size and data[i] != quote:
                        if data[i] == ord("&"):
                            decoded = _decode_entity(data, i)
                            if decoded is not None:
                                raw += chr(decoded[0]).encode("utf-8")
                                i = decoded[1]
                                continue
                        raw.append(data[i])
                        i += 1
                    if i < size:
                        i += 1
                    value_text = raw.decode("utf-8", "replace")
                if i >= size:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
                if tag == "a" and name == "href":
                    argument = value_text
                elif tag == "code" and name == "class" and value_text.startswith("language-"):
                    argument = value_text.removeprefix("language-")
                elif tag == "span" and name == "class" and value_text.startswith("tg-"):
                    argument = value_text.removeprefix("tg-")
                elif tag == "tg-emoji" and name == "emoji-id":
                    argument = value_text
                elif tag == "blockquote" and name == "expandable":
                    argument = "expandable"
            if tag == "span" and argument != "spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {begin}'
                )
            stack.append(_Open(tag, argument, utf16, len(out)))
            i += 1  # past '>'
            continue

        # an end tag
        if not stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
        while i < size and not _is_space(data[i]) and data[i] != ord(">"):
            i += 1
        end_name = data[begin + 2 : i].decode("utf-8", "replace").lower()
        while i < size and _is_space(data[i]):
            i += 1
        if at(i) != ord(">"):
            raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
        i += 1
        top = stack.pop()
        if end_name and end_name != top.tag:
            raise EntityParseError(
                f"Unmatched end tag at byte offset {begin}, "
                f'expected "</{top.tag}>", found "</{end_name}>"'
            )
        if utf16 > top.offset:
            _close(top, utf16 - top.offset, bytes(out[top.byte_start :]), entities)

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return out.decode("utf-8"), entities


def _close(top: _Open, length: int, inner: bytes, entities: list[Entity]) -> None:
    """Append the entity a just-closed tag makes (Telegram merges <pre><code class=...>)."""
    span: Entity = {"offset": top.offset, "length": length}
    tag = top.tag
    if tag in _SIMPLE or (tag == "span" and top.argument == "spoiler"):
        entities.append({"type": _SIMPLE.get(tag, "spoiler"), **span})
    elif tag == "blockquote":
        kind = "expandable_blockquote" if top.argument == "expandable" else "blockquote"
        entities.append({"type": kind, **span})
    elif tag == "tg-emoji":
        if not top.argument.isdigit() or int(top.argument) == 0:
            raise EntityParseError("Invalid custom emoji identifier specified")
        entities.append({"type": "custom_emoji", **span, "custom_emoji_id": top.argument})
    elif tag == "a":
        url = checked_url(top.argument or inner.decode("utf-8", "replace"))
        if url is not None:
            entities.append({"type": "text_link", **span, "url": url})
    elif tag == "pre":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last["type"] == "code"
            and (last["offset"], last["length"]) == (top.offset, length)
            and last.get("language")
        ):
            entities[-1] = {"type": "pre", **span, "language": last["language"]}
        else:
            entities.append({"type": "pre", **span})
    elif tag == "code":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last["type"] == "pre"
            and (last["offset"], last["length"]) == (top.offset, length)
            and top.argument
        ):
            entities[-1] = {"type": "pre", **span, "language": top.argument}
        elif top.argument:
            entities.append({"type": "code", **span, "language": top.argument})
        else:
            entities.append({"type": "code", **span})


def finish_entities(entities: list[Entity]) -> list[Entity]:
    """Drop the parser's bookkeeping (a code span's language) that the Bot API does not show."""
    return [
        {k: v for k, v in e.items() if not (e["type"] == "code" and k == "language")}
        for e in entities
    ]


def trim(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Strip surrounding whitespace as Telegram does, keeping entities on their characters."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    limit = utf16_len(stripped)
    kept: list[Entity] = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, limit)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def plain_text_of(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Text as Telegram stores it: trimmed, entities without parser bookkeeping."""
    return trim(text, finish_entities(entities))
