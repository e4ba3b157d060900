"""Configs for tests: a fixed time zone and known rewards, plus what a test overrides."""

from __future__ import annotations

import tomllib
from typing import Any

from bot.settings import Config

BASE = """
[mall]
timezone = "Asia/Shanghai"

[telegram]
admins = [1000]

[members]
signup_bonus = 100

[checkin]
rewards = [10, 10, 10, 10, 10, 10, 50]
cycle = true
makeup_price = 20
makeup_per_month = 2
"""


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def make_config(extra: str = "") -> Config:
    """The test mall's config with the TOML ``extra`` laid over it, table by table."""
    return Config.model_validate(_merge(tomllib.loads(BASE), tomllib.loads(extra)))
