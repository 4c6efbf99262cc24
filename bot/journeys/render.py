"""What a step's template sees, and the step rendered for one customer.

In scope: ``customer`` (name), ``store`` (the store directory's entry), ``staff`` (the
sender's name), ``journey`` (title), ``day`` (the step's day number), ``entered`` (the
local day of entry), ``questionnaire(form)`` (the customer's own signed questionnaire link,
as in the channel welcomes: bot.members.links.CustomerLinks; "" when links are off), and
the day's variables every template shares (``today``, ``weekday``, ``is_member_day``, ...
from `bot.books.context`). Ids never reach a template.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from bot.books.context import Person, day_context
from bot.books.stores import Store
from bot.books.templating import TemplateError, TemplateLibrary
from bot.journeys.model import Journey, RenderedStep, Step
from bot.members.links import no_link, sample_link
from bot.wecom.content import ContentError, render_attachment

SAMPLE_STORE = Store("0000", "示例店", "上海", "示例路 1 号", "staff", "店长", "示例群",
                     "08:00", "22:00")


class StepRenderError(Exception):
    """A step could not be rendered for one customer (recorded as skipped: render)."""


def context(journey: Journey, step: Step, *, customer: str, staff: str,
            store: Store | None, entered: date,
            questionnaire: Callable[[str], str] = no_link) -> dict[str, Any]:
    today = entered + timedelta(days=step.day)
    return {**day_context(today), "customer": Person(customer), "staff": Person(staff),
            "store": store or SAMPLE_STORE, "journey": journey.title, "day": step.day,
            "entered": entered, "questionnaire": questionnaire}


def sample_context(store: Store | None) -> dict[str, Any]:
    today = date(2026, 11, 17)
    return {**day_context(today), "customer": Person("王丽"), "staff": Person("林晓雨"),
            "store": store or SAMPLE_STORE, "journey": "示例旅程", "day": 1,
            "entered": today - timedelta(days=1), "questionnaire": sample_link}


def render_step(templates: TemplateLibrary, step: Step, scope: dict[str, Any]
                ) -> RenderedStep:
    try:
        text = templates.render_string(step.source, scope).strip()
        attachments = []
        for attachment in step.attachments:
            body = render_attachment(
                attachment, lambda _key, src: templates.render_string(src, scope))
            if body is not None:
                attachments.append(body)
    except (TemplateError, ContentError) as exc:
        raise StepRenderError(f"{step.id}: {exc}") from exc
    if not text and not attachments:
        raise StepRenderError(f"{step.id}: renders empty")
    return RenderedStep(text, attachments)
