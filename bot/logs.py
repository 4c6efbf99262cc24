"""Logging set-up in one place, with secrets redacted from every line that goes out.

Redaction works on the formatted line (message, arguments and traceback alike), so a secret
that reaches a log call by accident, e.g. inside an exception message or a URL with
`access_token=` or a database password, is still masked.

JSON lines (`[logging] json = true` or `run --log-json`) carry the event's fields a log
shipper can index: the callback's dedupe key and inbox id where the line is about one
event (`extra={"dedupe_key": ...}`), and the replica that wrote it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_TOKEN_IN_URL = re.compile(r"(access_token|corpsecret|key)=[^&\s'\"]+")
_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]+):[^@\s]+@")  # postgresql://user:pass@host
# LogRecord attributes (from `extra=`) copied into JSON lines when present
EVENT_FIELDS = ("dedupe_key", "event_id", "send_key")
_context: dict[str, str] = {}


_event: ContextVar[dict[str, object] | None] = ContextVar("bot_log_event", default=None)


def set_context(**values: str) -> None:
    """Fields every line of this process carries from now on (e.g. replica=...)."""
    _context.update(values)


@contextmanager
def event_fields(**fields: object) -> Iterator[None]:
    """Every line logged inside (this task only) carries these fields, e.g. the dedupe key
    of the event a handler is working on, also from code that knows nothing of events."""
    token = _event.set(fields)
    try:
        yield
    finally:
        _event.reset(token)


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str], as_json: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        self._json = as_json

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = _PASSWORD_IN_URL.sub(r"\1:***@", text)
        return _TOKEN_IN_URL.sub(r"\1=***", text)

    def format(self, record: logging.LogRecord) -> str:
        fields = dict(_event.get() or {})
        fields.update({name: getattr(record, name) for name in EVENT_FIELDS
                       if getattr(record, name, None) is not None})
        if not self._json:
            line = super().format(record)
            if fields:
                line += " [" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "]"
            return self.redact(line)
        entry: dict[str, object] = {"time": record.created, "level": record.levelname,
                                    "logger": record.name, "message": record.getMessage(),
                                    **_context, **fields}
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return self.redact(json.dumps(entry, ensure_ascii=False))


def setup_logging(level: str = "INFO", as_json: bool = False,
                  secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets, as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # one line per callback is noise
