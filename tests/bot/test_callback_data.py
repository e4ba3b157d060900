"""Typed callback data (bot/callback_data.py): packing, parsing, the 64-byte check, forged data."""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated, Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.callback_data import (
    MAX_INT_ARG,
    MAX_PAGE,
    CallbackData,
    Chars,
    Choice,
    Codec,
    Id,
    Ints,
    Page,
    Stale,
    registered,
)
from bot.features import build_router
from bot.features.admin import SECTIONS
from bot.features.admin_broadcast import WriteBroadcast
from bot.features.admin_forms import FormPress
from bot.features.admin_items.buttons import AdminItems, EditField, ItemForm
from bot.features.admin_links import ApprovalQueue, MemberCard
from bot.features.admin_members import CancelMemberQuestion
from bot.features.admin_points import ConfirmPoints
from bot.features.balance import HistoryPage
from bot.features.checkin import MakeUp
from bot.features.item_card import ItemCard, OfferConfirmation, Origin
from bot.features.member_links import BirthdayStep, SaleCard, SalesPage
from bot.features.notifications import SetNotifications
from bot.features.redeem import DropAddress
from bot.features.redemptions import RedemptionCard
from bot.router import Router
from bot.screens import CALLBACK_DATA_LIMIT
from tests.support.admin import open_admin
from tests.support.chat import Chat

STALE = ("This button is out of date. Open the menu to see what is there now.", True)


def _day(text: str) -> date:
    if not (text.isdigit() and len(text) == 8):
        raise ValueError(text)
    return date(int(text[:4]), int(text[4:6]), int(text[6:]))


class Sample(CallbackData, route="t-sample"):
    item_id: Id
    mode: Literal["a", "bb", "ok"]
    word: Annotated[str, Chars("a-z0-9_", 12)]
    day: Annotated[date, Codec(lambda d: d.strftime("%Y%m%d"), _day, 8)]
    month: Annotated[int, Ints(1, 12)] = 1
    page: Page = 0


class Bare(CallbackData, route="t-bare"):
    pass


def _strategy(spec: Any) -> st.SearchStrategy[Any]:
    if isinstance(spec, Ints):
        return st.integers(spec.lo, spec.hi)
    if isinstance(spec, Choice):
        return st.sampled_from(spec.words)
    if isinstance(spec, Chars):
        return st.from_regex(f"[{spec.alphabet}]{{{spec.min_len},{spec.max_len}}}", fullmatch=True)
    return st.dates(date(1000, 1, 1), date(9999, 12, 31))


samples = st.builds(
    lambda values: Sample(**values),
    st.fixed_dictionaries({f.name: _strategy(f.spec) for f in Sample.fields_}),
)
REAL = (HistoryPage, SetNotifications, SaleCard, SalesPage, Sample, Bare)


@given(samples)
def test_every_valid_instance_round_trips(sample: Sample) -> None:
    data = sample.pack()
    assert len(data.encode()) <= CALLBACK_DATA_LIMIT
    assert Sample.unpack(data) == sample


@given(st.sampled_from(REAL), st.text(max_size=80))
def test_any_text_is_a_valid_instance_or_stale(cls: type[CallbackData], tail: str) -> None:
    for data in (tail, f"{cls.route}:{tail}", f"{cls.route}{tail}"):
        try:
            parsed = cls.unpack(data)
        except Stale:
            continue
        assert isinstance(parsed, cls)
        assert cls.unpack(parsed.pack()) == parsed


@given(st.sampled_from(REAL), st.lists(st.text(alphabet="0123456789:ab-", max_size=25)))
def test_any_fields_are_a_valid_instance_or_stale(
    cls: type[CallbackData], fields: list[str]
) -> None:
    try:
        parsed = cls.unpack(":".join([cls.route, *fields]))
    except Stale:
        return
    assert cls.unpack(parsed.pack()) == parsed


build_router()  # every feature imported: every class registered
EVERY = sorted(
    (cls for cls in registered().values() if cls.__module__.startswith("bot.")),
    key=lambda cls: cls.route,
)
FORGED_FIELD = st.one_of(
    st.text(alphabet="0123456789", min_size=1, max_size=25),
    st.text(alphabet="0123456789abcdefimrs.-_ACZ", max_size=20),
    st.text(max_size=5),
)


@given(st.sampled_from(EVERY), st.lists(FORGED_FIELD, max_size=5))
def test_every_routes_data_is_valid_or_stale(cls: type[CallbackData], fields: list[str]) -> None:
    """Every class of every feature: forged fields unpack to an instance that packs back to
    the same instance, or raise Stale (never another error)."""
    try:
        parsed = cls.unpack(":".join([cls.route, *fields]))
    except Stale:
        return
    data = parsed.pack()
    assert len(data.encode()) <= CALLBACK_DATA_LIMIT
    assert cls.unpack(data) == parsed


def test_every_route_has_one_class_and_a_handler() -> None:
    router = build_router()
    assert len(EVERY) >= 50
    for cls in EVERY:
        assert cls.route in router.buttons or cls.route in router.payments, cls


