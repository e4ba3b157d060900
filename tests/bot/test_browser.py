"""The sandbox as a person uses it: a browser opens the chat page, /start, then Check in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from bot.running import running_bot
from bot.runtime import open_runtime
from bot.sandbox import Sandbox
from tests.support.browser import BackgroundLoop, browser  # noqa: F401 - the fixture
from tests.support.chat import TOKEN
from tests.support.configs import make_config
from tests.support.databases import SqliteTemplate

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
ADMIN = 42


@asynccontextmanager
async def mall_on_sandbox(database_url: str) -> AsyncIterator[Sandbox]:
    config = make_config(f"[telegram]\nadmins = [{ADMIN}]")
    async with AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(
            Sandbox(token=TOKEN, host="127.0.0.1", port=0, admins=[(ADMIN, "Admin")])
        )
        runtime = await stack.enter_async_context(open_runtime(config, database_url))
        await stack.enter_async_context(running_bot(runtime, TOKEN, sandbox.api_server))
        yield sandbox


@pytest.fixture
def page(sqlite_template: SqliteTemplate, tmp_path: Path) -> Iterator[Sandbox]:
    """The mall running on a loop of its own, so the browser's blocking calls leave it serving."""
    background = BackgroundLoop()
    opened = mall_on_sandbox(sqlite_template.copy_url(tmp_path))
    try:
        yield background.run(opened.__aenter__())
    finally:
        background.run(opened.__aexit__(None, None, None))
        background.close()


def last_bot_text(driver: WebDriver) -> str:
    try:
        texts = driver.find_elements(By.CSS_SELECTOR, ".message.bot .text")
        return texts[-1].text if texts else ""
    except StaleElementReferenceException:
        return ""


def test_a_member_starts_and_checks_in_from_the_chat_page(
    browser: WebDriver,  # noqa: F811 - the fixture imported above
    page: Sandbox,
) -> None:
    wait = WebDriverWait(browser, 20, ignored_exceptions=[StaleElementReferenceException])
    browser.get(page.page_url)
    browser.find_element(By.ID, "new-user-name").send_keys("Ann")
    browser.find_element(By.ID, "new-user-create").click()
    wait.until(lambda d: any(u.first_name == "Ann" for u in page.users))

    browser.find_element(By.ID, "composer-input").send_keys("/start")
    browser.find_element(By.ID, "composer-send").click()
    wait.until(lambda d: "Welcome to PointsMall, Ann!" in last_bot_text(d))

    check_in = wait.until(
        lambda d: next(
            (
                b
                for b in d.find_elements(By.CSS_SELECTOR, ".message.bot .keyboard button")
                if b.text == "✅ Check in"
            ),
            None,
        )
    )
    check_in.click()
    wait.until(lambda d: "Checked in! You earned 10 points." in last_bot_text(d))
    assert "Streak: 1 day" in last_bot_text(browser)
    assert page.violations == []

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / "member-checks-in.png"))
