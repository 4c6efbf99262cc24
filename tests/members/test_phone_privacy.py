"""Phone numbers from the till: only a keyed hash is stored, and the number is never logged,
answered back or printed, through the webhook and through the CSV import alike."""

from __future__ import annotations

import hashlib
import hmac
import logging
import shutil
from pathlib import Path

import pytest

from bot.cli import main
from bot.db.tables import SQLModel
from tests.conftest import REPO, World
from tests.databases import ScratchDb
from tests.members.support import POS_SECRET, post_purchases, purchase

KEY = "test-phone-key-不外传"
PHONE, SHOWN = "13800138000", "+86 138-0013-8000"  # as stored digits, as a till may send it
BAD = "1380013800"  # ten digits: refused, and the refusal does not repeat it


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_POS_SECRET", POS_SECRET)
    monkeypatch.setenv("BOT_PHONE_HASH_KEY", KEY)


def keyed_hash(digits: str) -> str:
    return hmac.new(KEY.encode(), digits.encode(), hashlib.sha256).hexdigest()


def every_stored_value(db: ScratchDb) -> str:
    """Every row of every table of the bot, as text: where a clear number would show."""
    return "\n".join(repr(db.rows(f'SELECT * FROM "{table}"'))
                     for table in SQLModel.metadata.tables)


def assert_nowhere(text: str) -> None:
    for needle in (PHONE, BAD, "138-0013-8000", "0013 8000"):
        assert needle not in text, needle


async def test_the_webhook_keeps_a_keyed_hash_and_logs_no_number(
        world: World, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    status, answer = await post_purchases(world, [purchase("P-1", "M0700", "88.00",
                                                           phone=SHOWN)])
    assert (status, answer) == (200, {"accepted": 1, "already": 0})
    status, answer = await post_purchases(world, [purchase("P-2", "M0701", "18.00",
                                                           phone=BAD)])
    assert status == 400 and "phone" in answer["error"]
    assert_nowhere(repr(answer))
    assert world.rows("SELECT phone_hash FROM loyalty_member WHERE member_code = 'M0700'") \
        == [(keyed_hash(PHONE),)]
    assert world.rows("SELECT count(*) FROM purchase WHERE order_id = 'P-2'") == [(0,)]
    assert_nowhere(every_stored_value(world.db))
    assert_nowhere(caplog.text)


def test_the_csv_import_keeps_a_keyed_hash_and_prints_no_number(
        tmp_path: Path, scratch_db: ScratchDb, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]):
    caplog.set_level(logging.DEBUG)
    sop = tmp_path / "sop"
    sop.mkdir()
    shutil.copy(REPO / "sop" / "members.yaml", sop / "members.yaml")
    config = tmp_path / "bot.toml"
    config.write_text(f'[paths]\nsop_dir = "{sop}"\n', encoding="utf-8")
    monkeypatch.setenv("BOT_DATABASE_URL", scratch_db.url)
    export = tmp_path / "export.csv"
    export.write_text("order_id,member_code,store_id,amount,at,phone\n"
                      f"C-1,M0800,0012,99.00,1764000000,{SHOWN}\n"
                      f"C-2,M0801,0012,19.00,1764000000,{BAD}\n", encoding="utf-8")
    code = main(["members", "import", str(export), "--config", str(config)])
    out = capsys.readouterr()
    assert code == 1 and "line 3: phone: expected an 11-digit" in out.out
    assert scratch_db.rows("SELECT member_code, phone_hash FROM loyalty_member") == [
        ("M0800", keyed_hash(PHONE))]
    assert_nowhere(out.out + out.err)
    assert_nowhere(caplog.text)
    assert_nowhere(every_stored_value(scratch_db))
