"""The member features; each module has a ``router`` with its commands, buttons and inputs."""

from __future__ import annotations

from bot.router import Router


def build_router() -> Router:
    from bot.features import (
        balance,
        boxes,
        checkin,
        invite,
        menu,
        privacy,
        redemptions,
        sales,
        shop,
    )

    router = Router()
    for feature in (menu, checkin, balance, shop, boxes, sales, invite, redemptions, privacy):
        router.include(feature.router)
    return router
