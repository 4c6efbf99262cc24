"""`python -m bot members check|import|preview|recompute`, as an operator runs them."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import REPO
from tests.databases import ScratchDb

CSV = """order_id,member_code,store_id,amount,at,unionid,phone
A-1,M001,0012,250.00,2026-11-01T10:00:00+08:00,oU001,138 0013 8000
A-2,M001,0012,68.5,2026-11-20 10:00:00,,
A-3,M002,0012,abc,2026-11-20 10:00:00,,
A-4,M002,0012,12,2026-11-20 10:00:00,,
A-5,M003,0012,500,not a time,,
A-6,M003,0012,400,1764000000,,
A-7,M004,0012,1,2026-11-20 10:00:00,,12345
"""


@pytest.fixture
def config(tmp_path: Path, scratch_db: ScratchDb, monkeypatch: pytest.MonkeyPatch) -> Path:
    sop = tmp_path / "sop"
    sop.mkdir()
    shutil.copy(REPO / "sop" / "members.yaml", sop / "members.yaml")
    monkeypatch.setenv("BOT_DATABASE_URL", scratch_db.url)
    monkeypatch.setenv("BOT_PHONE_HASH_KEY", "test-phone-key")
    path = tmp_path / "bot.toml"
    path.write_text(f'[paths]\nsop_dir = "{sop}"\n', encoding="utf-8")
    return path


def run(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_import_reports_bad_rows_by_line_and_imports_the_good(
        tmp_path: Path, config: Path, scratch_db: ScratchDb,
        capsys: pytest.CaptureFixture[str]):
    export = tmp_path / "export.csv"
    export.write_text(CSV, encoding="utf-8-sig")  # Excel's BOM
    code, out = run("members", "import", str(export), "--config", str(config), capsys=capsys)
    assert code == 1
    assert f"{export}: line 4: amount: expected yuan such as 68.50" in out
    assert f"{export}: line 6: at: expected a time" in out
    assert f"{export}: line 8: phone: expected an 11-digit" in out
    assert "7 rows: 4 new purchases, 0 already imported, 3 bad" in out
    assert "13800138000" not in out and "12345" not in out
    members = scratch_db.rows("SELECT member_code, total_fen, purchases, level, unionid, "
                              "phone_hash FROM loyalty_member ORDER BY member_code")
    assert [m[:5] for m in members] == [
        ("M001", 31850, 2, "银卡", "oU001"), ("M002", 1200, 1, "普通", None),
        ("M003", 40000, 1, "银卡", None)]
    phone_hash = members[0][5]
    assert phone_hash and len(phone_hash) == 64 and "138" not in phone_hash

    code, out = run("members", "import", str(export), "--config", str(config), capsys=capsys)
    assert "7 rows: 0 new purchases, 4 already imported, 3 bad" in out
    assert scratch_db.rows("SELECT count(*) FROM purchase") == [(4,)]


def test_check_points_at_the_line(tmp_path: Path, config: Path,
                                  capsys: pytest.CaptureFixture[str]):
    code, out = run("members", "check", "--config", str(config), capsys=capsys)
    assert code == 0 and "3 levels (普通, 银卡, 金卡)" in out
    bad = tmp_path / "bad.yaml"
    text = (REPO / "sop" / "members.yaml").read_text(encoding="utf-8")
    bad.write_text(text.replace("from: 6000", "from: 2000").replace(
        "    tag: 生命周期/引入期\n    when:\n      purchases: {at_most: 1}",
        "    tag: 生命周期/引入期"), encoding="utf-8")
    code, out = run("members", "check", str(bad), "--config", str(config), capsys=capsys)
    assert code == 1
    lines = bad.read_text(encoding="utf-8").splitlines()
    problems = [line for line in out.splitlines() if line.startswith(str(bad))]
    assert len(problems) == 2
    for problem in problems:
        number = int(problem.split(":")[1])
        assert ("from: 2000" in lines[number - 1] or "- name: 引入期" in lines[number - 1])


def test_preview_counts_who_moves_and_writes_nothing(
        tmp_path: Path, config: Path, scratch_db: ScratchDb,
        capsys: pytest.CaptureFixture[str]):
    export = tmp_path / "export.csv"
    export.write_text(CSV, encoding="utf-8")
    run("members", "import", str(export), "--config", str(config), capsys=capsys)
    cheaper = tmp_path / "cheaper.yaml"
    cheaper.write_text((REPO / "sop" / "members.yaml").read_text(encoding="utf-8").replace(
        "from: 3000", "from: 100"), encoding="utf-8")
    code, out = run("members", "preview", str(cheaper), "--config", str(config),
                    capsys=capsys)
    assert code == 0
    assert "levels: 1 members move, 2 stay" in out and "普通 → 银卡: 1" in out
    assert scratch_db.rows("SELECT level FROM loyalty_member WHERE member_code = 'M002'") == [
        ("普通",)]


def test_rules_of_one_level_and_one_stage_recompute(
        tmp_path: Path, config: Path, scratch_db: ScratchDb,
        capsys: pytest.CaptureFixture[str]):
    """The smallest rules the checker accepts (one level, one stage without `when`) level
    and stage every member, after a day's export and in a recompute of everyone."""
    rules = config.parent / "sop" / "members.yaml"
    rules.write_text("growth_per_yuan: 10\nlevels:\n  - {name: 会员, from: 0, tag: 会员/会员}\n"
                     "stages:\n  - {name: 常客, tag: 阶段/常客}\n", encoding="utf-8")
    export = tmp_path / "export.csv"
    export.write_text(CSV, encoding="utf-8")
    code, out = run("members", "import", str(export), "--config", str(config), capsys=capsys)
    assert "4 new purchases" in out
    code, out = run("members", "recompute", "--config", str(config), capsys=capsys)
    assert code == 0, out
    assert scratch_db.rows("SELECT DISTINCT level, level_tag, stage, stage_tag "
                           "FROM loyalty_member") == [("会员", "会员/会员", "常客", "阶段/常客")]


