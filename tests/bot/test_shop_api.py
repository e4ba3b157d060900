"""The shop's API over real HTTP: signed orders earn, are told in the chat, and count once.

A test plays the shop (signed requests to the process's listener) and a member (the sandbox
chat); the outbox sender runs, so what the member is told arrives as it would. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bot import shop_platforms
from bot.listener import listening
from bot.running import Framework
from bot.shop_api import ShopApi
from bot.shop_auth import KEY_HEADER, SIGNATURE_HEADER, sign
from core.errors import LinkUsed
from tests.bot.conftest import ChatFactory
from tests.support.background import running_background
from tests.support.chat import Chat, Member

RULES = '[members]\nsignup_bonus = 0\n[earning]\npoints_per_unit = 1\n[mall]\ncurrency = "CNY"\n'


@pytest.fixture
def framework() -> Framework:
    """The API does not depend on the chat's framework: one is enough here."""
    return "ptb"


@dataclass
class Shop:
    """The shop's side: its key, and signed calls to the listener."""

    url: str
    key_id: str
    secret: str
    client: httpx.AsyncClient

    async def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        key_id: str | None = None,
    ) -> httpx.Response:
        raw = json.dumps(body).encode() if body is not None else b""
        stamp = int(time.time()) if timestamp is None else timestamp
        headers = {
            KEY_HEADER: self.key_id if key_id is None else key_id,
            SIGNATURE_HEADER: sign(secret or self.secret, stamp, raw),
            "Content-Type": "application/json",
        }
        return await self.client.request(method, self.url + path, content=raw, headers=headers)


@dataclass
class Mall:
    chat: Chat
    shop: Shop
    api: ShopApi


@asynccontextmanager
async def open_mall(
    make_chat: ChatFactory, database_url: str, rules: str = RULES
) -> AsyncIterator[Mall]:
    """The chat, its sender, and the process's listener with the shop's routes."""
    async with make_chat(rules, database_url=database_url) as chat:
        api = ShopApi(rate=1000, burst=1000, bot_username=chat.bot.username)
        api.runtime = chat.runtime
        created = await chat.mall.shop_keys.create_key("web shop", chat.now)
        mounts = (api.mount, partial(shop_platforms.mount, api))
        async with (
            listening("127.0.0.1", 0, mounts=mounts) as listener,
            httpx.AsyncClient(timeout=30) as client,
            running_background(chat),
        ):
            yield Mall(chat, Shop(listener.url, created.key_id, created.secret, client), api)


@pytest.fixture
async def mall(make_chat: ChatFactory, database_url: str) -> AsyncIterator[Mall]:
    async with open_mall(make_chat, database_url) as opened:
        yield opened


def order(order_id: str, member: Member | int, total: str = "128.50") -> dict[str, Any]:
    who = member if isinstance(member, int) else member.id
    return {
        "order_id": order_id,
        "customer": {"telegram_id": who},
        "total": total,
        "currency": "CNY",
        "lines": [{"sku": "TEA-1", "category": "tea", "amount": total, "quantity": 1}],
        "placed_at": "2026-03-02T10:00:00+08:00",
    }


async def told(mall: Mall) -> None:
    """Until the outbox has sent what it holds (the sender runs beside the chat)."""
    async with asyncio.timeout(30):
        while await mall.chat.mall.outbox.waiting():  # noqa: ASYNC110 (the sender's work)
            await asyncio.sleep(0.05)


async def balance(mall: Mall, member: Member) -> int:
    return (await mall.chat.mall.statements.balance(member.id)).balance


async def test_a_signed_order_earns_by_the_rules_and_the_member_is_told(mall: Mall) -> None:
    ann = mall.chat.member("Ann")
    await ann.start()

    answer = await mall.shop.call("POST", "/api/v1/orders", order("A-1001", ann))

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "order_id": "A-1001",
        "status": "credited",
        "points": 128,
        "telegram_id": ann.id,
    }
    assert await balance(mall, ann) == 128
    await told(mall)
    said = ann.messages[-1].text
    assert "Thank you for your order A-1001! You earned 128 points." in said
    assert "Your balance: 128 points" in said


