"""The mall's configuration: its tables of one TOML file, validated into frozen, typed settings.

The file also holds the bot's tables (how it reaches Telegram, its listener, inbox, sandbox and
sender): ``bot.settings`` extends :class:`Config` with them and reads the file once, so each side
validates its own part and core never learns a chat framework's settings. Of ``[telegram]`` and
``[sender]`` the mall reads only what its rules need: who the admins are (digests go to them)
and the pace the outbox hands out messages at.

Every setting has a default, so an empty file (or no file) is a working mall. Secrets can come
from the environment instead of the file, which is where a deployment should keep them:

- ``POINTSMALL_DATABASE_URL`` sets ``database.url``,
- ``POINTSMALL_DATABASE_PASSWORD`` sets ``database.password``,
- ``POINTSMALL_PHONE_HASH_KEY`` sets ``shop.phone_hash_key`` (and the bot's own in
  ``bot.settings``).

A mistake is reported as a :class:`ConfigError` with one line per problem that names the key
(``checkin.rewards[2]``), the bad value and what was expected (``core.config_errors``), so an
admin can fix the file without reading this module. Secret values are never repeated in an
error or a ``repr``.
"""

from __future__ import annotations

import os
import re
import tomllib
import typing
from collections.abc import Iterable, Mapping
from datetime import date, datetime, tzinfo
from decimal import Decimal
from itertools import pairwise
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic import Strict as _Strict
from pydantic_core import PydanticCustomError
from sqlalchemy.engine import make_url

from core.config_errors import ConfigError, describe, expected, hide_url_password, rule

__all__ = [
    "AdminSettings",
    "BirthdaySettings",
    "CheckInSettings",
    "Config",
    "DatabaseSettings",
    "EarningSettings",
    "ExpirySettings",
    "HoldSettings",
    "MallSettings",
    "MembersSettings",
    "PaceSettings",
    "Promotion",
    "ShopSettings",
    "Tier",
    "TiersSettings",
    "load_config",
    "parse_config",
]


# --- Validation building blocks (``bot.settings`` builds its tables from them too) -----------


def _to_zone(value: object) -> ZoneInfo:
    """Resolve an IANA time zone name, so that a typo fails at start-up, not at midnight."""
    if isinstance(value, ZoneInfo):
        return value
    wanted = "an IANA time zone name such as 'Asia/Shanghai'"
    if not isinstance(value, str) or not value.strip():
        expected(wanted)
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        expected(wanted)


def to_decimal(value: object) -> Decimal:
    """Accept a TOML integer or float (never a boolean or a string) as an exact decimal."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        expected("a number")
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        expected("a finite number")
    return number


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        expected("a number > 0")
    return value


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        expected("a number >= 0")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        expected("a non-empty string")
    return value


def _currency_code(value: str) -> str:
    if re.fullmatch(r"[A-Z]{3}", value) is None:
        expected("a three-letter ISO 4217 currency code in capitals, such as 'CNY'")
    return value


LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(_[A-Z][a-z]{3})?(_[A-Z]{2})?")
"""A language as the bot's catalogs are named (``locales/<code>``): ``en``, ``zh_Hans``.

The shape only: which languages the bot speaks is the bot's to say (``bot.content``)."""


def is_language_code(value: object) -> bool:
    """Whether ``value`` has the shape of a language code (:data:`LANGUAGE_CODE`)."""
    return isinstance(value, str) and LANGUAGE_CODE.fullmatch(value) is not None


def _language_code(value: str) -> str:
    if not is_language_code(value):
        expected("a language code as the bot names it, such as 'en' or 'zh_Hans'")
    return value


_DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


def _database_url(value: str) -> str:
    wanted = "a URL starting with 'sqlite+aiosqlite://' or 'postgresql+asyncpg://'"
    if not value.startswith(_DATABASE_SCHEMES):
        expected(wanted)
    try:
        make_url(value)
    except Exception:  # SQLAlchemy raises ArgumentError or ValueError for malformed URLs.
        expected(wanted)
    return value


