"""examples/shop_client.py and the shell recipe of docs/shop-api.md, against a real listener.

The client is blocking (urllib), so each call runs in a thread while the mall serves on the
test's event loop. The shell recipe is taken from the doc itself, so the doc cannot drift from
what the API checks. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bot.listener import listening
from bot.running import Framework
from bot.shop_api import ShopApi
from bot.shop_auth import sign
from tests.bot.conftest import ChatFactory
from tests.support.background import running_background
from tests.support.chat import Chat, Member

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "shop_client.py"
DOC = ROOT / "docs" / "shop-api.md"
RULES = '[members]\nsignup_bonus = 0\n[earning]\npoints_per_unit = 1\n[mall]\ncurrency = "CNY"\n'


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("shop_client_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


shop_client = _load_example()


@pytest.fixture
def framework() -> Framework:
    """The API does not depend on the chat's framework: one is enough here."""
    return "ptb"


@dataclass
class Mall:
    chat: Chat
    url: str
    key_id: str
    secret: str

    def client(self, secret: str | None = None) -> Any:
        return shop_client.ShopClient(self.url, self.key_id, secret or self.secret)


@pytest.fixture
async def mall(make_chat: ChatFactory, database_url: str) -> AsyncIterator[Mall]:
    async with make_chat(RULES, database_url=database_url) as chat:
        api = ShopApi(rate=1000, burst=1000, bot_username=chat.bot.username)
        api.runtime = chat.runtime
        created = await chat.mall.shop_keys.create_key("web shop", chat.now)
        async with (
            listening("127.0.0.1", 0, mounts=(api.mount,)) as listener,
            running_background(chat),
        ):
            yield Mall(chat, listener.url, created.key_id, created.secret)


async def balance(mall: Mall, member: Member) -> int:
    return (await mall.chat.mall.statements.balance(member.id)).balance


def tea(total: str) -> list[dict[str, object]]:
    return [{"sku": "TEA-1", "category": "tea", "amount": total, "quantity": 1}]


async def test_an_order_credits_and_the_same_order_again_answers_the_same(mall: Mall) -> None:
    ann = mall.chat.member("Ann")
    await ann.start()
    client = mall.client()

    def send() -> Any:
        return client.order(
            "A-1001",
            {"telegram_id": ann.id},
            "128.50",
            "CNY",
            lines=tea("128.50"),
            placed_at="2026-12-06T10:00:00+08:00",
        )

    first = await asyncio.to_thread(send)
    again = await asyncio.to_thread(send)

    assert first == {
        "order_id": "A-1001",
        "status": "credited",
        "points": 128,
        "telegram_id": ann.id,
    }
    assert again == first
    assert await balance(mall, ann) == 128
    member = await asyncio.to_thread(client.member, ann.id)
    assert member["balance"] == 128
    assert member["held"] == 0

    with pytest.raises(shop_client.ShopApiError) as conflict:
        await asyncio.to_thread(client.order, "A-1001", {"telegram_id": ann.id}, "99.00", "CNY")
    assert (conflict.value.status, conflict.value.code) == (409, "order_conflict")


async def test_a_refund_takes_back_its_share_once(mall: Mall) -> None:
    ann = mall.chat.member("Ann")
    await ann.start()
    client = mall.client()
    await asyncio.to_thread(client.order, "A-9", {"telegram_id": ann.id}, "100.00", "CNY")

    first = await asyncio.to_thread(client.refund, "A-9", "R-1", "25.00")
    again = await asyncio.to_thread(client.refund, "A-9", "R-1", "25.00")
    with pytest.raises(shop_client.ShopApiError) as too_much:
        await asyncio.to_thread(client.refund, "A-9", "R-2", "80.00")

    assert first == {
        "order_id": "A-9",
        "refund_id": "R-1",
        "amount_minor": 2500,
        "status": "applied",
        "points_taken": 25,
        "unrecovered": 0,
        "telegram_id": ann.id,
    }
    assert again == first
    assert (too_much.value.status, too_much.value.code) == (422, "refund_exceeds_order")
    assert await balance(mall, ann) == 75


async def test_points_held_captured_and_released_at_the_checkout(mall: Mall) -> None:
    ann = mall.chat.member("Ann")
    await ann.start()
    client = mall.client()
    customer = {"telegram_id": ann.id}
    await asyncio.to_thread(client.order, "A-19", customer, "1000.00", "CNY")

    held = await asyncio.to_thread(client.hold, "H-1", customer, 500)
    captured = await asyncio.to_thread(client.capture, "H-1", "A-20")
    await asyncio.to_thread(client.hold, "H-2", customer, 100)
    released = await asyncio.to_thread(client.release, "H-2")

    assert (held["status"], held["points"], held["value_minor"]) == ("held", 500, 500)
    assert (captured["status"], captured["order_id"]) == ("captured", "A-20")
    assert released["status"] == "released"
    assert await balance(mall, ann) == 500