async def test_the_same_order_earns_once_even_sent_twenty_times_at_once(mall: Mall) -> None:
    ann = mall.chat.member("Ann")
    await ann.start()

    answers = await asyncio.gather(
        *(mall.shop.call("POST", "/api/v1/orders", order("A-7", ann)) for _ in range(20))
    )

    assert {a.status_code for a in answers} == {200}
    assert {a.json()["points"] for a in answers} == {128}
    assert await balance(mall, ann) == 128
    await told(mall)
    assert sum("order A-7" in m.text for m in ann.messages) == 1

    changed = await mall.shop.call("POST", "/api/v1/orders", order("A-7", ann, total="99.00"))
    assert changed.status_code == 409
    assert changed.json()["error"] == "order_conflict"


async def test_a_refund_takes_back_its_share_and_says_so(mall: Mall) -> None:
    ann = mall.chat.member("Ann")
    await ann.start()
    await mall.shop.call("POST", "/api/v1/orders", order("A-9", ann, total="100.00"))

    path = "/api/v1/orders/A-9/refunds"
    first = await mall.shop.call("POST", path, {"refund_id": "R-1", "amount": "25.00"})
    again = await mall.shop.call("POST", path, {"refund_id": "R-1", "amount": "25.00"})
    too_much = await mall.shop.call("POST", path, {"refund_id": "R-2", "amount": "80.00"})

    assert first.status_code == 200, first.text
    assert first.json()["points_taken"] == 25
    assert again.json() == first.json()
    assert too_much.status_code == 422
    assert too_much.json()["error"] == "refund_exceeds_order"
    assert await balance(mall, ann) == 75
    await told(mall)
    assert "Order A-9 was refunded in part or in full: 25 points taken back." in ann.last.text


async def test_an_order_for_a_customer_not_yet_in_the_mall_is_parked(mall: Mall) -> None:
    answer = await mall.shop.call("POST", "/api/v1/orders", order("A-11", 5555))

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "parked"
    assert answer.json()["points"] == 0


async def test_unsigned_stale_forged_or_revoked_requests_do_nothing(mall: Mall) -> None:
    ann = mall.chat.member("Ann")
    await ann.start()
    body = order("A-13", ann)
    shop = mall.shop
    raw = json.dumps(body).encode()

    unsigned = await shop.client.post(shop.url + "/api/v1/orders", content=raw)
    wrong = await shop.call("POST", "/api/v1/orders", body, secret="not-the-secret")
    stale = await shop.call("POST", "/api/v1/orders", body, timestamp=int(time.time()) - 301)
    unknown = await shop.call("POST", "/api/v1/orders", body, key_id="pk_nobody")
    await mall.chat.mall.shop_keys.revoke_key(shop.key_id, mall.chat.now)
    revoked = await shop.call("POST", "/api/v1/orders", body)

    for refused, code in (
        (unsigned, "missing_key"),
        (wrong, "bad_signature"),
        (stale, "stale_signature"),
        (unknown, "bad_signature"),
        (revoked, "bad_signature"),
    ):
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == code
    assert await balance(mall, ann) == 0


async def test_a_body_too_large_is_413_and_too_many_requests_429(mall: Mall) -> None:
    huge = {"order_id": "A-15", "padding": "x" * 70_000}
    too_large = await mall.shop.call("POST", "/api/v1/orders", huge)
    assert too_large.status_code == 413

    mall.api.limit.rate, mall.api.limit.burst = 1, 2
    mall.api.limit._buckets.clear()
    answers = [await mall.shop.call("GET", "/api/v1/members/1") for _ in range(3)]
    assert answers[-1].status_code == 429
    assert int(answers[-1].headers["Retry-After"]) >= 1


async def test_bad_orders_are_refused_with_what_is_wrong(mall: Mall) -> None:
    ann = mall.chat.member("Ann")
    await ann.start()
    dollars = {**order("A-17", ann), "currency": "USD"}
    floating = {**order("A-18", ann), "total": 128.5}

    wrong_currency = await mall.shop.call("POST", "/api/v1/orders", dollars)
    not_a_string = await mall.shop.call("POST", "/api/v1/orders", floating)

    assert wrong_currency.status_code == 422
    assert wrong_currency.json()["error"] == "wrong_currency"
    assert not_a_string.status_code == 422
    assert "total: expected a decimal string" in not_a_string.json()["message"]
    assert await balance(mall, ann) == 0


