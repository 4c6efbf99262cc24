"""A new customer: welcome them within the WelcomeCode's 20 seconds, tag them, record them.

Order matters for the 20 s: read the customer's name (the template greets them by it),
render, send; tags and bookkeeping come after the welcome is out. The WelcomeCode is
single-use, so WeCom itself refuses a second send (41051): a replay after a crash between
"sent" and "recorded" cannot welcome anyone twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from bot.channels import WelcomeError
from bot.db import repo
from bot.dispatch import Context, Router
from bot.wecom import errors
from bot.wecom.errors import WeComError
from bot.wecom.events import ContactAdded

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)
router = Router()
SAFETY_MARGIN_S = 0.5  # stop retrying this long before the code dies: the last try must land


@router.on(ContactAdded)
async def on_contact_added(ctx: Context, ev: ContactAdded) -> None:
    services = ctx.services
    settings = services.settings.wecom
    expires = ctx.received_at + settings.welcome_deadline_s
    match = services.channels.match(ev.state)

    name = ""
    try:
        contact = await ctx.read(lambda: _read_contact(services, ev))
        name = str(contact.get("external_contact", {}).get("name", ""))
    except WeComError as exc:  # a welcome without the name beats no welcome
        log.warning("externalcontact/get for %s failed: %s", ev.external_user_id, exc)

    status, attempts, error, text, latency_ms = "no_code", 0, None, "", None
    if not ev.welcome_code:
        log.info("no WelcomeCode for %s (state %r): no welcome (already chatting, or the "
                 "admin console sends one)", ev.external_user_id, ev.state)
    elif time.time() >= expires - SAFETY_MARGIN_S:
        status = "expired"
        log.warning("welcome for %s not sent: WelcomeCode expired before we got to it "
                    "(received %.1fs ago)", ev.external_user_id, time.time() - ctx.received_at)
    else:
        staff_name = services.stores.staff_name(ev.user_id)
        try:
            message = services.channels.render_welcome(
                match, customer_name=name, staff_name=staff_name, today=date.today())
        except WelcomeError as exc:  # an operator's template bug must not cost the welcome
            log.error("welcome template of channel %s failed for %s, sending the fallback: "
                      "%s", match.name, ev.external_user_id, exc)
            message = services.channels.fallback_welcome(
                match, customer_name=name, staff_name=staff_name, today=date.today())
        text = message.text
        deadline = time.monotonic() + (expires - SAFETY_MARGIN_S - time.time())
        status, attempts, error = await _send(ctx, ev, message.text, message.attachments,
                                              deadline)
        latency_ms = (time.time() - ctx.received_at) * 1000

    tag_ids = await _tag(ctx, ev, list(match.tags))

    now = time.time()
    store_id = match.store.id if match.store is not None else None

    def effects(conn: Connection) -> None:
        repo.member_added(conn, external_userid=ev.external_user_id, userid=ev.user_id,
                          name=name, store_id=store_id, channel=match.name, state=ev.state,
                          at=ctx.received_at)
        repo.add_member_tags(conn, ev.external_user_id, tag_ids, now)
        repo.record_welcome(conn, event_id=ctx.event_id, external_userid=ev.external_user_id,
                            userid=ev.user_id, channel=match.name, status=status,
                            attempts=attempts, latency_ms=latency_ms, text=text, error=error,
                            at=now)

    await ctx.finish(effects)
    log.info("customer %s added %s via %r (channel %s): welcome %s, %d tags",
             ev.external_user_id, ev.user_id, ev.state, match.name, status, len(tag_ids))


@router.prefetch(ContactAdded)
async def _read_contact(services: Services, ev: ContactAdded) -> dict[str, Any]:
    """The customer's name for the welcome: read while the event is being recorded (the
    record and this round trip overlap: bot.dispatch `Router.prefetch`)."""
    return await services.wecom.get_external_contact(ev.external_user_id)


async def _tag(ctx: Context, ev: ContactAdded, names: list[tuple[str, str]]) -> list[str]:
    """Mark the channel's tags in WeCom; the ids WeCom accepted (our copy follows WeCom's).

    A failure that a retry can fix propagates: the dispatcher retries the whole handler, and
    the second welcome attempt meets 41051 (already sent), never a duplicate. No relation
    (84061: the customer already deleted the staff member again) is final: nothing to tag.
    """
    if not names:
        return []
    services = ctx.services
    tag_ids = await services.tags.ensure(names)
    try:
        await services.wecom.mark_tag(ev.user_id, ev.external_user_id, tag_ids)
    except WeComError as exc:
        if exc.errcode != errors.NO_RELATION:
            raise
        log.info("not tagging %s: no relation with %s any more", ev.external_user_id, ev.user_id)
        return []
    return tag_ids


async def _send(ctx: Context, ev: ContactAdded, text: str, attachments: list[dict[str, object]],
                deadline: float) -> tuple[str, int, str | None]:
    """Send, retrying 41096 (another app is sending) and busy inside the code's life."""
    wecom = ctx.services.wecom
    attempts = 0
    delay = 0.2
    while True:
        attempts += 1
        try:
            await wecom.send_welcome_msg(ev.welcome_code, text, attachments, deadline=deadline)
            return "sent", attempts, None
        except WeComError as exc:
            if exc.errcode == errors.WELCOME_ALREADY_SENT:
                # Final: delivered by us before a crash, or by another app. Never retry.
                return "already_sent", attempts, str(exc)
            if exc.errcode in (errors.WELCOME_CODE_INVALID, errors.WELCOME_CODE_MISSING):
                return "expired", attempts, str(exc)
            retryable = exc.errcode in (errors.WELCOME_BY_OTHER_APP, errors.SYSTEM_BUSY)
            if not retryable or time.monotonic() + delay >= deadline:
                log.error("welcome for %s failed: %s", ev.external_user_id, exc)
                return "failed", attempts, str(exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
