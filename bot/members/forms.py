"""The questionnaires operators write (sop/questionnaires.yaml): questions, and the coded
tag each answer gives.

Checked like every operator file (file:line:col, every problem at once, the last good book
kept by a LiveBook). A code is a tag name in its question's tag group: "D" in 问卷 is the
tag 问卷/D, which the 话术 library already ranks by. Codes must be unique within a tag
group, since the tag is all WeCom keeps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from bot.books.errors import OperatorFileError, OperatorFileErrors
from bot.books.yamlfile import OperatorModel, error_at, load_model

__all__ = ["Answer", "Form", "Question", "load_forms"]
_FORM_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")


class AnswerSpec(OperatorModel):
    code: str = Field(min_length=1, max_length=8)
    text: str = Field(min_length=1, max_length=60)


class QuestionSpec(OperatorModel):
    id: str = Field(min_length=1, max_length=32)
    text: str = Field(min_length=1, max_length=120)
    many: bool = False
    tag_group: str | None = Field(default=None, min_length=1, max_length=30)
    answers: list[AnswerSpec] = Field(min_length=2, max_length=12)


class FormSpec(OperatorModel):
    title: str = Field(min_length=1, max_length=40)
    intro: str = ""
    tag_group: str = Field(min_length=1, max_length=30)
    questions: list[QuestionSpec] = Field(min_length=1, max_length=20)


class BookSpec(OperatorModel):
    forms: dict[str, FormSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Answer:
    code: str
    text: str


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    many: bool
    tag_group: str
    answers: tuple[Answer, ...]

    def answer(self, code: str) -> Answer | None:
        return next((a for a in self.answers if a.code == code), None)


@dataclass(frozen=True)
class Form:
    name: str
    title: str
    intro: str
    questions: tuple[Question, ...]

    def tags(self) -> set[tuple[str, str]]:
        """Every tag this form can give: what a new answer may remove."""
        return {(q.tag_group, a.code) for q in self.questions for a in q.answers}


def load_forms(path: Path | str) -> dict[str, Form]:
    """Every form of the file, by name; raises `OperatorFileErrors` with every problem."""
    path = Path(path)
    data, spec = load_model(path, BookSpec)
    errors: list[OperatorFileError] = []
    forms = {}
    for name, form in spec.forms.items():
        if not _FORM_NAME.fullmatch(name):
            errors.append(error_at(path, data, ("forms", name), f"form name '{name}' is part "
                                   "of the link: use letters, digits, - or _", at_key=True))
        forms[name] = Form(name, form.title, form.intro,
                           tuple(_questions(path, data, name, form, errors)))
    if errors:
        raise OperatorFileErrors(errors)
    return forms


def _questions(path: Path, data: Any, name: str, form: FormSpec,
               errors: list[OperatorFileError]) -> list[Question]:
    questions: list[Question] = []
    codes: dict[tuple[str, str], str] = {}
    for i, q in enumerate(form.questions):
        loc: tuple[str | int, ...] = ("forms", name, "questions", i)
        if any(other.id == q.id for other in questions):
            errors.append(error_at(path, data, (*loc, "id"), f"question id '{q.id}' is used "
                                   "twice in this form"))
        group = q.tag_group or form.tag_group
        for j, answer in enumerate(q.answers):
            key = (group, answer.code)
            if key in codes:
                errors.append(error_at(path, data, (*loc, "answers", j, "code"), f"code "
                                       f"'{answer.code}' is already given by {codes[key]} "
                                       f"in tag group {group}: each answer needs its own "
                                       "tag"))
            codes.setdefault(key, f"question {q.id}")
        questions.append(Question(q.id, q.text, q.many, group,
                                  tuple(Answer(a.code, a.text) for a in q.answers)))
    return questions
