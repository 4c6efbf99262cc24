"""A new customer: welcome them within the WelcomeCode's 20 seconds, tag them, record them.

Order matters for the 20 s: read the customer's name (the template greets them by it),
render, send (`_urgent`, started as the callback arrives, beside its record); tags and
bookkeeping come after the welcome is out. The WelcomeCode is single-use, so WeCom itself
refuses a second send (41051): a replay after a crash between "sent" and "recorded", or a
welcome sent before its record failed, cannot welcome anyone twice.

Where chat archiving (会话内容存档) is on, the customer's consent (`msg_audit_approved`)
brings a WelcomeCode of its own; it gets the same welcome, unless this member has already
welcomed the customer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple

from bot.channels import ChannelMatch, WelcomeError
from bot.codes.invite import with_join_code
from bot.db import repo
from bot.db.statements import Statements, Step
from bot.dispatch import Context, Router
from bot.media.cache import MediaFileError
from bot.members.linking import unionid_remembered
from bot.members.links import CustomerLinks
from bot.wecom import errors
from bot.wecom.errors import WeComError
from bot.wecom.events import ContactAdded, ContactMsgAuditApproved

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)
router = Router()
SAFETY_MARGIN_S = 0.5  # stop retrying this long before the code dies: the last try must land
UPLOAD_SHARE = 0.4  # of the code's life left, what a first upload of a picture may take


class Outcome(NamedTuple):
    """What became of one WelcomeCode: a row of the `welcome` table."""

    status: str  # sent | no_code | expired | already_sent | failed | welcomed_before
    attempts: int = 0
    error: str | None = None
    text: str = ""
    latency_ms: float | None = None


@router.on(ContactAdded)
async def on_contact_added(ctx: Context, ev: ContactAdded) -> None:
    services = ctx.services
    match, contact, outcome = await ctx.read(lambda: _urgent(services, ev, ctx.received_at))
    name = _name(contact)
    unionid = str(contact.get("external_contact", {}).get("unionid", ""))
    await ctx.after_urgent()  # tags and rows can wait for the next customer's welcome
    tag_ids = await _tag(ctx, ev, list(match.tags))

    now = time.time()
    store_id = match.store.id if match.store is not None else None
    await ctx.finish(Statements.of(  # plain SQL: commits in the writer process (bot.db)
        repo.member_added(external_userid=ev.external_user_id, userid=ev.user_id, name=name,
                          store_id=store_id, channel=match.name, state=ev.state,
                          at=ctx.received_at),
        repo.member_tags_added(ev.external_user_id, tag_ids, now),
        _recorded(ctx, ev.external_user_id, ev.user_id, match.name, outcome, now),
        unionid_remembered(ev.external_user_id, unionid)))  # a till member meets them
    log.info("customer %s added %s via %r (channel %s): welcome %s, %d tags",
             ev.external_user_id, ev.user_id, ev.state, match.name, outcome.status,
             len(tag_ids))


@router.on(ContactMsgAuditApproved)
async def on_msg_audit_approved(ctx: Context, ev: ContactMsgAuditApproved) -> None:
    """The customer agreed to chat archiving (会话内容存档, doc 92005); the callback carries a
    WelcomeCode (real samples), usable for 20 s like an add's. Where archiving is on, the
    consent can come after the add (whose callback then had no code), so this is the
    customer's welcome: the channel of the member's QR code, sent once. A customer this
    member already welcomed is not welcomed again; the row says so."""
    if not ev.welcome_code:
        log.info("customer %s agreed to archiving with %s: no WelcomeCode, nothing to send",
                 ev.external_user_id, ev.user_id)
        return
    services = ctx.services
    before = await services.db.read(
        lambda c: repo.welcomed_before(c, ev.external_user_id, ev.user_id))
    contact = await _read_contact(services, ev.external_user_id)
    state = next((str(f.get("state", "")) for f in contact.get("follow_user", [])
                  if f.get("userid") == ev.user_id), "")
    match = await with_join_code(services.db, services.channels.match(state))
    if before:
        outcome = Outcome("welcomed_before")
    else:
        outcome = await _welcome(services, ctx.received_at, ev.user_id, ev.external_user_id,
                                 ev.welcome_code, match, _name(contact))
    now = time.time()
    await ctx.finish(Statements.of(_recorded(ctx, ev.external_user_id, ev.user_id, match.name,
                                             outcome, now)))
    log.info("customer %s agreed to archiving with %s (channel %s): welcome %s",
             ev.external_user_id, ev.user_id, match.name, outcome.status)


async def _read_contact(services: Services, external_userid: str) -> dict[str, Any]:
    try:
        return await services.wecom.get_external_contact(external_userid)
    except WeComError as exc:  # a welcome without the name beats no welcome
        log.warning("externalcontact/get for %s failed: %s", external_userid, exc)
        return {}


def _name(contact: dict[str, Any]) -> str:
    return str(contact.get("external_contact", {}).get("name", ""))


def _recorded(ctx: Context, external_userid: str, userid: str, channel: str,
              outcome: Outcome, at: float) -> list[Step]:
    return repo.welcome_recorded(event_id=ctx.event_id, external_userid=external_userid,
                                 userid=userid, channel=channel, status=outcome.status,
                                 attempts=outcome.attempts, latency_ms=outcome.latency_ms,
                                 text=outcome.text, error=outcome.error, at=at)


async def _welcome(services: Services, received_at: float, userid: str, external_userid: str,
                   code: str, match: ChannelMatch, name: str) -> Outcome:
    """Render the channel's welcome and send it inside the code's 20 s."""
    expires = received_at + services.settings.wecom.welcome_deadline_s
    if time.time() >= expires - SAFETY_MARGIN_S:
        log.warning("welcome for %s not sent: WelcomeCode expired before we got to it "
                    "(received %.1fs ago)", external_userid, time.time() - received_at)
        return Outcome("expired")
    staff_name = services.stores.staff_name(userid)
    links = CustomerLinks(services.settings.sidebar.public_url, external_userid, userid)
    try:
        message = services.channels.render_welcome(
            match, customer_name=name, staff_name=staff_name, today=date.today(),
            questionnaire=links)
    except WelcomeError as exc:  # an operator's template bug must not cost the welcome
        log.error("welcome template of channel %s failed for %s, sending the fallback: "
                  "%s", match.name, external_userid, exc)
        message = services.channels.fallback_welcome(
            match, customer_name=name, staff_name=staff_name, today=date.today(),
            questionnaire=links)
    deadline = time.monotonic() + (expires - SAFETY_MARGIN_S - time.time())
    attachments = await _hosted_images(services, message.attachments, deadline)
    status, attempts, error = await _send(services, external_userid, code, message.text,
                                          attachments, deadline)
    return Outcome(status, attempts, error, message.text, (time.time() - received_at) * 1000)


class Urgent(NamedTuple):
    """What the 20 s are for: the channel, the customer as WeCom has them, the welcome."""

    match: ChannelMatch
    contact: dict[str, Any]
    outcome: Outcome


@router.prefetch(ContactAdded)
async def _urgent(services: Services, ev: ContactAdded, received_at: float) -> Urgent:
    """Started as the callback arrives, while it is being recorded (bot.dispatch
    `Router.prefetch`), so that the customer does not wait for our commit. The welcome is
    the one side effect that may go before the record: WeCom takes a WelcomeCode once, so
    a copy of the event can never welcome twice (its send gets 41051), and if the record
    fails the callback is not answered, WeCom sends it again, and that handler's send meets
    41051 ("already_sent") and writes the rows."""
    match = await with_join_code(services.db, services.channels.match(ev.state))
    contact = await _read_contact(services, ev.external_user_id)
    if ev.welcome_code:
        outcome = await _welcome(services, received_at, ev.user_id, ev.external_user_id,
                                 ev.welcome_code, match, _name(contact))
    else:
        outcome = Outcome("no_code")
        log.info("no WelcomeCode for %s (state %r): no welcome (already chatting, the "
                 "admin console sends one, or it comes with the archiving consent)",
                 ev.external_user_id, ev.state)
    return Urgent(match, contact, outcome)


async def _tag(ctx: Context, ev: ContactAdded, names: list[tuple[str, str]]) -> list[str]:
    """Mark the channel's tags in WeCom; the ids WeCom accepted (our copy follows WeCom's).

    A failure that a retry can fix propagates: the dispatcher retries the whole handler, and
    the second welcome attempt meets 41051 (already sent), never a duplicate. No relation
    (84061: the member deleted the customer meanwhile, or a 免验证 add not accepted yet; the
    add_external_contact that follows the acceptance tags them) is final: nothing to tag.
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


