"""The donation cause in the member's language (``[donations]`` ``cause_names`` and
``descriptions``), from the Donate button to the thanks."""

from __future__ import annotations

from tests.bot.conftest import ChatFactory
from tests.support.chat import Chat

DESCRIPTION = "Every 100 points donated plant one tree with our partner."
CHINESE_DESCRIPTION = "每捐出 100 积分，我们就和合作伙伴一起种下一棵树。"


async def test_a_chinese_member_reads_the_cause_in_chinese(chat: Chat) -> None:
    li = chat.member("李雷", language="zh-hans")
    await li.start()  # 100 points of sign-up bonus
    listing = await li.send("/redemptions")
    assert "💚 捐赠给植树公益" in li.buttons(listing)

    # The screens are one message, edited: each text is read before the next tap.
    screen = (await li.press("💚 捐赠给植树公益")).text
    confirm = (await li.press("10 积分")).text
    thanks = (await li.press("💚 捐出 10 积分")).text

    assert "💚 植树公益" in screen
    assert CHINESE_DESCRIPTION in screen
    assert "确定向植树公益捐出 10 积分 吗？" in confirm
    assert "💚 谢谢你！你向植树公益捐出了 10 积分。" in thanks
    shown = screen + confirm + thanks
    assert "Plant a tree" not in shown
    assert "您" not in shown


async def test_an_english_member_reads_the_cause_in_english(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/redemptions")

    screen = (await ann.press("💚 Donate to Plant a tree")).text
    confirm = (await ann.press("10 points")).text
    thanks = (await ann.press("💚 Give 10 points")).text

    assert "💚 Plant a tree" in screen
    assert DESCRIPTION in screen
    assert "Give 10 points to Plant a tree?" in confirm
    assert "💚 Thank you! You gave 10 points to Plant a tree." in thanks
    assert "植树" not in screen + confirm + thanks


async def test_a_cause_without_a_chinese_name_shows_its_own_to_chinese_members(
    make_chat: ChatFactory,
) -> None:
    beach = """
    [donations]
    cause = "Clean the beach"
    description = "We pick up litter."
    cause_names = {}
    descriptions = {}
    """
    async with make_chat(beach) as chat:
        li = chat.member("李雷", language="zh-hans")
        await li.start()
        await li.send("/redemptions")

        screen = await li.press("💚 捐赠给Clean the beach")

    assert "💚 Clean the beach" in screen.text
    assert "We pick up litter." in screen.text
