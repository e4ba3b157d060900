"""The Bot API calls both adapters make with the same arguments.

python-telegram-bot's ``Bot`` and aiogram's ``Bot`` name their methods and keyword arguments
after the Bot API, so an edit, a press's answer, a checkout's answer, a Stars refund and a
membership question read the same on both. They are written once here; each adapter's channel
supplies the framework's pieces: :meth:`_call` (one API call, its errors translated for
:mod:`bot.delivery`) and :meth:`_markup` (an inline keyboard in the framework's types). What
differs between the frameworks (sending files, polls) stays in the adapters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from bot import delivery
from bot.answering import ALLOWED_UPDATES
from bot.bot_queries import BotQueries, ChatMembership, PollSpec
from bot.screens import CheckoutAnswer, Invoice, Keyboard, Notice, Screen

T = TypeVar("T")
HTML = "HTML"  # parse mode: both frameworks take the Bot API's string


class SameCallsChannel:
    """The calls of :class:`bot.answering.Channel` that are alike on both frameworks."""

    bot: Any  # the framework's Bot

    def __init__(self, bot: Any) -> None:
        self.bot = bot

    async def _call(self, method: Callable[..., Awaitable[T]], **kwargs: Any) -> T | None:
        raise NotImplementedError

    def _markup(self, rows: Keyboard) -> Any:
        raise NotImplementedError

    def _price(self, label: str, amount: int) -> Any:
        """One ``LabeledPrice`` in the framework's types."""
        raise NotImplementedError

    async def _send_invoice(self, chat_id: int, invoice: Invoice, buttons: Keyboard) -> None:
        """An invoice message: inline buttons only (see :class:`bot.screens.Screen`)."""
        await self._call(
            self.bot.send_invoice,
            chat_id=chat_id,
            title=invoice.title,
            description=invoice.description,
            payload=invoice.payload,
            currency=invoice.currency,
            prices=[self._price(invoice.label, invoice.amount)],
            reply_markup=self._markup(buttons),
        )

    async def edit(self, chat_id: int, message_id: int, screen: Screen, *, caption: bool) -> None:
        if caption:
            await self._call(
                self.bot.edit_message_caption,
                chat_id=chat_id,
                message_id=message_id,
                caption=screen.text,
                parse_mode=HTML,
                reply_markup=self._markup(screen.buttons),
            )
        else:
            await self._call(
                self.bot.edit_message_text,
                chat_id=chat_id,
                message_id=message_id,
                text=screen.text,
                parse_mode=HTML,
                reply_markup=self._markup(screen.buttons),
            )

    async def answer_press(self, query_id: str, notice: Notice) -> None:
        await self._call(
            self.bot.answer_callback_query,
            callback_query_id=query_id,
            text=notice.text or None,
            show_alert=notice.alert,
        )

    async def answer_checkout(self, query_id: str, answer: CheckoutAnswer) -> None:
        await self._call(
            self.bot.answer_pre_checkout_query,
            pre_checkout_query_id=query_id,
            ok=answer.ok,
            error_message=answer.error,
        )

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None:
        """Give a payment in Telegram Stars back to the member who made it."""
        await self._call(
            self.bot.refund_star_payment, user_id=user_id, telegram_payment_charge_id=charge_id
        )

    async def chat_member(self, chat_id: int | str, user_id: int) -> ChatMembership:
        try:
            member = await self._call(self.bot.get_chat_member, chat_id=chat_id, user_id=user_id)
        except delivery.DeliveryError as error:
            raise delivery.unavailable(chat_id, error) from error
        assert member is not None, "only an edit is ever 'not modified'"
        return ChatMembership.of(member.status, getattr(member, "is_member", None))

    async def bot_member(self, chat_id: int | str) -> ChatMembership:
        return await self.chat_member(chat_id, self.bot.id)

    async def send_poll(self, chat_id: int, poll: PollSpec) -> str:
        """Send ``poll``; its poll id (the frameworks build the options differently)."""
        raise NotImplementedError


class MessengerCalls(Protocol):
    """What an adapter's channel offers the outbox's messenger."""

    async def send(self, chat_id: int, screen: Screen) -> None: ...

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None: ...

    async def chat_member(self, chat_id: int | str, user_id: int) -> ChatMembership: ...

    async def bot_member(self, chat_id: int | str) -> ChatMembership: ...

    async def send_poll(self, chat_id: int, poll: PollSpec) -> str: ...


class ChannelMessenger:
    """The outbox sender's :class:`bot.delivery.Messenger` on an adapter's channel: delivers
    outbox screens, refunds Stars and makes jobs' queries, one API call each with no retry of
    its own (the sender decides what an error means for the row, ``bot.sender``); the
    framework's errors are translated by the channel, the one place that reads them."""

    def __init__(self, channel: MessengerCalls) -> None:
        self.channel = channel

    async def deliver(self, chat_id: int, screen: Screen) -> None:
        await self.channel.send(chat_id, screen)

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None:
        await self.channel.refund_star_payment(user_id, charge_id)

    async def chat_member(self, chat_id: int | str, user_id: int) -> ChatMembership:
        return await self.channel.chat_member(chat_id, user_id)

    async def bot_member(self, chat_id: int | str) -> ChatMembership:
        return await self.channel.bot_member(chat_id)

    async def send_poll(self, chat_id: int, poll: PollSpec) -> str:
        return await self.channel.send_poll(chat_id, poll)


class SameBotCalls:
    """The calls of :class:`bot.running.BotApi` that are alike on both frameworks."""

    bot: Any  # the framework's Bot
    channel: SameCallsChannel

    async def set_webhook(self, url: str, secret: str) -> None:
        await self.bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)

    @property
    def queries(self) -> BotQueries:
        """getChatMember and sendPoll, for the conversation's turns."""
        return self.channel

    async def delete_webhook(self) -> None:
        await self.bot.delete_webhook()

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None:
        await self.channel.refund_star_payment(user_id, charge_id)
