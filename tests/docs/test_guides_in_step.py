"""The operator guides and their Chinese versions, paired section by section.

Runs the real check (`scripts/check_guides.py`) as a process: once on the repository's own
docs/ (every listed guide translated and in step), then on small guide pairs written into
tmp_path, each with one mistake, where the check must fail and name the file and line.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "check_guides.py"

# the same code block in both languages; its "# ..." line is not a heading
CODE = """\
```yaml
# a YAML comment, not a heading
key: value
```
"""

EN = """\
# Demo guide

[中文版](zh/demo.md)

Intro.

<!-- section: first -->
## First

@CODE@

<!-- section: per-store-times -->
## Per-store times

<!-- section: details -->
### Details

Text.
""".replace("@CODE@\n", CODE)

ZH = """\
# 示例指南

[English](../demo.md)

简介。

<!-- section: first -->
## 第一节

@CODE@

<!-- section: per-store-times -->
## 按门店的时间

<!-- section: details -->
### 细节

正文。
""".replace("@CODE@\n", CODE)


def run_check(root: Path, *guides: str,
              english_only: str | None = None) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, str(SCRIPT), "--root", str(root)]
    if guides:
        args += ["--guides", ",".join(guides)]
    if english_only is not None:
        args += ["--english-only", english_only]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def write_pair(root: Path, en: str = EN, zh: str | None = ZH) -> None:
    (root / "docs" / "zh").mkdir(parents=True, exist_ok=True)
    (root / "docs" / "demo.md").write_text(en, encoding="utf-8")
    if zh is not None:
        (root / "docs" / "zh" / "demo.md").write_text(zh, encoding="utf-8")


def failing(root: Path, en: str = EN, zh: str | None = ZH) -> str:
    """Write the pair, run the check on it, see it fail and return what it printed."""
    write_pair(root, en=en, zh=zh)
    done = run_check(root, "demo")
    assert done.returncode == 1, done.stdout + done.stderr
    return done.stdout


def line_of(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def test_the_shipped_guides_are_in_step() -> None:
    done = run_check(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok: 9 guides in step" in done.stdout
    for name in ("sop", "channels", "replies", "codes", "cards", "members", "journeys",
                 "console", "moments"):
        assert f"docs/{name}.md <-> docs/zh/{name}.md: ok" in done.stdout


def test_a_good_pair_passes(tmp_path: Path) -> None:
    write_pair(tmp_path)
    done = run_check(tmp_path, "demo")
    assert done.returncode == 0, done.stdout
    assert "docs/demo.md <-> docs/zh/demo.md: ok, 3 / 3 sections" in done.stdout


def test_a_section_in_english_only_fails_with_file_and_line(tmp_path: Path) -> None:
    en = EN.replace("Text.\n", textwrap.dedent("""\
        Text.

        <!-- section: moments -->
        ## Moments (朋友圈)

        New section, not yet translated.
        """))
    out = failing(tmp_path, en=en)
    line = line_of(en, "## Moments (朋友圈)")
    assert (f"docs/demo.md:{line}: section 'moments' ('## Moments (朋友圈)') exists in "
            "English only: docs/zh/demo.md has no <!-- section: moments -->") in out
    assert "1 problem(s)" in out


def test_a_section_in_chinese_only_fails_with_file_and_line(tmp_path: Path) -> None:
    en = EN.replace("<!-- section: details -->\n### Details\n", "")
    out = failing(tmp_path, en=en)
    line = line_of(ZH, "### 细节")
    assert f"docs/zh/demo.md:{line}: section 'details' ('### 细节') exists in Chinese only" \
        in out


def test_a_heading_without_anchor_is_named_with_a_suggestion(tmp_path: Path) -> None:
    en = EN.replace("Text.\n", "Text.\n\n## Per-store closing times\n\nMore.\n")
    out = failing(tmp_path, en=en)
    line = line_of(en, "## Per-store closing times")
    assert (f"docs/demo.md:{line}: heading '## Per-store closing times' has no section "
            "anchor; put <!-- section: per-store-closing-times --> on the line above it"
            ) in out


def test_a_listed_guide_without_translation_fails(tmp_path: Path) -> None:
    out = failing(tmp_path, zh=None)
    assert ("docs/demo.md:1: guide 'demo' is listed as translated but docs/zh/demo.md "
            "does not exist") in out


def test_level_order_anchor_and_link_mistakes(tmp_path: Path) -> None:
    zh = (ZH.replace("### 细节", "## 细节")                       # wrong level
          .replace("[English](../demo.md)", "English")           # no link back
          .replace("简介。", "简介，见 [图](../img/none.png)。"))   # a link to nothing
    en = EN.replace("<!-- section: first -->\n## First", "<!-- section: first -->\n\n## First")
    out = failing(tmp_path, en=en, zh=zh)
    assert f"docs/demo.md:{line_of(en, '<!-- section: first -->')}: section anchor 'first' " \
        "is not directly above a heading" in out
    assert f"docs/zh/demo.md:{line_of(zh, '## 细节')}: section 'details' is a level-2 " \
        "heading here but level 3 in docs/demo.md" in out
    assert "docs/zh/demo.md:1: no link to the other language in the first 5 lines; add one " \
        "pointing at (../demo.md)" in out
    assert f"docs/zh/demo.md:{line_of(zh, '简介，见 [图](../img/none.png)。')}: link to " \
        "'../img/none.png' points at no file" in out


def test_sections_out_of_order(tmp_path: Path) -> None:
    first = "<!-- section: first -->\n## 第一节\n"
    times = "<!-- section: per-store-times -->\n## 按门店的时间\n"
    zh = ZH.replace(first, "@@").replace(times, first).replace("@@", times)
    out = failing(tmp_path, zh=zh)
    assert f"docs/zh/demo.md:{line_of(zh, '## 按门店的时间')}: sections out of order: " \
        f"docs/demo.md:{line_of(EN, '## First')} has 'first' first, here it is " \
        "'per-store-times'" in out


def test_a_chinese_guide_not_listed_fails(tmp_path: Path) -> None:
    write_pair(tmp_path)
    (tmp_path / "docs" / "zh" / "extra.md").write_text("# 多出来的\n", encoding="utf-8")
    done = run_check(tmp_path, "demo")
    assert done.returncode == 1
    assert "docs/zh/extra.md:1: a Chinese guide not listed as translated" in done.stdout


def test_an_underlined_heading_is_refused(tmp_path: Path) -> None:
    en = EN.replace("Text.\n", "Text.\n\nClosing times\n-------------\n\nMore.\n")
    out = failing(tmp_path, en=en)
    assert f"docs/demo.md:{line_of(en, 'Closing times')}: an underlined heading cannot " \
        "carry a section anchor" in out


def test_a_new_guide_without_chinese_version_fails(tmp_path: Path) -> None:
    (tmp_path / "docs" / "zh").mkdir(parents=True)
    (tmp_path / "docs" / "moments.md").write_text("# Moments\n", encoding="utf-8")
    (tmp_path / "docs" / "zh" / "README.md").write_text("# 指南\n\n无链接\n", encoding="utf-8")
    out = failing(tmp_path)
    assert "docs/moments.md:1: a guide with no Chinese version; write docs/zh/moments.md" \
        in out
    assert "docs/zh/README.md:1: the index of Chinese guides has no link to (demo.md)" in out
    done = run_check(tmp_path, "demo", english_only="moments")
    assert "docs/moments.md" not in done.stdout