def _month_day(value: str) -> str:
    wanted = "a day of the year as 'MM-DD' that exists every year, such as '12-31'"
    match = re.fullmatch(r"(\d\d)-(\d\d)", value)
    if match is None:
        expected(wanted)
    try:
        date(2001, int(match[1]), int(match[2]))  # 2001 is not a leap year: 02-29 is refused.
    except ValueError:
        expected(wanted)
    return value


TimeZone = Annotated[
    ZoneInfo,
    PlainValidator(_to_zone),
    PlainSerializer(lambda zone: zone.key, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["Asia/Shanghai"]}),
]
NonNegativeInt = Annotated[int, _Strict(), Field(ge=0)]
PositiveInt = Annotated[int, _Strict(), Field(ge=1)]
PositiveNumber = Annotated[Decimal, BeforeValidator(to_decimal), AfterValidator(_positive)]
NonNegativeNumber = Annotated[Decimal, BeforeValidator(to_decimal), AfterValidator(_non_negative)]
Name = Annotated[StrictStr, AfterValidator(_not_blank)]
LanguageCode = Annotated[StrictStr, AfterValidator(_language_code)]
Moment = Annotated[AwareDatetime, _Strict()]
Rewards = Annotated[tuple[NonNegativeInt, ...], Field(min_length=1)]


class Settings(BaseModel):
    """Base of every settings table: immutable, and an unknown key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# --- The settings tables --------------------------------------------------------------------


class MallSettings(Settings):
    """``[mall]``: who the mall is and the clock and money it counts in."""

    name: Name = "PointsMall"
    timezone: TimeZone = ZoneInfo("UTC")
    """Where business days start and end (check-ins, daily caps, naive promotion times)."""
    currency: Annotated[StrictStr, AfterValidator(_currency_code)] = "CNY"
    point_value_minor: NonNegativeInt = 1
    """Value of one point in minor currency units, for liability reports."""


class DatabaseSettings(Settings):
    """``[database]``: where the ledger lives."""

    url: Annotated[StrictStr, AfterValidator(_database_url)] = (
        "sqlite+aiosqlite:///var/pointsmall.db"
    )
    password: SecretStr | None = None
    """Injected into ``url`` by :meth:`effective_url`; keeps the password out of the URL."""

    @field_validator("password")
    @classmethod
    def _password_needs_postgresql(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        url = info.data.get("url")
        if value is not None and isinstance(url, str) and url.startswith("sqlite"):
            rule("a password is only used with a 'postgresql+asyncpg://' URL, not with SQLite")
        return value

    def effective_url(self) -> str:
        """The URL to connect with: ``url`` with ``password`` injected when one is set."""
        if self.password is None:
            return self.url
        url = make_url(self.url).set(password=self.password.get_secret_value())
        return url.render_as_string(hide_password=False)

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, hide_url_password(value) if name == "url" else value


class PaymentSettings(Settings):
    """``[payments]``: how the cash part of a reward is paid in the chat (Telegram Stars)."""

    minor_per_star: PositiveInt = 10
    """Minor currency units (fen, cents) one Star pays for; a cash part is rounded up."""


class MembersSettings(Settings):
    """``[members]``: what a new member gets."""

    signup_bonus: NonNegativeInt = 100


class CheckInSettings(Settings):
    """``[checkin]``: daily check-in rewards and paid make-up check-ins."""

    rewards: Rewards = (10, 10, 10, 10, 10, 10, 50)
    """Points by streak day: index 0 is day 1 of a streak."""
    cycle: StrictBool = True
    """After the last day start over at day 1's reward; False keeps paying the last value."""
    makeup_price: NonNegativeInt = 20
    makeup_per_month: NonNegativeInt = 2
    """Make-up check-ins a member may buy per calendar month (the month they buy them in,
    whichever month the day they fill is in); 0 disables them."""
    makeup_window_days: Annotated[StrictInt, Field(ge=1, le=366)] = 30
    """How many days back a missed day may be made up, across month ends: with 30, on 1 April
    any missed day from 2 March on."""


