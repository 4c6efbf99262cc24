"""Settings: non-secret values from TOML, secrets from the environment or `.env`.

Secrets never live in the TOML file (it is meant to be committed); they are read from
`WECOM_CORP_ID`, `WECOM_SECRET`, `WECOM_TOKEN`, `WECOM_AES_KEY` and `WECOM_AGENT_ID` (and
`BOT_SESSION_KEY`, which signs the chat-sidebar's session cookies).
Relative paths in a config file are resolved against the file's own folder, so the bot
behaves the same whatever directory it is started from.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from bot.i18n import LANGUAGE_ENV, LANGUAGES, set_language

REAL_WECOM_API = "https://qyapi.weixin.qq.com/cgi-bin/"
GROUP_SEND_QUOTAS = ("month", "week7", "day1")


class ConfigError(Exception):
    """A config file or an environment variable is missing or wrong; the message says which."""


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 64 * 1024  # a real callback is < 4 KiB even with a full MemChangeList
    timestamp_window_s: int = 300  # refuse callbacks whose timestamp is further off than this


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///var/bot.db"
    writer_process: bool = True  # SQLite: each callback's writes commit in a child process


@dataclass(frozen=True)
class WeComSettings:
    api_base_url: str = REAL_WECOM_API
    request_timeout_s: float = 10.0
    per_api_per_minute: int = 10_000  # doc 90454: 10,000/min per corp per API
    per_api_per_hour: int = 150_000
    welcome_deadline_s: float = 20.0  # life of a WelcomeCode
    max_retries: int = 3  # on errcode -1 ("system busy, retry at most 3 times")
    group_sync_hours: float = 24.0  # re-read every customer group this often; 0 = never


@dataclass(frozen=True)
class PathSettings:
    sop_dir: Path = Path("sop")
    templates_dir: Path = Path("templates")


@dataclass(frozen=True)
class SopSettings:
    """How SOP slots are scheduled and delivered (docs/sop.md)."""

    scheduler: bool = True  # fire SOP slots from this process
    # the admin's 群发 limit per customer group (群发助手 setting, reference §6):
    # "month" = days in the month, "week7" = 7 a natural week, "day1" = 1 a day
    group_send_quota: str = "month"
    send_per_minute: int = 10_000  # pace of add_msg_template calls (WeCom: 10,000/min/API)
    moment_per_minute: int = 10  # pace of add_moment_task calls (WeCom: 10/min per corp)
    send_concurrency: int = 32  # calls in flight at once
    check_after_minutes: float = 5.0  # first look at a 群发 task after creating it
    remind_after_minutes: float = 60.0  # remind an owner who has not sent the task by then
    max_reminders: int = 3  # WeCom allows 3 reminders per task per 24 h
    follow_for_hours: float = 24.0  # after this, an unsent task's groups count as unsent
    reload_poll_s: float = 2.0  # how often sop/ and templates/ are checked for edits


@dataclass(frozen=True)
class RepliesSettings:
    """The 话术 library (templates/replies/ under [paths] templates_dir; docs/replies.md)."""

    reload_poll_s: float = 2.0  # how often the library files are checked for edits
    command_top: int = 3  # replies a staff member gets back for `话术 <词>` in the app
    app_msg_per_minute: int = 30  # WeCom drops app messages past 30/min per member (§5.2)
    counts_cache_s: float = 60.0  # how long tag frequencies and send counts are reused


@dataclass(frozen=True)
class SidebarSettings:
    """The chat-sidebar page (聊天工具栏) staff open next to a customer chat."""

    enabled: bool = True
    public_url: str = ""  # https://bot.example.com as the WeCom client reaches it; "" = as asked
    session_ttl_s: int = 8 * 3600  # a staff login lasts one shift


@dataclass(frozen=True)
class ConsoleSettings:
    """The operations console at /console (docs/console.md)."""

    enabled: bool = True
    operators: tuple[str, ...] = ()  # WeCom userids who see the whole chain
    timezone: str = "Asia/Shanghai"  # the chain's day: rollups and "today" follow it
    rollup_every_s: float = 300.0  # how often today's rollups are brought up to date
    digest_robot: str = "store-managers"  # robots.yaml robot for the weekly digest; "" = none


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    json: bool = False


@dataclass(frozen=True)
class ReplicaSettings:
    """Several bot processes on one PostgreSQL database (docs/deployment.md)."""

    id: str = ""  # this replica's name in logs and bot_replica; "" = host:pid
    leader_retry_s: float = 1.0  # how often a follower tries to become the SOP scheduler
    shared_quota: bool = True  # PostgreSQL: per-API quotas counted for the whole deployment
    quota_block: int = 20  # calls reserved from the shared quota per database round trip


@dataclass(frozen=True)
class OperatorSettings:
    """The language of what operators and staff read: checks, reports, the app's answers."""

    language: str = "zh"  # "zh" or "en"; BOT_OPERATOR_LANGUAGE overrides it


