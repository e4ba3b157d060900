"""The sandbox as a person uses it: a browser opens the chat page, /start, then Check in; a
member with a username invites a friend, who opens the invite link in the page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
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


def texts(driver: WebDriver, css: str) -> list[str]:
    try:
        return [element.text for element in driver.find_elements(By.CSS_SELECTOR, css)]
    except StaleElementReferenceException:
        return []


def send(driver: WebDriver, text: str) -> None:
    driver.find_element(By.ID, "composer-input").send_keys(text)
    driver.find_element(By.ID, "composer-send").click()


def newest_link(driver: WebDriver, css: str) -> WebElement | None:
    """The newest link matching ``css`` (the page re-renders: found afresh each time)."""
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[-1] if found else None


def test_a_friend_opens_the_invite_link_in_the_page(
    browser: WebDriver,  # noqa: F811 - the fixture imported above
    page: Sandbox,
) -> None:
    wait = WebDriverWait(browser, 20, ignored_exceptions=[StaleElementReferenceException])
    browser.get(page.page_url)

    # A username as Telegram allows them, or a clear answer why not.
    browser.find_element(By.ID, "new-user-name").send_keys("Ann")
    browser.find_element(By.ID, "new-user-username").send_keys("ab")
    browser.find_element(By.ID, "new-user-create").click()
    error = wait.until(lambda d: d.find_element(By.ID, "new-user-error").text)
    assert error == '"ab" is not a Telegram username: ' + (
        "5-32 letters (a-z), digits and underscores, starting with a letter"
    )
    assert not any(u.first_name == "Ann" for u in page.users)
    browser.find_element(By.ID, "new-user-username").send_keys("_lee")  # now "ab_lee"
    assert not browser.find_element(By.ID, "new-user-error").is_displayed()
    browser.find_element(By.ID, "new-user-create").click()
    wait.until(lambda d: any(u.username == "ab_lee" for u in page.users))
    ann = next(u for u in page.users if u.first_name == "Ann")
    wait.until(lambda d: "@ab_lee" in " ".join(texts(d, f".user[data-user-id='{ann.id}']")))

    send(browser, "/start")
    wait.until(lambda d: "Welcome to PointsMall, Ann!" in last_bot_text(d))
    send(browser, "/invite")
    wait.until(lambda d: "Your invite link:" in last_bot_text(d))
    link = wait.until(lambda d: newest_link(d, ".message.bot .text a.bot-link"))
    payload = link.get_attribute("data-start") or ""
    url = link.get_attribute("href") or ""
    assert payload.startswith("i-")
    assert url == f"https://t.me/{page.bot_user['username']}?start={payload}"
    assert link.text == url

    # Ann opens her own link: she sends /start with it, as Telegram would; the page stays.
    link.click()
    wait.until(lambda d: "Invite links count for new members only." in last_bot_text(d))
    assert [m.text for m in ann.messages if not m.from_bot][-1] == f"/start {payload}"
    assert browser.current_url == page.page_url
    assert len(browser.window_handles) == 1

    # Bob gets the link (pasted into his chat, as if Ann had sent it to him) and opens it.
    browser.find_element(By.ID, "new-user-name").send_keys("Bob")
    browser.find_element(By.ID, "new-user-create").click()
    wait.until(lambda d: any(u.first_name == "Bob" for u in page.users))
    bob = next(u for u in page.users if u.first_name == "Bob")
    wait.until(lambda d: d.find_element(By.ID, "chat-name").text == "Bob")
    send(browser, url)
    wait.until(lambda d: "You are not a member yet." in last_bot_text(d))
    wait.until(lambda d: newest_link(d, ".message.user .text a.bot-link")).click()
    wait.until(lambda d: "Welcome to PointsMall, Bob!" in last_bot_text(d))
    assert "A friend invited you" in last_bot_text(browser)
    assert [m.text for m in bob.messages if not m.from_bot] == [url, f"/start {payload}"]
    assert browser.current_url == page.page_url
    assert len(browser.window_handles) == 1
    assert page.violations == []

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / "friend-opens-invite-link.png"))