class BirthdaySettings(Settings):
    """``[birthday]``: points on a member's birthday (``core.growth.birthdays``)."""

    points: NonNegativeInt = 0
    """Points paid on the birthday, once a year, by a job in ``mall.timezone``; 0: none (a
    member can still tell their birthday). Born on 29 February: paid on 28 February in the
    years that have no 29th."""
    change_after_days: Annotated[StrictInt, Field(ge=0, le=3660)] = 365
    """A member who told their birthday may change it only this many days later (0: any
    time); a change never pays a second time in a year."""


class Promotion(Settings):
    """``[[earning.promotions]]``: a time-boxed earning multiplier, e.g. a double-points weekend.

    ``starts`` and ``ends`` are aware datetimes. In the file they may be written without a UTC
    offset: :class:`Config` then puts them in ``mall.timezone`` before validating.
    """

    name: Name
    multiplier: PositiveNumber
    starts: Moment
    ends: Moment
    categories: tuple[Name, ...] = ()
    """Categories the promotion applies to; empty means every category."""

    @field_validator("ends")
    @classmethod
    def _ends_after_starts(cls, value: datetime, info: ValidationInfo) -> datetime:
        starts = info.data.get("starts")
        if isinstance(starts, datetime) and value <= starts:
            expected(f"a date-time after starts ({starts.isoformat()})")
        return value


class EarningSettings(Settings):
    """``[earning]``: how purchases turn into points, and the promotions that multiply them."""

    points_per_unit: NonNegativeNumber = Decimal(1)
    """Points per whole currency unit spent."""
    minor_per_unit: PositiveInt = 100
    """Minor currency units (cents, fen) in one whole unit."""
    daily_cap: NonNegativeInt = 0
    """Most points a member earns per business day (check-ins and purchases); 0 = no cap."""
    category_multipliers: dict[StrictStr, PositiveNumber] = Field(default_factory=dict)
    promotions: tuple[Promotion, ...] = ()


class Tier(Settings):
    """``[[tiers.levels]]``: a membership tier reached by points earned in the rolling window."""

    name: Name
    """The tier's identifier (stored with each member, named by items' ``min_tier``), and what
    members read when ``names`` has nothing in their language."""
    threshold: NonNegativeInt
    """Points earned in the rolling window needed to reach this tier."""
    multiplier: PositiveNumber
    validity_days: PositiveInt
    """Lifetime of points earned while in this tier (rolling expiry)."""
    names: dict[LanguageCode, Name] = Field(default_factory=dict)
    """What members read as the tier's name, by language: ``{ zh_Hans = "白银" }``."""


class TiersSettings(Settings):
    """``[tiers]``: the tier ladder, lowest first."""

    window_days: PositiveInt = 365
    levels: tuple[Tier, ...] = (
        Tier(
            name="Member",
            threshold=0,
            multiplier=Decimal(1),
            validity_days=365,
            names={"zh_Hans": "普通"},
        ),
        Tier(
            name="Silver",
            threshold=1000,
            multiplier=Decimal("1.2"),
            validity_days=540,
            names={"zh_Hans": "白银"},
        ),
        Tier(
            name="Gold",
            threshold=5000,
            multiplier=Decimal("1.5"),
            validity_days=730,
            names={"zh_Hans": "黄金"},
        ),
    )

    @field_validator("levels")
    @classmethod
    def _ladder(cls, levels: tuple[Tier, ...]) -> tuple[Tier, ...]:
        if not levels:
            rule("at least one tier is needed, with threshold 0")
        thresholds = [level.threshold for level in levels]
        if thresholds[0] != 0 or any(a >= b for a, b in pairwise(thresholds)):
            shown = ", ".join(map(str, thresholds))
            rule(f"thresholds must start at 0 and increase strictly (got {shown})")
        seen: set[str] = set()
        for level in levels:
            key = level.name.strip().casefold()
            if key in seen:
                rule(f"tier names must be unique ({level.name!r} appears twice)")
            seen.add(key)
        for language in sorted({code for level in levels for code in level.names}):
            named: set[str] = set()
            for level in levels:
                name = level.names.get(language, level.name)
                if name.strip().casefold() in named:
                    rule(f"tier names in {language} must be unique ({name!r} appears twice)")
                named.add(name.strip().casefold())
        return levels


