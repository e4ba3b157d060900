"""The member features; each module has a ``router`` with its commands, buttons and inputs."""

from __future__ import annotations

from bot.router import Router


def build_router() -> Router:
    from bot.features import (
        admin,
        admin_approvals,
        admin_boxes,
        admin_broadcast,
        admin_claims,
        admin_flags,
        admin_items,
        admin_member_days,
        admin_members,
        admin_points,
        admin_reports,
        admin_sales,
        admin_shop,
        admin_tasks,
        balance,
        birthday,
        boxes,
        checkin,
        claims,
        invite,
        menu,
        notifications,
        privacy,
        redeem,
        redemptions,
        sales,
        shop,
        shop_link,
        tasks,
    )

    router = Router()
    features = (
        menu,
        checkin,
        tasks,
        balance,
        shop,
        shop_link,
        redeem,
        boxes,
        sales,
        invite,
        redemptions,
        privacy,
        notifications,
        birthday,
        claims,
        admin,
        admin_items,
        admin_sales,
        admin_boxes,
        admin_points,
        admin_members,
        admin_approvals,
        admin_claims,
        admin_flags,
        admin_reports,
        admin_broadcast,
        admin_shop,
        admin_tasks,
        admin_member_days,
    )
    for feature in features:
        router.include(feature.router)
    return router