async def test_a_wrong_secret_raises_bad_signature_and_does_nothing(mall: Mall) -> None:
    ann = mall.chat.member("Ann")
    await ann.start()
    forged = mall.client(secret="not-the-secret")

    with pytest.raises(shop_client.ShopApiError) as refused:
        await asyncio.to_thread(forged.order, "A-13", {"telegram_id": ann.id}, "10.00", "CNY")

    assert (refused.value.status, refused.value.code) == (401, "bad_signature")
    assert await balance(mall, ann) == 0


async def test_the_command_line_sends_an_order(
    mall: Mall, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = mall.chat.member("Ann")
    await ann.start()
    argv = ["--url", mall.url, "--key", mall.key_id, "--secret", mall.secret]

    status = await asyncio.to_thread(
        shop_client.main, [*argv, "order", "A-21", "50.00", "--telegram-id", str(ann.id)]
    )

    assert status == 0
    assert json.loads(capsys.readouterr().out)["points"] == 50
    refused = await asyncio.to_thread(shop_client.main, [*argv, "refund", "A-21", "R-1", "60.00"])
    assert refused == 1
    assert "refund_exceeds_order" in capsys.readouterr().err


async def test_a_link_to_show_after_checkout_links_whoever_opens_it(
    mall: Mall, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = mall.chat.member("Ann")
    await ann.start()
    client = mall.client()

    made = await asyncio.to_thread(client.link, "shop-customer-7")
    with pytest.raises(shop_client.ShopApiError) as bad:
        await asyncio.to_thread(client.link, "not a ref")

    assert made["url"] == f"https://t.me/{mall.chat.bot.username}?start=s-{made['token']}"
    assert made["ref"] == "shop-customer-7"
    assert (bad.value.status, bad.value.code) == (422, "invalid_input")
    linked = await mall.chat.mall.shop.use_link(ann.id, made["token"], datetime.now(UTC))
    assert linked.member_id == ann.id

    argv = ["--url", mall.url, "--key", mall.key_id, "--secret", mall.secret]
    status = await asyncio.to_thread(shop_client.main, [*argv, "link", "shop-customer-8"])
    assert status == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["ref"], printed["url"].startswith("https://t.me/")) == ("shop-customer-8", True)


# --- The shell recipe of docs/shop-api.md -------------------------------------------------------


def _shell_function() -> str:
    """The ``shop()`` function of the doc, as written there."""
    blocks: list[str] = re.findall(r"```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    found = [block for block in blocks if "shop() {" in block]
    assert "export " not in "".join(found), "keep the settings out of the function's block"
    assert found, "docs/shop-api.md has no ```sh block defining shop()"
    return found[0]


def _needs(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing or shutil.which("bash") is None:
        pytest.skip(f"not installed: {', '.join(missing) or 'bash'}")


def test_the_docs_openssl_signature_is_the_apis() -> None:
    _needs("openssl")
    secret = "s3cr3t-Xy_Z-0123456789abcdefghijklmnopqrstuv"
    body = '{"order_id":"A-1001","customer":{"telegram_id":42},"total":"128.50","currency":"CNY"}'
    recipe = next(line.strip() for line in _shell_function().splitlines() if "openssl dgst" in line)
    assert recipe.startswith("v1=$(")
    script = f'body="$BODY"; t=1767225600; {recipe}; printf "t=%s,v1=%s" "$t" "$v1"'

    signed = subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "BODY": body, "POINTSMALL_SHOP_SECRET": secret},
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert signed == sign(secret, 1767225600, body.encode())


async def test_the_docs_curl_recipe_is_accepted(mall: Mall) -> None:
    _needs("openssl", "curl")
    ann = mall.chat.member("Ann")
    await ann.start()
    body = json.dumps(
        {
            "order_id": "A-23",
            "customer": {"telegram_id": ann.id},
            "total": "12.00",
            "currency": "CNY",
        }
    )
    env = {
        **os.environ,
        "POINTSMALL_SHOP_URL": mall.url,
        "POINTSMALL_SHOP_KEY": mall.key_id,
        "POINTSMALL_SHOP_SECRET": mall.secret,
        "BODY": body,
    }

    def shell(command: str) -> dict[str, Any]:
        done = subprocess.run(
            ["bash", "-c", _shell_function() + "\n" + command],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    credited = await asyncio.to_thread(shell, 'shop POST /api/v1/orders "$BODY"')
    member = await asyncio.to_thread(shell, f"shop GET /api/v1/members/{ann.id}")
    link = await asyncio.to_thread(
        shell, """shop POST /api/v1/links '{"ref": "shop-customer-7"}'"""
    )

    assert (credited["status"], credited["points"]) == ("credited", 12)
    assert member["balance"] == 12
    assert link["url"] == f"https://t.me/{mall.chat.bot.username}?start=s-{link['token']}"