class ExpirySettings(Settings):
    """``[expiry]``: when earned points expire.

    ``rolling``: a lot lives its tier's ``validity_days``. ``fixed``: every lot earned in year Y
    expires at the end of ``fixed_date`` in year Y + ``fixed_years_after``.
    """

    policy: Literal["rolling", "fixed"] = "rolling"
    fixed_date: Annotated[StrictStr, AfterValidator(_month_day)] = "12-31"
    fixed_years_after: NonNegativeInt = 1


class HoldSettings(Settings):
    """``[holds]``: points held while waiting for an approval or a payment."""

    timeout_minutes: PositiveInt = 30


class RedemptionSettings(Settings):
    """``[redemptions]``: how long a redemption may wait before its held points go back, and
    when a shipped reward counts as delivered."""

    approval_timeout_hours: PositiveInt = 72
    """An admin has this long to approve a redemption above an item's approval threshold."""
    payment_timeout_minutes: PositiveInt = 30
    """A member has this long to pay the cash part of a points + cash redemption."""
    delivered_after_days: PositiveInt = 14
    """A shipped physical reward reads "delivered" this many days after it was marked shipped,
    unless its member confirmed receiving it sooner. At most a year."""

    @field_validator("delivered_after_days")
    @classmethod
    def _at_most_a_year(cls, value: int) -> int:
        if value > 365:
            expected("an integer from 1 to 365")
        return value


class ReferralSettings(Settings):
    """``[referrals]``: rewards for inviting friends."""

    qualify_on: Literal["join", "checkins", "redemption", "purchase"] = "checkins"
    """When an invite is rewarded: on joining, after ``qualify_checkins`` check-ins, after the
    invitee's first redemption, or after their first purchase credited from the shop (or an
    admin's purchase entry): the anti-farming rule real programs use."""
    qualify_checkins: PositiveInt = 3
    referrer_reward: NonNegativeInt = 100
    """Points for the member who invited."""
    invitee_reward: NonNegativeInt = 50
    """Points for the friend who joined."""
    monthly_cap: NonNegativeInt = 20
    """Rewarded invites per referrer per calendar month; 0 means no limit."""


class DonationSettings(Settings):
    """``[donations]``: the cause members can give points to."""

    enabled: bool = True
    cause: Name = "Plant a tree"
    """The cause's name as members see it, unless ``cause_names`` has it in their language."""
    description: StrictStr = "Every 100 points donated plant one tree with our partner."
    """What the cause does, unless ``descriptions`` has it in the member's language."""
    cause_names: dict[LanguageCode, Name] = Field(default_factory=lambda: {"zh_Hans": "植树公益"})
    """The cause's name by language: ``{ zh_Hans = "植树公益" }``."""
    descriptions: dict[LanguageCode, StrictStr] = Field(
        default_factory=lambda: {"zh_Hans": "每捐出 100 积分，我们就和合作伙伴一起种下一棵树。"}
    )
    """The description by language."""


def _clock_time(value: str) -> str:
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value)
    if match is None:
        expected("a time of day as 'HH:MM' (24-hour clock), such as '09:30'")
    return value


ClockTime = Annotated[StrictStr, AfterValidator(_clock_time)]


