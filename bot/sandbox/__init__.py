"""A local Telegram Bot API server with members to play, for the sandbox and the tests.

``Sandbox`` speaks the subset of the Bot API PointsMall uses, the way a self-hosted Bot API
server does (``{api_server}/bot{TOKEN}/{method}``), checks every request against the
official method list, and serves a chat page to talk to the bot as any member.
"""

from bot.sandbox.errors import PaymentRefused
from bot.sandbox.faults import Fault, Faults
from bot.sandbox.limits import FloodLimits
from bot.sandbox.messages import Button, ChatMessage
from bot.sandbox.server import Sandbox
from bot.sandbox.spec import ApiSpec
from bot.sandbox.users import SandboxUser

__all__ = [
    "ApiSpec",
    "Button",
    "ChatMessage",
    "Fault",
    "Faults",
    "FloodLimits",
    "PaymentRefused",
    "Sandbox",
    "SandboxUser",
]
