"""stores.yaml read from libyaml's events (bot/books/yaml_events.py): the same data as
the safe loader, or None (the usual way) for whatever is not the plain case."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.cyaml import CParser

from bot.books.stores import StoreDirectory
from bot.books.yaml_events import plain_data
from bot.books.yamlfile import OperatorFileErrors
from tests.conftest import REPO


def _safe() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.allow_duplicate_keys = False
    return yaml


def _events(text: str) -> object:
    from ruamel.yaml.resolver import VersionedResolver

    return plain_data(CParser(text), VersionedResolver(), _safe().load)


@pytest.mark.parametrize("path", sorted((REPO / "sop").rglob("*.yaml")), ids=str)
def test_the_shipped_files_read_as_the_safe_loader_reads_them(path: Path) -> None:
    text = path.read_text("utf-8")
    assert _events(text) == _safe().load(text)


def test_scalars_resolve_as_yaml_1_2() -> None:
    text = ("a: 1\nb: 1.5\nc: true\nd: ~\ne: 2026-12-03\nf: '08:00'\ng: 08:00\nh: yes\n"
            "i: 0o12\nk: [1, x]\nm: 2026-12-03 10:00:00\nn:\n  - {o: p}\n")
    assert _events(text) == _safe().load(text)


@pytest.mark.parametrize("text", ["a: &x 1\nb: *x\n", "a: 1\na: 2\n", "a: {x: 1}\n<<: {y: 2}\n",
                                  "? [1]\n: 2\n", "%YAML 1.1\n---\na: 1\n", "a: !!str 1\n"])
def test_what_is_not_plain_goes_the_usual_way(text: str) -> None:
    assert _events(text) is None


def test_a_duplicate_store_is_still_reported_at_its_line(tmp_path: Path) -> None:
    shipped = (REPO / "sop" / "stores.yaml").read_text("utf-8")
    end = shipped.index('  "0015":')
    block = shipped[shipped.index('  "0012":'):end]
    path = tmp_path / "stores.yaml"
    path.write_text(shipped[:end] + block + shipped[end:], "utf-8")
    with pytest.raises(OperatorFileErrors) as failed:
        StoreDirectory.load(path)
    assert f"{path}:{shipped[:end].count(chr(10)) + 1}:" in str(failed.value)
    assert "0012" in str(failed.value)
