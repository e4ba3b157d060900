"""Whether the bot can check a channel task's members, told to admins: on a task's card, and when
a catalog file or a [[tasks]] table is loaded, rather than found out by members pressing
"I've joined"."""

from __future__ import annotations

from bot.bot_queries import BotQueries
from bot.delivery import ChatUnavailable, DeliveryError
from bot.i18n import Html, Translator
from bot.turn import Turn


async def bot_standing(queries: BotQueries, t: Translator, chat: str) -> tuple[bool, Html]:
    """Whether the bot can check the members of ``chat`` (it must be an admin of a channel),
    and that said in words."""
    try:
        standing = await queries.bot_member(chat)
    except ChatUnavailable:
        return False, t("admin.tasks.bot_absent", chat=chat)
    except DeliveryError:
        return False, t("admin.tasks.bot_unknown", chat=chat)
    if standing.is_admin:
        return True, t("admin.tasks.bot_admin", chat=chat)
    return False, t("admin.tasks.bot_not_admin", chat=chat)


async def channel_warnings(turn: Turn) -> list[Html]:
    """A line for each active channel task whose chat the bot cannot check: said on saving, not
    found out by members pressing "I've joined"."""
    warnings = []
    for task in await turn.mall.tasks.all():
        if task.kind != "channel" or not task.active or task.chat is None:
            continue
        able, said = await bot_standing(turn.queries, turn.t, task.chat)
        if not able:
            warnings.append(said)
    return warnings
