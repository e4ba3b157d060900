"""Bot API methods on chats and polls: getChat, getChatMember, sendPoll, stopPoll.

They read the world's channels and groups (:mod:`bot.sandbox.chats`) and members' private
chats, and answer as Telegram does, errors included: a chat the bot cannot see is "chat not
found", a channel whose members only an admin may list is "member list is inaccessible", a
group the bot left is "bot is not a member of the supergroup chat".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.sandbox.chat_rules import chat_of, ensure_can_write, reply_markup, throttle
from bot.sandbox.chats import GroupChat, Membership, PollState
from bot.sandbox.dispatch import method
from bot.sandbox.errors import CHAT_NOT_FOUND, ApiError, bad_request, forbidden
from bot.sandbox.messages import buttons_of
from bot.sandbox.params import Params
from bot.sandbox.world import World

if TYPE_CHECKING:
    from bot.sandbox.users import SandboxUser

# sendPoll's limits (Bot API 10.1: 1-12 options; the libraries still check 2-10 themselves).
MAX_QUESTION = 300
MAX_OPTION = 100
MIN_OPTIONS, MAX_OPTIONS = 1, 12
MAX_EXPLANATION = 200
INACCESSIBLE = "member list is inaccessible"
_ALL_GIFTS = {
    "unlimited_gifts": True,
    "limited_gifts": True,
    "unique_gifts": True,
    "premium_subscription": True,
    "gifts_from_channels": True,
}


def _target(world: World, params: Params) -> GroupChat | SandboxUser:
    """The channel or group ``chat_id`` names, else a member's private chat."""
    value = params.get("chat_id")
    if value is None or value == "":
        raise bad_request("chat_id is empty")
    group = world.group_chat(value)
    if group is not None:
        return group
    return chat_of(world, params)


def _visible(group: GroupChat) -> None:
    """A chat the bot is not in is only found by its public @username."""
    if not group.bot_in_chat and not group.username:
        raise bad_request(CHAT_NOT_FOUND)


def _not_a_member(group: GroupChat) -> ApiError:
    return forbidden(f"bot is not a member of the {group.type} chat")


@method("getChat")
async def get_chat(world: World, params: Params) -> Any:
    target = _target(world, params)
    if isinstance(target, GroupChat):
        _visible(target)
        info = target.as_chat()
    else:
        info = target.as_chat()
    info.update(accent_color_id=0, max_reaction_count=11, accepted_gift_types=_ALL_GIFTS)
    return info


def _member_object(user: dict[str, Any], standing: Membership) -> dict[str, Any]:
    """The ChatMember subtype of ``standing``, with the fields Telegram always sends."""
    member: dict[str, Any] = {"status": standing.status, "user": user}
    status = standing.status
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(
            can_be_edited=False,
            is_anonymous=False,
            can_manage_chat=True,
            can_delete_messages=True,
            can_manage_video_chats=True,
            can_restrict_members=True,
            can_promote_members=False,
            can_change_info=True,
            can_invite_users=True,
            can_post_stories=False,
            can_edit_stories=False,
            can_delete_stories=False,
            # Not in api.json 10.1, but aiogram 3.31 requires it of an administrator.
            can_send_welcome_messages=False,
        )
    elif status == "restricted":
        member["is_member"] = standing.is_member
        member.update(
            {
                name: False
                for name in (
                    "can_send_messages", "can_send_audios", "can_send_documents",
                    "can_send_photos", "can_send_videos", "can_send_video_notes",
                    "can_send_voice_notes", "can_send_polls", "can_send_other_messages",
                    "can_add_web_page_previews", "can_react_to_messages", "can_edit_tag",
                    "can_change_info", "can_invite_users", "can_pin_messages",
                    "can_manage_topics",
                )
            }
        )  # fmt: skip
        member["until_date"] = standing.until_date
    elif status == "kicked":
        member["until_date"] = standing.until_date
    return member


@method("getChatMember")
async def get_chat_member(world: World, params: Params) -> Any:
    target = _target(world, params)
    user_id = params.integer("user_id")
    bot_id = int(world.bot_user["id"])
    if isinstance(target, GroupChat):
        _visible(target)
        if target.type == "channel" and not target.bot_is_admin:
            raise bad_request(INACCESSIBLE)
        if not target.bot_in_chat:
            raise _not_a_member(target)
    if user_id == bot_id:
        status = target.bot_status if isinstance(target, GroupChat) else "member"
        return _member_object(world.bot_user, Membership(status))
    user = world.users_by_id.get(user_id or 0)
    if user is None:
        raise bad_request("user not found")
    if isinstance(target, GroupChat):
        standing = target.standing(user.id)
    else:  # a private chat: its member, and no one else
        standing = Membership("member" if user.id == target.id else "left")
    return _member_object(user.as_user(), standing)


