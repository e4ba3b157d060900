"""Stories of an admin configuring the mall, and of the mistakes the loader catches."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bot.content import language_problems
from bot.settings import Config, load_config, parse_config
from core.config import CheckInSettings, DatabaseSettings, Promotion, Tier, TiersSettings
from core.config_errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
NO_ENV: dict[str, str] = {}


def problems(text: str, environ: dict[str, str] | None = None) -> str:
    """The error message an admin sees for the file ``text`` (named config.toml)."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, environ=NO_ENV if environ is None else environ, source="config.toml")
    return str(caught.value)


# --- Defaults and the example file ------------------------------------------------------------


def test_a_new_mall_with_an_empty_file_runs_on_the_defaults() -> None:
    config = parse_config("", environ=NO_ENV)

    assert config == Config()
    assert config.mall.name == "PointsMall"
    assert config.mall.timezone == ZoneInfo("UTC")
    assert config.mall.currency == "CNY"
    assert config.mall.point_value_minor == 1
    assert config.database.url == "sqlite+aiosqlite:///var/pointsmall.db"
    assert config.database.password is None
    assert config.telegram.token is None
    assert config.telegram.mode == "polling"
    assert config.telegram.api_server == ""
    assert config.telegram.admins == ()
    assert config.telegram.framework == "ptb"
    assert config.members.signup_bonus == 100
    assert config.checkin.rewards == (10, 10, 10, 10, 10, 10, 50)
    assert config.checkin.cycle is True
    assert (config.checkin.makeup_price, config.checkin.makeup_per_month) == (20, 2)
    assert config.checkin.makeup_window_days == 30
    assert config.earning.points_per_unit == Decimal(1)
    assert config.earning.minor_per_unit == 100
    assert config.earning.daily_cap == 0
    assert config.earning.category_multipliers == {}
    assert config.earning.promotions == ()
    assert config.tiers.window_days == 365
    assert [(t.name, t.threshold, t.multiplier, t.validity_days) for t in config.tiers.levels] == [
        ("Member", 0, Decimal(1), 365),
        ("Silver", 1000, Decimal("1.2"), 540),
        ("Gold", 5000, Decimal("1.5"), 730),
    ]
    assert config.expiry.policy == "rolling"
    assert (config.expiry.fixed_date, config.expiry.fixed_years_after) == ("12-31", 1)
    assert config.holds.timeout_minutes == 30


def test_without_a_file_the_mall_runs_on_the_defaults() -> None:
    assert load_config(None, environ=NO_ENV) == Config()


def test_the_example_file_loads_and_spells_out_exactly_the_defaults() -> None:
    assert load_config(EXAMPLE, environ=NO_ENV) == Config()
    assert load_config(str(EXAMPLE), environ=NO_ENV) == Config()


def test_the_example_double_points_weekend_works_once_uncommented() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    block = re.search(r"^# \[\[earning\.promotions\]\]\n(?:# .*\n)+", text, re.MULTILINE)
    assert block is not None
    uncommented = re.sub(r"^# ", "", block[0], flags=re.MULTILINE)

    config = parse_config(text.replace(block[0], uncommented), environ=NO_ENV)

    (weekend,) = config.earning.promotions
    assert weekend.name == "Double-points weekend"
    assert weekend.multiplier == 2
    assert weekend.ends - weekend.starts == timedelta(days=2)


def test_an_admin_tunes_the_mall() -> None:
    config = parse_config(
        """
        [mall]
        name = "Tea House"
        timezone = "Asia/Shanghai"
        point_value_minor = 5

        [telegram]
        admins = [1001, 1002]
        framework = "aiogram"
        api_server = "http://127.0.0.1:8081"

        [checkin]
        rewards = [5, 5, 20]
        cycle = false

        [earning]
        points_per_unit = 0.5
        category_multipliers = { drinks = 2, "gift cards" = 0.25 }
        """,
        environ=NO_ENV,
    )

    assert config.mall.timezone == ZoneInfo("Asia/Shanghai")
    assert config.telegram.admins == (1001, 1002)
    assert config.checkin == CheckInSettings(rewards=(5, 5, 20), cycle=False)
    assert config.earning.points_per_unit == Decimal("0.5")
    assert config.earning.category_multipliers == {
        "drinks": Decimal(2),
        "gift cards": Decimal("0.25"),
    }
    assert config.members == Config().members  # Untouched tables keep their defaults.


