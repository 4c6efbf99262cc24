"""Messages staff send to the bot app: the 话术 commands (`bot.replies.commands`).

The lane of an app message is the staff member, so one person's questions are answered in
the order they were asked.
"""

from __future__ import annotations

import logging

from bot.cards.app_command import answer_qr, is_qr_command
from bot.dispatch import Context, Router
from bot.replies import commands
from bot.wecom.events import EnterAgent, TextMessage, UnknownEvent

log = logging.getLogger(__name__)
router = Router()


@router.on(TextMessage)
async def on_text(ctx: Context, ev: TextMessage) -> None:
    log.info("staff %s wrote to the app (%d chars)", ev.from_user, len(ev.content))
    services = ctx.services
    if is_qr_command(ev.content):
        await answer_qr(services, ev.from_user)
        return
    text = await commands.answer(services.replies, ev.from_user, ev.content,
                                 top=services.settings.replies.command_top)
    await services.app_messenger.send_text(ev.from_user, text)


@router.on(EnterAgent)
async def on_enter_agent(ctx: Context, ev: EnterAgent) -> None:
    log.info("staff %s opened the app", ev.from_user)


@router.on(UnknownEvent)
async def on_unknown(ctx: Context, ev: UnknownEvent) -> None:
    log.warning("unknown callback recorded, not acted on: MsgType=%s Event=%s ChangeType=%s",
                ev.fields.get("MsgType"), ev.fields.get("Event"), ev.fields.get("ChangeType"))
