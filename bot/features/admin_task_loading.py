"""Tasks loaded by an admin, from the catalog file or a ``[[tasks]]`` table sent in the chat: one
load, as that admin, and what they read after it: the counts, then each active channel task
whose members the bot cannot check (it must be an admin there), said on loading rather than
found out by members pressing "I've joined". The task's card says the same for one channel."""

from __future__ import annotations

from bot.bot_queries import BotQueries
from bot.content import SPOKEN
from bot.delivery import ChatUnavailable, DeliveryError
from bot.i18n import Html, Translator
from bot.turn import Turn
from core.rewards.catalog_file import CatalogLoadReport, load_catalog_text


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


async def load_as_admin(turn: Turn, text: str, filename: str) -> CatalogLoadReport:
    """Load a catalog text (items, boxes, tasks) as the admin, audited in the load's own
    transaction; :class:`~core.rewards.catalog_file.CatalogError` if any of it is wrong."""
    return await load_catalog_text(
        turn.mall.db,
        turn.mall.config,
        text,
        turn.now,
        languages=SPOKEN,
        actor_id=turn.sender.user_id,
        filename=filename,
    )


async def tasks_loaded(turn: Turn, report: CatalogLoadReport) -> list[Html]:
    """The tasks a load created, changed and left alone, then a line for each channel task the
    bot cannot check."""
    t = turn.t
    counts = t(
        "admin.tasks.loaded",
        created=t.number(report.tasks_created),
        updated=t.number(report.tasks_updated),
        unchanged=t.number(report.tasks_unchanged),
    )
    return [counts, *await channel_warnings(turn)]
