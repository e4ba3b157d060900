"""The pieces of the task plumbing that need no bot: polls as specified, membership as read,
errors as a caller sees them, votes as both frameworks and the inbox read them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiogram import Bot as AiogramBot
from aiogram.types import Update as AiogramUpdate
from telegram import Update as PtbUpdate

from bot.aiogram.adapter import to_event as aiogram_event
from bot.aiogram.messenger import open_messenger as aiogram_messenger
from bot.bot_queries import ChatMembership, ChatMemberStatus, NoQueries, PollSpec
from bot.delivery import ChatUnavailable, Rejected, TransientFailure, Unreachable, unavailable
from bot.events import PollAnswer
from bot.ptb.adapter import to_event as ptb_event
from bot.ptb.app import restore_empty_lists
from bot.ptb.messenger import open_messenger as ptb_messenger
from bot.receiving import received
from bot.sandbox import Sandbox

VOTER = {"id": 42, "is_bot": False, "first_name": "Ann", "language_code": "zh-hans"}


def vote(option_ids: list[int]) -> dict[str, object]:
    return {
        "update_id": 9,
        "poll_answer": {
            "poll_id": "5123",
            "user": VOTER,
            "option_ids": option_ids,
            "option_persistent_ids": [f"o{i}" for i in option_ids],
        },
    }


def test_a_poll_spec_keeps_to_telegrams_limits() -> None:
    quiz = PollSpec("2 + 2?", ("3", "4"), correct_option=1, explanation="Four")
    assert quiz.is_quiz
    assert not PollSpec("Tea or coffee?", ("Tea", "Coffee")).is_quiz
    for bad in (
        {"question": "", "options": ("a", "b")},
        {"question": "q" * 301, "options": ("a", "b")},
        {"question": "q", "options": ("a",)},
        {"question": "q", "options": tuple("abcdefghijk")},
        {"question": "q", "options": ("a", "b" * 101)},
        {"question": "q", "options": ("a", "b"), "correct_option": 2},
        {"question": "q", "options": ("a", "b"), "explanation": "only for quizzes"},
        {"question": "q", "options": ("a", "b"), "correct_option": 0, "explanation": "x" * 201},
    ):
        with pytest.raises(ValueError, match=r"poll|quiz"):
            PollSpec(**bad)  # type: ignore[arg-type]


def test_membership_counts_a_restricted_user_in_only_while_a_member() -> None:
    assert ChatMembership.of("creator") == ChatMembership(ChatMemberStatus.CREATOR, True)
    assert ChatMembership.of("administrator").is_admin
    assert ChatMembership.of("member").in_chat
    assert not ChatMembership.of("member").is_admin
    assert ChatMembership.of("restricted", is_member=True).in_chat
    assert not ChatMembership.of("restricted", is_member=False).in_chat
    assert not ChatMembership.of("left").in_chat
    assert not ChatMembership.of("kicked").in_chat
    with pytest.raises(ValueError, match="owner"):
        ChatMembership.of("owner")


def test_a_chat_the_bot_cannot_see_is_chat_unavailable_and_nothing_else_is() -> None:
    for words in (
        "Bad Request: chat not found",
        "Bad Request: member list is inaccessible",
        "Forbidden: bot is not a member of the channel chat",
    ):
        kind = Unreachable if words.startswith("Forbidden") else Rejected
        error = unavailable("@news", kind(words))
        assert isinstance(error, ChatUnavailable)
        assert isinstance(error, Rejected)
        assert (error.chat, error.reason) == ("@news", words)
    for other in (Rejected("Bad Request: user not found"), TransientFailure("timeout")):
        assert unavailable("@news", other) is other


async def test_a_conversation_without_a_bot_says_so_when_asked_to_query() -> None:
    with pytest.raises(RuntimeError, match="no Bot API queries"):
        await NoQueries().send_poll(1, PollSpec("q", ("a", "b")))
    with pytest.raises(RuntimeError, match="no Bot API queries"):
        await NoQueries().chat_member("@news", 1)


@pytest.mark.parametrize("option_ids", [[1], [0, 2], []])
async def test_both_frameworks_read_a_vote_and_a_vote_taken_back(option_ids: list[int]) -> None:
    raw = vote(option_ids)
    stored = restore_empty_lists(PtbUpdate.de_json(raw, None).to_dict())
    from_ptb = ptb_event(PtbUpdate.de_json(stored, None), "pointsmall_bot")
    bot = AiogramBot("123456:abc")
    try:
        from_aiogram = aiogram_event(
            AiogramUpdate.model_validate(raw, context={"bot": bot}), bot, "pointsmall_bot"
        )
    finally:
        await bot.session.close()
    for event in (from_ptb, from_aiogram):
        assert event is not None
        assert event.action == PollAnswer("5123", tuple(option_ids))
        assert (event.sender.user_id, event.sender.language_code) == (42, "zh-hans")


def test_the_inbox_keeps_a_voters_updates_in_order_with_their_messages() -> None:
    stored = received(vote([1]))
    assert stored.chat_key == 42
    assert json.loads(stored.payload)["poll_answer"]["option_ids"] == [1]


async def test_both_frameworks_make_the_same_calls_and_read_the_same_answers() -> None:
    """The queries of either adapter reach Telegram as the same requests, to the parameter."""
    token = "123456:queries-parity"
    async with Sandbox(token=token) as sandbox:
        ann = sandbox.add_user("Ann")
        ann.start()
        ann.join("@pointsmall_lounge")
        sandbox.chat("@pointsmall_lounge").set_status(ann.id, "restricted", is_member=False)
        seen: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        answers: dict[str, list[object]] = {}
        for name, opened in (
            ("ptb", ptb_messenger(token, sandbox.api_server)),
            ("aiogram", aiogram_messenger(token, sandbox.api_server)),
        ):
            before = len(sandbox.requests)
            async with opened as messenger:
                got: list[object] = [
                    await messenger.chat_member("@pointsmall_lounge", ann.id),
                    await messenger.bot_member("@pointsmall_news"),
                    await messenger.send_poll(ann.id, PollSpec("2 + 2?", ("3", "4"), 1, "Four")),
                    await messenger.send_poll(ann.id, PollSpec("Tea or coffee?", ("Tea", "Cof"))),
                ]
                with pytest.raises(ChatUnavailable, match=r"(?i)member list is inaccessible"):
                    await messenger.chat_member("@pointsmall_deals", ann.id)
            answers[name] = got[:2]
            assert [p.id for p in sandbox.world.polls.values()][-2:] == got[2:]
            seen[name] = [
                (method, params)
                for method, params in sandbox.requests[before:]
                if method not in ("getMe", "close")
            ]
        assert seen["ptb"] == seen["aiogram"]
        assert [method for method, _ in seen["ptb"]] == [
            "getChatMember",
            "getChatMember",
            "sendPoll",
            "sendPoll",
            "getChatMember",
        ]
        assert seen["ptb"][2][1]["is_anonymous"] is False
        assert seen["ptb"][2][1]["correct_option_ids"] == [1]
        assert (
            answers["ptb"]
            == answers["aiogram"]
            == [
                ChatMembership(ChatMemberStatus.RESTRICTED, False),
                ChatMembership(ChatMemberStatus.ADMINISTRATOR, True),
            ]
        )
        assert sandbox.violations == []