def test_the_wire_format_is_the_old_one() -> None:
    assert HistoryPage(3).pack() == "hist:3"
    assert SaleCard(12).pack() == "sale:12"
    assert SalesPage.unpack("sales") == SalesPage(0)  # the menu's button, packed without a page
    assert SalesPage(0).pack() == "sales"  # a trailing field at its default is left out
    assert SalesPage.unpack("sales:0") == SalesPage(0)
    assert Bare().pack() == "t-bare"
    # Buttons already in members' chats, as the old code wrote them:
    assert ItemCard.unpack("si:5:m") == ItemCard(5)
    assert ItemCard(5).pack() == "si:5"
    assert ItemCard.unpack("si:5:c.0123456789.2") == ItemCard(5, Origin(shelf="0123456789", page=2))
    assert OfferConfirmation.unpack("so:5:7:a.3").pack() == "so:5:7:a.3"
    assert RedemptionCard.unpack("myr:9") == RedemptionCard(9, 0)
    assert MakeUp.unpack("mk:20260331:202604") == MakeUp(date(2026, 3, 31), date(2026, 4, 1))
    assert BirthdayStep.unpack("bday:s:2:29").pack() == "bday:s:2:29"
    assert BirthdayStep().pack() == "bday"
    assert DropAddress.unpack("sx:r12") == DropAddress(("r", 12))
    # Admin buttons as the old code wrote them:
    assert ApprovalQueue.unpack("aap") == ApprovalQueue(0)
    assert ApprovalQueue(2).pack() == "aap:2"
    assert CancelMemberQuestion.unpack("amx") == CancelMemberQuestion(0)
    assert CancelMemberQuestion(42).pack() == "amx:42"
    assert WriteBroadcast.unpack("bcw") == WriteBroadcast(None)
    assert WriteBroadcast(0).pack() == "bcw:0"  # tier 0, not everyone
    assert ItemForm.unpack("aif:e:a1b2c3:4:2") == ItemForm("e", "a1b2c3", 4, "2")
    assert ItemForm("v", "a1b2c3", 4).pack() == "aif:v:a1b2c3:4"
    assert EditField(7, 3).pack() == "aid:7:3"
    assert Sample(7, "ok", "x_1", date(2026, 2, 3), 12).pack() == "t-sample:7:ok:x_1:20260203:12"


@pytest.mark.parametrize(
    ("cls", "data"),
    [
        (HistoryPage, "hist:9999999999999999999"),  # past OFFSET's 64 bits
        (HistoryPage, f"hist:{MAX_PAGE + 1}"),
        (HistoryPage, "hist:-1"),
        (HistoryPage, "hist:+1"),
        (HistoryPage, "hist:1e3"),
        (HistoryPage, "hist:²"),
        (HistoryPage, "hist: 1"),
        (HistoryPage, "hist:"),
        (HistoryPage, "hist"),  # a missing field
        (HistoryPage, "hist:1:2"),  # an extra field
        (HistoryPage, "bal:1"),  # another route
        (HistoryPage, "histx:1"),
        (SaleCard, "sale:0"),  # ids start at 1
        (SaleCard, f"sale:{MAX_INT_ARG + 1}"),
        (SetNotifications, "ntfs:2"),
        (SetNotifications, "ntfs:01"),
        (Sample, "t-sample:1:ok:x:20261301"),  # no 13th month
        (Sample, "t-sample:1:ok:x:20260101:13"),
        (Sample, "t-sample:1:ok:X:20260101"),
        (Bare, "t-bare:"),
    ],
)
def test_forged_data_is_stale(cls: type[CallbackData], data: str) -> None:
    with pytest.raises(Stale):
        cls.unpack(data)


@pytest.mark.parametrize(
    ("cls", "data"),
    [
        (MemberCard, "amc:0"),  # no member 0
        (MemberCard, "amc:99999999999999999999"),
        (MemberCard, f"amc:{MAX_INT_ARG + 1}"),
        (ApprovalQueue, f"aap:{MAX_PAGE + 1}"),
        (ApprovalQueue, "aap:-1"),
        (ConfirmPoints, "apc:short"),  # a nonce is 8 characters
        (ConfirmPoints, "apc:bad!nonc"),
        (ConfirmPoints, "apc"),
        (WriteBroadcast, "bcw:100"),  # more tiers than a mall has
        (WriteBroadcast, "bcw:"),
        (EditField, "aid:1:100"),
        (EditField, "aid:1"),
        (ItemForm, "aif:z:a1b2c3:1"),  # no such action
        (ItemForm, "aif:e:a1b2c3:1000001"),
        (ItemForm, "aif:e:a:b:c:1:2"),
        (ItemForm, "aif:e:a1b2c3:1:bad token!"),
        (AdminItems, "ait:99999999999999999999"),
    ],
)
def test_forged_admin_data_is_stale(cls: type[CallbackData], data: str) -> None:
    with pytest.raises(Stale):
        cls.unpack(data)


def test_every_admin_section_is_a_route_whose_button_needs_no_field() -> None:
    for _, route in SECTIONS:
        cls = registered()[route]
        assert cls.unpack(route).pack() == route, route


