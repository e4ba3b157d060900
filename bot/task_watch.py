"""The ``tasks`` job: rewards taken back from members who left a chat too soon, and the news of
challenges completed outside a member's own turn.

A channel task's completion is watched for its ``keep_hours``: the job asks Telegram
(``getChatMember``, through the outbox sender's messenger) whether each watched member is still
in the chat, and core takes back the reward of one who left (``Tasks.revoke``), enqueueing their
message in the same transaction. A chat the bot can no longer see is logged and skipped: no
member loses a reward because the bot was removed from a channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.bot_queries import BotQueries
from bot.content import in_language
from bot.delivery import DeliveryError, screen_to_json
from bot.features.member_links import TaskList
from bot.features.tasks import reward_lines
from bot.i18n import Html, Languages
from bot.screens import Button, Screen
from bot.turn import MainMenu
from core.growth.task_rewards import TaskReward
from core.growth.tasks import Revoked
from core.mall import Mall

log = logging.getLogger(__name__)


class TaskWatcher:
    def __init__(
        self, mall: Mall, languages: Languages, on_enqueued: Callable[[], object] = lambda: None
    ) -> None:
        self.mall = mall
        self.languages = languages
        self.on_enqueued = on_enqueued

    def _screen(self, language: str, text: Html) -> str:
        t = self.languages[language]
        rows = (
            (Button(t("tasks.more"), data=TaskList().pack()),),
            (Button(t("menu.back"), data=MainMenu().pack()),),
        )
        return screen_to_json(Screen(text, rows))

    def completed(self, language: str, reward: TaskReward) -> str:
        t = self.languages[language]
        return self._screen(
            language, Html("\n".join([t("tasks.challenge_done"), reward_lines(t, reward)]))
        )

    def revoked(self, language: str, revoked: Revoked) -> str:
        t = self.languages[language]
        text = t(
            "tasks.revoked",
            title=in_language(t, revoked.title, revoked.titles),
            hours=t.number(revoked.keep_hours),
            points=t.points(revoked.points_taken),
            balance=t.points(revoked.balance),
        )
        return self._screen(language, text)

    async def run(self, queries: BotQueries, now: datetime) -> int:
        """One run: check the watched members, then tell of completed challenges; how many
        messages were enqueued."""
        told = 0
        for watch in await self.mall.tasks.watches(now):
            try:
                membership = await queries.chat_member(watch.chat, watch.member_id)
            except DeliveryError as error:
                log.warning("tasks: cannot check %s in %s: %s", watch.member_id, watch.chat, error)
                continue
            if membership.in_chat:
                continue
            revoked = await self.mall.tasks.revoke(watch.completion_id, now, self.revoked)
            if revoked is not None:
                log.info(
                    "tasks: %s left %s early; took back %s points (%s unrecovered)",
                    watch.member_id,
                    watch.chat,
                    revoked.points_taken,
                    revoked.unrecovered,
                )
                told += 1
        told += await self.mall.tasks.tell_completed(now, self.completed)
        if told:
            self.on_enqueued()
        return told