def test_the_configuration_cannot_be_changed_while_the_mall_runs() -> None:
    config = Config()
    with pytest.raises(ValidationError):
        config.members.signup_bonus = 5  # type: ignore[misc]


# --- Bad values: each names the key, the value and what was expected -------------------------


@pytest.mark.parametrize(
    ("toml", "line"),
    [
        pytest.param(
            "[checkin]\nrewards = [10, 10, -5]",
            "config.toml: checkin.rewards[2] = -5: expected an integer >= 0",
            id="negative-reward",
        ),
        pytest.param(
            "[checkin]\nrewards = []",
            "config.toml: checkin.rewards: expected at least 1 item, got an empty array",
            id="no-rewards",
        ),
        pytest.param(
            "[checkin]\ncycle = 'yes'",
            "config.toml: checkin.cycle = 'yes': expected true or false",
            id="cycle-as-string",
        ),
        pytest.param(
            "[checkin]\nmakeup_price = 2.5",
            "config.toml: checkin.makeup_price = 2.5: expected an integer",
            id="fractional-price",
        ),
        pytest.param(
            "[checkin]\nmakeup_window_days = 0",
            "config.toml: checkin.makeup_window_days = 0: expected an integer >= 1",
            id="no-makeup-window",
        ),
        pytest.param(
            "[checkin]\nmakeup_window_days = 400",
            "config.toml: checkin.makeup_window_days = 400: expected an integer <= 366",
            id="makeup-window-over-a-year",
        ),
        pytest.param(
            "[mall]\ntimezone = 'Mars/Base'",
            "config.toml: mall.timezone = 'Mars/Base': "
            "expected an IANA time zone name such as 'Asia/Shanghai'",
            id="unknown-zone",
        ),
        pytest.param(
            "[mall]\ncurrency = 'yuan'",
            "config.toml: mall.currency = 'yuan': expected a three-letter ISO 4217",
            id="currency-name",
        ),
        pytest.param(
            "[mall]\nname = '  '",
            "config.toml: mall.name = '  ': expected a non-empty string",
            id="blank-name",
        ),
        pytest.param(
            "[mall]\npoint_value_minor = -1",
            "config.toml: mall.point_value_minor = -1: expected an integer >= 0",
            id="negative-point-value",
        ),
        pytest.param(
            "[members]\nsignup_bonus = true",
            "config.toml: members.signup_bonus = true: expected an integer",
            id="bool-for-int",
        ),
        pytest.param(
            "[telegram]\nmode = 'hook'",
            "config.toml: telegram.mode = 'hook': expected 'polling' or 'webhook'",
            id="mode",
        ),
        pytest.param(
            "[telegram]\nframework = 'django'",
            "config.toml: telegram.framework = 'django': expected 'ptb' or 'aiogram'",
            id="framework",
        ),
        pytest.param(
            "[telegram]\nadmins = [1001, 0]",
            "config.toml: telegram.admins[1] = 0: expected an integer >= 1",
            id="admin-id-zero",
        ),
        pytest.param(
            "[telegram]\nadmins = 1001",
            "config.toml: telegram.admins = 1001: expected an array",
            id="admins-not-a-list",
        ),
        pytest.param(
            "[telegram]\napi_server = 'ftp://example.org'",
            "config.toml: telegram.api_server = 'ftp://example.org': expected '' ",
            id="api-server-scheme",
        ),
        pytest.param(
            "[database]\nurl = 'mysql://localhost/mall'",
            "config.toml: database.url = 'mysql://localhost/mall': expected a URL starting with",
            id="database-scheme",
        ),
        pytest.param(
            "[earning]\npoints_per_unit = -1",
            "config.toml: earning.points_per_unit = -1: expected a number >= 0",
            id="negative-earning",
        ),
        pytest.param(
            "[earning]\npoints_per_unit = '1.5'",
            "config.toml: earning.points_per_unit = '1.5': expected a number",
            id="quoted-number",
        ),
        pytest.param(
            "[earning]\nminor_per_unit = 0",
            "config.toml: earning.minor_per_unit = 0: expected an integer >= 1",
            id="zero-minor-units",
        ),
        pytest.param(
            "[earning]\ndaily_cap = -10",
            "config.toml: earning.daily_cap = -10: expected an integer >= 0",
            id="negative-cap",
        ),
        pytest.param(
            "[earning.category_multipliers]\ndrinks = 0",
            "config.toml: earning.category_multipliers.drinks = 0: expected a number > 0",
            id="zero-category-multiplier",
        ),
        pytest.param(
            "[earning.category_multipliers]\n'hot drinks' = nan",
            'config.toml: earning.category_multipliers."hot drinks" = nan: '
            "expected a finite number",
            id="nan-multiplier",
        ),
        pytest.param(
            "[tiers]\nwindow_days = 0",
            "config.toml: tiers.window_days = 0: expected an integer >= 1",
            id="zero-window",
        ),
        pytest.param(
            "[expiry]\npolicy = 'monthly'",
            "config.toml: expiry.policy = 'monthly': expected 'rolling' or 'fixed'",
            id="expiry-policy",
        ),
        pytest.param(
            "[expiry]\nfixed_years_after = -1",
            "config.toml: expiry.fixed_years_after = -1: expected an integer >= 0",
            id="negative-years",
        ),
        pytest.param(
            "[holds]\ntimeout_minutes = 0",
            "config.toml: holds.timeout_minutes = 0: expected an integer >= 1",
            id="zero-hold",
        ),
        pytest.param(
            "mall = 'PointsMall'",
            "config.toml: mall: expected a table, got a string",
            id="section-as-value",
        ),
    ],
)
def test_a_bad_value_is_named_with_its_key_and_what_was_expected(toml: str, line: str) -> None:
    assert line in problems(toml)


