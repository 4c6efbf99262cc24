"""stores.yaml's scalars typed without asking the resolver for each one
(bot/books/yaml_events.py `_typed_starts`): still exactly the safe loader's data."""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.cyaml import CParser
from ruamel.yaml.resolver import VersionedResolver

from bot.books.yaml_events import plain_data
from bot.books.yamlfile import _OnceResolver


def _safe() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.allow_duplicate_keys = False
    return yaml


@pytest.mark.parametrize("resolver", [VersionedResolver, _OnceResolver])
def test_every_kind_of_plain_scalar_is_typed_as_the_safe_loader_types_it(
        resolver: type[VersionedResolver]) -> None:
    values = ["1", "-1", "+1", ".5", "1.5e3", ".inf", "-.inf", ".nan", "0x1F", "0o17", "1_000",
              "true", "True", "TRUE", "false", "yes", "no", "on", "off", "y", "n", "~", "null",
              "Null", "NULL", "", "2026-12-03", "2026-12-03 10:00:00", "08:00", "8:30",
              "m0012", "果园0012店", "store.closes - 30m", "x#y", "'1'", '"true"', "x y"]
    text = "".join(f"k{i}: {value}\n" for i, value in enumerate(values))
    text += "list: [1, x, true, ~, 'y', 2026-12-03]\n"
    assert plain_data(CParser(text), resolver(), _safe().load) == _safe().load(text)
