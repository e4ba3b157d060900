"""How admin screens find a member from what an admin typed, name them, and tell them what an
admin did: the member card, the points section and the approvals all need the same three."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.i18n import Html, Translator
from bot.screens import Button, Screen
from bot.turn import MainMenu, Turn
from core.errors import UnknownMember
from core.membership.members import MemberProfile

MAX_ID = 2**62
_MEMBER_ID = re.compile(r"[0-9]{1,19}")


async def find_member(turn: Turn, typed: str) -> MemberProfile:
    """The member an admin means by ``typed``: a Telegram id or an @username.

    Raises :class:`UnknownMember` (shown as ``error.unknown_member``) for anyone else.
    """
    text = typed.strip()
    if _MEMBER_ID.fullmatch(text):
        member_id = int(text)
        if not 0 < member_id < MAX_ID:
            raise UnknownMember(f"no member {text}", member_id=text)
        return await turn.mall.members.profile(member_id)
    return await turn.mall.members.find_by_username(text)


def member_label(profile: MemberProfile) -> str:
    """``Ann (@ann, 1000001)``: enough to be sure who it is (escaped where it is shown)."""
    handle = f"@{profile.username}, " if profile.username else ""
    return f"{profile.display_name} ({handle}{profile.member_id})"


async def tell_member(turn: Turn, member_id: int, text: Callable[[Translator], Html]) -> None:
    """Send the member a message in their own language.

    ``text`` builds it from the member's translator (call sites name it ``t`` inside the
    lambda, shadowing the admin's, so every key stays a literal ``t("...")`` call).
    """
    profile = await turn.mall.members.profile(member_id)
    theirs = turn.languages[profile.language]
    menu = Button(theirs("menu.back"), data=MainMenu().pack())
    turn.send(Screen(text(theirs), ((menu,),)), chat_id=member_id)
