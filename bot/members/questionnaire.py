"""An answered questionnaire becomes coded tags on the customer and codes in their
description, where staff see them in the WeCom client.

The answer is stored first (the latest per form and customer), then applied: mark_tag adds
the tags of the codes chosen and removes the form's other tags (answering again moves the
customer, it does not pile tags up), and the staff member's description of the customer
gets a 【问卷 …】 part, replacing the previous one and keeping what staff wrote around it.
Our copy of the customer's tags (`member_tag`) follows, so the sidebar's 话术 ranking sees
问卷/D at once. mark_tag is a set operation, so applying an answer again is harmless:
`apply_pending` finishes answers stored but not applied (WeCom was away).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from bot.books.live import LiveBook
from bot.db import repo
from bot.db.engine import Database, sql
from bot.members.forms import Form
from bot.members.links import QuestionnaireLink
from bot.tags import TagBook
from bot.wecom.client import WeComClient
from bot.wecom.remarks import DESCRIPTION_MAX, update_remark

__all__ = ["BadAnswer", "Questionnaires", "codes_text"]
log = logging.getLogger(__name__)
Codes = dict[str, list[str]]  # question id -> codes chosen
_PART = re.compile(r"\s*【问卷[^】]*】")

_SAVE = sql("""
    INSERT INTO questionnaire_answer (form, external_userid, userid, codes, answered_at,
        applied_at, corrected_by)
    VALUES (:form, :ext, :userid, :codes, :at, NULL, :by)
    ON CONFLICT (form, external_userid) DO UPDATE SET userid = excluded.userid,
        codes = excluded.codes, answered_at = excluded.answered_at, applied_at = NULL,
        corrected_by = excluded.corrected_by
""")
_UNTAG = sql("DELETE FROM member_tag WHERE external_userid = :e AND tag_id = :t")


class BadAnswer(ValueError):
    """An answer the form does not offer, or a question left out: 400, nothing stored."""


def codes_text(form: Form, codes: Codes) -> str:
    """The codes in question order, as staff read them: ``1 3 D 甜``."""
    return " ".join(c for q in form.questions for c in codes.get(q.id, []))


@dataclass
class Questionnaires:
    db: Database
    wecom: WeComClient
    tags: TagBook
    forms: LiveBook[dict[str, Form]]

    def form(self, name: str) -> Form | None:
        return self.forms.value.get(name)

    @staticmethod
    def check(form: Form, chosen: Mapping[str, Sequence[str]]) -> Codes:
        """The posted choices as codes; raises `BadAnswer`."""
        codes: Codes = {}
        for question in form.questions:
            picked = [c for c in chosen.get(question.id, []) if c]
            if any(question.answer(c) is None for c in picked):
                raise BadAnswer(f"{question.text}: 没有这个选项")
            if not question.many and len(picked) != 1:
                raise BadAnswer(f"{question.text}: 请选一个")
            codes[question.id] = list(dict.fromkeys(picked))
        return codes

    async def current(self, form: str, external_userid: str) -> Codes | None:
        row = await self.db.read(lambda c: c.execute(sql(
            "SELECT codes FROM questionnaire_answer WHERE form = :f AND external_userid = :e"),
            {"f": form, "e": external_userid}).scalar())
        return json.loads(row) if row else None

    async def answer(self, link: QuestionnaireLink, form: Form, codes: Codes, *,
                     corrected_by: str | None = None) -> None:
        """Store the answer, then apply it in WeCom (tags, description)."""
        params = {"form": form.name, "ext": link.external_userid, "userid": link.userid,
                  "codes": json.dumps(codes, ensure_ascii=False), "at": time.time(),
                  "by": corrected_by}
        await self.db.write(lambda c: c.execute(_SAVE, params))
        await self._apply(form, link.external_userid, link.userid, codes)

    async def _apply(self, form: Form, ext: str, userid: str, codes: Codes) -> None:
        by_id = {q.id: q for q in form.questions}
        wanted = [(by_id[qid].tag_group, c) for qid, picked in codes.items() for c in picked]
        add = await self.tags.ensure(wanted)
        remove = [i for name in form.tags() - set(wanted)
                  if (i := self.tags.id_of(name)) is not None]
        await self.wecom.mark_tag(userid, ext, add, remove)
        await update_remark(self.wecom, userid, ext,
                            description=await self._description(userid, ext, form, codes))
        now = time.time()

        def applied(conn: Connection) -> None:
            repo.add_member_tags(conn, ext, add, now)
            for tag_id in remove:
                conn.execute(_UNTAG, {"e": ext, "t": tag_id})
            conn.execute(sql("UPDATE questionnaire_answer SET applied_at = :at WHERE form = :f "
                             "AND external_userid = :e"), {"at": now, "f": form.name, "e": ext})

        await self.db.write(applied)
        log.info("questionnaire %s of customer %s applied: %d tags", form.name, ext, len(add))

    async def _description(self, userid: str, ext: str, form: Form, codes: Codes) -> str:
        """Staff's own description kept; the 【问卷 …】 part replaced."""
        contact = await self.wecom.get_external_contact(ext)
        current = next((str(f.get("description", "")) for f in contact.get("follow_user", [])
                        if f.get("userid") == userid), "")
        part = f"【问卷 {codes_text(form, codes)}】"
        kept = _PART.sub("", current).strip()
        return (f"{kept} {part}" if kept else part)[-DESCRIPTION_MAX:]

    async def apply_pending(self) -> int:
        """Answers stored but not yet in WeCom (it was away): applied now."""
        rows = await self.db.read(lambda c: c.execute(sql(
            "SELECT form, external_userid, userid, codes FROM questionnaire_answer "
            "WHERE applied_at IS NULL")).all())
        done = 0
        for name, ext, userid, codes in rows:
            form = self.form(name)
            if form is not None:
                await self._apply(form, ext, userid, json.loads(codes))
                done += 1
        return done
