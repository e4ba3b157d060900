"""Guided admin conversations: one question at a time, the answers kept in the pending question.

A :class:`Form` asks its :class:`Step` questions in turn. Each answer is typed (a text the step
parses), pressed (one of the step's choices, or Skip) or sent (a photo, for an upload step); a
bad answer is refused with the reason and the same question is asked again, nothing saved. Every
answer, however given, is also checked against the draft's other answers by the form's ``check``
(a price of 0 beside no cash part...), so a rule is told at the question that breaks it. The
draft (answers so far, which question is next) lives in the admin's pending question
(``mall.inputs``), so the next answer may reach another bot process.

When every question is answered the form shows its summary with Save, Cancel and a button per
answer that asks that one question again and comes back to the summary, every other answer kept
(or it saves at once when it has no summary, as a one-question edit does). A save the mall
refuses (a :class:`~core.errors.MallError`, or :class:`Invalid` from the form's own save) loses
nothing: the reason is shown above the summary again (without a summary, above the first
question). Buttons carry the draft's id and its version, bumped by every answer: a button from
an older draft, an earlier question or an earlier summary is out of date.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, TypeGuard

from babel.numbers import get_currency_precision

from bot.callback_data import CallbackData, Chars, Ints
from bot.events import Upload
from bot.features.admin_screens import admin_screen, two_a_row
from bot.i18n import Html, plain, shorten
from bot.refusals import refusal_text
from bot.router import Router, Stale
from bot.screens import Button
from bot.turn import Turn
from core import validation
from core.errors import MallError
from core.membership.pending_inputs import JSON

# How long a question waits for its answer.
ANSWER_TTL = timedelta(hours=1)
_NO_SKIP = object()
_DRAFT_ID_BYTES = 3
# A draft changes with every answer; no form is answered this many times.
_MAX_VERSION = 1_000_000
FormAction = Literal["c", "s", "x", "v", "e", "k"]


class FormPress(CallbackData, route=None):
    """A form's button: ``action`` on draft ``draft_id`` at ``version``, with a ``token`` (a
    choice's, or the number of the step to ask again). Each form subclasses it with its route.

    ``c`` a choice, ``s`` Skip, ``x`` Cancel, ``v`` Save, ``e`` ask an answer again from the
    summary, ``k`` keep it as it was.
    """

    action: FormAction
    draft_id: Annotated[str, Chars("A-Za-z0-9_-", 16)]
    version: Annotated[int, Ints(0, _MAX_VERSION)]
    token: Annotated[str, Chars("A-Za-z0-9_.-", 20, 0)] = ""


class Invalid(Exception):
    """An answer a step refuses; ``reason`` (translated) is shown above the question again."""

    def __init__(self, reason: Html) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Draft:
    """A form being filled in: which steps it asks, how far it got, and the answers so far.

    ``context`` is what the form is about (the item being edited, the box...). ``revising``: the
    question at ``at`` was picked on the summary, and its answer leads back there. ``version``
    counts the draft's changes; its buttons carry it.
    """

    form: str
    draft_id: str
    steps: list[str]
    at: int
    values: dict[str, JSON]
    context: dict[str, JSON]
    revising: bool = False
    version: int = 0

    @property
    def done(self) -> bool:
        return self.at >= len(self.steps)

    def answer(self, name: str) -> JSON:
        """The answer ``name`` holds for good, for checking another against it: None when it has
        none yet, or when it is still to be asked after the current question (as ``ends`` after
        ``starts``, the first time through)."""
        if not self.revising and name in self.steps[self.at + 1 :]:
            return None
        return self.values.get(name)

    def data(self) -> dict[str, JSON]:
        return {
            "form": self.form,
            "id": self.draft_id,
            "steps": list[JSON](self.steps),
            "at": self.at,
            "values": dict(self.values),
            "context": dict(self.context),
            "revising": self.revising,
            "version": self.version,
        }

    @classmethod
    def load(cls, data: Mapping[str, JSON]) -> Draft:
        form, draft_id, steps = data.get("form"), data.get("id"), data.get("steps")
        at, values, context = data.get("at"), data.get("values"), data.get("context")
        # A draft kept before drafts had versions: its buttons carried its question's number.
        revising, version = data.get("revising", False), data.get("version", at)
        if not (
            isinstance(form, str)
            and isinstance(draft_id, str)
            and isinstance(steps, list)
            and all(isinstance(step, str) for step in steps)
            and _whole(at)
            and isinstance(values, dict)
            and isinstance(context, dict)
            and isinstance(revising, bool)
            and _whole(version)
        ):
            raise Stale("not a form's draft")
        steps_named = [str(step) for step in steps]
        return cls(form, draft_id, steps_named, at, values, context, revising, version)

    def move_to(self, at: int, *, revising: bool = False) -> None:
        """Go to question ``at`` (the summary: ``len(steps)``), a new version of the draft."""
        self.at, self.revising = at, revising
        self.version += 1


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class Choice:
    """A button answering a step: its label, a short token for the callback data, its value."""

    label: str
    token: str
    value: JSON


Question = Callable[[Turn, Draft], Html]
Label = Callable[[Turn], Html]
Parse = Callable[[Turn, str, Draft], Awaitable[JSON]]
TakeUpload = Callable[[Turn, Upload, Draft], Awaitable[JSON]]
Choices = Callable[[Turn, Draft], Awaitable[Sequence[Choice]]]


@dataclass(frozen=True)
class Step:
    """One question: ``question`` writes it (for the draft as it is).

    ``parse`` takes a typed answer (raise :class:`Invalid` to refuse it); ``choices`` offers
    buttons; ``skip`` is the value a Skip button stores (no button without it; ``skip_label``
    names the button, "Skip" by default); ``upload`` makes it a question a file answers.
    ``label`` names the answer on the summary's button that asks it again ("Question 3" without).
    """

    name: str
    question: Question
    parse: Parse | None = None
    choices: Choices | None = None
    skip: Any = _NO_SKIP
    skip_label: Label | None = None
    upload: TakeUpload | None = None
    label: Label | None = None

    @property
    def skippable(self) -> bool:
        return self.skip is not _NO_SKIP


Summary = Callable[[Turn, Draft], Awaitable[Html | None]]
Save = Callable[[Turn, Draft], Awaitable[None]]
Home = Callable[[Turn, Draft], Button]
Check = Callable[[Turn, Draft, str, JSON], Awaitable[None]]


@dataclass
class Form:
    """A guided conversation registered on ``router``: its buttons (``press``, its own
    :class:`FormPress` class with the form's route), its typed
    answers (input ``kind``) and, if a step takes a file, its uploads (``upload_kind``).

    ``summary`` is shown with Save/Cancel once every step is answered (None: save at once);
    ``save`` does the work (it may refuse with :class:`Invalid` or a ``MallError`` before it
    changes or shows anything: the draft is kept); ``home`` is where Cancel leads. ``check``
    sees every answer (the step's name and the value about to be stored) before it is stored,
    to refuse with :class:`Invalid` one that does not fit the others (:meth:`Draft.answer`).
    """

    router: Router
    name: str
    press: type[FormPress]
    kind: str
    steps: Sequence[Step]
    summary: Summary
    save: Save
    home: Home
    upload_kind: str | None = None
    check: Check | None = None
    _by_name: dict[str, Step] = field(init=False)

    def __post_init__(self) -> None:
        self._by_name = {step.name: step for step in self.steps}
        self.router.button(self.press, admin=True)(self._pressed)
        self.router.input(self.kind, admin=True)(self._typed)
        if self.upload_kind is not None:
            self.router.upload(self.upload_kind, admin=True)(self._uploaded)

    async def start(
        self,
        turn: Turn,
        steps: Sequence[str] | None = None,
        values: Mapping[str, JSON] | None = None,
        context: Mapping[str, JSON] | None = None,
        *,
        problem: Html | None = None,
        review: bool = False,
    ) -> None:
        """Ask the first of ``steps`` (all the form's steps by default), ``problem`` above it;
        with ``review`` (``values`` answering every step: an existing record's), show the
        summary at once, each answer to change from there."""
        names = list(steps) if steps is not None else [step.name for step in self.steps]
        unknown = [name for name in names if name not in self._by_name]
        if unknown or not names:
            raise ValueError(f"form {self.name!r} has no steps {unknown or names}")
        draft = Draft(
            self.name,
            secrets.token_hex(_DRAFT_ID_BYTES),
            names,
            0,
            dict(values or {}),
            dict(context or {}),
        )
        if review:
            missing = [name for name in names if name not in draft.values]
            if missing:
                raise ValueError(f"form {self.name!r} reviewed without answers for {missing}")
            draft.at = len(names)
        await self._ask(turn, draft, problem)

    # --- Answers ------------------------------------------------------------------------------

    async def _typed(self, turn: Turn, text: str, data: Mapping[str, JSON]) -> None:
        draft = self._draft(data)
        if draft.done:
            await self._ask(turn, draft, turn.t("admin.items.form.press_save"))
            return
        step = self._step(draft)
        if step.parse is None:
            await self._ask(turn, draft, turn.t("admin.items.form.press_a_button"))
            return
        try:
            value = await step.parse(turn, text.strip(), draft)
        except Invalid as refused:
            await self._ask(turn, draft, refused.reason)
            return
        await self._answered(turn, draft, value)

    async def _uploaded(self, turn: Turn, upload: Upload, data: Mapping[str, JSON]) -> None:
        draft = self._draft(data)
        step = None if draft.done else self._step(draft)
        if step is None or step.upload is None:
            raise Stale(f"form {self.name!r} is not waiting for a file")
        try:
            value = await step.upload(turn, upload, draft)
        except Invalid as refused:
            await self._ask(turn, draft, refused.reason)
            return
        await self._answered(turn, draft, value)

    async def _pressed(self, turn: Turn, pressed: FormPress) -> None:
        """What :class:`FormPress` says, on the draft waiting if it is the button's."""
        action, draft_id, version = pressed.action, pressed.draft_id, pressed.version
        pending = await turn.mall.inputs.peek(turn.member_id, turn.now)
        if pending is None or pending.kind not in (self.kind, self.upload_kind):
            raise Stale(f"no {self.name!r} form waiting")
        draft = self._draft(pending.data)
        if draft.draft_id != draft_id or draft.version != version:
            raise Stale(f"button of another {self.name!r} draft or question")
        token = pressed.token
        # Taking the question makes this press the only one that acts on the draft.
        taken = await turn.mall.inputs.take(turn.member_id, turn.now)
        if taken is None or taken.data != pending.data:
            raise Stale(f"{self.name!r} form answered meanwhile")
        if action == "x":
            turn.show(
                admin_screen(
                    turn, turn.t("admin.items.form.cancelled"), ((self.home(turn, draft),),)
                )
            )
        elif action == "v" and draft.done:
            await self._save(turn, draft, summary=True)
        elif action == "s" and not draft.done and self._step(draft).skippable:
            await self._answered(turn, draft, self._step(draft).skip)
        elif action == "c" and not draft.done and token:
            await self._answered(turn, draft, await self._choice(turn, draft, token))
        elif action == "e" and draft.done and self._step_index(draft, token) is not None:
            draft.move_to(int(token), revising=True)
            await self._ask(turn, draft)
        elif action == "k" and draft.revising and not draft.done:
            draft.move_to(len(draft.steps))
            await self._ask(turn, draft)
        else:
            await self._ask(turn, draft)  # put the question back before refusing the button
            raise Stale(f"bad {self.name!r} form button {pressed!r}")

    async def _choice(self, turn: Turn, draft: Draft, token: str) -> JSON:
        step = self._step(draft)
        choices = await step.choices(turn, draft) if step.choices is not None else ()
        for choice in choices:
            if choice.token == token:
                return choice.value
        await self._ask(turn, draft)
        raise Stale(f"no choice {token!r} for {step.name!r}")

    async def _answered(self, turn: Turn, draft: Draft, value: JSON) -> None:
        name = draft.steps[draft.at]
        if self.check is not None:
            try:
                await self.check(turn, draft, name, value)
            except Invalid as refused:
                await self._ask(turn, draft, refused.reason)
                return
        draft.values[name] = value
        draft.move_to(len(draft.steps) if draft.revising else draft.at + 1)
        await self._ask(turn, draft)

    async def _save(self, turn: Turn, draft: Draft, *, summary: bool) -> None:
        """Save the draft; if that is refused, show why and keep it: above its summary again,
        or (a form without a summary) above its first question."""
        try:
            await self.save(turn, draft)
        except (Invalid, MallError) as refused:
            reason = (
                refused.reason if isinstance(refused, Invalid) else refusal_text(turn.t, refused)
            )
            if not summary:
                draft.move_to(0)
            await self._ask(turn, draft, reason)

    # --- Questions ----------------------------------------------------------------------------

    async def _ask(self, turn: Turn, draft: Draft, problem: Html | None = None) -> None:
        """Wait for the draft's next answer and show its question (or the summary, or save)."""
        t = turn.t
        lead = [problem, ""] if problem else []
        if draft.done:
            summary = await self.summary(turn, draft)
            if summary is None:
                await self._save(turn, draft, summary=False)
                return
            await turn.mall.inputs.expect(
                turn.member_id, self.kind, draft.data(), turn.now, ANSWER_TTL
            )
            edits = [
                Button(
                    plain(self._edit_label(turn, draft, index)), data=self._data("e", draft, index)
                )
                for index in range(len(draft.steps))
            ]
            rows = [
                *two_a_row(edits),
                (
                    Button(plain(t("admin.items.form.save")), data=self._data("v", draft)),
                    Button(plain(t("admin.items.form.cancel")), data=self._data("x", draft)),
                ),
            ]
            turn.show(admin_screen(turn, Html("\n".join([*lead, summary])), tuple(rows)))
            return
        step = self._step(draft)
        kind = self.upload_kind if step.upload is not None else self.kind
        assert kind is not None, f"step {step.name!r} takes a file but the form has no upload kind"
        await turn.mall.inputs.expect(turn.member_id, kind, draft.data(), turn.now, ANSWER_TTL)
        buttons = [
            Button(choice.label, data=self._data("c", draft, choice.token))
            for choice in (await step.choices(turn, draft) if step.choices is not None else ())
        ]
        choice_rows = two_a_row(buttons)
        if draft.revising:  # asked from the summary: back there, the answer kept
            last = [Button(plain(t("admin.items.form.keep")), data=self._data("k", draft))]
        else:
            last = [Button(plain(t("admin.items.form.cancel")), data=self._data("x", draft))]
        if step.skippable:
            label = step.skip_label(turn) if step.skip_label else t("admin.items.form.skip")
            last.insert(0, Button(plain(label), data=self._data("s", draft)))
        choice_rows.append(tuple(last))
        progress = (
            t("admin.items.form.progress", step=draft.at + 1, steps=len(draft.steps))
            if len(draft.steps) > 1 and not draft.revising
            else None
        )
        question = step.question(turn, draft)
        text = Html("\n".join([*lead, *([progress] if progress else []), question]))
        turn.show(admin_screen(turn, text, tuple(choice_rows)))

    @staticmethod
    def _step_index(draft: Draft, token: str) -> int | None:
        """The number of one of the draft's steps a button carries, or None."""
        if not (token.isascii() and token.isdigit()) or len(token) > 3:
            return None
        index = int(token)
        return index if index < len(draft.steps) else None

    def _edit_label(self, turn: Turn, draft: Draft, index: int) -> Html:
        """The summary's button asking the ``index``-th question again."""
        t = turn.t
        step = self._by_name[draft.steps[index]]
        if step.label is not None:
            return t("admin.items.form.edit", field=step.label(turn))
        if len(draft.steps) == 1:
            return t("admin.items.form.edit_answer")
        return t("admin.items.form.edit", field=t("admin.items.form.question", step=index + 1))

    def _data(self, action: FormAction, draft: Draft, token: str | int = "") -> str:
        return self.press(action, draft.draft_id, draft.version, str(token)).pack()

    def _draft(self, data: Mapping[str, JSON]) -> Draft:
        draft = Draft.load(data)
        if draft.form != self.name or any(step not in self._by_name for step in draft.steps):
            raise Stale(f"not a {self.name!r} draft")
        return draft

    def _step(self, draft: Draft) -> Step:
        return self._by_name[draft.steps[draft.at]]


# --- Parsing answers ------------------------------------------------------------------------------


def whole_number(turn: Turn, text: str, *, low: int, high: int = validation.MAX_AMOUNT) -> int:
    """A typed whole number within bounds ("1,000" and "1 000" allowed), or :class:`Invalid`."""
    cleaned = text.replace(",", "").replace(" ", "").replace("_", "")
    if not (cleaned.isascii() and cleaned.isdigit()) or len(cleaned) > 19:
        raise Invalid(turn.t("admin.items.form.not_a_number", text=shorten(text, 40)))
    value = int(cleaned)
    if not low <= value <= high:
        raise Invalid(turn.t("admin.items.form.out_of_range", low=low, high=high))
    return value


def money_minor(turn: Turn, text: str) -> int:
    """A typed amount of the mall's currency ("12.50") in minor units, or :class:`Invalid`."""
    currency = turn.config.mall.currency
    places = get_currency_precision(currency)
    try:
        amount = Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        raise Invalid(
            turn.t("admin.items.form.not_money", text=shorten(text, 40), currency=currency)
        ) from None
    minor = amount.scaleb(places)
    if not amount.is_finite() or minor != minor.to_integral_value() or amount < 0:
        raise Invalid(
            turn.t("admin.items.form.not_money", text=shorten(text, 40), currency=currency)
        )
    if minor > validation.MAX_AMOUNT:
        raise Invalid(turn.t("admin.items.form.out_of_range", low=0, high=validation.MAX_AMOUNT))
    return int(minor)


NOW_WORDS = frozenset({"now", "现在", "立即"})
# The moment questions' example answer.
EXAMPLE_MOMENT = "2026-03-05 10:00"
_MOMENT_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S")


def moment(turn: Turn, text: str, *, now_allowed: bool = False) -> datetime:
    """A typed "2026-03-05 10:00" on the mall's clock (or "now"), not in the past."""
    if now_allowed and text.strip().casefold() in NOW_WORDS:
        return turn.now
    for pattern in _MOMENT_FORMATS:
        try:
            parsed = datetime.strptime(text.strip(), pattern)
        except ValueError:
            continue
        at = parsed.replace(tzinfo=turn.config.mall.timezone)
        # A time in the current minute is "now", not the past.
        if at < turn.now.replace(second=0, microsecond=0):
            raise Invalid(turn.t("admin.items.form.in_the_past", at=turn.t.moment(at)))
        return at
    raise Invalid(turn.t("admin.items.form.not_a_moment", text=shorten(text, 40)))


async def starts_before_end(turn: Turn, text: str, draft: Draft) -> JSON:
    """A ``starts`` step's answer: a moment to come (or "now"), before the draft's ``ends`` if it
    has one for good (an end asked next is checked then)."""
    at = moment(turn, text, now_allowed=True)
    ends = stored_moment(draft.answer("ends"))
    if ends is not None and ends <= at:
        raise Invalid(turn.t("admin.items.form.end_before_start"))
    return at.isoformat()


async def ends_after_start(turn: Turn, text: str, draft: Draft) -> JSON:
    """An ``ends`` step's answer: a moment to come, after the draft's ``starts`` if it has one."""
    at = moment(turn, text)
    starts = stored_moment(draft.answer("starts"))
    if starts is not None and at <= starts:
        raise Invalid(turn.t("admin.items.form.end_before_start"))
    return at.isoformat()


def stored_moment(value: JSON) -> datetime | None:
    """A moment kept in a draft (ISO text), or None."""
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def int_value(draft: Draft, name: str) -> int:
    """An answer the draft must hold as a whole number (else the draft is not one of ours)."""
    value = draft.values.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Stale(f"draft without a number for {name!r}")
    return value


def moment_value(draft: Draft, name: str) -> datetime:
    """An answer the draft must hold as a moment."""
    value = draft.values.get(name)
    try:
        at = stored_moment(value)
    except ValueError:
        at = None
    if at is None:
        raise Stale(f"draft without a moment for {name!r}")
    return at


def text_answer(turn: Turn, text: str, *, max_length: int) -> str:
    """A typed free text within its length and without control characters."""
    if not text:
        raise Invalid(turn.t("admin.items.form.empty"))
    if len(text) > max_length:
        raise Invalid(turn.t("admin.items.form.too_long", limit=max_length, length=len(text)))
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise Invalid(turn.t("admin.items.form.control_characters"))
    return text