def test_members_commands_read_their_own_output_stream():
    """`run_members_command` prints where it is told (the lead's console may capture it)."""
    from argparse import Namespace

    from bot.members.cli import run_members_command

    out = io.StringIO()
    code = run_members_command(Namespace(config=None, file=REPO / "sop" / "members.yaml",
                                         members_command="check"), out)
    assert code == 0 and "ok, 3 levels" in out.getvalue()


def test_check_reads_the_questionnaires_beside_the_rules(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]):
    shutil.copy(REPO / "sop" / "members.yaml", tmp_path / "members.yaml")
    text = (REPO / "sop" / "questionnaires.yaml").read_text(encoding="utf-8")
    (tmp_path / "questionnaires.yaml").write_text(
        text.replace("{code: B, text: 低糖少负担}", "{code: A, text: 低糖少负担}"),
        encoding="utf-8")
    code, out = run("members", "check", str(tmp_path / "members.yaml"), capsys=capsys)
    assert code == 1
    [problem] = [line for line in out.splitlines() if "questionnaires.yaml:" in line]
    line = int(problem.split(":")[1])
    lines = (tmp_path / "questionnaires.yaml").read_text(encoding="utf-8").splitlines()
    assert "低糖少负担" in lines[line - 1]
    assert "code 'A' is already given by question wish" in problem


def test_link_command_prints_a_link_the_page_accepts(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]):
    from bot.members.links import LinkRefused, verify_link

    monkeypatch.delenv("BOT_LINK_KEY", raising=False)
    code, out = run("members", "link", "welcome", "wmCustomer", "linxiaoyu", "--base-url",
                    "https://bot.example", capsys=capsys)
    assert code == 1 and "BOT_LINK_KEY" in out
    monkeypatch.setenv("BOT_LINK_KEY", "k")
    code, out = run("members", "link", "welcome", "wmCustomer", "linxiaoyu", "--base-url",
                    "https://bot.example", capsys=capsys)
    assert code == 0 and out.startswith("https://bot.example/q/welcome?c=wmCustomer&u=")
    params = dict(p.split("=", 1) for p in out.strip().split("?", 1)[1].split("&"))
    assert verify_link("welcome", params).external_userid == "wmCustomer"
    with pytest.raises(LinkRefused):
        verify_link("other-form", params)


