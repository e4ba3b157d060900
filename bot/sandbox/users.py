"""A member of the sandbox: what tests (and the page) do as them, and what their chat shows."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.sandbox.chats import GroupChat, PollState
from bot.sandbox.errors import PaymentRefused
from bot.sandbox.html import utf16_len
from bot.sandbox.media import image_size
from bot.sandbox.messages import ChatMessage, ReplyButton
from bot.sandbox.world import CallbackQueryState, PreCheckout, StarPayment, World

PAY_TIMEOUT = 10.0


def fake_phone(user_id: int) -> str:
    """A member's phone number, made up from their id: a Chinese mobile number (+86 138...), as
    Telegram writes a contact's number (digits, no ``+``)."""
    return f"86138{user_id % 10**8:08d}"


class SandboxUser:
    """A Telegram user in a private chat with the bot."""

    def __init__(
        self,
        world: World,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        admin: bool = False,
        phone_number: str | None = None,
    ) -> None:
        self._world = world
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.admin = admin
        self.phone_number = phone_number or fake_phone(user_id)
        self.messages: list[ChatMessage] = []
        self.notices: list[tuple[str, bool]] = []
        self.chat_actions: list[str] = []
        self.reply_keyboard: list[list[ReplyButton]] | None = None
        self.blocked = False
        self.started = False  # has written to the bot: only then may the bot write first
        self._next_message_id = 1

    def __repr__(self) -> str:
        return f"SandboxUser(id={self.id}, first_name={self.first_name!r})"

    # -- Bot API objects ----------------------------------------------------------------

    def as_user(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def as_chat(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat

    # -- the chat -----------------------------------------------------------------------

    def new_message(self, from_bot: bool, text: str = "", **fields: Any) -> ChatMessage:
        message = ChatMessage(
            message_id=self._next_message_id,
            from_bot=from_bot,
            text=text,
            date=self._world.now(),
            **fields,
        )
        self._next_message_id += 1
        self.messages.append(message)
        return message

    def find(self, message_id: int) -> ChatMessage | None:
        for message in self.messages:
            if message.message_id == message_id and not message.deleted:
                return message
        return None

    @property
    def bot_messages(self) -> list[ChatMessage]:
        return [m for m in self.messages if m.from_bot]

    @property
    def last(self) -> ChatMessage:
        """The newest bot message still in the chat."""
        for message in reversed(self.messages):
            if message.from_bot and not message.deleted:
                return message
        raise AssertionError(f"the bot has not written to {self.first_name} ({self.id})")

    def transcript(self) -> str:
        return "\n".join(m.describe() for m in self.messages if not m.deleted) or "(empty chat)"

    # -- what a member does -------------------------------------------------------------

    def _send(self, message: ChatMessage) -> int:
        self.started = True
        update_id = self._world.updates.push("message", self._world.message_object(self, message))
        self._world.changed(self.id)
        return update_id

    def send(self, text: str) -> int:
        """Write to the bot; a leading ``/command`` carries a bot_command entity like Telegram."""
        message = self.new_message(from_bot=False, text=text)
        message.raw["text"] = text
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entity = {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
            message.entities = [entity]
            message.raw["entities"] = [entity]
        return self._send(message)

    def start(self, payload: str | None = None) -> int:
        return self.send(f"/start {payload}" if payload else "/start")

    def send_document(
        self,
        file_name: str,
        content: bytes,
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
    ) -> int:
        stored = self._world.store_file(content, file_name, mime_type, "documents")
        message = self.new_message(
            from_bot=False, text=caption or "", document=(file_name, content, mime_type)
        )
        message.raw["document"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": stored.size,
        }
        if caption:
            message.raw["caption"] = caption
        return self._send(message)

    def send_photo(self, content: bytes, caption: str | None = None) -> int:
        size = image_size(content)
        if size is None:
            raise ValueError("not an image Telegram could process")
        stored = self._world.store_file(content, "photo.jpg", "image/jpeg", "photos", *size)
        message = self.new_message(from_bot=False, text=caption or "", photo=content)
        message.raw["photo"] = [
            photo_size(stored.file_id, stored.file_unique_id, size, len(content))
        ]
        if caption:
            message.raw["caption"] = caption
        return self._send(message)

    def send_contact(
        self,
        phone_number: str,
        first_name: str,
        user_id: int | None = None,
        last_name: str | None = None,
    ) -> int:
        """Send a contact card, anyone's (from the address book: ``user_id`` is theirs, if they
        use Telegram)."""
        contact: dict[str, Any] = {"phone_number": phone_number, "first_name": first_name}
        if last_name:
            contact["last_name"] = last_name
        if user_id is not None:
            contact["user_id"] = user_id
        message = self.new_message(from_bot=False, contact=contact)
        message.raw["contact"] = contact
        return self._send(message)

    def share_contact(self) -> int:
        """Share one's own phone number, as a ``request_contact`` button does."""
        return self.send_contact(self.phone_number, self.first_name, self.id, self.last_name)

    def press_reply(self, text: str) -> int:
        """Press a button of the reply keyboard under the message box: it sends its text, or
        shares the member's contact if it asks for it."""
        for row in self.reply_keyboard or []:
            for button in row:
                if button.text == text:
                    return self.share_contact() if button.request_contact else self.send(text)
        shown = [[b.text for b in row] for row in self.reply_keyboard or []]
        raise LookupError(f"no reply keyboard button {text!r}; the keyboard shows {shown}")

    def press(self, text: str, message: ChatMessage | None = None) -> int:
        """Press the callback button ``text`` on ``message``, or on the newest one having it."""
        candidates = [message] if message is not None else list(reversed(self.bot_messages))
        for candidate in candidates:
            current = self.find(candidate.message_id)
            if current is None or not current.from_bot:
                continue
            button = current.button(text)
            if button is None:
                continue
            if button.callback_data is None:
                raise ValueError(f"{text!r} is a link to {button.url}, not a callback button")
            return self._press(current, button.callback_data)
        on_screen = [
            [b.text for row in m.buttons for b in row]
            for m in reversed(self.bot_messages)
            if not m.deleted and m.buttons
        ]
        raise LookupError(f"no button {text!r}; buttons on screen, newest first: {on_screen}")

    def press_data(self, data: str, message: ChatMessage | None = None) -> int:
        """Press with any callback data on ``message`` (default: the newest bot message).

        What a modified client can do: a button that was never shown, or an old one's data.
        """
        target = message or self.last
        current = self.find(target.message_id)
        if current is None or not current.from_bot:
            raise LookupError(f"message {target.message_id} is not a bot message in this chat")
        return self._press(current, data)

    def _press(self, message: ChatMessage, data: str) -> int:
        world = self._world
        query_id = world.new_id("cbq")
        world.callback_queries[query_id] = CallbackQueryState(query_id, self.id, message.message_id)
        query = {
            "id": query_id,
            "from": self.as_user(),
            "message": world.message_object(self, message),
            "chat_instance": f"ci{self.id}",
            "data": data,
        }
        update_id = world.updates.push("callback_query", query)
        world.changed(self.id)
        return update_id

    def newest_invoice(self) -> ChatMessage:
        for message in reversed(self.bot_messages):
            if message.invoice is not None and not message.deleted:
                return message
        raise LookupError(f"no invoice in the chat of {self.first_name} ({self.id})")

    async def pay(
        self,
        message: ChatMessage | None = None,
        between: Callable[[], Awaitable[object]] | None = None,
    ) -> int:
        """Pay an invoice: pre-checkout query, then (if the bot agrees) a successful payment.

        ``between`` runs after the bot agreed and before the payment lands: what can happen
        meanwhile at Telegram (the redemption timing out, say).
        """
        world = self._world
        invoice_message = message or self.newest_invoice()
        invoice = invoice_message.invoice
        if invoice is None:
            raise LookupError(f"message {invoice_message.message_id} is not an invoice")
        query_id = world.new_id("pcq")
        answer: asyncio.Future[tuple[bool, str | None]] = asyncio.get_running_loop().create_future()
        world.pre_checkouts[query_id] = PreCheckout(query_id, self.id, answer)
        world.updates.push(
            "pre_checkout_query",
            {
                "id": query_id,
                "from": self.as_user(),
                "currency": invoice["currency"],
                "total_amount": invoice["total_amount"],
                "invoice_payload": invoice["payload"],
            },
        )
        try:
            ok, error_message = await asyncio.wait_for(answer, PAY_TIMEOUT)
        except TimeoutError:
            raise TimeoutError(
                f"the bot did not answer the pre-checkout query within {PAY_TIMEOUT:g} s"
            ) from None
        finally:
            world.pre_checkouts.pop(query_id, None)
        if not ok:
            raise PaymentRefused(error_message or "")
        if between is not None:
            await between()
        charge = StarPayment(
            world.new_id("stxSBX"),
            self.id,
            int(invoice["total_amount"]),
            str(invoice["payload"]),
            world.new_id("sbxprov"),
        )
        if invoice["currency"] == "XTR":
            world.star_payments[charge.charge_id] = charge
        paid = self.new_message(from_bot=False)
        paid.payment = {
            "currency": invoice["currency"],
            "total_amount": invoice["total_amount"],
            "invoice_payload": invoice["payload"],
            "telegram_payment_charge_id": charge.charge_id,
            "provider_payment_charge_id": charge.provider_charge_id,
        }
        paid.raw["successful_payment"] = paid.payment
        return self._send(paid)

    def refunded(self, payment: StarPayment) -> int:
        """Telegram's service message of a refund in this chat (``refunded_payment``), which
        the bot receives too, as Telegram sends it."""
        message = self.new_message(from_bot=False)
        message.refund = {
            "currency": "XTR",
            "total_amount": payment.amount,
            "invoice_payload": payment.payload,
            "telegram_payment_charge_id": payment.charge_id,
            "provider_payment_charge_id": payment.provider_charge_id,
        }
        message.raw["refunded_payment"] = message.refund
        return self._send(message)

    # -- channels, groups and polls -------------------------------------------------------

    def _group(self, chat: GroupChat | int | str) -> GroupChat:
        if isinstance(chat, GroupChat):
            return chat
        found = self._world.group_chat(chat)
        if found is None:
            raise LookupError(f"no sandbox channel or group {chat!r}")
        return found

    def join(self, chat: GroupChat | int | str) -> bool:
        """Join a channel or group (by id or '@username'); False if already in it."""
        group = self._group(chat)
        joined = group.join(self.id)
        self._world.changed(self.id, kind="chats")
        return joined

    def leave(self, chat: GroupChat | int | str) -> bool:
        """Leave a channel or group; False if not in it."""
        group = self._group(chat)
        left = group.leave(self.id)
        self._world.changed(self.id, kind="chats")
        return left

    def newest_poll(self) -> ChatMessage:
        """The newest poll the bot sent to this chat."""
        for message in reversed(self.bot_messages):
            if message.poll_id is not None and not message.deleted:
                return message
        raise LookupError(f"no poll in the chat of {self.first_name} ({self.id})")

    def poll(self, message: ChatMessage | None = None) -> PollState:
        """The poll of ``message`` (default: the newest poll in this chat), as it stands."""
        target = message or self.newest_poll()
        if target.poll_id is None:
            raise LookupError(f"message {target.message_id} is not a poll")
        return self._world.polls[target.poll_id]

    def vote(self, option_ids: Sequence[int], message: ChatMessage | None = None) -> int | None:
        """Vote in a poll in this chat (the newest by default); ``[]`` takes the vote back.

        Returns the ``poll_answer`` update's id (None for an anonymous poll);
        :class:`~bot.sandbox.chats.VoteRefused` where Telegram's app would not let the vote
        be cast (a quiz answered already, a closed poll, an option that is not there)."""
        return self._world.vote(self, self.poll(message), option_ids)

    def vote_in(self, poll_id: str, option_ids: Sequence[int]) -> int | None:
        """Vote in any poll the bot sent (one in a channel or group, say), by its id."""
        poll = self._world.polls.get(poll_id)
        if poll is None:
            raise LookupError(f"no poll {poll_id!r}")
        return self._world.vote(self, poll, option_ids)

    def block(self) -> int:
        """Block the bot: sends to this chat fail with 403 until ``unblock()``."""
        self.blocked = True
        return self._member_update("member", "kicked")

    def unblock(self) -> int:
        self.blocked = False
        return self._member_update("kicked", "member")

    def _member_update(self, old: str, new: str) -> int:
        world = self._world

        def member(status: str) -> dict[str, Any]:
            state: dict[str, Any] = {"status": status, "user": world.bot_user}
            if status == "kicked":
                state["until_date"] = 0
            return state

        update_id = world.updates.push(
            "my_chat_member",
            {
                "chat": self.as_chat(),
                "from": self.as_user(),
                "date": world.now(),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        )
        world.changed(self.id)
        return update_id

    async def wait_for(
        self,
        predicate: Callable[[SandboxUser], bool],
        timeout: float = 10,  # noqa: ASYNC109 (the test API's name)
    ) -> None:
        """Until ``predicate(self)`` holds; TimeoutError showing the chat if it does not."""
        loop = asyncio.get_running_loop()
        if not await self._world.signal.wait_until(lambda: predicate(self), timeout, loop.time):
            raise TimeoutError(
                f"condition not met within {timeout:g} s; chat of {self.first_name}:\n"
                + self.transcript()
            )


def photo_size(
    file_id: str, file_unique_id: str, size: tuple[int, int], file_size: int
) -> dict[str, Any]:
    return {
        "file_id": file_id,
        "file_unique_id": file_unique_id,
        "width": size[0],
        "height": size[1],
        "file_size": file_size,
    }