def test_every_mistake_in_the_file_is_reported_on_its_own_line() -> None:
    error = problems(
        """
        [mall]
        timezone = "Mars/Base"
        [checkin]
        rewards = [10, 10, -5]
        [holds]
        timeout_minutes = 0
        """
    )

    lines = error.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("config.toml: ") for line in lines)
    assert [line.split(" ")[1] for line in lines] == [
        "mall.timezone",
        "checkin.rewards[2]",
        "holds.timeout_minutes",
    ]


def test_the_error_lists_its_problems_one_by_one() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("[members]\nsignup_bonus = -1\n[holds]\ntimeout_minutes = 0", environ=NO_ENV)

    assert len(caught.value.problems) == 2
    assert str(caught.value) == "\n".join(caught.value.problems)


# --- Unknown keys and broken files ------------------------------------------------------------


def test_a_misspelled_key_is_named_with_a_suggestion() -> None:
    error = problems("[checkin]\nreward = [5, 5, 5]")

    assert error == "config.toml: checkin.reward: unknown key; did you mean 'rewards'?"


def test_a_misspelled_key_in_a_tier_is_named_with_its_position() -> None:
    error = problems(
        "[[tiers.levels]]\nname = 'Member'\nthreshold = 0\nmultiplier = 1\nvalidty_days = 365"
    )

    assert "config.toml: tiers.levels[0].validty_days: unknown key; did you mean" in error
    assert "config.toml: tiers.levels[0].validity_days: missing" in error


