"""The operator books a running bot keeps live: how each is read, and from which files.

Each is a `bot.books.live.LiveBook`: an edit that loads cleanly is swapped in within the
poll interval, a bad one is logged with ``file:line:col`` and the last good book stays in
use. Channels (with the store directory welcomes use) and the 话术 library load at start,
where a broken file stops the start: there is nothing to fall back to. The SOP book loads
after the start (bot.leader), on the elected replica only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bot.books.live import LiveBook
from bot.books.stores import StoreDirectory
from bot.books.templating import TemplateLibrary
from bot.channels import ChannelBook
from bot.config import Settings
from bot.media.images import ImageRule
from bot.outbox.scheduler import sop_names
from bot.replies.library import ReplyLibrary
from bot.sop.book import SopBook


def load_operator_files(settings: Settings) -> tuple[StoreDirectory, ChannelBook]:
    """Stores and channels from `sop/`, templates from `templates/`; raises with file:line."""
    paths = settings.paths
    stores = StoreDirectory.load(paths.sop_dir / "stores.yaml")
    templates = TemplateLibrary(paths.templates_dir, images=image_rule(settings))
    channels = ChannelBook.load(paths.sop_dir / "channels.yaml", templates, stores)
    return stores, channels


def load_sop_book(settings: Settings, stores: StoreDirectory | None = None) -> SopBook:
    """The SOP schedules of `sop/` with their templates; stores.yaml is read again unless
    given (a reload must see an edited store list; the start already has it)."""
    paths = settings.paths
    if stores is None:
        stores = StoreDirectory.load(paths.sop_dir / "stores.yaml")
    return SopBook.load(paths.sop_dir,
                        TemplateLibrary(paths.templates_dir, images=image_rule(settings)), stores)


def live_channels(settings: Settings) -> tuple[StoreDirectory, LiveBook[ChannelBook]]:
    """The store directory and the channel book, loaded now; channels.yaml, stores.yaml and
    the welcome templates are watched."""
    stores, channels = load_operator_files(settings)
    sop_dir, welcome_dir = settings.paths.sop_dir, settings.paths.templates_dir / "welcome"
    files = [sop_dir / "channels.yaml", sop_dir / "stores.yaml"]
    book = LiveBook("channels", lambda: [*files, *welcome_dir.rglob("*")],
                    lambda: load_operator_files(settings)[1], settings.sop.reload_poll_s,
                    describe=lambda c: f"{len(c.names())} channels", current=channels)
    return stores, book


def live_replies(settings: Settings, stores: StoreDirectory) -> LiveBook[ReplyLibrary]:
    """The 话术 library of templates/replies/, loaded now."""
    folder = settings.paths.templates_dir / "replies"
    data = settings.paths.sop_dir / "data"  # replies' data: files (the member-day offers)
    book = LiveBook("话术", lambda: [*folder.glob("*.y*ml"), *data.glob("*.y*ml")],
                    lambda: ReplyLibrary.load(folder, stores), settings.replies.reload_poll_s,
                    describe=lambda lib: f"{len(lib.replies)} replies in {len(lib.files) - 1} "
                                         "files")
    book.load_now()
    return book


def live_sop_book(settings: Settings, stores: StoreDirectory | None) -> LiveBook[SopBook]:
    """The SOP book, not loaded yet. Its first load uses the start's `stores`; a retry or a
    reload reads stores.yaml anew (an operator may have fixed it)."""
    given = [stores]

    def load() -> SopBook:
        first, given[0] = given[0], None
        return load_sop_book(settings, first)

    return LiveBook("SOPs", lambda: sop_book_files(settings), load, settings.sop.reload_poll_s,
                    describe=sop_names)


def sop_book_files(settings: Settings) -> list[Path]:
    """Every file an SOP book is read from: an edit to any of them means a reload."""
    return list(_operator_files(settings.paths.sop_dir, settings.paths.templates_dir))


def _operator_files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        if root.is_dir():
            yield from sorted(p for p in root.rglob("*")
                              if p.is_file() and p.suffix in {".yaml", ".yml", ".j2"})


def image_rule(settings: Settings) -> ImageRule:
    """The check of every picture the books render: local files under sop/ that exist and
    fit WeCom's limit; URLs WeCom hosts when the bot talks to the real WeCom."""
    return ImageRule(settings.paths.sop_dir, settings.wecom.api_base_url)
