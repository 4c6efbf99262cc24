"""Reading the files a sync needs: `sop/codes.yaml` with channels.yaml, stores.yaml and the
templates, checked together; every problem comes back with its file:line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.books.stores import StoreDirectory
from bot.books.templating import TemplateLibrary
from bot.books.yamlfile import OperatorFileErrors, load_model
from bot.channels import ChannelBook
from bot.codes.desired import desired_codes
from bot.codes.model import DesiredCode, Findings, GroupRoom
from bot.codes.spec import CodesFile
from bot.config import Settings

CODES_FILE = "codes.yaml"


@dataclass(frozen=True)
class CodesBook:
    """What the files ask for, once every check passed."""

    codes: tuple[DesiredCode, ...]
    stores: StoreDirectory
    notes: tuple[str, ...]  # not errors: stores without a group, so without a join code


def load_stores(settings: Settings) -> StoreDirectory:
    return StoreDirectory.load(settings.paths.sop_dir / "stores.yaml")


def load_codes(settings: Settings, rooms: Mapping[str, Sequence[GroupRoom]],
               stores: StoreDirectory | None = None) -> CodesBook:
    """Raises `OperatorFileErrors` listing every problem in any of the files."""
    paths = settings.paths
    stores = stores or load_stores(settings)
    templates = TemplateLibrary(paths.templates_dir)
    channels = ChannelBook.load(paths.sop_dir / "channels.yaml", templates, stores)
    path = Path(paths.sop_dir / CODES_FILE)
    data, spec = load_model(path, CodesFile)
    findings = Findings(path, data)
    codes = desired_codes(spec, findings, channels, stores, rooms, templates)
    if findings.errors:
        raise OperatorFileErrors(findings.errors)
    return CodesBook(tuple(codes), stores, tuple(findings.notes))


