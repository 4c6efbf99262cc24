"""The operators' message catalogs: every key in both languages with the same fields, every
key a module uses in the catalog, and the language chosen by the settings."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.i18n import CATALOGS, LANGUAGE_ENV, current_language, set_language, speaking, t
from tests.conftest import REPO

# English's plural ending ("3 problems"); Chinese has none, so only English uses the field
ENGLISH_ONLY_FIELDS = {"s"}


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def used_keys() -> dict[str, list[str]]:
    """Every key passed to ``t(...)`` in bot/, with where: literal keys (or ``a if c else b``
    of literals) only, so that this check sees them all."""
    found: dict[str, list[str]] = {}
    for path in sorted((REPO / "bot").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "t" and node.args):
                continue
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            for key in literal_keys(node.args[0], where):
                found.setdefault(key, []).append(where)
    return found


def literal_keys(arg: ast.expr, where: str) -> list[str]:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return [arg.value]
    if isinstance(arg, ast.IfExp):
        return literal_keys(arg.body, where) + literal_keys(arg.orelse, where)
    raise AssertionError(f"{where}: t() needs a literal key (so the catalog check sees it)")


def test_every_key_exists_in_every_language_with_the_same_fields() -> None:
    zh, en = CATALOGS["zh"], CATALOGS["en"]
    assert sorted(set(zh) - set(en)) == [], "keys only in Chinese"
    assert sorted(set(en) - set(zh)) == [], "keys only in English"
    differ = {key: (fields(zh[key]), fields(en[key])) for key in zh
              if fields(zh[key]) != fields(en[key]) - ENGLISH_ONLY_FIELDS}
    assert differ == {}
    for language, catalog in CATALOGS.items():  # braces meant literally are doubled
        for key, template in catalog.items():
            assert template.format(**dict.fromkeys(fields(template), "x")), (language, key)


def test_every_key_a_module_uses_is_in_the_catalogs() -> None:
    used = used_keys()
    missing = {key: places for key, places in used.items()
               if any(key not in catalog for catalog in CATALOGS.values())}
    assert missing == {}
    unused = sorted(set(CATALOGS["zh"]) - set(used))
    assert unused == [], "catalog keys no module uses"


def test_a_key_only_in_one_language_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CATALOGS["zh"], "sop.only.here", "只有中文")  # type: ignore[index]
    with pytest.raises(AssertionError, match="keys only in Chinese"):
        test_every_key_exists_in_every_language_with_the_same_fields()


def test_messages_follow_the_language() -> None:
    with speaking("zh"):
        assert t("check.fix_and_rerun", count=2, s="s") == "共 2 处问题；改好后请再运行一次检查"
    with speaking("en"):
        assert t("check.fix_and_rerun", count=2, s="s") == (
            "2 problems; fix them and run the check again")


def test_the_setting_and_its_environment_override(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    monkeypatch.delenv(LANGUAGE_ENV)
    try:
        config.write_text("", encoding="utf-8")
        assert load_settings(config).operator.language == "zh"  # the default
        assert current_language() == "zh"
        config.write_text('[operator]\nlanguage = "en"\n', encoding="utf-8")
        assert load_settings(config).operator.language == "en"
        assert current_language() == "en"
        monkeypatch.setenv(LANGUAGE_ENV, "zh")
        assert load_settings(config).operator.language == "zh"
        monkeypatch.setenv(LANGUAGE_ENV, "fr")
        with pytest.raises(ConfigError, match="BOT_OPERATOR_LANGUAGE"):
            load_settings(config)
        monkeypatch.delenv(LANGUAGE_ENV)
        config.write_text('[operator]\nlanguage = "de"\n', encoding="utf-8")
        with pytest.raises(ConfigError, match=r"\[operator\] language must be one of zh, en"):
            load_settings(config)
    finally:
        set_language(None)  # back to the environment (English in the tests)
