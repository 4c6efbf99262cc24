"""Messages staff send to the bot app. Recorded now; the reply commands come with issue 4."""

from __future__ import annotations

import logging

from bot.dispatch import Context, Router
from bot.events import EnterAgent, TextMessage, UnknownEvent

log = logging.getLogger("bot.app_messages")
router = Router()


@router.on(TextMessage)
async def on_text(ctx: Context, ev: TextMessage) -> None:
    log.info("staff %s wrote to the app (%d chars)", ev.from_user, len(ev.content))


@router.on(EnterAgent)
async def on_enter_agent(ctx: Context, ev: EnterAgent) -> None:
    log.info("staff %s opened the app", ev.from_user)


@router.on(UnknownEvent)
async def on_unknown(ctx: Context, ev: UnknownEvent) -> None:
    log.warning("unknown callback recorded, not acted on: MsgType=%s Event=%s ChangeType=%s",
                ev.fields.get("MsgType"), ev.fields.get("Event"), ev.fields.get("ChangeType"))
