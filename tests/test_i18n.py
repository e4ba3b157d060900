"""Texts cut to a length say so: :func:`bot.i18n.shorten` ends every cut with "…"."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.i18n import ELLIPSIS, shorten


def test_a_text_that_fits_is_kept_as_it_is() -> None:
    assert shorten("Latte coupon", 40) == "Latte coupon"
    assert shorten("Latte", 5) == "Latte"
    assert shorten("", 3) == ""


def test_a_cut_text_ends_with_an_ellipsis_within_the_limit() -> None:
    assert shorten("Canvas tote bag", 10) == "Canvas to…"
    assert shorten("超长的商品名称超长的商品名称", 6) == "超长的商品…"
    assert shorten("abc", 1) == "…"


def test_no_space_is_left_before_the_ellipsis() -> None:
    assert shorten("Canvas tote bag", 8) == "Canvas…"


def test_a_limit_below_one_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        shorten("abc", 0)


@given(st.text(), st.integers(min_value=1, max_value=80))
def test_never_longer_than_the_limit_and_a_cut_always_shows(text: str, limit: int) -> None:
    cut = shorten(text, limit)
    assert len(cut) <= limit
    if len(text) <= limit:
        assert cut == text
    else:
        assert cut.endswith(ELLIPSIS)
        assert text.startswith(cut[:-1])
