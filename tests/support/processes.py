"""Real ``pointsmall run`` processes for tests: started, health-checked, killed, restarted.

Each process reads a config file of its own (database, the sandbox as its Bot API server, its
HTTP port, a short inbox lease) and writes its log to a file the test shows when it fails.
Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.running import Framework
from bot.sandbox import SandboxUser

POINTSMALL = Path(sys.executable).with_name("pointsmall")
START_TIMEOUT = 90.0

# What each member of a load sends, and what tells each message's answer apart (a message
# handled again after a crash may be answered a second time, and a second /checkin says it
# was done already).
SCRIPT = ("/start", "/checkin", "/balance", "/help")
ANSWERS: dict[str, Callable[[str], bool]] = {
    "/start": lambda text: "Welcome" in text,
    "/checkin": lambda text: "Checked in!" in text or "already checked in" in text,
    "/balance": lambda text: "Nothing expires in the next 90 days." in text,
    "/help": lambda text: "/checkin - Daily check-in" in text,
}


def answered(user: SandboxUser) -> set[str]:
    """Which of the script's messages ``user`` has an answer to."""
    texts = [m.text for m in user.bot_messages]
    return {command for command, found in ANSWERS.items() if any(found(t) for t in texts)}


def progress(users: list[SandboxUser]) -> float:
    """The share of the script's answers that the members have."""
    return sum(len(answered(u)) for u in users) / (len(users) * len(SCRIPT))


async def until(condition: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109
    """Until ``condition`` holds, looking every 50 ms (it reads what other processes did)."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 (state of other processes, seen by polling)
            await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_config(
    *,
    database_url: str,
    api_server: str,
    framework: Framework,
    port: int,
    webhook_url: str = "",
    extra: str = "",
) -> str:
    """The TOML of one bot process of the test mall (see tests/support/configs.py)."""
    mode = (
        f'mode = "webhook"\nwebhook_url = "{webhook_url}"\n'
        'webhook_secret = "webhook-secret-for-the-tests"\n'
        if webhook_url
        else 'mode = "polling"\n'
    )
    return f"""
[mall]
timezone = "Asia/Shanghai"

[database]
url = "{database_url}"

[telegram]
api_server = "{api_server}"
framework = "{framework}"
admins = [1000]
{mode}
[http]
host = "127.0.0.1"
port = {port}

[inbox]
lease_seconds = 3

[members]
signup_bonus = 100

[checkin]
rewards = [10, 10, 10, 10, 10, 10, 50]
{extra}
"""


@dataclass
class BotProcess:
    """One ``pointsmall run``; ``start()`` returns once its ``/healthz`` answers 200."""

    name: str
    directory: Path
    config: str
    token: str
    port: int
    process: asyncio.subprocess.Process | None = None
    starts: int = 0
    log_paths: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.starts += 1
        config = self.directory / f"{self.name}.toml"
        config.write_text(self.config, encoding="utf-8")
        log_path = self.directory / f"{self.name}-{self.starts}.log"
        self.log_paths.append(log_path)
        env = {
            **os.environ,
            "POINTSMALL_TELEGRAM_TOKEN": self.token,
            "POINTSMALL_CONFIG": str(config),
        }
        with log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                str(POINTSMALL),
                "run",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd=self.directory,
            )
        await self._healthy()

    async def _healthy(self) -> None:
        assert self.process is not None
        async with httpx.AsyncClient(timeout=2.0) as client:
            deadline = asyncio.get_running_loop().time() + START_TIMEOUT
            while asyncio.get_running_loop().time() < deadline:
                if self.process.returncode is not None:
                    raise AssertionError(f"{self.name} exited at start:\n{self.log_tail()}")
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name} not healthy in {START_TIMEOUT} s:\n{self.log_tail()}")

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when the machine loses the process."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> int:
        """SIGTERM, then SIGKILL if it has not stopped within 30 s; the exit status."""
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process is not None else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(30):
                return await self.process.wait()
        except TimeoutError:
            await self.kill()
            raise AssertionError(
                f"{self.name} did not stop on SIGTERM:\n{self.log_tail()}"
            ) from None

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_paths:
            return "(no log)"
        text = self.log_paths[-1].read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


async def run_check(config: str, directory: Path) -> tuple[int, str]:
    """``pointsmall check`` on the config's database: its exit status and output."""
    path = directory / "check.toml"
    path.write_text(config, encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        str(POINTSMALL),
        "--config",
        str(path),
        "check",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=directory,
    )
    async with asyncio.timeout(120):
        out, _ = await process.communicate()
    return int(process.returncode or 0), out.decode(errors="replace")
