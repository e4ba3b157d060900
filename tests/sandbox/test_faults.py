"""Telegram's bad minutes on demand: faulted calls answer 5xx / 429 / time out / drop, and
change nothing, until the fault ends by time, by count, or by hand (also over HTTP)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiogram
import aiohttp
import pytest
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError

from bot.sandbox import Sandbox, SandboxUser
from bot.sandbox.faults import DEFAULT_HOLD


@pytest.fixture
def ann(sandbox: Sandbox) -> SandboxUser:
    ann = sandbox.add_user("Ann", username="ann_w")
    ann.send("hi")
    return ann


@pytest.fixture
def bob(sandbox: Sandbox) -> SandboxUser:
    bob = sandbox.add_user("Bob")
    bob.send("hi")
    return bob


async def post_raw(
    sandbox: Sandbox, method: str, give_up: float = 10, **body: Any
) -> tuple[int, str, str]:
    """Status, content type and text of a raw Bot API call (JSON body)."""
    url = f"{sandbox.api_server}/bot{sandbox.token}/{method}"
    client_timeout = aiohttp.ClientTimeout(total=give_up)
    async with (
        aiohttp.ClientSession(timeout=client_timeout) as session,
        session.post(url, json=body) as response,
    ):
        return response.status, response.content_type, await response.text()


async def post(sandbox: Sandbox, method: str, **body: Any) -> tuple[int, Any]:
    """Status and JSON of a raw Bot API call."""
    url = f"{sandbox.api_server}/bot{sandbox.token}/{method}"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.json()


async def send(sandbox: Sandbox, user: SandboxUser, text: str = "Your order shipped") -> int:
    """The status of a sendMessage (whatever the body)."""
    status, _, _ = await post_raw(sandbox, "sendMessage", chat_id=user.id, text=text)
    return status


# -- each kind --------------------------------------------------------------------------


async def test_server_error_answers_500_in_telegrams_shape_and_delivers_nothing(
    sandbox: Sandbox, ann: SandboxUser
) -> None:
    fault = sandbox.faults.add(methods={"sendMessage"}, kind="server_error")
    assert await post(sandbox, "sendMessage", chat_id=ann.id, text="shipped") == (
        500,
        {"ok": False, "error_code": 500, "description": "Internal Server Error"},
    )
    assert ann.bot_messages == []
    assert fault.answered == 1
    assert sandbox.faults.answered == 1
    assert sandbox.faults.count("sendmessage", kind="server_error") == 1
    entry = sandbox.faults.log[0]
    assert (entry.fault_id, entry.method, entry.params["text"]) == (
        fault.id,
        "sendMessage",
        "shipped",
    )
    # The call was made, so it is recorded and spec-checked; the fault is no violation.
    assert sandbox.requests[-1] == ("sendMessage", {"chat_id": ann.id, "text": "shipped"})
    assert sandbox.violations == []


async def test_bad_gateway_answers_502_with_a_proxys_html_page(
    sandbox: Sandbox, ann: SandboxUser
) -> None:
    sandbox.faults.add(methods={"sendMessage"}, kind="bad_gateway")
    status, content_type, text = await post_raw(
        sandbox, "sendMessage", chat_id=ann.id, text="shipped"
    )
    assert (status, content_type) == (502, "text/html")
    assert "<title>502 Bad Gateway</title>" in text
    assert not text.lstrip().startswith("{")
    assert ann.bot_messages == []


async def test_flood_answers_429_with_retry_after(sandbox: Sandbox, ann: SandboxUser) -> None:
    sandbox.faults.add(methods={"sendMessage"}, kind="flood", retry_after=7)
    assert await post(sandbox, "sendMessage", chat_id=ann.id, text="shipped") == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
    )
    assert ann.bot_messages == []


async def test_real_clients_see_the_errors_they_would_from_telegram(
    sandbox: Sandbox, aio: aiogram.Bot, ann: SandboxUser
) -> None:
    with sandbox.faults.add(methods={"sendMessage"}, kind="flood", retry_after=3, times=1):
        with pytest.raises(TelegramRetryAfter) as raised:
            await aio.send_message(ann.id, "shipped")
        assert raised.value.retry_after == 3
    with (
        sandbox.faults.add(methods={"sendMessage"}, kind="server_error", times=1),
        pytest.raises(TelegramServerError),
    ):
        await aio.send_message(ann.id, "shipped")
    await aio.send_message(ann.id, "shipped")
    assert [m.text for m in ann.bot_messages] == ["shipped"]


async def test_timeout_holds_the_call_then_answers_504_without_doing_it(
    sandbox: Sandbox, ann: SandboxUser
) -> None:
    sandbox.faults.add(methods={"sendMessage"}, kind="timeout", hold=0.3)
    started = time.monotonic()
    status, content_type, text = await post_raw(
        sandbox, "sendMessage", chat_id=ann.id, text="shipped"
    )
    assert time.monotonic() - started >= 0.3
    assert (status, content_type) == (504, "text/html")
    assert "504 Gateway Time-out" in text
    assert ann.bot_messages == []


async def test_a_timed_out_call_can_go_through_after_the_client_gave_up(
    sandbox: Sandbox, ann: SandboxUser
) -> None:
    fault = sandbox.faults.add(methods={"sendMessage"}, kind="timeout", hold=0.5, then_perform=True)
    with pytest.raises(asyncio.TimeoutError):
        await post_raw(sandbox, "sendMessage", give_up=0.1, chat_id=ann.id, text="shipped")
    assert ann.bot_messages == [], "not yet: the server still holds it"
    await ann.wait_for(lambda u: len(u.bot_messages) == 1, timeout=5)
    assert ann.last.text == "shipped"
    assert fault.answered == 1


async def test_a_patient_client_gets_the_real_answer_of_a_held_call(
    sandbox: Sandbox, ann: SandboxUser
) -> None:
    sandbox.faults.add(methods={"sendMessage"}, kind="timeout", hold=0.1, then_perform=True)
    status, body = await post(sandbox, "sendMessage", chat_id=ann.id, text="shipped")
    assert (status, body["result"]["text"]) == (200, "shipped")


def test_the_default_hold_outlasts_the_clients_read_timeouts() -> None:
    assert DEFAULT_HOLD > 60


async def test_drop_closes_the_connection_without_an_answer(
    sandbox: Sandbox, ann: SandboxUser
) -> None:
    sandbox.faults.add(methods={"sendMessage"}, kind="drop", times=1)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(sandbox, "sendMessage", chat_id=ann.id, text="lost")
    assert ann.bot_messages == []
    sandbox.faults.add(methods={"sendMessage"}, kind="drop", times=1, then_perform=True)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(sandbox, "sendMessage", chat_id=ann.id, text="went through")
    assert [m.text for m in ann.bot_messages] == ["went through"]


async def test_stopping_the_sandbox_releases_held_calls() -> None:
    sandbox = Sandbox()
    await sandbox.start()
    ann = sandbox.add_user("Ann")
    ann.send("hi")
    sandbox.faults.add(methods={"sendMessage"}, kind="timeout", then_perform=True)  # 65 s
    held = asyncio.create_task(post_raw(sandbox, "sendMessage", chat_id=ann.id, text="x"))
    await sandbox.request_made("sendMessage")
    started = time.monotonic()
    await sandbox.stop()
    assert time.monotonic() - started < 5
    status, _, _ = await held
    assert status == 504, "given up, not performed"
    assert ann.bot_messages == []


# -- which calls ------------------------------------------------------------------------


async def test_methods_match_in_any_case_and_others_go_through(
    sandbox: Sandbox, ann: SandboxUser
) -> None:
    sandbox.faults.add(methods={"SENDMESSAGE", "editmessagetext"}, kind="server_error")
    assert (await post(sandbox, "sendmessage", chat_id=ann.id, text="x"))[0] == 500
    assert (await post(sandbox, "SendMessage", chat_id=ann.id, text="x"))[0] == 500
    status, body = await post(sandbox, "sendChatAction", chat_id=ann.id, action="typing")
    assert (status, body["ok"]) == (200, True)
    assert ann.bot_messages == []


async def test_a_fault_can_be_limited_to_some_chats(
    sandbox: Sandbox, ann: SandboxUser, bob: SandboxUser
) -> None:
    sandbox.faults.add(methods="sendMessage", kind="server_error", chat_ids={ann.id})
    assert await send(sandbox, ann) == 500
    assert await send(sandbox, bob) == 200
    status, _ = await post(sandbox, "sendMessage", chat_id="@ANN_W", text="by name")
    assert status == 500, "an @username naming a faulted chat is faulted too"
    sandbox.faults.clear()
    sandbox.faults.add(methods="sendMessage", kind="server_error", chat_ids={"@ann_w"})
    assert await send(sandbox, ann) == 500
    assert await send(sandbox, bob) == 200
    assert (len(ann.bot_messages), len(bob.bot_messages)) == (0, 2)


async def test_getupdates_getme_and_webhook_calls_are_spared_unless_named(
    sandbox: Sandbox, ann: SandboxUser
) -> None:
    sandbox.faults.add(methods=None, kind="server_error")
    assert await send(sandbox, ann) == 500
    assert (await post(sandbox, "getMe"))[0] == 200
    assert (await post(sandbox, "getUpdates", timeout=0))[0] == 200
    assert (await post(sandbox, "deleteWebhook"))[0] == 200
    assert (await post(sandbox, "setWebhook", url=""))[0] == 200
    sandbox.faults.add(methods={"getMe", "getUpdates"}, kind="server_error")
    assert (await post(sandbox, "getMe"))[0] == 500
    assert (await post(sandbox, "getUpdates", timeout=0))[0] == 500


async def test_the_earliest_matching_fault_answers(sandbox: Sandbox, ann: SandboxUser) -> None:
    first = sandbox.faults.add(methods={"sendMessage"}, kind="flood", times=1)
    second = sandbox.faults.add(methods={"sendMessage"}, kind="server_error", times=1)
    assert [await send(sandbox, ann) for _ in range(3)] == [429, 500, 200]
    assert (first.answered, second.answered) == (1, 1)


# -- how long ---------------------------------------------------------------------------


async def test_a_fault_ends_after_its_count(sandbox: Sandbox, ann: SandboxUser) -> None:
    fault = sandbox.faults.add(methods={"sendMessage"}, kind="server_error", times=2)
    assert [await send(sandbox, ann) for _ in range(3)] == [500, 500, 200]
    assert (fault.answered, fault.times_left, fault.active) == (2, 0, False)
    assert len(ann.bot_messages) == 1


async def test_a_fault_ends_after_its_time(sandbox: Sandbox, ann: SandboxUser) -> None:
    now = [1000.0]
    sandbox.faults.clock = lambda: now[0]
    fault = sandbox.faults.add(methods={"sendMessage"}, kind="server_error", seconds=60)
    assert await send(sandbox, ann) == 500
    now[0] += 59.9
    assert await send(sandbox, ann) == 500
    assert fault.seconds_left == pytest.approx(0.1)
    now[0] += 0.1
    assert await send(sandbox, ann) == 200
    assert (fault.active, fault.answered) == (False, 2)


async def test_a_short_fault_ends_on_the_real_clock(sandbox: Sandbox, ann: SandboxUser) -> None:
    sandbox.faults.add(methods={"sendMessage"}, kind="bad_gateway", seconds=0.3)
    assert await send(sandbox, ann) == 502
    await asyncio.sleep(0.35)
    assert await send(sandbox, ann) == 200


async def test_time_and_count_whichever_comes_first_and_removal(
    sandbox: Sandbox, ann: SandboxUser
) -> None:
    fault = sandbox.faults.add(methods={"sendMessage"}, kind="flood", seconds=60, times=5)
    assert await send(sandbox, ann) == 429
    fault.remove()
    assert await send(sandbox, ann) == 200
    endless = sandbox.faults.add(methods={"sendMessage"}, kind="flood", seconds=None)
    assert endless.seconds_left is None
    assert await send(sandbox, ann) == 429
    assert sandbox.faults.clear() == 2
    assert await send(sandbox, ann) == 200
    assert sandbox.faults.answered == 2, "counters outlive the faults"


def test_bad_faults_are_refused(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="no such Bot API method: sendmesage"):
        sandbox.faults.add(methods={"sendMesage"}, kind="server_error")
    with pytest.raises(ValueError, match="kind must be one of"):
        sandbox.faults.add(methods={"sendMessage"}, kind="meltdown")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="then_perform"):
        sandbox.faults.add(methods={"sendMessage"}, kind="flood", then_perform=True)
    with pytest.raises(ValueError, match="times"):
        sandbox.faults.add(methods={"sendMessage"}, times=0)
    assert sandbox.faults.all == []


# -- over HTTP --------------------------------------------------------------------------


async def test_faults_are_set_and_cleared_over_http(sandbox: Sandbox, ann: SandboxUser) -> None:
    url = f"{sandbox.api_server}/sandbox/faults"
    async with aiohttp.ClientSession() as http:
        spec = {"methods": ["sendMessage"], "kind": "flood", "seconds": 60, "retry_after": 9}
        async with http.post(url, json=spec) as response:
            assert response.status == 201
            created = await response.json()
        assert created["kind"] == "flood"
        assert created["methods"] == ["sendmessage"]
        assert (created["answered"], created["active"], created["retry_after"]) == (0, True, 9)

        status, body = await post(sandbox, "sendMessage", chat_id=ann.id, text="x")
        assert (status, body["parameters"]) == (429, {"retry_after": 9})

        async with http.get(url) as response:
            listing = await response.json()
        assert listing["answered"] == 1
        assert [f["answered"] for f in listing["faults"]] == [1]

        async with http.delete(f"{url}/{created['id']}") as response:
            assert (response.status, (await response.json())["active"]) == (200, False)
        assert await send(sandbox, ann) == 200
        async with http.delete(f"{url}/{created['id']}") as response:
            assert response.status == 404

        timeout = {"methods": ["sendMessage"], "kind": "timeout", "hold": 0.1, "times": 1}
        async with http.post(url, json=timeout) as response:
            assert response.status == 201
        async with http.post(url, json={"methods": None, "kind": "server_error"}) as response:
            assert response.status == 201
        assert await send(sandbox, ann) == 504
        assert await send(sandbox, ann) == 500
        async with http.delete(url) as response:
            assert await response.json() == {"cleared": 2}
        assert await send(sandbox, ann) == 200
    assert len(ann.bot_messages) == 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"methods": ["sendMessage"], "kind": "meltdown"}, "kind must be one of"),
        ({"methods": ["sendMesage"], "kind": "flood"}, "no such Bot API method"),
        ({"kind": "flood"}, '"methods" is required'),
        ({"methods": ["sendMessage"], "kind": "flood", "seconds": "60"}, "must be a number"),
        ({"methods": ["sendMessage"], "kind": "flood", "colour": 1}, "unknown field"),
        ([1, 2], "expected a JSON object"),
    ],
)
async def test_bad_fault_requests_get_400(sandbox: Sandbox, body: Any, reason: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sandbox.api_server}/sandbox/faults", json=body) as response,
    ):
        assert response.status == 400
        assert reason in await response.text()
    assert sandbox.faults.all == []
