"""Channels, groups and polls: getChatMember, getChat, sendPoll, stopPoll and members' votes."""

from __future__ import annotations

from typing import Any

import aiogram
import aiohttp
import pytest
import telegram
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from telegram.error import BadRequest, Forbidden

from bot.sandbox import Sandbox
from bot.sandbox.chats import ChatSeed, VoteRefused
from tests.sandbox.conftest import ptb_bot_for


async def test_a_member_joins_and_leaves_the_channel_as_getchatmember_tells(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann", username="ann_sbx")
    before = await ptb.get_chat_member("@pointsmall_news", ann.id)
    assert (before.status, before.user.id) == ("left", ann.id)
    assert ann.join("@pointsmall_news") is True
    assert ann.join("@POINTSMALL_NEWS") is False  # in already; a username ignores case
    joined = await ptb.get_chat_member("@pointsmall_news", ann.id)
    assert joined.status == "member"
    assert joined.user.first_name == "Ann"
    news = sandbox.chat("@pointsmall_news")
    by_id = await ptb.get_chat_member(news.id, ann.id)
    assert by_id.status == "member"
    assert ann.leave(news) is True
    assert (await ptb.get_chat_member(news.id, ann.id)).status == "left"
    assert sandbox.violations == []


async def test_the_bots_own_standing_and_the_chat_it_is_not_in(
    sandbox: Sandbox, aio: aiogram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    me = await aio.get_me()
    admin = await aio.get_chat_member(chat_id="@pointsmall_news", user_id=me.id)
    assert admin.status == "administrator"
    group = await aio.get_chat_member(chat_id="@pointsmall_lounge", user_id=me.id)
    assert group.status == "administrator"
    with pytest.raises(TelegramBadRequest, match="member list is inaccessible"):
        await aio.get_chat_member(chat_id="@pointsmall_deals", user_id=ann.id)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await aio.get_chat_member(chat_id="@no_such_channel", user_id=ann.id)
    with pytest.raises(TelegramBadRequest, match="user not found"):
        await aio.get_chat_member(chat_id="@pointsmall_news", user_id=424242)
    assert sandbox.violations == []


async def test_a_group_the_bot_left_refuses_and_a_private_one_is_not_found() -> None:
    seeds = (
        ChatSeed("Old group", "supergroup", "old_group", "left"),
        ChatSeed("Secret", "channel", None, "left"),
    )
    async with Sandbox(chats=seeds) as sandbox:
        ann = sandbox.add_user("Ann")
        secret = sandbox.chats[1]
        async with telegram.Bot(sandbox.token, base_url=sandbox.api_server + "/bot") as ptb:
            with pytest.raises(Forbidden, match="bot is not a member of the supergroup chat"):
                await ptb.get_chat_member("@old_group", ann.id)
            with pytest.raises(BadRequest, match="Chat not found"):
                await ptb.get_chat_member(secret.id, ann.id)
            public = await ptb.get_chat("@old_group")
            assert (public.type, public.title) == ("supergroup", "Old group")
            with pytest.raises(BadRequest, match="Chat not found"):
                await ptb.get_chat(secret.id)
        assert sandbox.violations == []


async def test_restricted_members_count_as_in_only_while_is_member(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    lounge = sandbox.chat("@pointsmall_lounge")
    ann.join(lounge)
    lounge.set_status(ann.id, "restricted", is_member=True)
    restricted = await ptb.get_chat_member(lounge.id, ann.id)
    assert isinstance(restricted, telegram.ChatMemberRestricted)
    assert restricted.is_member is True
    ann.leave(lounge)
    gone = await ptb.get_chat_member(lounge.id, ann.id)
    assert (gone.status, gone.is_member) == ("restricted", False)
    lounge.set_status(ann.id, "kicked")
    with pytest.raises(PermissionError):
        ann.join(lounge)
    banned = await ptb.get_chat_member(lounge.id, ann.id)
    assert isinstance(banned, telegram.ChatMemberBanned)
    with pytest.raises(ValueError, match="only a group"):
        sandbox.chat("@pointsmall_news").set_status(ann.id, "restricted")
    assert sandbox.violations == []


async def test_get_chat_describes_channels_groups_and_private_chats(
    sandbox: Sandbox, aio: aiogram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    news = await aio.get_chat(chat_id="@pointsmall_news")
    assert (news.type, news.title) == ("channel", "PointsMall News")
    assert news.username == "pointsmall_news"
    assert news.id == sandbox.chat("@pointsmall_news").id < 0
    private = await aio.get_chat(chat_id=ann.id)
    assert (private.type, private.first_name) == ("private", "Ann")
    assert sandbox.violations == []


async def test_a_regular_poll_is_voted_changed_and_taken_back(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    ann.start()
    sent = await ptb.send_poll(
        ann.id, "Which prize next?", ["Mug", "Tea", "Umbrella"], is_anonymous=False
    )
    assert sent.poll is not None
    assert (sent.poll.type, sent.poll.is_anonymous, sent.poll.allows_revoting) == (
        "regular",
        False,
        True,
    )
    assert ann.newest_poll().text == "Which prize next?"
    await ptb.get_updates(timeout=0)  # past the /start

    first = ann.vote([1])
    changed = ann.vote([2])
    retracted = ann.vote([])
    updates = await ptb.get_updates(timeout=0)
    answers = [(u.update_id, u.poll_answer) for u in updates if u.poll_answer is not None]
    assert [u for u, _ in answers] == [first, changed, retracted]
    assert [tuple(a.option_ids) for _, a in answers] == [(1,), (2,), ()]
    assert {a.poll_id for _, a in answers} == {sent.poll.id}
    assert all(a.user is not None and a.user.id == ann.id for _, a in answers)
    with pytest.raises(VoteRefused, match="no vote to take back"):
        ann.vote([])
    with pytest.raises(VoteRefused, match="one answer"):
        ann.vote([0, 1])
    assert sandbox.violations == []


async def test_a_quiz_takes_one_answer_for_good_and_a_stopped_poll_none(
    sandbox: Sandbox, aio: aiogram.Bot
) -> None:
    ann, bob = sandbox.add_user("Ann"), sandbox.add_user("Bob")
    ann.start()
    bob.start()
    sent = await aio.send_poll(
        chat_id=ann.id,
        question="Points per check-in?",
        options=["5", "10"],
        is_anonymous=False,
        type="quiz",
        correct_option_ids=[1],
        explanation="Ten, every day",
    )
    assert sent.poll is not None
    assert sent.poll.correct_option_ids == [1]
    assert sent.poll.allows_revoting is False
    update_id = ann.vote([0])
    assert update_id is not None
    with pytest.raises(VoteRefused, match="cannot be changed"):
        ann.vote([1])
    with pytest.raises(VoteRefused, match="cannot be changed"):
        ann.vote([])
    assert ann.poll().votes == {ann.id: (0,)}
    assert ann.last.poll_id == sent.poll.id
    stopped = await aio.stop_poll(chat_id=ann.id, message_id=sent.message_id)
    assert stopped.is_closed
    assert stopped.total_voter_count == 1
    with pytest.raises(VoteRefused, match="closed"):
        bob.vote_in(sent.poll.id, [1])
    with pytest.raises(TelegramBadRequest, match="already been closed"):
        await aio.stop_poll(chat_id=ann.id, message_id=sent.message_id)
    assert sandbox.violations == []


async def test_send_poll_is_refused_as_telegram_refuses_it(
    sandbox: Sandbox, aio: aiogram.Bot, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    with pytest.raises(TelegramForbiddenError, match="can't initiate"):
        await aio.send_poll(chat_id=ann.id, question="Q?", options=["a", "b"])
    ann.start()
    with pytest.raises(TelegramBadRequest, match="correct option ids must be specified"):
        await aio.send_poll(chat_id=ann.id, question="Q?", options=["a", "b"], type="quiz")
    with pytest.raises(TelegramBadRequest, match="wrong correct option ids"):
        await aio.send_poll(
            chat_id=ann.id, question="Q?", options=["a", "b"], type="quiz", correct_option_ids=[5]
        )
    with pytest.raises(TelegramBadRequest, match="question must be non-empty"):
        await aio.send_poll(chat_id=ann.id, question=" ", options=["a", "b"])
    with pytest.raises(TelegramBadRequest, match="must not exceed 300"):
        await aio.send_poll(chat_id=ann.id, question="q" * 301, options=["a", "b"])
    with pytest.raises(TelegramBadRequest, match="non-anonymous polls can't be sent to channel"):
        await aio.send_poll(
            chat_id="@pointsmall_news", question="Q?", options=["a", "b"], is_anonymous=False
        )
    with pytest.raises(Forbidden, match="bot is not a member of the channel chat"):
        await ptb.send_poll("@pointsmall_deals", "Q?", ["a", "b"])
    posted = await ptb.send_poll("@pointsmall_news", "Best prize?", ["Mug", "Tea"])
    assert posted.chat.id == sandbox.chat("@pointsmall_news").id
    assert posted.poll is not None
    assert posted.poll.is_anonymous
    assert ann.vote_in(posted.poll.id, [0]) is None  # anonymous: no poll_answer
    assert sandbox.violations == []


async def test_the_page_joins_leaves_and_votes_as_the_member(sandbox: Sandbox) -> None:
    ann = sandbox.add_user("Ann")
    ann.start()
    api = f"{sandbox.api_server}/sandbox/api/users/{ann.id}"
    async with aiohttp.ClientSession() as http:

        async def post(path: str, body: object) -> tuple[int, Any]:
            async with http.post(f"{api}{path}", json=body) as response:
                kind = response.content_type
                return response.status, await (
                    response.json() if kind == "application/json" else response.text()
                )

        async with http.get(f"{api}/chats") as response:
            listed = await response.json()
        assert [(c["username"], c["bot_status"], c["in_chat"]) for c in listed] == [
            ("pointsmall_news", "administrator", False),
            ("pointsmall_lounge", "administrator", False),
            ("pointsmall_deals", "left", False),
        ]
        news = sandbox.chat("@pointsmall_news")
        status, joined = await post(f"/chats/{news.id}/join", {})
        assert (status, joined["status"], joined["in_chat"], joined["members"]) == (
            200,
            "member",
            True,
            1,
        )
        assert news.standing(ann.id).in_chat
        status, left = await post("/chats/pointsmall_news/leave", {})
        assert (status, left["status"], left["in_chat"]) == (200, "left", False)
        assert (await post("/chats/nowhere/join", {}))[0] == 404
        sandbox.chat("@pointsmall_lounge").set_status(ann.id, "kicked")
        assert (await post("/chats/pointsmall_lounge/join", {}))[0] == 403

        async with ptb_bot_for(sandbox) as ptb:
            sent = await ptb.send_poll(
                ann.id,
                "Points per check-in?",
                ["5", "10"],
                is_anonymous=False,
                type="quiz",
                correct_option_ids=[1],
                explanation="Ten",
            )
        async with http.get(f"{api}/chat") as response:
            shown = (await response.json())["messages"][-1]["poll"]
        assert shown["question"] == "Points per check-in?"
        assert "correct_option_ids" not in shown  # the answer shows once voted
        assert (shown["my_vote"], shown["can_vote"]) == (None, True)

        status, voted = await post("/vote", {"message_id": sent.message_id, "option_ids": [0]})
        assert status == 200
        assert isinstance(voted["update_id"], int)
        status, again = await post("/vote", {"message_id": sent.message_id, "option_ids": [1]})
        assert (status, again) == (400, "a quiz's answer cannot be changed or taken back")
        bad = await post("/vote", {"message_id": sent.message_id, "option_ids": "0"})
        assert bad[0] == 400
        assert (await post("/vote", {"message_id": 999, "option_ids": [0]}))[0] == 404
        async with http.get(f"{api}/chat") as response:
            shown = (await response.json())["messages"][-1]["poll"]
        assert (shown["my_vote"], shown["can_vote"], shown["correct_option_ids"]) == (
            [0],
            False,
            [1],
        )
        assert shown["explanation"] == "Ten"
    assert sandbox.violations == []