def test_a_forms_shape_has_no_route_and_each_form_has_its_own() -> None:
    assert FormPress not in registered().values()
    forms = [cls for cls in EVERY if issubclass(cls, FormPress)]
    assert len(forms) >= 5
    assert len({cls.route for cls in forms}) == len(forms)


def test_out_of_range_values_are_refused_when_packing() -> None:
    with pytest.raises(ValueError, match="not an integer"):
        HistoryPage(MAX_PAGE + 1).pack()
    with pytest.raises(ValueError, match="is not"):
        Sample(1, "ok", "UPPER", date(2026, 1, 1)).pack()


def test_a_class_that_can_exceed_64_bytes_is_refused_when_defined() -> None:
    with pytest.raises(TypeError, match="over Telegram's 64"):

        class TooLong(CallbackData, route="t-long"):
            a: Id
            b: Id
            c: Id
            d: Id  # 4 x 17 digits

    class JustFits(CallbackData, route="t-fits"):  # 6 + 3 x 17 + 4 separators = 61
        a: Id
        b: Id
        c: Annotated[str, Chars("a-z", 3)]

    assert len(JustFits(MAX_INT_ARG, MAX_INT_ARG, "zzz").pack()) <= CALLBACK_DATA_LIMIT


def test_bad_definitions_are_refused() -> None:
    with pytest.raises(TypeError):

        class Separator(CallbackData, route="t:sep"):
            pass

    with pytest.raises(TypeError):

        class Twice(CallbackData, route="hist"):
            pass

    with pytest.raises(TypeError):

        class Unbounded(CallbackData, route="t-unbounded"):
            word: str

    with pytest.raises(TypeError):
        Chars("a-z:", 3)


async def test_a_typed_handler_gets_the_parsed_instance() -> None:
    router = Router()
    got: list[Sample] = []

    @router.button(Sample)
    async def pressed(turn: Any, data: Sample) -> None:
        got.append(data)

    await router.buttons["t-sample"](None, ("5", "a", "w", "20260101"))  # type: ignore[arg-type]
    assert got == [Sample(5, "a", "w", date(2026, 1, 1))]
    with pytest.raises(Stale):
        await router.buttons["t-sample"](None, ("5", "c", "w", "20260101"))  # type: ignore[arg-type]


async def test_forged_buttons_are_answered_as_stale_on_both_frameworks(
    chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    ann = chat.member("Ann")
    await ann.start()
    for data in (
        "hist:9999999999999999999",
        "hist:1:2",
        "sale:99999999999999999999999",
        "sale",
        "sale:0",
        "sales:1:2",
        "ntfs:yes",
        "tk:-3",
        "invl:10001",
        "nosuchroute:1",
        "ci:1",  # a route without fields, with one
        "si:0",
        "si:1:x.1",  # no such origin
        "si:1:c.0123456789.10001",  # an origin's page past MAX_PAGE
        "so:1:0:c.ZZZZZZZZZZ.1",
        "rd:0.0.abc",  # no item 0
        "rd:1.0.a:b",
        "sx:q5",
        "sx:i0",
        "bday:s:2:30",  # no 30 February
        "bday:m:3",
        "bday:x",
        "mk:20261301",
        "mk:20260310:202602",  # a day offered on an earlier month's page
        "pvy:1:short",
        "setlang:xx",
        "dona:-1",
        "donc:1:1:short",
        "bo:1:bad!nonce",
        "sc:nothex000:0",
        "myrx:1",  # the page is missing
        f"myr:{2**63}:0",
        "pay:abc",
    ):
        await ann.press_data(data)
        assert ann.notices[-1] == STALE, data
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_forged_admin_buttons_are_answered_as_stale_on_both_frameworks(
    chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    """As an admin, so the handler's own parsing is what refuses (a member is refused first)."""
    admin = await open_admin(chat)
    for data in (
        "aud:99999999999999999999",  # past what an entry id can be
        "aud:1:2",
        "adm:1",
        "amc:0",
        "amc:99999999999999999999",
        f"amh:1:{MAX_PAGE + 1}",
        "amh:1",
        "aad:0",
        "aaa:-5",
        f"aap:{MAX_PAGE + 1}",
        "aas:x",
        "aay:short",
        "apc:bad!nonc",
        "apg:99999999999999999999",
        "abv:99999999999999999999",
        "abo:1:2",  # a box is open (1) or closed (0)
        "abk:1",  # the seed's version is missing
        "amdp:1:7",
        "amdy:1e3",
        "bcw:100",
        "bck:x",
        "bcp:-1",
        "asv:99999999999999999999",
        "asy:bad!nonc",
        "akr:pk_bad!key",
        "aky:",
        "ait:10001",
        "aiv:0x10",
        "aid:1:100",
        "aih:1000",
        "aif:z:abcdef:1",
        "aif:v:abcdef:99999999",
        "abf:e:abcdef:1:bad token!",
        "amdf:x",
    ):
        await admin.press_data(data)
        assert admin.notices[-1] == STALE, data
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