def between(low: Decimal, high: Decimal) -> typing.Callable[[Decimal], Decimal]:
    def check(value: Decimal) -> Decimal:
        if not low <= value <= high:
            expected(f"a number from {low} to {high}")
        return value

    return check


class JobsSettings(Settings):
    """``[jobs]``: when the scheduled jobs run, at times of day in ``mall.timezone``.

    A job missed while the bot was down runs once when it starts again.
    """

    expiry_time: ClockTime = "00:05"
    """Expire what is left of lots past their date."""
    tiers_time: ClockTime = "00:15"
    """Recompute tiers; members who moved up are congratulated."""
    digest_time: ClockTime = "08:00"
    """Yesterday's figures to the admins."""
    rollups_time: ClockTime = "00:30"
    """Roll up the days that ended and today's hours that ended (``core.reporting.rollups``,
    ``core.reporting.rollup_hours``): the reports read them instead of recomputing them. The job
    runs every hour at this time's minute (its hour is not used); a day or an hour is rolled up 10
    minutes after its end at the earliest."""
    reminder_time: ClockTime = "10:00"
    reminder_days: Annotated[tuple[PositiveInt, ...], Field(max_length=10)] = (30, 7, 1)
    """Remind members this many days before their points expire (once per lead and date)."""
    every_minutes: Annotated[StrictInt, Field(ge=1, le=60)] = 1
    """How often flash sales (announcements, draws) and timed-out holds are looked at."""
    sale_notice_minutes: NonNegativeInt = 0
    """Also announce a flash sale this long before it opens; 0: only when it opens."""
    member_day_time: ClockTime = "09:00"
    """Announce the day's member days (``core.growth.member_days``) to members, once a day."""
    retention_time: ClockTime = "03:30"
    """Prune idempotency records past their replay window (``[retention]``)."""


class RetentionSettings(Settings):
    """``[retention]``: how long a use case's idempotency record (its cause's key and first
    answer) is kept, by kind; a job prunes what is older, a batch per transaction.

    Inside its window a replayed cause (a redelivered update, a double tap, a resent order)
    answers as the first time; past it the cause is refused by the state it left (the day is
    checked in, the order is recorded, the confirmation is too old), never run twice. Kinds not
    named here are kept: they are few, or read later (a blind box's draw), or a replay could
    act again (a partial refund).
    """

    checkin_days: Annotated[StrictInt, Field(ge=1, le=366)] = 3
    """Check-in and make-up records. A check-in's key is its member and business day, so only
    that day replays it; a made-up day stays checked in."""
    confirm_token_days: Annotated[StrictInt, Field(ge=1, le=366)] = 7
    """A Redeem button works this long after the confirmation was shown (an older one is
    refused as changed: the item is shown again), and its redemption's record is kept as long."""
    order_days: Annotated[StrictInt, Field(ge=30, le=3660)] = 400
    """Purchases and shop orders: a shop resends an order for days (webhook retries) and an
    operator may import a CSV again months later. Past this, a resent order is refused as
    recorded before, never credited twice."""
    batch_size: Annotated[StrictInt, Field(ge=100, le=100_000)] = 5000
    """Records deleted per transaction: one run never holds the database long."""


class BoxesSettings(Settings):
    """``[boxes]``: blind boxes' verifiable draws."""

    seed_rotation_days: Annotated[StrictInt, Field(ge=0, le=366)] = 7
    """Every box's server seed is revealed, and a new one committed, once it is this many days
    old (a job looks every ``[jobs] every_minutes``); 0: only when an admin rotates it."""


