"""Check that every operator guide and its Chinese version are in step.

Each translated guide ``docs/<name>.md`` has its Chinese version at ``docs/zh/<name>.md``.
Every heading below the title (``##`` and deeper) carries a section anchor, an HTML comment
on the line directly above it (invisible on GitHub)::

    <!-- section: per-store-times -->
    ## Per-store times

and the Chinese heading carries the same anchor::

    <!-- section: per-store-times -->
    ## 按门店的时间

The check pairs the two files by these anchors and reports, as ``file:line: reason``:
a section present in one language only, a heading without an anchor, an anchor with no
heading under it, an anchor used twice, a section at another level or in another order
than its counterpart, a guide listed as translated without its translation (or a Chinese
file for a guide not listed), a guide in docs/ neither translated nor listed as
English-only, a missing link to the other language in a file's first lines, a relative
link or image that points at no file, and a translated guide missing from docs/zh/README.md.

    python scripts/check_guides.py [--root DIR] [--guides sop,channels,...]

Exit 0 when all is in step, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

# The guides with a Chinese version (docs/<name>.md <-> docs/zh/<name>.md). Adding a name
# here makes the check require docs/zh/<name>.md.
TRANSLATED: tuple[str, ...] = (
    "sop",
    "channels",
    "replies",
    "codes",
    "cards",
    "members",
    "journeys",
    "console",
    "moments",
)
# Guides for developers and on-call engineers, kept in English only.
ENGLISH_ONLY: tuple[str, ...] = (
    "architecture",
    "capacity",
    "conformance",
    "deployment",
    "security",
    "simulator",
)
ZH_DIR = "zh"
# The link to the other language must be within a file's first lines.
LINK_WITHIN_LINES = 5

_ANCHOR = re.compile(r"^<!--\s*section:\s*(?P<id>\S*?)\s*-->\s*$")
_ANCHOR_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_LOOSE_ANCHOR = re.compile(r"<!--\s*section\b")
_HEADING = re.compile(r"^ {0,3}(?P<hashes>#{1,6})(?:[ \t]+(?P<text>.*?))?[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(?:={2,}|-{2,})[ \t]*$")
_NOT_PARAGRAPH = re.compile(r"^\s*(?:$|[-*+>|<#]|\d+[.)]\s)")
_LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


@dataclass(frozen=True)
class Section:
    anchor: str
    level: int
    title: str
    line: int  # the heading's line, 1-based


@dataclass
class Guide:
    path: Path
    label: str  # the path as printed in messages
    sections: list[Section]
    lines: list[str]


def slug(title: str) -> str:
    """A suggested anchor for a heading: lower-case ASCII words joined by dashes."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    return "-".join(words) or "section"


def _code_lines(lines: list[str]) -> set[int]:
    """Indexes of lines inside fenced code blocks (fences included)."""
    inside: set[int] = set()
    fence: str | None = None
    for i, line in enumerate(lines):
        m = _FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group("fence")
                inside.add(i)
            continue
        inside.add(i)
        # a closing fence: the same character, at least as long, nothing after it
        closer = m.group("fence") if m else ""
        bare = not line.strip().strip(fence[0])
        if closer[:1] == fence[0] and len(closer) >= len(fence) and bare:
            fence = None
    return inside


def parse(path: Path, label: str, errors: list[str]) -> Guide:
    """Read a guide's sections; anchor mistakes go to ``errors`` as file:line: reason."""
    lines = path.read_text(encoding="utf-8").splitlines()
    code = _code_lines(lines)
    sections: list[Section] = []
    seen: dict[str, int] = {}
    pending: tuple[str, int] | None = None  # an anchor waiting for its heading
    for i, line in enumerate(lines):
        if i in code:
            continue
        n = i + 1
        anchor = _ANCHOR.match(line)
        heading = _HEADING.match(line)
        if pending is not None and not heading:
            errors.append(f"{label}:{pending[1]}: section anchor '{pending[0]}' is not directly "
                          "above a heading")
            pending = None
        if anchor:
            aid = anchor.group("id")
            if not _ANCHOR_ID.match(aid):
                errors.append(f"{label}:{n}: section anchor '{aid}': use lower-case letters, "
                              "digits and single dashes, e.g. per-store-times")
            pending = (aid, n)
        elif _LOOSE_ANCHOR.search(line):
            errors.append(f"{label}:{n}: malformed section anchor; write it alone on its line "
                          "as <!-- section: some-name -->")
        elif _SETEXT.match(line) and i and i - 1 not in code \
                and not _NOT_PARAGRAPH.match(lines[i - 1]):
            errors.append(f"{label}:{i}: an underlined heading cannot carry a section anchor; "
                          "write it with # (## Title) and put the anchor above it")
        elif heading:
            level = len(heading.group("hashes"))
            title = (heading.group("text") or "").strip()
            if level == 1:
                if pending is not None:
                    errors.append(f"{label}:{pending[1]}: the title (#) needs no section anchor")
                pending = None
                continue
            if pending is None:
                errors.append(f"{label}:{n}: heading '{'#' * level} {title}' has no section "
                              f"anchor; put <!-- section: {slug(title)} --> on the line above "
                              "it (the same anchor in both languages)")
                continue
            aid = pending[0]
            pending = None
            if aid in seen:
                errors.append(f"{label}:{n}: section anchor '{aid}' is already used at "
                              f"{label}:{seen[aid]}")
                continue
            seen[aid] = n
            sections.append(Section(aid, level, title, n))
    if pending is not None:
        errors.append(f"{label}:{pending[1]}: section anchor '{pending[0]}' is not directly "
                      "above a heading")
    return Guide(path, label, sections, lines)


