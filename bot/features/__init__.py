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
        redeem,
        redemptions,
        sales,
        shop,
    )

    router = Router()
    features = (menu, checkin, balance, shop, redeem, boxes, sales, invite, redemptions, privacy)
    for feature in features:
        router.include(feature.router)
    return router
