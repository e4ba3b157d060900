"""Telegram's HTML parse mode: cases from TDLib's own tests (test/message_entities.cpp)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.sandbox.html import EntityParseError, parse_html, trim


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
        ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba>", 'Can\'t find end tag corresponding to start tag "i"'),
        ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
        ('🏟 🏟&lt;<i    aba  =  "&lt;&gt;&quot;>', "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
        ("🏟 🏟&lt;<b></b></", "Unexpected end tag at byte offset 20"),
        ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
        (
            "🏟 🏟&lt;<i>a</em   >",
            'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"',
        ),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
    ],
)
def test_markup_telegram_refuses_is_refused_with_its_words(markup: str, error: str) -> None:
    with pytest.raises(EntityParseError) as raised:
        parse_html(markup)
    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("markup", "text", "entities"),
    [
        ("", "", []),
        ("&ge;&lt;&gt;&amp;&quot;&laquo;&#12345678;", '&ge;<>&"&laquo;&#12345678;', []),
        ("&#65;&#x42;&#x1F600;", "AB😀", []),
        ("➡️ ➡️<i>➡️ ➡️</i>", "➡️ ➡️➡️ ➡️", [{"type": "italic", "offset": 5, "length": 5}]),
        ("➡️ ➡️<ins>➡️ ➡️</ins>", "➡️ ➡️➡️ ➡️", [{"type": "underline", "offset": 5, "length": 5}]),
        ("<del>x</del>", "x", [{"type": "strikethrough", "offset": 0, "length": 1}]),
        ("<strike>x</strike>", "x", [{"type": "strikethrough", "offset": 0, "length": 1}]),
        (
            "🏟 🏟<i>🏟 &gt;<b aba   =   caba>&lt🏟</b></i>",
            "🏟 🏟🏟 ><🏟",
            [
                {"type": "italic", "offset": 5, "length": 7},
                {"type": "bold", "offset": 9, "length": 3},
            ],
        ),
        (
            '<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>',
            "st",
            [
                {"type": "spoiler", "offset": 0, "length": 1},
                {"type": "spoiler", "offset": 1, "length": 1},
            ],
        ),
        (
            "<a href=telegram.org> </a>",
            " ",
            [{"type": "text_link", "offset": 0, "length": 1, "url": "http://telegram.org/"}],
        ),
        ("<a>telegram.org </a>", "telegram.org ", []),
        (
            '🏟 🏟&lt;<pre><code class="language-fift">🏟 🏟&lt;</></>',
            "🏟 🏟<🏟 🏟<",
            [{"type": "pre", "offset": 6, "length": 6, "language": "fift"}],
        ),
        (
            "<blockquote   expandable>a&lt;<pre  >b;</></>",
            "a<b;",
            [
                {"type": "expandable_blockquote", "offset": 0, "length": 4},
                {"type": "pre", "offset": 2, "length": 2},
            ],
        ),
        (
            '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
            "👍",
            [
                {
                    "type": "custom_emoji",
                    "offset": 0,
                    "length": 2,
                    "custom_emoji_id": "5368324170671202286",
                }
            ],
        ),
        ("🏟 🏟&lt;<b></b>", "🏟 🏟<", []),
    ],
)
def test_markup_parses_to_telegrams_text_and_entities(
    markup: str, text: str, entities: list[dict[str, Any]]
) -> None:
    assert parse_html(markup) == (text, entities)


def test_surrounding_whitespace_is_trimmed_and_entities_follow_their_characters() -> None:
    text, entities = parse_html("\n  <b>Hi</b> there  \n")
    assert trim(text, entities) == ("Hi there", [{"type": "bold", "offset": 0, "length": 2}])
