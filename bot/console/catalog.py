"""The names the Members and Journeys pages put in order and in words: levels and stages as
sop/members.yaml lists them, each journey's title and its steps in their order
(sop/journeys/), each questionnaire answer's text (sop/questionnaires.yaml).

Read from the operator files when they change (their stamp), never per request otherwise; a
broken edit keeps the last good names, and with none the pages fall back to the ids.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from bot.books.errors import OperatorFileError, OperatorFileErrors
from bot.books.live import Stamp, stamp_of
from bot.config import Settings
from bot.journeys.files import load_journeys, watched
from bot.members.forms import load_forms
from bot.members.rules import load_rules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Names:
    levels: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    journeys: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # title, steps
    answers: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (form, q, code)


class Catalog:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        sop = settings.paths.sop_dir
        self.members_file = sop / "members.yaml"
        self.forms_file = sop / "questionnaires.yaml"
        self._stamp: Stamp | None = None
        self.names = Names()

    def _files(self) -> list[Path]:
        return [self.members_file, self.forms_file, *watched(self.settings)]

    def current(self) -> Names:
        """The names, loaded again if a file changed since the last look (a stat each)."""
        stamp = stamp_of(self._files())
        if stamp != self._stamp:
            self._stamp = stamp
            self.names = self._load(self.names)
        return self.names

    def _load(self, last: Names) -> Names:
        levels, stages, journeys, answers = last.levels, last.stages, last.journeys, last.answers
        try:
            rules = load_rules(self.members_file)
            levels = tuple(lv.name for lv in rules.levels)
            stages = tuple(st.name for st in rules.stages)
        except (OperatorFileError, OperatorFileErrors, OSError) as exc:
            log.warning("console: member rules not read, names kept: %s", exc)
        try:
            book = load_journeys(self.settings)
            journeys = {j.name: (j.title, tuple(s.id for s in j.steps))
                        for j in book.journeys.values()}
        except (OperatorFileError, OperatorFileErrors, OSError) as exc:
            log.warning("console: journeys not read, names kept: %s", exc)
        try:
            answers = {(form.name, q.id, a.code): a.text
                       for form in load_forms(self.forms_file).values()
                       for q in form.questions for a in q.answers}
        except (OperatorFileError, OperatorFileErrors, OSError) as exc:
            log.warning("console: questionnaires not read, names kept: %s", exc)
        return Names(levels, stages, journeys, answers)