@pytest.mark.parametrize("backfill", [False, True], ids=["day-export", "backfill"])
def test_fast_and_exact_rows_import_alike(
        tmp_path: Path, config: Path, scratch_db: ScratchDb,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, backfill: bool):
    """Plain rows (the checked-cheaply path) and unusual ones (ISO times, padded cells,
    a phone number) land the same; an order twice in the file counts once; bad rows keep
    their line numbers across chunks; a second file adds only its new orders. Run both as a
    day's export and as a backfill (the purchase index rebuilt, everyone recomputed)."""
    import bot.members.importer as importer

    monkeypatch.setattr(importer, "CHUNK", 3)  # several chunks from a small file
    monkeypatch.setattr(importer, "BULK_BYTES", 0 if backfill else 2**30)
    export = tmp_path / "export.csv"
    export.write_text(
        "member_code,order_id,amount,at,store_id,unionid,phone\n"
        "M1,F-1,100.00,1764000000,0012,oU1,\n"  # plain
        "M1,F-2, 50.5 ,2025-11-24T23:00:00+08:00,0012,,13800138000\n"  # padded, ISO, phone
        "M2,F-3,0.00,1764000000,0012,,\n"  # line 4: amount 0
        "M2,F-4,30.05,1764000000,0012,,\n"  # growth 300.5: 300 (whole points, cut)
        "M2,F-4,30.05,1764000000,0012,,\n"  # the same order again
        "M3,F-5,12.3,1764000000,0012, oU3 ,\n"
        "M3,F-6,7.00,99,0012,,\n"  # line 8: before 2000
        "M4,F-7,1.00,1764000000\n",  # line 9: a field short
        encoding="utf-8")
    code, out = run("members", "import", str(export), "--config", str(config), capsys=capsys)
    assert code == 1
    assert "line 4: amount: 0.00 is not a purchase amount" in out
    assert "line 8: at: before 2000 or in the future" in out
    assert "line 9: 4 fields, the header has 7" in out
    assert "8 rows: 4 new purchases, 1 already imported, 3 bad" in out
    members = [(*m[:4], m[4] is not None, *m[5:]) for m in scratch_db.rows(
        "SELECT member_code, total_fen, purchases, unionid, phone_hash, growth, level, "
        "level_tag FROM loyalty_member ORDER BY member_code")]
    # a backfill makes M2 in one insert, levelled there: the same figures as a day's export
    assert members == [("M1", 15050, 2, "oU1", True, 1505, "普通", "会员等级/普通"),
                       ("M2", 3005, 1, None, False, 300, "普通", "会员等级/普通"),
                       ("M3", 1230, 1, "oU3", False, 123, "普通", "会员等级/普通")]
    again = tmp_path / "again.csv"
    again.write_text("order_id,member_code,amount,at\nF-1,M1,100.00,1764000000\n"
                     "F-8,M2,20.00,1764000000\n", encoding="utf-8")
    code, out = run("members", "import", str(again), "--config", str(config), capsys=capsys)
    assert code == 0 and "2 rows: 1 new purchases, 1 already imported, 0 bad" in out
    assert scratch_db.rows("SELECT total_fen, purchases FROM loyalty_member "
                           "WHERE member_code = 'M2'") == [(5005, 2)]


def test_plain_blocks_go_set_based_and_the_bad_row_keeps_its_line(
        tmp_path: Path, config: Path, scratch_db: ScratchDb,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Blocks of plain rows (bot.members.plain) are written in one statement; a block with
    a row of plain shape but out of range, or a quoted cell across lines (never cut between
    blocks), is read row by row: the same results, the bad rows by line (CRLF file)."""
    import bot.members.plain as plain

    monkeypatch.setattr(plain, "BLOCK_CHARS", 60)  # two rows a block
    export = tmp_path / "export.csv"
    export.write_bytes(
        b"order_id,member_code,store_id,amount,at,unionid,items\r\n"
        b"P-1,M1,0012,10.5,1764000000,oU1,\r\n"
        b"P-2,M1,0012,20,1764000000,oU1b,\r\n"  # the member's last unionid wins
        b"P-3,M2,0012,0,1764000000,,\r\n"  # line 4: plain in shape, amount 0
        b'P-4,M2,0012,5.00,1764000000,,"apple,\r\npear"\r\n'  # lines 5-6
        b"P-5,M2,0012,5.00,4102444800,,\r\n"  # line 7: the year 2100
        b"P-6,M3,,1.00,1764000000,,\r\n"
        b"P-1,M1,0012,10.5,1764000000,oU1b,\r\n")  # an order twice
    code, out = run("members", "import", str(export), "--config", str(config), capsys=capsys)
    assert code == 1
    assert "line 4: amount: 0 is not a purchase amount" in out
    assert "line 7: at: before 2000 or in the future" in out
    assert "7 rows: 4 new purchases, 1 already imported, 2 bad" in out
    assert scratch_db.rows("SELECT member_code, total_fen, purchases, unionid "
                           "FROM loyalty_member ORDER BY member_code") == [
        ("M1", 3050, 2, "oU1b"), ("M2", 500, 1, None), ("M3", 100, 1, None)]
    assert scratch_db.rows("SELECT items FROM purchase WHERE order_id = 'P-4'") == [
        ("apple,\npear",)]
    code, out = run("members", "import", str(export), "--config", str(config), capsys=capsys)
    assert "7 rows: 0 new purchases, 5 already imported, 2 bad" in out
