"""All event handlers, split by concern; `build_router` gathers them for the dispatcher."""

from __future__ import annotations

from bot.dispatch import Router
from bot.handlers import app_messages, groups, members, welcome


def build_router() -> Router:
    router = Router()
    for module in (welcome, members, groups, app_messages):
        router.merge(module.router)
    return router