class RiskSettings(Settings):
    """``[risk]``: rules that flag a member for an admin's review (``/flags``).

    Each rule adds its score to the member's flag while it holds; a rule whose score is 0 is
    off. Activity an admin already reviewed (cleared or froze) is not counted again.
    """

    scan_minutes: Annotated[StrictInt, Field(ge=1, le=1440)] = 15
    """How often the scheduled job runs the rules (``/flags`` also runs them when opened)."""
    earn_window_hours: PositiveInt = 24
    earn_limit: PositiveInt = 5000
    """Points earned (check-ins, purchases, invites, claim codes, box prizes) in the window
    above which a member is flagged; admin grants do not count."""
    earn_score: NonNegativeInt = 40
    redemptions_per_hour: PositiveInt = 10
    """Redemptions started in the last hour above which a member is flagged."""
    redemption_score: NonNegativeInt = 30
    invite_window_hours: PositiveInt = 24
    invite_limit: PositiveInt = 10
    """Rewarded invites in the window above which the referrer is flagged."""
    invite_score: NonNegativeInt = 30
    task_window_hours: PositiveInt = 24
    task_limit: PositiveInt = 10
    """Tasks completed (channels joined, quizzes, surveys, challenges) in the window above which
    a member is flagged."""
    task_score: NonNegativeInt = 20
    wrong_claims_limit: PositiveInt = 5
    """This many wrong claim codes within ``wrong_claims_window_minutes`` lock claiming for
    ``claim_lock_minutes`` and flag the member."""
    wrong_claims_window_minutes: PositiveInt = 60
    claim_lock_minutes: PositiveInt = 60
    wrong_claims_score: NonNegativeInt = 20
    ring_window_days: PositiveInt = 30
    ring_min_invitees: Annotated[StrictInt, Field(ge=2)] = 3
    """A referrer is flagged when this many invitees who joined in the window are cash-out
    accounts: they bought nothing, redeemed something and spent ``ring_spent_percent`` of all
    the points they were ever given."""
    ring_spent_percent: Annotated[StrictInt, Field(ge=1, le=100)] = 90
    ring_score: NonNegativeInt = 60
    auto_freeze_score: NonNegativeInt = 100
    """A member whose open flags score this much is frozen at once (0: never automatically)."""


def _phone_region(value: str) -> str:
    if value not in phonenumbers.SUPPORTED_REGIONS:
        expected("a two-letter region code in capitals, such as 'CN' or 'US'")
    return value


def _hash_key(value: SecretStr | None) -> SecretStr | None:
    if value is not None and len(value.get_secret_value()) < 32:
        expected("at least 32 characters (for example the output of: openssl rand -hex 32)")
    return value


def _link_days(value: int) -> int:
    if value > 365:
        expected("a number of days from 1 to 365")
    return value


class ShopSettings(Settings):
    """``[shop]``: orders, refunds and checkout holds that the shop sends (core.commerce.shop).

    Phones are matched by a keyed hash of their E.164 form, never stored in clear; without
    ``phone_hash_key`` the mall matches no phones (it refuses them, and says why).
    """

    phone_region: Annotated[StrictStr, AfterValidator(_phone_region)] = "CN"
    """Region of phone numbers written without a country code ('13800138000')."""
    phone_hash_key: Annotated[SecretStr | None, AfterValidator(_hash_key)] = None
    """The key of the phones' hashes (or POINTSMALL_PHONE_HASH_KEY); changing it unlinks every
    phone, so set it once."""
    park_days: PositiveInt = 30
    """Orders of customers not linked to a member wait this long to be credited."""
    default_category: Name = "general"
    """Earning category of an order whose lines name none."""
    checkout_hold_minutes: PositiveInt = 30
    """Points held for the shop's checkout go back if not captured within this time."""
    api_requests_per_second: PositiveInt = 20
    """Requests an API key may make a second, in each bot process (429 with Retry-After
    beyond); with N processes behind a balancer a key gets up to N times this."""
    api_burst: PositiveInt = 40
    """Requests an API key may make at once before ``api_requests_per_second`` applies."""
    link_token_days: Annotated[PositiveInt, AfterValidator(_link_days)] = 7
    """A link the shop shows after checkout (``POST /api/v1/links``) links its customer to the
    member who opens it within this many days (1 to 365); the shop can ask for a new one."""
    shopify_secret: SecretStr | None = None
    """The Shopify app's secret that signs its webhooks (or POINTSMALL_SHOPIFY_SECRET); unset:
    ``/api/v1/shopify/webhooks`` refuses every request."""
    woocommerce_secret: SecretStr | None = None
    """The WooCommerce webhook's secret (or POINTSMALL_WOOCOMMERCE_SECRET); unset: refused."""


