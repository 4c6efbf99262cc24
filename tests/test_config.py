from pathlib import Path

import pytest

from bot.config import REAL_WECOM_API, ConfigError, load_secrets, load_settings

REPO = Path(__file__).resolve().parent.parent


def test_example_config_documents_valid_keys():
    settings = load_settings(REPO / "config.example.toml")
    assert settings.wecom.api_base_url == REAL_WECOM_API
    assert settings.paths.sop_dir == REPO / "sop"  # relative to the file's folder
    assert settings.database.url == f"sqlite:///{REPO / 'var/bot.db'}"
    assert settings.server.timestamp_window_s == 300


def test_unknown_keys_and_wrong_types_are_errors(tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text("[server]\nprot = 1\n")
    with pytest.raises(ConfigError, match="unknown key \\[server\\] prot"):
        load_settings(config)
    config.write_text('[server]\nport = "8080"\n')
    with pytest.raises(ConfigError, match="port must be int"):
        load_settings(config)
    config.write_text("[srever]\n")
    with pytest.raises(ConfigError, match="unknown section"):
        load_settings(config)


def test_secrets_come_from_the_environment(monkeypatch, tmp_path: Path):
    for name in ("WECOM_CORP_ID", "WECOM_SECRET", "WECOM_TOKEN", "WECOM_AES_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="WECOM_CORP_ID"):
        load_secrets(tmp_path / "missing.env")
    (tmp_path / ".env").write_text(
        "WECOM_CORP_ID=ww1\nWECOM_SECRET=topsecretvalue\nWECOM_TOKEN=tok\n"
        f"WECOM_AES_KEY={'k' * 43}\nWECOM_AGENT_ID=1000002\n")
    secrets = load_secrets(tmp_path / ".env")
    assert (secrets.corp_id, secrets.agent_id) == ("ww1", 1000002)
    assert "topsecretvalue" not in repr(secrets)


def test_example_config_documents_every_key():
    """A key added to bot/config.py must be explained in config.example.toml."""
    import tomllib
    from dataclasses import fields

    from bot.config import _SECTIONS

    documented = tomllib.loads((REPO / "config.example.toml").read_text(encoding="utf-8"))
    for section, cls in _SECTIONS.items():
        for f in fields(cls):
            assert f.name in documented.get(section, {}), f"[{section}] {f.name}"


def test_database_url_from_the_environment_replaces_the_file(monkeypatch):
    url = "postgresql+psycopg://bot:pw@db:5432/bot"
    monkeypatch.setenv("BOT_DATABASE_URL", url)
    assert load_settings(REPO / "config.example.toml").database.url == url
