"""Configs for tests: the defaults with a fixed time zone, plus what a test overrides."""

from __future__ import annotations

from core.config import Config, parse_config

BASE = """
[mall]
timezone = "Asia/Shanghai"

[members]
signup_bonus = 100

[checkin]
rewards = [10, 10, 10, 10, 10, 10, 50]
cycle = true
makeup_price = 20
makeup_per_month = 2
"""


def make_config(extra: str = "") -> Config:
    """The test mall's config; ``extra`` is TOML appended (later keys of a table win)."""
    return parse_config(BASE + "\n" + extra, environ={}, source="test config")
