"""Where the journeys are read from: ``sop/journeys/*.yaml`` and ``templates/journeys/``."""

from __future__ import annotations

from pathlib import Path

from bot.books.live import LiveBook
from bot.books.stores import StoreDirectory
from bot.books.templating import TemplateLibrary
from bot.config import Settings
from bot.journeys.book import JourneyBook, describe
from bot.journeys.compile import journey_files


def journeys_dir(settings: Settings) -> Path:
    return settings.paths.sop_dir / "journeys"


def load_journeys(settings: Settings, stores: StoreDirectory | None = None, *,
                  sop_names: list[str] | None = None) -> JourneyBook:
    paths = settings.paths
    if stores is None:
        stores = StoreDirectory.load(paths.sop_dir / "stores.yaml")
    book = JourneyBook.load(journeys_dir(settings), TemplateLibrary(paths.templates_dir),
                            stores, sop_names=sop_names)
    book.links_base = settings.sidebar.public_url
    return book


def watched(settings: Settings) -> list[Path]:
    folder = settings.paths.templates_dir / "journeys"
    templates = sorted(folder.rglob("*.j2")) if folder.is_dir() else []
    return [*journey_files(journeys_dir(settings)), *templates,
            settings.paths.sop_dir / "stores.yaml"]


def live_journeys(settings: Settings) -> LiveBook[JourneyBook]:
    """The journey book, not loaded yet (the runner's start loads it)."""
    return LiveBook("journeys", lambda: watched(settings), lambda: load_journeys(settings),
                    settings.sop.reload_poll_s, describe=describe)
