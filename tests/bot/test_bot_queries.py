"""The Telegram plumbing of tasks, end to end on both frameworks, with test-only handlers.

A command the test registers asks ``turn.queries`` whether the member is in a channel and
sends a quiz; the member votes in the sandbox; the vote comes back as a ``PollAnswer`` to the
handler the test registered. Nothing here is a production feature: the tasks feature builds
on exactly these calls.
"""

from __future__ import annotations

import pytest

from bot.bot_queries import ChatMemberStatus, PollSpec
from bot.delivery import ChatUnavailable
from bot.events import Command, PollAnswer
from bot.i18n import Html, escape
from bot.running import open_messenger
from bot.screens import Screen
from bot.turn import Turn
from tests.support.chat import TOKEN, Chat

QUIZ = PollSpec("How many points is a check-in?", ("5", "10", "20"), 1, "Ten, every day")


def say(turn: Turn, text: str) -> None:
    turn.send(Screen(escape(text)))


async def membership(turn: Turn) -> None:
    """/standing @chat: what getChatMember says of the member there."""
    assert isinstance(turn.action, Command)
    chat = turn.action.args
    try:
        standing = await turn.queries.chat_member(chat, turn.member_id)
        bot = await turn.queries.bot_member(chat)
    except ChatUnavailable as error:
        say(turn, f"unavailable: {error.chat}")
        return
    say(turn, f"{standing.status} in={standing.in_chat} bot_admin={bot.is_admin}")


async def quiz(turn: Turn) -> None:
    poll_id = await turn.queries.send_poll(turn.member_id, QUIZ)
    say(turn, f"sent poll {poll_id}")


async def voted(turn: Turn, answer: PollAnswer) -> None:
    say(turn, f"voted {list(answer.option_ids)} in {answer.poll_id}")


@pytest.fixture
def handlers(chat: Chat, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's own command and vote handlers on the running bot's router."""
    monkeypatch.setitem(chat.router.commands, "standing", membership)
    monkeypatch.setitem(chat.router.commands, "askquiz", quiz)
    monkeypatch.setitem(chat.router.poll_answers, "poll_answer", voted)


@pytest.mark.usefixtures("handlers")
async def test_membership_is_checked_before_and_after_joining_the_channel(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()

    assert (await ann.send("/standing @pointsmall_news")).text == ("left in=False bot_admin=True")
    ann.join("@pointsmall_news")
    assert (await ann.send("/standing @pointsmall_news")).text == ("member in=True bot_admin=True")
    ann.leave("@pointsmall_news")
    assert (await ann.send("/standing @pointsmall_news")).text.startswith("left in=False")
    assert (await ann.send("/standing @pointsmall_deals")).text == (
        "unavailable: @pointsmall_deals"
    )
    assert (await ann.send("/standing @nowhere_at_all")).text == "unavailable: @nowhere_at_all"


@pytest.mark.usefixtures("handlers")
async def test_a_quiz_is_sent_voted_once_and_the_vote_answered(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()

    sent = await ann.send("/askquiz")
    poll = ann.poll()
    assert ann.last_poll.text == QUIZ.question
    assert sent.text == f"sent poll {poll.id}"
    assert (poll.type, poll.is_anonymous, poll.correct_option_ids) == ("quiz", False, [1])
    assert poll.options == ["5", "10", "20"]
    assert poll.explanation == "Ten, every day"

    answered = await ann.vote([0])
    assert answered is not None
    assert answered.text == f"voted [0] in {poll.id}"
    assert poll.votes == {ann.id: (0,)}


async def test_a_vote_taken_back_and_a_stranger_s_vote(chat: Chat) -> None:
    """Outside a turn (a job): the messenger sends the poll and reads membership; a vote from
    someone who never joined the mall is dropped quietly, with no join screen."""
    ann, bob = chat.member("Ann"), chat.member("Bob")
    await ann.start()
    await bob.send("hello")  # not joined: answered with the way in, the chat is open
    seen = len(bob.messages)
    survey = PollSpec("Which prize next?", ("Mug", "Tea"))
    replies: list[str] = []

    async def heard(turn: Turn, answer: PollAnswer) -> None:
        replies.append(f"{turn.member_id}:{list(answer.option_ids)}")
        turn.send(Screen(Html("thanks")))

    chat.router.poll_answers["poll_answer"] = heard
    try:
        async with open_messenger(
            TOKEN, chat.sandbox.api_server, framework=chat.framework
        ) as messenger:
            ann_poll = await messenger.send_poll(ann.id, survey)
            bob_poll = await messenger.send_poll(bob.id, survey)
            assert (await messenger.bot_member("@pointsmall_lounge")).is_admin
            ann.join("@pointsmall_lounge")
            standing = await messenger.chat_member("@pointsmall_lounge", ann.id)
            assert (standing.status, standing.in_chat) == (ChatMemberStatus.MEMBER, True)
            with pytest.raises(ChatUnavailable):
                await messenger.chat_member("@pointsmall_deals", ann.id)
        assert ann.poll().id == ann_poll
        await ann.vote([1])
        await ann.vote([])
        await bob.vote([0])
    finally:
        del chat.router.poll_answers["poll_answer"]
    assert bob.poll().id == bob_poll
    assert replies == [f"{ann.id}:[1]", f"{ann.id}:[]"]
    assert [m.text for m in ann.messages[-2:]] == ["thanks", "thanks"]
    assert len(bob.messages) == seen + 1  # the poll, and no answer to the vote
