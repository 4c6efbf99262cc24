"""The journeys the bot runs: loaded from ``sop/journeys/``, checked, and looked up by name.

`JourneyBook.load` raises `OperatorFileErrors` listing every problem (file:line:col);
`bot.journeys.runner` keeps it in a `LiveBook`, so an edit goes live within seconds and a
bad one leaves the last good book running. Customers' progress is keyed by journey name and
step id, never by position: see `bot.journeys.preview` for what an edit does to them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bot.books.errors import OperatorFileError
from bot.books.positions import error_at
from bot.books.stores import StoreDirectory
from bot.books.templating import TemplateLibrary
from bot.books.yamlfile import OperatorFileErrors
from bot.journeys.compile import (
    Loader,
    check_precedence,
    check_tags,
    journey_files,
    load_journey_file,
)
from bot.journeys.model import Allowance, Journey
from bot.journeys.render import sample_context


class JourneyBook:
    def __init__(self, journeys: list[Journey], allowance: Allowance,
                 templates: TemplateLibrary, stores: StoreDirectory,
                 files: list[Path] | None = None,
                 tag_uses: list[tuple[OperatorFileError, str]] | None = None) -> None:
        self.journeys = {j.name: j for j in journeys}
        # each tag an entry or stop rule names, with where (the error's position, no reason)
        self.tag_uses = tag_uses or []
        self.allowance = allowance
        self.templates = templates
        self.stores = stores
        self.files = files or []
        self.links_base = ""  # the bot's public address for questionnaire links (bot.members)

    @classmethod
    def load(cls, folder: Path, templates: TemplateLibrary, stores: StoreDirectory, *,
             sop_names: Iterable[str] | None = None) -> JourneyBook:
        """Every journey file of `folder`; `sop_names` (member SOPs named in precedence)
        are checked when given."""
        first = stores.all()[0] if len(stores) else None
        loader = Loader(templates, sample_context(first))
        files = journey_files(folder)
        for path in files:
            load_journey_file(loader, path)
        check_tags(loader)
        allowance = check_precedence(loader, sop_names)
        if loader.errors:
            raise OperatorFileErrors(loader.errors)
        uses = [(error_at(path, raw, loc, ""), tag) for path, raw, loc, tag in loader.tag_uses]
        return cls(loader.journeys, allowance, templates, stores, files, uses)

    def enabled(self) -> list[Journey]:
        return sorted((j for j in self.journeys.values() if j.enabled),
                      key=lambda j: (self.allowance.rank(j.name), j.name))

    def get(self, name: str) -> Journey | None:
        return self.journeys.get(name)

    def names(self) -> list[str]:
        return sorted(self.journeys)


def describe(book: JourneyBook) -> str:
    return ", ".join(book.names()) or "(no journeys)"
