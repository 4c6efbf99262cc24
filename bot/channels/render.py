"""Rendering a channel's welcome: one template context and one render step.

Shared by the hot path (`ChannelBook.render_welcome`) and the load-time checks, which render
every channel for a sample customer: both must build exactly the same context and apply the
same WeCom limits, or the checks would pass templates that fail for real customers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from bot.books.context import Person, day_context
from bot.books.templating import TemplateError, TemplateLibrary
from bot.channels.model import Channel, ChannelInfo, ChannelMatch, WelcomeError, WelcomeMessage
from bot.members.links import sample_link
from bot.wecom.content import MAX_TEXT_BYTES, Attachment, ContentError, render_attachment


def welcome_context(
    match: ChannelMatch, customer_name: str, staff_name: str, today: date, member_weekday: int,
    questionnaire: Callable[[str], str] = sample_link,
) -> dict[str, Any]:
    """The variables a welcome template sees. `questionnaire(form)`: the customer's own
    signed questionnaire link (bot.members.links.CustomerLinks; a sample when checked)."""
    return {
        **day_context(today, member_weekday),
        "customer": Person(customer_name.strip() or "朋友"),
        "staff": Person(staff_name.strip()),
        "store": match.store,
        "channel": ChannelInfo(match.channel, match.state, match.captures),
        "perk": match.perk.as_context(today) if match.perk is not None else None,
        "questionnaire": questionnaire,
    }


def render_channel(
    templates: TemplateLibrary, channel: Channel, context: Mapping[str, Any]
) -> WelcomeMessage:
    """The channel's text and attachments; `WelcomeError` if a template fails or the result
    breaks a WeCom limit."""
    try:
        text = templates.render(channel.template, context).strip()
        attachments = [
            rendered
            for index, attachment in enumerate(channel.attachments)
            if (rendered := _render_attachment(templates, channel, index, attachment, context))
        ]
    except TemplateError as exc:
        raise WelcomeError(channel.name, str(exc)) from exc
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise WelcomeError(
            channel.name,
            f"{channel.template}: welcome text is {size} bytes, WeCom allows "
            f"{MAX_TEXT_BYTES} (a Chinese character takes 3 bytes)",
        )
    if not text and not attachments:
        raise WelcomeError(channel.name, f"{channel.template}: rendered an empty welcome")
    return WelcomeMessage(text, attachments)


def _render_attachment(
    templates: TemplateLibrary,
    channel: Channel,
    index: int,
    attachment: Attachment,
    context: Mapping[str, Any],
) -> dict[str, Any] | None:
    try:
        return render_attachment(
            attachment, lambda _key, source: templates.render_string(source, context),
            templates.images,
        )
    except ContentError as exc:
        raise WelcomeError(channel.name, exc.reason,
                           ("attachments", index, exc.kind, exc.key)) from exc
