"""The chat page in a real browser: a member is created, talks to an echo bot, presses a button."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.sandbox import Sandbox
from tests.support.browser import BackgroundLoop

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
AGAIN = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="again")]])


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    await update.message.reply_text(update.message.text or "", reply_markup=AGAIN)


async def again(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("Once more!")
    text = getattr(query.message, "text", "")
    await query.edit_message_text(f"{text} (again)", reply_markup=AGAIN)


class EchoBotOnSandbox:
    """A sandbox with an admin, and a python-telegram-bot echo bot polling it."""

    def __init__(self) -> None:
        self.sandbox = Sandbox(admins=[(42, "Admin")])
        self.app: Application[Any, Any, Any, Any, Any, Any] | None = None

    async def start(self) -> None:
        await self.sandbox.start()
        api = self.sandbox.api_server
        app = (
            Application.builder()
            .token(self.sandbox.token)
            .base_url(api + "/bot")
            .base_file_url(api + "/file/bot")
            .build()
        )
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
        app.add_handler(CallbackQueryHandler(again))
        await app.initialize()
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=10)
        self.app = app

    async def stop(self) -> None:
        if self.app is not None:
            assert self.app.updater is not None
            await self.app.updater.stop()
            await self.app.stop()
            await self.app.shutdown()
        await self.sandbox.stop()


@pytest.fixture
def echo_bot() -> Iterator[tuple[BackgroundLoop, EchoBotOnSandbox]]:
    background = BackgroundLoop()
    running = EchoBotOnSandbox()
    try:
        background.run(running.start())
        yield background, running
    finally:
        background.run(running.stop())
        background.close()


def text_of(browser: WebDriver, css: str) -> str | None:
    """The text of the first element matching ``css``, re-found each time (the page re-renders)."""
    try:
        return browser.find_element(By.CSS_SELECTOR, css).text
    except (NoSuchElementException, StaleElementReferenceException):
        return None


def attribute_of(browser: WebDriver, css: str, name: str) -> str:
    try:
        return browser.find_element(By.CSS_SELECTOR, css).get_attribute(name) or ""
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def test_a_member_made_in_the_page_chats_with_the_bot_and_presses_its_button(
    browser: WebDriver, echo_bot: tuple[BackgroundLoop, EchoBotOnSandbox]
) -> None:
    _, running = echo_bot
    sandbox = running.sandbox
    wait = WebDriverWait(browser, 15, ignored_exceptions=[StaleElementReferenceException])
    browser.get(sandbox.page_url)

    admin_row = ".user[data-user-id='42']"
    wait.until(lambda d: text_of(d, admin_row))
    assert "admin" in attribute_of(browser, admin_row, "class").split()
    assert "Admin" in (text_of(browser, admin_row) or "")

    browser.find_element(By.ID, "new-user-name").send_keys("Mei")
    Select(browser.find_element(By.ID, "new-user-lang")).select_by_value("zh-hans")
    browser.find_element(By.ID, "new-user-create").click()
    wait.until(lambda d: any(u.first_name == "Mei" for u in sandbox.users))
    member = next(u for u in sandbox.users if u.first_name == "Mei")
    assert member.language_code == "zh-hans"
    row = f".user[data-user-id='{member.id}']"
    wait.until(lambda d: "active" in attribute_of(d, row, "class").split())

    browser.find_element(By.ID, "composer-input").send_keys("Hello <points> & 你好")
    browser.find_element(By.ID, "composer-send").click()
    wait.until(lambda d: text_of(d, ".message.bot .text") == "Hello <points> & 你好")
    assert [m.text for m in member.messages] == ["Hello <points> & 你好"] * 2
    assert text_of(browser, ".message.user .text") == "Hello <points> & 你好"

    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".message.bot .keyboard button")).click()
    wait.until(lambda d: text_of(d, ".message.bot .text") == "Hello <points> & 你好 (again)")
    wait.until(lambda d: text_of(d, ".message.bot .edited"))
    wait.until(lambda d: text_of(d, "#toast") == "Once more!")
    assert member.notices == [("Once more!", False)]
    assert [m.edited for m in member.bot_messages] == [True]
    assert sandbox.violations == []

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / "sandbox-chat.png"))


def test_a_link_to_the_bot_sends_its_start_and_other_links_open_in_a_new_tab(
    browser: WebDriver, echo_bot: tuple[BackgroundLoop, EchoBotOnSandbox]
) -> None:
    _, running = echo_bot
    sandbox = running.sandbox
    member = sandbox.add_user("Mei", username="mei_mei")
    wait = WebDriverWait(browser, 15, ignored_exceptions=[StaleElementReferenceException])
    browser.get(sandbox.page_url)
    row = f".user[data-user-id='{member.id}']"
    wait.until(lambda d: "@mei_mei" in (text_of(d, row) or ""))
    browser.find_element(By.CSS_SELECTOR, row).click()
    wait.until(lambda d: text_of(d, "#chat-name") == "Mei")

    bot = sandbox.bot_user["username"]
    browser.find_element(By.ID, "composer-input").send_keys(
        f"see https://example.com/docs or t.me/{bot}?start=hello"
    )
    browser.find_element(By.ID, "composer-send").click()
    wait.until(lambda d: text_of(d, ".message.bot .text a.bot-link"))  # the echo, with links
    other = browser.find_element(By.CSS_SELECTOR, ".message.bot .text a:not(.bot-link)")
    assert (other.get_attribute("href"), other.get_attribute("target")) == (
        "https://example.com/docs",
        "_blank",
    )
    link = browser.find_element(By.CSS_SELECTOR, ".message.bot .text a.bot-link")
    assert link.get_attribute("data-start") == "hello"
    assert link.get_attribute("href") == f"https://t.me/{bot}?start=hello"

    link.click()

    wait.until(lambda d: member.messages[-1].text == "/start hello")
    assert member.messages[-1].entities == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert browser.current_url == sandbox.page_url
    assert len(browser.window_handles) == 1
    assert sandbox.violations == []