async def test_points_pay_at_the_checkout_through_a_hold(mall: Mall) -> None:
    ann = mall.chat.member("Ann")
    await ann.start()
    await mall.shop.call("POST", "/api/v1/orders", order("A-19", ann, total="1000.00"))
    customer = {"telegram_id": ann.id}

    held = await mall.shop.call(
        "POST", "/api/v1/checkout/holds", {"hold_id": "H-1", "customer": customer, "points": 500}
    )
    assert held.status_code == 200, held.text
    assert held.json()["status"] == "held"
    assert held.json()["value_minor"] == 500
    assert (await mall.chat.mall.statements.balance(ann.id)).held == 500

    captured = await mall.shop.call(
        "POST", "/api/v1/checkout/holds/H-1/capture", {"order_id": "A-20"}
    )
    assert captured.json()["status"] == "captured"
    assert await balance(mall, ann) == 500

    await mall.shop.call(
        "POST", "/api/v1/checkout/holds", {"hold_id": "H-2", "customer": customer, "points": 100}
    )
    released = await mall.shop.call("POST", "/api/v1/checkout/holds/H-2/release", {})
    assert released.json()["status"] == "released"
    assert await balance(mall, ann) == 500

    member = await mall.shop.call("GET", f"/api/v1/members/{ann.id}")
    assert member.json()["balance"] == 500
    assert member.json()["tier"]


# --- Links to show after checkout -----------------------------------------------------------------