def test_an_invented_key_lists_the_keys_that_exist() -> None:
    error = problems("[holds]\ncolour = 'blue'")

    assert error == "config.toml: holds.colour: unknown key (known keys: timeout_minutes)"


def test_an_unknown_section_is_named() -> None:
    assert "config.toml: checkins: unknown key; did you mean 'checkin'?" in problems(
        "[checkins]\ncycle = true"
    )


def test_a_toml_syntax_error_names_the_line() -> None:
    error = problems('[mall]\nname = "Tea House"\ntimezone = Asia/Shanghai\n')

    assert error.startswith("config.toml: invalid TOML:")
    assert "line 3" in error


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "config.toml"

    with pytest.raises(ConfigError, match="cannot read the configuration file") as caught:
        load_config(missing, environ=NO_ENV)

    assert str(missing) in str(caught.value)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes('[mall]\nname = "Café"\n'.encode("latin-1"))

    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path, environ=NO_ENV)


def test_errors_from_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mall.toml"
    path.write_text("[members]\nsignup_bonus = -1\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=NO_ENV)

    assert str(caught.value) == f"{path}: members.signup_bonus = -1: expected an integer >= 0"


# --- Secrets from the environment -------------------------------------------------------------


def test_secrets_from_the_environment_take_precedence_over_the_file() -> None:
    config = parse_config(
        """
        [telegram]
        token = "111:from-file-0123456789abcdef"
        [database]
        url = "postgresql+asyncpg://mall@file-host/mall"
        """,
        environ={
            "POINTSMALL_TELEGRAM_TOKEN": "222:from-env-0123456789abcdefg",
            "POINTSMALL_DATABASE_URL": "postgresql+asyncpg://mall@env-host/mall",
            "POINTSMALL_DATABASE_PASSWORD": "s3cret",
        },
    )

    assert config.telegram.token is not None
    assert config.telegram.token.get_secret_value() == "222:from-env-0123456789abcdefg"
    assert config.database.url == "postgresql+asyncpg://mall@env-host/mall"
    assert config.database.password is not None
    assert config.database.password.get_secret_value() == "s3cret"


def test_the_environment_applies_without_a_file() -> None:
    config = load_config(
        None, environ={"POINTSMALL_TELEGRAM_TOKEN": "333:abc-0123456789abcdefghij"}
    )

    assert config.telegram.token is not None
    assert config.telegram.token.get_secret_value() == "333:abc-0123456789abcdefghij"


def test_an_empty_environment_variable_does_not_erase_the_file() -> None:
    config = parse_config(
        "[telegram]\ntoken = '111:from-file-0123456789abcdef'",
        environ={"POINTSMALL_TELEGRAM_TOKEN": ""},
    )

    assert config.telegram.token is not None
    assert config.telegram.token.get_secret_value() == "111:from-file-0123456789abcdef"


def test_a_bad_value_from_the_environment_blames_the_variable() -> None:
    error = problems("", environ={"POINTSMALL_DATABASE_URL": "mysql://mall@db/mall"})

    assert error.startswith("POINTSMALL_DATABASE_URL (environment): database.url = ")


def test_the_password_is_injected_into_the_database_url() -> None:
    config = parse_config(
        "[database]\nurl = 'postgresql+asyncpg://mall@db.internal:5432/mall'",
        environ={"POINTSMALL_DATABASE_PASSWORD": "p@ss/w:rd"},
    )

    assert config.database.effective_url() == (
        "postgresql+asyncpg://mall:p%40ss%2Fw%3Ard@db.internal:5432/mall"
    )


def test_without_a_password_the_url_is_used_as_written() -> None:
    url = "postgresql+asyncpg://mall:inline@db/mall"
    assert DatabaseSettings(url=url).effective_url() == url
    assert Config().database.effective_url() == "sqlite+aiosqlite:///var/pointsmall.db"


def test_a_password_for_sqlite_is_refused_without_showing_it() -> None:
    error = problems("", environ={"POINTSMALL_DATABASE_PASSWORD": "hunter2"})

    assert "POINTSMALL_DATABASE_PASSWORD (environment): database.password:" in error
    assert "SQLite" in error
    assert "hunter2" not in error


def test_a_secret_never_appears_in_an_error() -> None:
    error = problems(
        """
        [telegram]
        token = 123456789
        [database]
        url = "mysql://mall:hunter2@db/mall"
        password = ["hunter3"]
        """
    )

    assert "telegram.token = <hidden>: expected a string" in error
    assert "database.url = 'mysql://mall:***@db/mall'" in error
    assert "database.password" in error
    for secret in ("123456789", "hunter2", "hunter3"):
        assert secret not in error


def test_a_secret_never_appears_in_the_error_chain() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("[telegram]\ntoken = 123456789", environ=NO_ENV)

    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_secret_never_appears_when_the_configuration_is_printed() -> None:
    config = parse_config(
        "[database]\nurl = 'postgresql+asyncpg://mall:inline-secret@db/mall'",
        environ={
            "POINTSMALL_TELEGRAM_TOKEN": "444:token-secret-0123456789abcdef",
            "POINTSMALL_DATABASE_PASSWORD": "pw",
        },
    )

    for shown in (repr(config), str(config), repr(config.database), str(config.telegram)):
        assert "token-secret" not in shown
        assert "inline-secret" not in shown
        assert "'pw'" not in shown
    assert "postgresql+asyncpg://mall:***@db/mall" in repr(config)


# --- Promotions ---------------------------------------------------------------------------


PROMOTION = """
[mall]
timezone = "Asia/Shanghai"

[[earning.promotions]]
name = "Double-points weekend"
multiplier = 2
starts = {starts}
ends = {ends}
"""


def test_promotion_times_without_an_offset_are_in_the_mall_time_zone() -> None:
    config = parse_config(
        PROMOTION.format(starts="2025-06-07T00:00:00", ends="2025-06-09T00:00:00"), environ=NO_ENV
    )

    (weekend,) = config.earning.promotions
    shanghai = ZoneInfo("Asia/Shanghai")
    assert weekend.starts == datetime(2025, 6, 7, tzinfo=shanghai)
    assert weekend.starts.tzinfo is shanghai
    assert weekend.ends == datetime(2025, 6, 8, 16, tzinfo=UTC)
    assert weekend.categories == ()


def test_promotion_times_with_an_offset_are_kept() -> None:
    config = parse_config(
        PROMOTION.format(starts="2025-06-07T00:00:00Z", ends="2025-06-09T00:00:00+02:00"),
        environ=NO_ENV,
    )

    (weekend,) = config.earning.promotions
    assert weekend.starts == datetime(2025, 6, 7, tzinfo=UTC)
    assert weekend.ends.utcoffset() == timedelta(hours=2)


def test_a_promotion_that_ends_before_it_starts_is_refused() -> None:
    error = problems(PROMOTION.format(starts="2025-06-09T00:00:00", ends="2025-06-07T00:00:00"))

    assert (
        "config.toml: earning.promotions[0].ends = 2025-06-07T00:00:00+08:00: "
        "expected a date-time after starts (2025-06-09T00:00:00+08:00)"
    ) in error


def test_a_promotion_date_in_quotes_is_refused() -> None:
    error = problems(PROMOTION.format(starts="'2025-06-07 00:00'", ends="2025-06-09T00:00:00"))

    assert "earning.promotions[0].starts = '2025-06-07 00:00': expected a TOML date-time" in error


def test_a_promotion_with_a_bad_multiplier_and_a_bad_zone_reports_only_those() -> None:
    error = problems(
        PROMOTION.replace("Asia/Shanghai", "Mars/Base")
        .replace("multiplier = 2", "multiplier = 0")
        .format(starts="2025-06-07T00:00:00", ends="2025-06-09T00:00:00")
    )

    assert error.splitlines() == [
        "config.toml: mall.timezone = 'Mars/Base': "
        "expected an IANA time zone name such as 'Asia/Shanghai'",
        "config.toml: earning.promotions[0].multiplier = 0: expected a number > 0",
    ]


def test_a_promotion_built_in_code_needs_aware_times() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Promotion(
            name="Weekend",
            multiplier=Decimal(2),
            starts=datetime(2025, 6, 7),
            ends=datetime(2025, 6, 9),
        )


# --- Expiry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fixed_date", ["02-29", "13-01", "04-31", "12/31", "4-1", "Dec 31"])
def test_a_fixed_expiry_day_that_is_not_every_year_is_refused(fixed_date: str) -> None:
    error = problems(f"[expiry]\npolicy = 'fixed'\nfixed_date = '{fixed_date}'")

    assert error == (
        f"config.toml: expiry.fixed_date = '{fixed_date}': "
        "expected a day of the year as 'MM-DD' that exists every year, such as '12-31'"
    )


def test_a_fixed_expiry_at_the_end_of_march_next_year() -> None:
    config = parse_config(
        "[expiry]\npolicy = 'fixed'\nfixed_date = '03-31'\nfixed_years_after = 1", environ=NO_ENV
    )

    assert (config.expiry.policy, config.expiry.fixed_date) == ("fixed", "03-31")


# --- Tiers ----------------------------------------------------------------------------------


def tiers_toml(*levels: tuple[str, int]) -> str:
    return "".join(
        f"[[tiers.levels]]\nname = '{name}'\nthreshold = {threshold}\n"
        "multiplier = 1\nvalidity_days = 365\n"
        for name, threshold in levels
    )


def test_an_admin_replaces_the_tier_ladder() -> None:
    config = parse_config(tiers_toml(("Leaf", 0), ("Tree", 500)), environ=NO_ENV)

    assert [tier.name for tier in config.tiers.levels] == ["Leaf", "Tree"]
    assert config.tiers.window_days == 365


def test_the_first_tier_must_start_at_zero() -> None:
    error = problems(tiers_toml(("Silver", 1000), ("Gold", 5000)))

    assert error == (
        "config.toml: tiers.levels: thresholds must start at 0 and increase strictly "
        "(got 1000, 5000)"
    )


def test_tier_thresholds_must_increase() -> None:
    error = problems(tiers_toml(("Member", 0), ("Gold", 5000), ("Silver", 1000)))

    assert "tiers.levels: thresholds must start at 0 and increase strictly (got 0, 5000, 1000)" in (
        error
    )


def test_two_tiers_cannot_share_a_name() -> None:
    error = problems(tiers_toml(("Member", 0), ("Gold", 1000), ("gold", 5000)))

    assert error == "config.toml: tiers.levels: tier names must be unique ('gold' appears twice)"


def test_an_empty_ladder_is_refused() -> None:
    assert problems("[tiers]\nlevels = []") == (
        "config.toml: tiers.levels: at least one tier is needed, with threshold 0"
    )


def test_a_bad_field_in_a_tier_is_named_with_its_position() -> None:
    text = tiers_toml(("Member", 0)) + (
        "[[tiers.levels]]\nname = 'Silver'\nthreshold = 1000\nmultiplier = 1.2\nvalidity_days = 0\n"
    )

    assert problems(text) == (
        "config.toml: tiers.levels[1].validity_days = 0: expected an integer >= 1"
    )


def test_a_tier_is_named_in_each_language_and_keeps_its_identifier() -> None:
    text = tiers_toml(("Member", 0)) + (
        "[[tiers.levels]]\nname = 'Silver'\nnames = { zh_Hans = '白银', en = 'Silver club' }\n"
        "threshold = 1000\nmultiplier = 1.2\nvalidity_days = 540\n"
    )

    member, silver = parse_config(text, environ=NO_ENV).tiers.levels

    assert (member.name, member.names) == ("Member", {})
    assert (silver.name, silver.names) == ("Silver", {"zh_Hans": "白银", "en": "Silver club"})


@pytest.mark.parametrize(
    ("names", "line"),
    [
        pytest.param(
            "{ zh_hans = '白银' }",
            "config.toml: tiers.levels[1].names.zh_hans = 'zh_hans': expected a language code "
            "as the bot names it, such as 'en' or 'zh_Hans'",
            id="lower-case-script",
        ),
        pytest.param(
            "{ 'zh-Hans' = '白银' }",
            "config.toml: tiers.levels[1].names.zh-Hans = 'zh-Hans': expected a language code",
            id="hyphen",
        ),
        pytest.param(
            "{ zh_Hans = ' ' }",
            "config.toml: tiers.levels[1].names.zh_Hans = ' ': expected a non-empty string",
            id="blank",
        ),
        pytest.param(
            "'白银'",
            "config.toml: tiers.levels[1].names: expected a table, got a string",
            id="not-a-table",
        ),
    ],
)
def test_a_bad_tier_name_in_a_language_is_named_with_its_key(names: str, line: str) -> None:
    text = tiers_toml(("Member", 0)) + (
        f"[[tiers.levels]]\nname = 'Silver'\nnames = {names}\n"
        "threshold = 1000\nmultiplier = 1.2\nvalidity_days = 540\n"
    )

    assert problems(text).startswith(line)


def test_two_tiers_cannot_share_a_name_in_a_language() -> None:
    text = tiers_toml(("Member", 0), ("Silver", 1000)).replace(
        "name = 'Silver'", "name = 'Silver'\nnames = { zh_Hans = 'member' }"
    )

    assert problems(text) == (
        "config.toml: tiers.levels: tier names in zh_Hans must be unique ('member' appears twice)"
    )


def test_the_example_file_names_every_tier_and_the_cause_in_chinese() -> None:
    config = load_config(EXAMPLE, environ=NO_ENV)

    assert [tier.names.get("zh_Hans") for tier in config.tiers.levels] == ["普通", "白银", "黄金"]
    assert config.donations.cause_names == {"zh_Hans": "植树公益"}
    assert "种下一棵树" in config.donations.descriptions["zh_Hans"]
    texts = [*config.donations.cause_names.values(), *config.donations.descriptions.values()]
    texts += [name for tier in config.tiers.levels for name in tier.names.values()]
    assert not any("您" in text for text in texts)


def test_the_example_files_languages_are_ones_the_bot_speaks() -> None:
    assert language_problems(load_config(EXAMPLE, environ=NO_ENV)) == ()


def test_a_language_the_bot_does_not_speak_is_named_with_its_key() -> None:
    config = parse_config(
        tiers_toml(("Member", 0)).replace(
            "name = 'Member'", "name = 'Member'\nnames = { fr = 'Membre' }"
        )
        + "[donations]\ndescriptions = { zh_Hans = '植树', pt_BR = 'Plantar' }",
        environ=NO_ENV,
    )

    assert language_problems(config) == (
        "tiers.levels[0].names.fr: the bot has no language 'fr' (it speaks en, zh_Hans)",
        "donations.descriptions.pt_BR: the bot has no language 'pt_BR' (it speaks en, zh_Hans)",
    )


# --- Donations --------------------------------------------------------------------------------


def test_the_cause_and_its_description_are_given_per_language() -> None:
    config = parse_config(
        """
        [donations]
        cause = "Clean the beach"
        description = "We pick up litter."
        cause_names = { zh_Hans = "清洁海滩" }
        descriptions = { zh_Hans = "我们一起捡垃圾。" }
        """,
        environ=NO_ENV,
    )

    assert (config.donations.cause, config.donations.description) == (
        "Clean the beach",
        "We pick up litter.",
    )
    assert config.donations.cause_names == {"zh_Hans": "清洁海滩"}
    assert config.donations.descriptions == {"zh_Hans": "我们一起捡垃圾。"}


def test_a_cause_without_translations_has_none() -> None:
    config = parse_config(
        "[donations]\ncause = 'Clean the beach'\ncause_names = {}\ndescriptions = {}",
        environ=NO_ENV,
    )

    assert (config.donations.cause_names, config.donations.descriptions) == ({}, {})


@pytest.mark.parametrize(
    ("toml", "line"),
    [
        pytest.param(
            "[donations]\ncause_names = { Chinese = '植树' }",
            "config.toml: donations.cause_names.Chinese = 'Chinese': expected a language code",
            id="language-name",
        ),
        pytest.param(
            "[donations]\ncause_names = { zh_Hans = '' }",
            "config.toml: donations.cause_names.zh_Hans = '': expected a non-empty string",
            id="blank-cause",
        ),
        pytest.param(
            "[donations]\ndescriptions = { zh_Hans = 100 }",
            "config.toml: donations.descriptions.zh_Hans = 100: expected a string",
            id="description-not-text",
        ),
        pytest.param(
            "[donations]\ncause_name = { zh_Hans = '植树' }",
            "config.toml: donations.cause_name: unknown key; did you mean 'cause_names'?",
            id="misspelled-key",
        ),
    ],
)
def test_a_bad_cause_text_is_named_with_its_key(toml: str, line: str) -> None:
    assert problems(toml).startswith(line)


def test_tiers_built_in_code_are_validated_too() -> None:
    with pytest.raises(ValidationError, match="increase strictly"):
        TiersSettings(
            levels=(Tier(name="Gold", threshold=5000, multiplier=Decimal(2), validity_days=30),)
        )


def test_a_malformed_token_is_named_without_showing_it() -> None:
    error = problems("[telegram]\ntoken = 'not-a-token'")

    assert "telegram.token = <hidden>: expected a bot token as @BotFather gives it" in error
    assert "not-a-token" not in error


def test_webhook_mode_needs_its_url_and_secret() -> None:
    error = problems("[telegram]\nwebhook_url = 'http://plain.example/hook'")
    assert "telegram.webhook_url = 'http://plain.example/hook': expected" in error

    error = problems("[telegram]\nmode = 'webhook'\nwebhook_url = 'https://mall.example/hook'")
    assert "needs webhook_url and webhook_secret" in error


def test_the_webhook_secret_comes_from_the_environment() -> None:
    config = parse_config(
        "[telegram]\nmode = 'webhook'\nwebhook_url = 'https://mall.example/telegram'",
        environ={"POINTSMALL_WEBHOOK_SECRET": "s3cret-s3cret-s3cret"},
    )

    assert config.telegram.webhook_secret is not None
    assert config.telegram.webhook_secret.get_secret_value() == "s3cret-s3cret-s3cret"
    assert "s3cret" not in repr(config)


def test_the_old_webhook_listen_and_port_name_the_keys_that_replace_them() -> None:
    for old in ("webhook_listen = '0.0.0.0'", "webhook_port = 8443"):
        error = problems(f"[telegram]\n{old}")
        assert "webhook_listen and webhook_port are gone" in error
        assert "[http] host and port" in error


def test_the_http_listener_and_the_inbox_have_checked_settings() -> None:
    config = parse_config("[http]\nhost = '0.0.0.0'\nport = 9000\n[inbox]\nworkers = 8")
    assert (config.http.host, config.http.port, config.inbox.workers) == ("0.0.0.0", 9000, 8)

    assert "http.port = 70000" in problems("[http]\nport = 70000")
    assert "inbox.retention_hours = 200" in problems("[inbox]\nretention_hours = 200")
    assert "inbox.reply_deadline_minutes = 0" in problems("[inbox]\nreply_deadline_minutes = 0")