def _poll_options(params: Params) -> list[str]:
    options = params.structured("options", "options")
    if not isinstance(options, list):
        raise bad_request("can't parse options JSON object")
    texts = []
    for option in options:
        text = option.get("text") if isinstance(option, dict) else option
        if not isinstance(text, str) or not text.strip():
            raise bad_request("poll options must be non-empty")
        if len(text) > MAX_OPTION:
            raise bad_request(f"poll options length must not exceed {MAX_OPTION}")
        texts.append(text)
    if len(texts) < MIN_OPTIONS:
        raise bad_request("poll must have at least 1 option")
    if len(texts) > MAX_OPTIONS:
        raise bad_request(f"poll can't have more than {MAX_OPTIONS} options")
    return texts


def _correct_ids(params: Params, options: int) -> list[int]:
    raw = params.structured("correct_option_ids", "correct option ids")
    if raw is None:
        raise bad_request("correct option ids must be specified for quiz polls")
    if not isinstance(raw, list) or not raw or any(not isinstance(i, int) for i in raw):
        raise bad_request("can't parse correct option ids JSON object")
    if raw != sorted(set(raw)) or any(not 0 <= i < options for i in raw):
        raise bad_request("wrong correct option ids specified")
    return list(raw)


@method("sendPoll")
async def send_poll(world: World, params: Params) -> Any:
    target = _target(world, params)
    question = params.string("question") or ""
    if not question.strip():
        raise bad_request("poll question must be non-empty")
    if len(question) > MAX_QUESTION:
        raise bad_request(f"poll question length must not exceed {MAX_QUESTION}")
    options = _poll_options(params)
    kind = params.string("type") or "regular"
    if kind not in ("regular", "quiz"):
        raise bad_request("wrong poll type specified")
    anonymous = params.flag("is_anonymous", default=True)
    multiple = params.flag("allows_multiple_answers")
    correct = _correct_ids(params, len(options)) if kind == "quiz" else None
    if correct is None and params.has("correct_option_ids"):
        raise bad_request("correct option ids can be specified only for quiz polls")
    if kind == "quiz" and not multiple and correct is not None and len(correct) > 1:
        raise bad_request("wrong correct option ids specified")
    explanation = params.string("explanation") or None
    if explanation is not None and kind != "quiz":
        raise bad_request("explanation can be specified only for quiz polls")
    if explanation is not None and len(explanation) > MAX_EXPLANATION:
        raise bad_request("explanation is too long")
    markup = reply_markup(params)
    if isinstance(target, GroupChat):
        _visible(target)
        if not target.bot_in_chat or (target.type == "channel" and not target.bot_is_admin):
            raise _not_a_member(target)
        if target.type == "channel" and not anonymous:
            raise bad_request("non-anonymous polls can't be sent to channel chats")
    else:
        ensure_can_write(target)
        throttle(world, "sendPoll", target.id)
    poll = PollState(
        id=world.new_id("5"),
        chat_id=target.id,
        message_id=0,
        question=question,
        options=options,
        type=kind,
        is_anonymous=anonymous,
        allows_multiple_answers=multiple,
        allows_revoting=params.flag("allows_revoting", default=kind == "regular"),
        correct_option_ids=correct,
        explanation=explanation,
        is_closed=params.flag("is_closed"),
    )
    world.polls[poll.id] = poll
    if isinstance(target, GroupChat):
        poll.message_id = target.new_message_id()
        message: dict[str, Any] = {
            "message_id": poll.message_id,
            "chat": target.as_chat(),
            "date": world.now(),
            "poll": poll.as_json(),
        }
        if target.type == "channel":
            message["sender_chat"] = target.as_chat()
        else:
            message["from"] = world.bot_user
        target.messages.append(message)
        world.changed(None, kind="chats")
        return message
    sent = target.new_message(from_bot=True, text=question, poll_id=poll.id)
    poll.message_id = sent.message_id
    if markup and "inline_keyboard" in markup:
        sent.reply_markup = markup
        sent.buttons = buttons_of(markup)
    world.changed(target.id)
    return world.message_object(target, sent)


@method("stopPoll")
async def stop_poll(world: World, params: Params) -> Any:
    target = _target(world, params)
    message_id = params.integer("message_id")
    found = next(
        (p for p in world.polls.values() if p.chat_id == target.id and p.message_id == message_id),
        None,
    )
    if found is None:
        raise bad_request("message with poll to stop not found")
    if found.is_closed:
        raise bad_request("poll has already been closed")
    found.is_closed = True
    world.changed(target.id if not isinstance(target, GroupChat) else None)
    return found.as_json()