class AdminSettings(Settings):
    """``[telegram]`` as the mall reads it: who administers the mall. The bot's own keys of the
    table (the token, the mode, the webhook) are ``bot.settings.TelegramSettings``'s."""

    admins: tuple[PositiveInt, ...] = ()
    """Telegram user ids allowed to use the admin commands."""


class PaceSettings(Settings):
    """``[sender]`` as the mall reads it: the pace the outbox hands bulk messages out at
    (``core.operations.outbox``), shared by every process. The bot's own key (how many calls one
    process makes at once) is ``bot.settings.SenderSettings``'s.

    Telegram allows about 30 messages a second in bulk and 1 a second per chat; the rates here
    are for the whole bot.
    """

    messages_per_second: Annotated[
        Decimal, BeforeValidator(to_decimal), AfterValidator(between(Decimal(1), Decimal(30)))
    ] = Decimal(30)
    """The bulk pace's ceiling: Telegram's limit. The sender starts there, slows down on a 429
    and creeps back up (``bot.sender``), so a pace set below the limit only wastes time."""
    per_chat_seconds: Annotated[
        Decimal, BeforeValidator(to_decimal), AfterValidator(between(Decimal(1), Decimal(60)))
    ] = Decimal(1)
    """Seconds between two messages to one chat."""
    max_attempts: Annotated[StrictInt, Field(ge=1, le=20)] = 5
    """Tries of a message that fails for a passing reason (network, server error)."""


