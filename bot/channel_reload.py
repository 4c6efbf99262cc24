"""Channel edits go live without a restart: channels.yaml, stores.yaml and the welcome
templates are watched, and the channel book is swapped whole when they load cleanly.

A store opening on Monday prints its QR codes on Friday; the operator adds the store and
its channel in git and the running bot welcomes its first customers correctly. A bad edit
is logged line by line (``file:line:col: reason``) and the channels loaded before keep
welcoming: customers never wait on an operator's typo. Handlers read `services.channels`
once per event, so swapping it is safe mid-burst.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from bot.books.stores import StoreDirectory
from bot.books.watch import FileWatch
from bot.books.yamlfile import OperatorFileErrors
from bot.channels import ChannelBook
from bot.services import Services

log = logging.getLogger(__name__)


class ChannelReloader:
    def __init__(self, services: Services, sop_dir: Path, templates_dir: Path,
                 load: Callable[[], tuple[StoreDirectory, ChannelBook]],
                 poll_s: float = 2.0) -> None:
        self.services = services
        self.load = load
        self.last_error: str | None = None
        self.reloads = 0
        welcome_dir = templates_dir / "welcome"
        files = [sop_dir / "channels.yaml", sop_dir / "stores.yaml"]
        self.watch = FileWatch(lambda: [*files, *welcome_dir.rglob("*")], self.reload,
                               poll_s, "channels-reload")

    def start(self) -> None:
        self.watch.start()

    async def stop(self) -> None:
        await self.watch.stop()

    async def reload(self) -> bool:
        """Load the files again; swap the channel book only if they load cleanly."""
        try:
            _, channels = await asyncio.get_running_loop().run_in_executor(None, self.load)
        except OperatorFileErrors as exc:
            self.last_error = str(exc)
            for error in exc.errors:
                log.error("channels reload refused: %s", error)
            log.error("the channels loaded before keep welcoming until the files are fixed")
            return False
        self.services.channels = channels
        self.last_error = None
        self.reloads += 1
        log.info("channels reloaded: %d channels", len(channels.names()))
        return True
