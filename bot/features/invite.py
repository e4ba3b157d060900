"""Inviting friends: the member's link as text, QR code and share button, and who came by it.

The link is ``https://t.me/<bot>?start=i-<code>``; /start (bot/features/menu.py) attributes the
newcomer who opens it. Rewards follow ``[referrals]``, which the screen explains as configured.
"""

from __future__ import annotations

import html
import io
from urllib.parse import quote

import qrcode  # type: ignore[import-untyped]

from bot.callback_data import CallbackData, Page
from bot.features.member_links import InviteScreen
from bot.features.start_links import INVITE_PREFIX
from bot.i18n import Html, Translator
from bot.lists import nav_rows, show_list
from bot.router import Router
from bot.screens import Button, Photo, Screen
from bot.turn import Turn
from core.config import ReferralSettings
from core.growth.referrals import Invite

router = Router()
# Invite links carry the inviter's code after this prefix: /start i-<code> (bot.features.menu).
FRIENDS_PAGE = 10
SHARE_URL = "https://t.me/share/url"


@router.command("invite")
async def invite_command(turn: Turn) -> None:
    await _invite(turn)


class FriendsPage(CallbackData, route="invl"):
    """A page of the friends the member invited."""

    page: Page


@router.button(InviteScreen)
async def invite_button(turn: Turn, data: InviteScreen) -> None:
    await _invite(turn)


async def _invite(turn: Turn) -> None:
    t = turn.t
    referrals = turn.mall.referrals
    code = await referrals.invite_code(turn.member_id)
    link = turn.deep_link(INVITE_PREFIX + code)
    found = await referrals.invites(turn.member_id, turn.now, 0, FRIENDS_PAGE)
    lines = [
        t("invite.title"),
        t("invite.link", link=link),
        "",
        reward_rule(t, turn.config.referrals),
    ]
    if found.monthly_cap:
        lines.append(
            t(
                "invite.cap",
                cap=t.number(found.monthly_cap),
                counted=t.number(found.counted_this_month),
            )
        )
    lines += ["", _totals(t, found.pending, found.rewarded, found.capped)]
    share_text = html.unescape(t("invite.share_text", mall=turn.config.mall.name))
    share = f"{SHARE_URL}?url={quote(link, safe='')}&text={quote(share_text, safe='')}"
    rows = (
        (Button(t("invite.share"), url=share),),
        (Button(t("invite.friends"), data=FriendsPage(0).pack()),),
        (turn.menu_button(),),
    )
    photo = Photo(content=qr_png(link), filename="invite.png")
    turn.show(Screen(Html("\n".join(lines)), rows, photo=photo))


def qr_png(data: str) -> bytes:
    """The QR code of ``data`` as a PNG, large enough for a phone camera to read off a screen."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    code.add_data(data)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer, format="PNG")
    return buffer.getvalue()


def reward_rule(t: Translator, settings: ReferralSettings) -> Html:
    """When an invite pays and how much, as this mall is configured."""
    referrer = t.points(settings.referrer_reward)
    invitee = t.points(settings.invitee_reward)
    if settings.qualify_on == "join":
        return t("invite.rule_join", referrer=referrer, invitee=invitee)
    if settings.qualify_on == "redemption":
        return t("invite.rule_redemption", referrer=referrer, invitee=invitee)
    if settings.qualify_on == "purchase":
        return t("invite.rule_purchase", referrer=referrer, invitee=invitee)
    return t.n(
        "invite.rule_checkins", settings.qualify_checkins, referrer=referrer, invitee=invitee
    )


def _totals(t: Translator, pending: int, rewarded: int, capped: int) -> Html:
    if not pending and not rewarded and not capped:
        return t("invite.none_yet")
    return t(
        "invite.totals",
        pending=t.number(pending),
        rewarded=t.number(rewarded),
        capped=t.number(capped),
    )


@router.button(FriendsPage)
async def friends(turn: Turn, data: FriendsPage) -> None:
    page = data.page
    t = turn.t
    found = await turn.mall.referrals.invites(turn.member_id, turn.now, page, FRIENDS_PAGE)
    if found.entries:
        lines = [t("invite.friends_title", page=t.number(page + 1))]
        lines += [_friend_line(turn, invite) for invite in found.entries]
        text = Html("\n".join(lines))
    else:
        text = t("invite.no_friends") if page == 0 else t("invite.no_more")
    rows = nav_rows(t, page, found.has_more, FriendsPage)
    screen = turn.with_menu(text, (*rows, (Button(t("invite.back"), data=InviteScreen().pack()),)))
    show_list(turn, screen)  # keeps the QR code and link in the chat, to show or share later


def _friend_line(turn: Turn, invite: Invite) -> Html:
    t = turn.t
    day = invite.invited_at.astimezone(turn.config.mall.timezone).date()
    return t(
        "invite.friend",
        name=invite.display_name,
        state=_state(t, invite.status, turn.config.referrals),
        day=t.date(day),
    )


def _state(t: Translator, status: str, settings: ReferralSettings) -> Html:
    if status == "rewarded":
        return t("invite.state_rewarded")
    if status == "capped":
        return t("invite.state_capped")
    if settings.qualify_on == "redemption":
        return t("invite.state_pending_redemption")
    if settings.qualify_on == "purchase":
        return t("invite.state_pending_purchase")
    if settings.qualify_on == "checkins":
        return t.n("invite.state_pending_checkins", settings.qualify_checkins)
    return t("invite.state_pending")
