"""Inviting friends from the chat: the link, its QR code, sharing, and who came by it."""

from __future__ import annotations

import io
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import qrcode  # type: ignore[import-untyped]
from PIL import Image

from bot.sandbox import ChatMessage
from tests.bot.conftest import ChatFactory
from tests.conftest import at
from tests.support.chat import Chat, Member

BOT_LINK = "https://t.me/pointsmall_sandbox_bot?start=i-"
JOIN_REWARDS = '[referrals]\nqualify_on = "join"\n'


async def link_of(chat: Chat, member: Member) -> str:
    return BOT_LINK + await chat.mall.referrals.invite_code(member.id)


def qr_modules(png: bytes) -> list[list[bool]]:
    """The dark and light modules of a QR code image, read at the centre of each module."""
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        grey = image.convert("L")
        # Version 1 has 21 modules a side; the quiet zone is 4 modules: find the module size
        # from the top-left finder pattern, which starts where the first dark pixel is.
        first_dark = next(x for x in range(grey.width) if grey.getpixel((x, x)) < 128)
        finder_end = next(
            x for x in range(first_dark, grey.width) if grey.getpixel((x, first_dark)) >= 128
        )
        module = (finder_end - first_dark) // 7
        side = grey.width // module
        return [
            [
                grey.getpixel((col * module + module // 2, row * module + module // 2)) < 128
                for col in range(side)
            ]
            for row in range(side)
        ]


def expected_modules(data: str) -> list[list[bool]]:
    """The QR code of ``data`` as a reader would decode it back: its module matrix."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(data)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


def share_button(message: ChatMessage) -> dict[str, list[str]]:
    button = next(b for row in message.buttons for b in row if b.url is not None)
    assert button.text == "📤 Share my link"
    parts = urlsplit(button.url or "")
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://t.me/share/url"
    return parse_qs(parts.query)


async def test_the_invite_screen_is_a_qr_code_photo_with_the_link_rule_and_share_button(
    chat: Chat,
) -> None:
    ann = chat.member("Ann")
    await ann.start()

    reply = await ann.press("👥 Invite friends")

    link = await link_of(chat, ann)
    assert reply.photo is not None
    assert qr_modules(reply.photo) == expected_modules(link)
    assert f"Your invite link: {link}" in reply.text
    assert (
        "When a friend who joined through your link has checked in 3 times, "
        "you get 100 points and they get 50 points." in reply.text
    )
    assert "Up to 20 invites are rewarded each month; this month so far: 0." in reply.text
    assert "Nobody has joined through your link yet." in reply.text
    assert ann.buttons(reply) == ["📤 Share my link", "👥 Friends I invited", "⬅️ Menu"]
    shared = share_button(reply)
    assert shared["url"] == [link]
    assert shared["text"] == ["Join me at PointsMall: collect points and redeem them for rewards!"]


async def test_the_same_link_every_time(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()

    first = await ann.send("/invite")
    second = await ann.send("/invite")

    link = await link_of(chat, ann)
    assert f"Your invite link: {link}" in first.text
    assert f"Your invite link: {link}" in second.text
    assert first.photo == second.photo


async def test_a_friend_joining_by_the_link_rewards_both_at_once_when_the_mall_says_so(
    make_chat: ChatFactory,
) -> None:
    async with make_chat(JOIN_REWARDS) as chat:
        ann = chat.member("Ann")
        await ann.start()
        link = await link_of(chat, ann)
        bob = chat.member("Bob")

        welcome = await bob.start(link.removeprefix("https://t.me/pointsmall_sandbox_bot?start="))

        assert "A friend invited you" in welcome.text
        # 100 welcome bonus each, then 100 for inviting and 50 for being invited.
        assert (await chat.mall.statements.balance(ann.id)).balance == 200
        assert (await chat.mall.statements.balance(bob.id)).balance == 150
        screen = await ann.send("/invite")
        assert (
            "When a friend joins through your link, you get 100 points and they get 50 points."
            in screen.text
        )
        assert "Your invites: 1 rewarded, 0 waiting, 0 over the monthly limit." in screen.text
        assert "this month so far: 1." in screen.text
        friends = await ann.press("👥 Friends I invited")
        assert "Friends you invited (page 1)" in friends.text
        assert "• Bob: ✅ rewarded (joined Mar 2)" in friends.text


async def test_a_friend_is_waiting_until_they_have_checked_in_as_often_as_the_rule_asks(
    chat: Chat,
) -> None:
    ann = chat.member("Ann")
    await ann.start()
    bob = chat.member("Bob")
    await bob.start("i-" + await chat.mall.referrals.invite_code(ann.id))

    await ann.send("/invite")
    friends = await ann.press("👥 Friends I invited")

    assert "• Bob: ⏳ waiting until they have checked in 3 times (joined Mar 2)" in friends.text
    assert (await chat.mall.statements.balance(ann.id)).balance == 100

    for day in range(3):
        chat.now = at("2026-03-02 09:00") + timedelta(days=day)
        await bob.send("/checkin")
    await ann.send("/invite")
    friends = await ann.press("👥 Friends I invited")

    assert "• Bob: ✅ rewarded (joined Mar 2)" in friends.text
    assert (await chat.mall.statements.balance(ann.id)).balance == 200
    # 100 bonus + three check-ins of 10 + 50 for having been invited
    assert (await chat.mall.statements.balance(bob.id)).balance == 180


async def test_an_invite_that_pays_on_the_first_purchase_says_so_and_waits_for_it(
    make_chat: ChatFactory,
) -> None:
    async with make_chat('[referrals]\nqualify_on = "purchase"\n') as chat:
        ann = chat.member("Ann")
        await ann.start()
        bob = chat.member("Bob")
        await bob.start("i-" + await chat.mall.referrals.invite_code(ann.id))

        invite = await ann.send("/invite")
        assert "makes their first purchase in our shop" in invite.text
        for day in range(3):  # check-ins do not qualify under this rule
            chat.now = at("2026-03-02 09:00") + timedelta(days=day)
            await bob.send("/checkin")
        await ann.send("/invite")
        friends = await ann.press("👥 Friends I invited")
        assert "• Bob: ⏳ waiting for their first purchase (joined Mar 2)" in friends.text

        await chat.mall.purchases.record_purchase(bob.id, "A-1", 1000, "general", chat.now)
        await ann.send("/invite")
        friends = await ann.press("👥 Friends I invited")
        assert "• Bob: ✅ rewarded (joined Mar 2)" in friends.text


async def test_invites_over_the_monthly_cap_are_listed_as_not_rewarded(
    make_chat: ChatFactory,
) -> None:
    async with make_chat(JOIN_REWARDS + "monthly_cap = 1\n") as chat:
        ann = chat.member("Ann")
        await ann.start()
        payload = "i-" + await chat.mall.referrals.invite_code(ann.id)
        bob, cy = chat.member("Bob"), chat.member("Cy")
        await bob.start(payload)
        chat.now += timedelta(minutes=5)
        await cy.start(payload)

        screen = await ann.send("/invite")
        friends = await ann.press("👥 Friends I invited")

        assert "Up to 1 invites are rewarded each month; this month so far: 1." in screen.text
        assert "Your invites: 1 rewarded, 0 waiting, 1 over the monthly limit." in screen.text
        assert friends.text.index("Cy") < friends.text.index("Bob")  # newest first
        assert "• Cy: ⛔ over the monthly limit, not rewarded (joined Mar 2)" in friends.text
        assert "• Bob: ✅ rewarded (joined Mar 2)" in friends.text
        assert (await chat.mall.statements.balance(ann.id)).balance == 200
        assert (await chat.mall.statements.balance(cy.id)).balance == 100


async def test_friends_names_are_shown_as_written_never_as_markup(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    mallory = chat.member("<b>Mallory</b> & co")
    await mallory.start("i-" + await chat.mall.referrals.invite_code(ann.id))

    await ann.send("/invite")
    friends = await ann.press("👥 Friends I invited")

    assert "• <b>Mallory</b> & co: ⏳" in friends.text
    assert "&lt;b&gt;Mallory&lt;/b&gt; &amp; co" in (friends.html or "")


async def test_a_long_list_of_friends_pages(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    for n in range(12):
        await chat.mall.members.join(
            5000 + n, f"Friend {n:02d}", "en", chat.now + timedelta(minutes=n), invited_by=ann.id
        )
    await ann.send("/invite")

    first = await ann.press("👥 Friends I invited")

    assert "Friend 11" in first.text
    assert "Friend 02" in first.text
    assert "Friend 01" not in first.text
    assert ann.buttons(first) == ["Next ▶️", "⬅️ My invite link", "⬅️ Menu"]
    second = await ann.press("Next ▶️")
    assert "Friends you invited (page 2)" in second.text
    assert "Friend 01" in second.text
    assert "Friend 00" in second.text
    assert "Friend 02" not in second.text
    assert ann.buttons(second) == ["◀️ Previous", "⬅️ My invite link", "⬅️ Menu"]
    back = await ann.press("◀️ Previous")
    assert "Friend 11" in back.text
    screen = await ann.press("⬅️ My invite link")
    assert screen.photo is not None
    assert "Your invites: 0 rewarded, 12 waiting, 0 over the monthly limit." in screen.text


async def test_the_invite_screen_in_chinese(chat: Chat) -> None:
    li = chat.member("李雷", language="zh-hans")
    await li.start()

    reply = await li.send("/invite")

    assert f"你的邀请链接：{await link_of(chat, li)}" in reply.text
    rule = "通过你的链接加入的好友累计签到 3 天后，你将获得 100 积分，好友获得 50 积分。"
    assert rule in reply.text
    assert li.buttons(reply) == ["📤 分享我的链接", "👥 我邀请的好友", "⬅️ 菜单"]
    shared = parse_qs(urlsplit(reply.buttons[0][0].url or "").query)
    assert shared["text"] == ["和我一起来 PointsMall 吧：攒积分，换好礼！"]


async def test_made_up_page_buttons_get_a_clear_answer(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()

    for data in ("invl", "invl:x", "invl:-1", "invl:99999999999"):
        await ann.press_data(data)
        assert ann.notices[-1] == (
            "This button is out of date. Open the menu to see what is there now.",
            True,
        ), data