class Config(Settings):
    """The mall's part of the configuration; every table is optional.

    ``ENVIRONMENT`` names the variables that set secrets instead of the file, ``SECRET_KEYS``
    the keys whose values no error repeats; ``bot.settings.Config`` adds its own to both.
    """

    ENVIRONMENT: ClassVar[Mapping[str, tuple[str, str]]] = {
        "POINTSMALL_DATABASE_URL": ("database", "url"),
        "POINTSMALL_DATABASE_PASSWORD": ("database", "password"),
        "POINTSMALL_PHONE_HASH_KEY": ("shop", "phone_hash_key"),
        "POINTSMALL_SHOPIFY_SECRET": ("shop", "shopify_secret"),
        "POINTSMALL_WOOCOMMERCE_SECRET": ("shop", "woocommerce_secret"),
    }
    SECRET_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"password", "phone_hash_key", "shopify_secret", "woocommerce_secret"}
    )

    mall: MallSettings = Field(default_factory=MallSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    telegram: AdminSettings = Field(default_factory=AdminSettings)
    members: MembersSettings = Field(default_factory=MembersSettings)
    checkin: CheckInSettings = Field(default_factory=CheckInSettings)
    earning: EarningSettings = Field(default_factory=EarningSettings)
    tiers: TiersSettings = Field(default_factory=TiersSettings)
    expiry: ExpirySettings = Field(default_factory=ExpirySettings)
    holds: HoldSettings = Field(default_factory=HoldSettings)
    redemptions: RedemptionSettings = Field(default_factory=RedemptionSettings)
    referrals: ReferralSettings = Field(default_factory=ReferralSettings)
    donations: DonationSettings = Field(default_factory=DonationSettings)
    payments: PaymentSettings = Field(default_factory=PaymentSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    boxes: BoxesSettings = Field(default_factory=BoxesSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    sender: PaceSettings = Field(default_factory=PaceSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    shop: ShopSettings = Field(default_factory=ShopSettings)
    birthday: BirthdaySettings = Field(default_factory=BirthdaySettings)

    @model_validator(mode="before")
    @classmethod
    def _localize_promotions(cls, data: Any) -> Any:
        """Put promotion times written without a UTC offset into the mall's time zone."""
        if not isinstance(data, Mapping):
            return data
        earning = data.get("earning")
        promotions = earning.get("promotions") if isinstance(earning, Mapping) else None
        if not isinstance(promotions, list | tuple):
            return data
        zone = _raw_zone(data.get("mall"))
        localized = [_localize(promotion, zone) for promotion in promotions]
        return {
            **data,
            "earning": {**typing.cast(Mapping[str, Any], earning), "promotions": localized},
        }


def _raw_zone(mall: object) -> tzinfo:
    """The mall's zone from unvalidated input; UTC if it is wrong (that error is reported)."""
    if isinstance(mall, MallSettings):
        return mall.timezone
    name = mall.get("timezone", "UTC") if isinstance(mall, Mapping) else "UTC"
    try:
        return _to_zone(name)
    except PydanticCustomError:
        return ZoneInfo("UTC")


def _localize(promotion: object, zone: tzinfo) -> object:
    if not isinstance(promotion, Mapping):
        return promotion
    localized = dict(promotion)
    for key in ("starts", "ends"):
        value = localized.get(key)
        if isinstance(value, datetime) and value.tzinfo is None:
            localized[key] = value.replace(tzinfo=zone)
    return localized


# --- Loading --------------------------------------------------------------------------------

Loaded = TypeVar("Loaded", bound=Config)


def load_config(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Read and validate the mall's part of the configuration file at ``path`` (defaults only
    when None); ``bot.settings.load_config`` reads the whole file."""
    return load_file(Config, path, environ)


def parse_config(
    text: str, environ: Mapping[str, str] | None = None, source: str = "<string>"
) -> Config:
    """Validate the TOML document ``text`` as the mall's tables; ``source`` names it in errors."""
    return parse_text(Config, text, environ, source)


def load_file(
    model: type[Loaded],
    path: str | os.PathLike[str] | None,
    environ: Mapping[str, str] | None = None,
) -> Loaded:
    """Read and validate the configuration file at ``path`` as ``model`` (defaults only when
    None).

    The secrets in ``environ`` (``os.environ`` by default) take precedence over the file.
    Raises :class:`ConfigError` if the file cannot be read or anything in it is wrong.
    """
    if path is None:
        return _validate(model, {}, environ, "<defaults>")
    source = os.fspath(path)
    try:
        with open(source, "rb") as file:
            raw = file.read()
    except OSError as error:
        raise ConfigError(
            f"{source}: cannot read the configuration file: {error.strerror or error}"
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{source}: not UTF-8 text (byte {error.start}); save the file as UTF-8"
        ) from None
    return parse_text(model, text, environ, source)


def parse_text(
    model: type[Loaded], text: str, environ: Mapping[str, str] | None, source: str
) -> Loaded:
    """Validate the TOML document ``text`` as ``model``; ``source`` names it in error messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: invalid TOML: {error}") from None
    return _validate(model, document, environ, source)


def _validate(
    model: type[Loaded], document: dict[str, Any], environ: Mapping[str, str] | None, source: str
) -> Loaded:
    environ = os.environ if environ is None else environ
    blamed: dict[tuple[str, str], str] = {}
    for variable, (table, key) in model.ENVIRONMENT.items():
        value = environ.get(variable)
        if not value:  # Unset and empty are the same: a blank variable does not erase the file.
            continue
        section = document.setdefault(table, {})
        if isinstance(section, dict):  # Otherwise the table itself is reported as wrong.
            section[key] = value
            blamed[table, key] = f"{variable} (environment)"
    try:
        return model.model_validate(document)
    except ValidationError as error:
        # ``from None``: the ValidationError would repeat every input, secrets included.
        raise ConfigError(
            describe(e, source, blamed, root=model, secret_keys=model.SECRET_KEYS)
            for e in error.errors()
        ) from None
