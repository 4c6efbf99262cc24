"""What the codes tests share: a copy of the operator files to edit, a sync run as the
command runs it, the stores' groups in the simulator, and reading a QR image back."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import zxingcpp
from PIL import Image

from bot.codes import RecordedCode, recorded_codes
from bot.codes.cli import sync
from bot.config import Settings
from bot.db.engine import Database
from tests.conftest import REPO, World

PERSONA = "xiaoxian"
STORES = ("0012", "0015", "0023", "0107", "0112", "0201")
MANAGERS = {"0012": "linxiaoyu", "0015": "zhoujianguo"}


def operator_files(tmp_path: Path, world: World) -> Settings:
    """sop/ and templates/ copied to tmp_path (tests edit them); settings reading them."""
    for name in ("sop", "templates"):
        shutil.copytree(REPO / name, tmp_path / name)
    return world.settings.with_overrides(paths={"sop_dir": tmp_path / "sop",
                                                "templates_dir": tmp_path / "templates"})


def write_config(tmp_path: Path, world: World) -> Path:
    """A TOML file for `python -m bot ...` run as a process over `operator_files`' copy."""
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[database]\nurl = "{world.settings.database.url}"\n'
        f'[wecom]\napi_base_url = "{world.sim.base_url}"\n'
        f'[paths]\nsop_dir = "{tmp_path / "sop"}"\ntemplates_dir = "{tmp_path / "templates"}"\n')
    return config


async def run_sync(world: World, settings: Settings, *, dry_run: bool = False,
                   prune: bool = False, verify: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    code = await sync(settings, world.secrets, dry_run=dry_run, prune=prune, out=out,
                      verify=verify)
    return code, out.getvalue()


async def store_groups(world: World, stores: tuple[str, ...] = ("0012", "0015")) -> dict[str, str]:
    """One customer group per store, owned by its manager, known to the bot."""
    world.sim.add_staff(PERSONA, "小鲜")
    chats = {s: world.sim.create_group(MANAGERS[s], f"福利群{s}") for s in stores}
    await world.settle()
    return chats


async def codes_of(world: World, **kw: str) -> list[RecordedCode]:
    db = Database(world.settings.database.url)
    try:
        return await recorded_codes(db, **kw)
    finally:
        await db.close()


async def fetch_qr(world: World, qr_code: str) -> bytes:
    """The QR image, from the simulator's image host (same path as the https URL)."""
    path = qr_code.split("://", 1)[1].split("/", 1)[1]
    async with world.http.get(f"{world.sim.url}/{path}") as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
        return await resp.read()


def decode_qr(png: bytes) -> str:
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    return str(found.text)