async def test_a_link_for_the_shop_to_show_is_a_t_me_link_that_links_its_opener(mall: Mall) -> None:
    ann, bob = mall.chat.member("Ann"), mall.chat.member("Bob")
    await ann.start()
    await bob.start()
    parked = {**order("A-31", 0, "40.00"), "customer": {"ref": "shop-customer-7"}}
    assert (await mall.shop.call("POST", "/api/v1/orders", parked)).json()["status"] == "parked"

    answer = await mall.shop.call("POST", "/api/v1/links", {"ref": "shop-customer-7"})
    another = await mall.shop.call("POST", "/api/v1/links", {"ref": "shop-customer-7"})

    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert set(made) == {"ref", "url", "token", "expires_at"}
    assert made["ref"] == "shop-customer-7"
    username = mall.chat.bot.username
    assert username
    assert made["url"] == f"https://t.me/{username}?start=s-{made['token']}"
    payload = made["url"].split("?start=", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", payload)  # what Telegram takes in /start
    expires_at = datetime.fromisoformat(made["expires_at"])
    assert expires_at - mall.api.clock() > timedelta(days=6, hours=23)
    assert another.json()["token"] != made["token"]

    # Ann opens the link in Telegram: /start with its payload.
    opened = await ann.start(payload)
    assert "Your shop account is linked!" in opened.text
    assert "Order A-31: +40 points" in opened.text
    assert await balance(mall, ann) == 40
    again = await ann.start(payload)  # a double tap, or the link opened twice
    assert "Order A-31: +40 points" in again.text
    assert await balance(mall, ann) == 40
    refused = await bob.start(payload)
    assert "already used by someone else" in refused.text
    assert await balance(mall, bob) == 0
    with pytest.raises(LinkUsed):
        await mall.chat.mall.shop.use_link(bob.id, made["token"], mall.api.clock())
    # Later orders of that shop customer credit Ann at once.
    later = {**order("A-32", 0, "10.00"), "customer": {"ref": "shop-customer-7"}}
    credited = (await mall.shop.call("POST", "/api/v1/orders", later)).json()
    assert (credited["status"], credited["telegram_id"]) == ("credited", ann.id)


async def test_an_order_for_a_phone_waits_until_its_member_shares_that_phone(
    make_chat: ChatFactory, database_url: str
) -> None:
    rules = RULES + '[shop]\nphone_hash_key = "' + "k" * 40 + '"\n'
    async with open_mall(make_chat, database_url, rules) as mall:
        ann = mall.chat.member("Ann")
        await ann.start()
        parked = {**order("A-41", 0, "30.00"), "customer": {"phone": ann.phone}}
        answer = await mall.shop.call("POST", "/api/v1/orders", parked)
        assert answer.json()["status"] == "parked", answer.text
        assert await balance(mall, ann) == 0

        await ann.press("🔗 Link shop account")
        linked = await ann.share_contact()

        assert any("Order A-41: +30 points" in m.text for m in ann.messages[-2:]), linked.text
        assert await balance(mall, ann) == 30
        again = await mall.shop.call("POST", "/api/v1/orders", parked)
        assert again.json()["status"] == "parked"  # the first answer, as for any repeat
        assert await balance(mall, ann) == 30
        assert (await mall.chat.mall.check()).ok


async def test_a_friends_first_order_pays_the_invite_and_says_so(
    make_chat: ChatFactory, database_url: str
) -> None:
    rules = RULES + '[referrals]\nqualify_on = "purchase"\n'
    async with open_mall(make_chat, database_url, rules) as mall:
        ann, bob = mall.chat.member("Ann"), mall.chat.member("Bob")
        await ann.start()
        code = await mall.chat.mall.referrals.invite_code(ann.id)
        await bob.start(f"i-{code}")
        answer = await mall.shop.call("POST", "/api/v1/orders", order("A-51", bob, "10.00"))
        assert answer.json()["points"] == 10
        await told(mall)
        assert "You earned 10 points" in bob.last.text, bob.last.text
        assert "completed your friend's invite: a bonus of 50 points" in bob.last.text
        assert await balance(mall, bob) == 60
        assert await balance(mall, ann) == 100


async def test_a_link_needs_a_good_ref_a_signature_and_the_bots_name(mall: Mall) -> None:
    bad = await mall.shop.call("POST", "/api/v1/links", {"ref": "no spaces allowed"})
    missing = await mall.shop.call("POST", "/api/v1/links", {})
    number = await mall.shop.call("POST", "/api/v1/links", {"ref": 7})
    for refused in (bad, missing, number):
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == "invalid_input"
        assert "ref" in refused.json()["message"]

    raw = json.dumps({"ref": "shop-customer-7"}).encode()
    unsigned = await mall.shop.client.post(mall.shop.url + "/api/v1/links", content=raw)
    forged = await mall.shop.call(
        "POST", "/api/v1/links", {"ref": "shop-customer-7"}, secret="not-the-secret"
    )
    assert (unsigned.status_code, unsigned.json()["error"]) == (401, "missing_key")
    assert (forged.status_code, forged.json()["error"]) == (401, "bad_signature")

    mall.api.bot_username = None  # Telegram has not said who the bot is yet
    starting = await mall.shop.call("POST", "/api/v1/links", {"ref": "shop-customer-7"})
    assert (starting.status_code, starting.json()["error"]) == (503, "starting")
    async with mall.chat.mall.db.read() as conn:
        made = (await conn.execute(text("SELECT count(*) FROM shop_link_tokens"))).scalar_one()
    assert made == 0


# --- Shops people already run: Shopify and WooCommerce ------------------------------------------

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PLATFORM_RULES = (
    '[members]\nsignup_bonus = 0\n[mall]\ncurrency = "USD"\n'
    '[shop]\nphone_region = "US"\nshopify_secret = "shpss_test_secret"\n'
    'woocommerce_secret = "wc_test_secret"\n'
    'phone_hash_key = "a-test-key-for-phone-hashes-32-characters-long"\n'
)


def platform_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def test_a_shopify_paid_order_credits_its_customer_and_a_forged_one_is_refused(
    make_chat: ChatFactory, database_url: str
) -> None:
    async with open_mall(make_chat, database_url, PLATFORM_RULES) as mall:
        ann = mall.chat.member("Ann")
        await ann.start()
        await mall.chat.mall.shop.link_phone(ann.id, "+1 415 555 2671", mall.chat.now)
        sample = json.loads((FIXTURES / "shopify" / "orders_paid_webhook_sample.json").read_text())
        sample["customer"]["phone"] = "+14155552671"
        body = json.dumps(sample).encode()
        url = mall.shop.url + "/api/v1/shopify/webhooks"
        headers = {"X-Shopify-Topic": "orders/paid", "Content-Type": "application/json"}

        forged = await mall.shop.client.post(
            url,
            content=body,
            headers={**headers, "X-Shopify-Hmac-Sha256": platform_signature("wrong", body)},
        )
        assert forged.status_code == 401
        assert await balance(mall, ann) == 0

        signed = {**headers, "X-Shopify-Hmac-Sha256": platform_signature("shpss_test_secret", body)}
        first = await mall.shop.client.post(url, content=body, headers=signed)
        again = await mall.shop.client.post(url, content=body, headers=signed)

        assert first.status_code == 200, first.text
        assert again.status_code == 200
        (event,) = first.json()["events"]
        assert event["status"] == "credited"
        assert event["points"] == 403  # 403.00 USD at 1 point a dollar
        assert await balance(mall, ann) == 403
        await told(mall)
        assert "Thank you for your order shopify-820982911946154508!" in ann.last.text


async def test_a_woocommerce_completed_order_earns_and_its_refunds_take_back(
    make_chat: ChatFactory, database_url: str
) -> None:
    async with open_mall(make_chat, database_url, PLATFORM_RULES) as mall:
        ann = mall.chat.member("Ann")
        await ann.start()
        sample = json.loads(
            (FIXTURES / "woocommerce" / "order_723_completed_with_refunds.json").read_text()
        )
        sample["meta_data"] = [{"id": 1, "key": "telegram_id", "value": str(ann.id)}]
        body = json.dumps(sample).encode()
        url = mall.shop.url + "/api/v1/woocommerce/webhooks"

        refused = await mall.shop.client.post(
            url, content=body, headers={"X-WC-Webhook-Signature": "bm90IGl0"}
        )
        answer = await mall.shop.client.post(
            url,
            content=body,
            headers={"X-WC-Webhook-Signature": platform_signature("wc_test_secret", body)},
        )
        ping = await mall.shop.client.post(
            url,
            content=b"webhook_id=5",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

        assert refused.status_code == 401
        assert answer.status_code == 200, answer.text
        statuses = [e.get("status") for e in answer.json()["events"]]
        assert statuses[0] == "credited"
        # 39.00 earned 39; the two refunds listed (10.00 and 9.00) took back 19.
        assert await balance(mall, ann) == 20
        assert ping.status_code == 200


async def test_an_order_parked_for_a_telegram_id_is_credited_when_that_member_joins(
    mall: Mall,
) -> None:
    bob = mall.chat.member("Bob")
    parked = await mall.shop.call("POST", "/api/v1/orders", order("A-21", bob.id, "60.00"))
    assert parked.json()["status"] == "parked"

    welcome = await bob.start()

    assert "Thank you for your order A-21! You earned 60 points." in welcome.text
    assert await balance(mall, bob) == 60
    again = await mall.shop.call("POST", "/api/v1/orders", order("A-21", bob.id, "60.00"))
    assert again.json()["status"] == "parked"  # the first answer, replayed: nothing twice
    assert await balance(mall, bob) == 60


async def test_a_newcomer_joins_and_links_with_one_tap_of_the_shops_link(mall: Mall) -> None:
    parked = {**order("A-61", 0, "25.00"), "customer": {"ref": "shop-customer-9"}}
    assert (await mall.shop.call("POST", "/api/v1/orders", parked)).json()["status"] == "parked"
    made = (await mall.shop.call("POST", "/api/v1/links", {"ref": "shop-customer-9"})).json()
    carol = mall.chat.member("Carol", "zh-hans")

    await carol.start("s-" + made["token"])

    said = "\n".join(m.text for m in carol.messages)
    assert "欢迎" in said
    assert "商城账号已绑定" in said
    assert "订单 A-61：+25" in said
    assert await balance(mall, carol) == 25
    expired = await mall.shop.call("POST", "/api/v1/links", {"ref": "shop-customer-9"})
    mall.chat.now = mall.api.clock() + timedelta(days=8)
    late = await carol.start("s-" + expired.json()["token"])
    assert "已过期" in late.text