async def _hosted_images(services: Services, attachments: list[dict[str, Any]],
                         deadline: float) -> list[dict[str, Any]]:
    """Local pictures swapped for WeCom-hosted ones (uploaded once, bot.media). A picture
    that cannot be uploaded now is left out: the welcome's text must still go out, so
    uploads get at most `UPLOAD_SHARE` of the code's remaining life (a slow or failing
    upload once cost the welcome itself in the soak)."""
    media = services.media
    if media is None or not attachments:
        return attachments
    now = time.monotonic()
    upload_deadline = now + max(deadline - now, 0.0) * UPLOAD_SHARE
    out: list[dict[str, Any]] = []
    for attachment in attachments:
        try:
            out.extend(await media.resolve([attachment], deadline=upload_deadline))
        except (MediaFileError, ValueError, WeComError) as exc:
            log.error("welcome picture left out: %s", exc)
    return out


async def _send(services: Services, external_userid: str, code: str, text: str,
                attachments: list[dict[str, object]], deadline: float
                ) -> tuple[str, int, str | None]:
    """Send, retrying 41096 (another app is sending) and busy inside the code's life."""
    wecom = services.wecom
    attempts = 0
    delay = 0.2
    while True:
        attempts += 1
        try:
            await wecom.send_welcome_msg(code, text, attachments, deadline=deadline)
            return "sent", attempts, None
        except WeComError as exc:
            if exc.errcode == errors.WELCOME_ALREADY_SENT:
                # Final: delivered by us before a crash, or by another app. Never retry.
                return "already_sent", attempts, str(exc)
            if exc.errcode in (errors.WELCOME_CODE_INVALID, errors.WELCOME_CODE_MISSING):
                return "expired", attempts, str(exc)
            retryable = exc.errcode in (errors.WELCOME_BY_OTHER_APP, errors.SYSTEM_BUSY)
            if not retryable or time.monotonic() + delay >= deadline:
                log.error("welcome for %s failed: %s", external_userid, exc)
                return "failed", attempts, str(exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