@dataclass(frozen=True)
class Secrets:
    """Credentials of the self-built app placed in 客户联系 → 可调用接口的应用."""

    corp_id: str
    secret: str
    token: str
    aes_key: str
    agent_id: int | None = None
    session_key: str | None = None  # BOT_SESSION_KEY: signs sidebar session cookies

    def __repr__(self) -> str:  # keeps secrets out of tracebacks and debug logs
        return f"Secrets(corp_id={self.corp_id!r}, secret=***, token=***, aes_key=***)"


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    wecom: WeComSettings = field(default_factory=WeComSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    sop: SopSettings = field(default_factory=SopSettings)
    replies: RepliesSettings = field(default_factory=RepliesSettings)
    sidebar: SidebarSettings = field(default_factory=SidebarSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    replicas: ReplicaSettings = field(default_factory=ReplicaSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    operator: OperatorSettings = field(default_factory=OperatorSettings)

    def with_overrides(self, **sections: dict[str, Any]) -> Settings:
        """A copy with some keys replaced, e.g. `with_overrides(server={"port": 0})`."""
        changed = {name: replace(getattr(self, name), **values)
                   for name, values in sections.items()}
        return replace(self, **changed)


_SECTIONS = {
    "server": ServerSettings,
    "database": DatabaseSettings,
    "wecom": WeComSettings,
    "paths": PathSettings,
    "sop": SopSettings,
    "replies": RepliesSettings,
    "sidebar": SidebarSettings,
    "logging": LoggingSettings,
    "replicas": ReplicaSettings,
    "console": ConsoleSettings,
    "operator": OperatorSettings,
}
_SECRET_NAMES = ("WECOM_CORP_ID", "WECOM_SECRET", "WECOM_TOKEN", "WECOM_AES_KEY")


DATABASE_URL_ENV = "BOT_DATABASE_URL"  # replaces [database] url: a password stays out of TOML


def load_settings(path: Path | None) -> Settings:
    """Read a TOML config file; unknown sections or keys are errors, not silently ignored.
    `BOT_DATABASE_URL` in the environment, if set, replaces `[database] url`."""
    settings = _load_file(path)
    if url := os.environ.get(DATABASE_URL_ENV):
        settings = settings.with_overrides(database={"url": url})
    if language := os.environ.get(LANGUAGE_ENV, "").strip().lower():
        if language not in LANGUAGES:
            raise ConfigError(f"{LANGUAGE_ENV}={language!r}: expected one of "
                              + ", ".join(LANGUAGES))
        settings = settings.with_overrides(operator={"language": language})
    set_language(settings.operator.language)  # the whole process speaks it from now on
    return settings


def _load_file(path: Path | None) -> Settings:
    if path is None:
        return Settings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    base = path.resolve().parent
    sections: dict[str, Any] = {}
    for name, values in raw.items():
        cls = _SECTIONS.get(name)
        if cls is None:
            raise ConfigError(f"{path}: unknown section [{name}] (known: {', '.join(_SECTIONS)})")
        sections[name] = _build_section(path, name, cls, values, base)
    return Settings(**sections)


def _build_section(path: Path, name: str, cls: type, values: Any, base: Path) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown key [{name}] {key} (known: {', '.join(known)})")
        expected = type(getattr(defaults, key))
        if issubclass(expected, Path):
            if not isinstance(value, str):
                raise ConfigError(f"{path}: [{name}] {key} must be a path string")
            value = Path(value) if Path(value).is_absolute() else base / value
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif expected is tuple and isinstance(value, list):  # a list of strings
            value = tuple(str(v) for v in value)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(
                f"{path}: [{name}] {key} must be {expected.__name__}, got {type(value).__name__}"
            )
        kwargs[key] = value
    if name == "sop" and kwargs.get("group_send_quota", "month") not in GROUP_SEND_QUOTAS:
        raise ConfigError(f"{path}: [sop] group_send_quota must be one of "
                          + ", ".join(GROUP_SEND_QUOTAS))
    if name == "operator" and kwargs.get("language", "zh") not in LANGUAGES:
        raise ConfigError(f"{path}: [operator] language must be one of " + ", ".join(LANGUAGES))
    if name == "database" and "url" in kwargs:
        kwargs["url"] = _resolve_sqlite_url(kwargs["url"], base)
    return cls(**kwargs)


def _resolve_sqlite_url(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str(base / url[len(prefix) :])
    return url


def load_secrets(env_file: Path | None = None) -> Secrets:
    """Secrets from the process environment, falling back to a `.env` file (never overriding)."""
    load_dotenv(env_file or Path.cwd() / ".env", override=False)
    missing = [name for name in _SECRET_NAMES if not os.environ.get(name)]
    if missing:
        raise ConfigError(
            "missing secret(s) " + ", ".join(missing) + ": set them in the environment or .env"
        )
    aes_key = os.environ["WECOM_AES_KEY"]
    if len(aes_key) != 43:
        raise ConfigError("WECOM_AES_KEY must be the 43-character EncodingAESKey")
    agent = os.environ.get("WECOM_AGENT_ID")
    try:
        agent_id = int(agent) if agent else None
    except ValueError as exc:
        raise ConfigError("WECOM_AGENT_ID must be a number") from exc
    return Secrets(
        corp_id=os.environ["WECOM_CORP_ID"],
        secret=os.environ["WECOM_SECRET"],
        token=os.environ["WECOM_TOKEN"],
        aes_key=aes_key,
        agent_id=agent_id,
        session_key=os.environ.get("BOT_SESSION_KEY") or None,
    )