def _one_side(a: Guide, b: Guide, lang_a: str, errors: list[str]) -> None:
    b_ids = {s.anchor for s in b.sections}
    for s in a.sections:
        if s.anchor not in b_ids:
            errors.append(f"{a.label}:{s.line}: section '{s.anchor}' ('{'#' * s.level} "
                          f"{s.title}') exists in {lang_a} only: {b.label} has no "
                          f"<!-- section: {s.anchor} -->")


def compare(en: Guide, zh: Guide, errors: list[str]) -> None:
    """Pair the sections of a guide and its translation by anchor."""
    _one_side(en, zh, "English", errors)
    _one_side(zh, en, "Chinese", errors)
    en_by = {s.anchor: s for s in en.sections}
    zh_by = {s.anchor: s for s in zh.sections}
    for s in zh.sections:
        other = en_by.get(s.anchor)
        if other is not None and other.level != s.level:
            errors.append(f"{zh.label}:{s.line}: section '{s.anchor}' is a level-{s.level} "
                          f"heading here but level {other.level} in {en.label}:{other.line}")
    en_order = [s.anchor for s in en.sections if s.anchor in zh_by]
    zh_order = [s.anchor for s in zh.sections if s.anchor in en_by]
    for i, (e, z) in enumerate(zip(en_order, zh_order, strict=False)):
        if e != z:
            prev = f"after '{en_order[i - 1]}'" if i else "first"
            errors.append(f"{zh.label}:{zh_by[z].line}: sections out of order: "
                          f"{en.label}:{en_by[e].line} has '{e}' {prev}, here it is '{z}'")
            break


def check_links(guide: Guide, other: Path, errors: list[str]) -> None:
    """The link to the other language near the top, and every relative link resolving."""
    head = "\n".join(guide.lines[:LINK_WITHIN_LINES])
    want = Path(os.path.relpath(other, guide.path.parent)).as_posix()
    if f"]({want})" not in head:
        errors.append(f"{guide.label}:1: no link to the other language in the first "
                      f"{LINK_WITHIN_LINES} lines; add one pointing at ({want})")
    code = _code_lines(guide.lines)
    for i, line in enumerate(guide.lines):
        if i in code:
            continue
        for m in _LINK.finditer(line):
            target = m.group("target").split("#", 1)[0]
            if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue
            if not (guide.path.parent / target).exists():
                errors.append(f"{guide.label}:{i + 1}: link to '{target}' points at no file")


def check_pair(root: Path, name: str, errors: list[str]) -> str | None:
    """One guide against its translation; the summary line, or None when a file is missing."""
    def label(p: Path) -> str:
        return p.relative_to(root).as_posix()

    en_path, zh_path = root / "docs" / f"{name}.md", root / "docs" / ZH_DIR / f"{name}.md"
    for missing in (en_path, zh_path):
        if not missing.is_file():
            errors.append(f"{label(en_path)}:1: guide '{name}' is listed as translated but "
                          f"{label(missing)} does not exist")
            return None
    before = len(errors)
    en = parse(en_path, label(en_path), errors)
    zh = parse(zh_path, label(zh_path), errors)
    compare(en, zh, errors)
    check_links(en, zh_path, errors)
    check_links(zh, en_path, errors)
    state = "ok" if len(errors) == before else f"{len(errors) - before} problem(s)"
    return (f"{label(en_path)} <-> {label(zh_path)}: {state}, "
            f"{len(en.sections)} / {len(zh.sections)} sections")


def check_listing(root: Path, guides: tuple[str, ...], english_only: tuple[str, ...],
                  errors: list[str]) -> None:
    """Every guide is either translated or English-only; the Chinese index names them all."""
    docs, zh_dir = root / "docs", root / "docs" / ZH_DIR
    for page in sorted(docs.glob("*.md")):
        if page.stem not in guides and page.stem not in english_only:
            errors.append(f"docs/{page.name}:1: a guide with no Chinese version; write "
                          f"docs/{ZH_DIR}/{page.name} and add '{page.stem}' to TRANSLATED in "
                          "scripts/check_guides.py (or to ENGLISH_ONLY if no operator reads it)")
    for extra in sorted(zh_dir.glob("*.md")) if zh_dir.is_dir() else ():
        if extra.name != "README.md" and extra.stem not in guides:
            errors.append(f"docs/{ZH_DIR}/{extra.name}:1: a Chinese guide not listed as "
                          "translated; add its name to TRANSLATED in scripts/check_guides.py")
    index = zh_dir / "README.md"
    if index.is_file():
        text = index.read_text(encoding="utf-8")
        for name in guides:
            if f"]({name}.md)" not in text:
                errors.append(f"docs/{ZH_DIR}/README.md:1: the index of Chinese guides has no "
                              f"link to ({name}.md)")


def check(root: Path, guides: tuple[str, ...],
          english_only: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """Every problem as file:line: reason, and one summary line per pair."""
    errors: list[str] = []
    summary = [line for name in guides if (line := check_pair(root, name, errors))]
    check_listing(root, guides, english_only, errors)
    return errors, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the repository root (holding docs/)")
    parser.add_argument("--guides", help="comma-separated guide names (default: TRANSLATED)")
    parser.add_argument("--english-only",
                        help="comma-separated guides kept in English only (default: ENGLISH_ONLY)")
    args = parser.parse_args(argv)
    guides = tuple(g for g in args.guides.split(",") if g) if args.guides else TRANSLATED
    english_only = (tuple(g for g in args.english_only.split(",") if g)
                    if args.english_only is not None else ENGLISH_ONLY)
    errors, summary = check(args.root.resolve(), guides, english_only)
    for line in summary:
        print(line)
    for line in errors:
        print(line)
    if errors:
        print(f"{len(errors)} problem(s): the guides and their Chinese versions are not in step")
        return 1
    print(f"ok: {len(guides)} guides in step with their Chinese versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
