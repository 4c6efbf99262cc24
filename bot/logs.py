"""Logging set-up in one place, with secrets redacted from every line that goes out.

Redaction works on the formatted line (message, arguments and traceback alike), so a secret
that reaches a log call by accident, e.g. inside an exception message or a URL with
`access_token=`, is still masked.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable

_TOKEN_IN_URL = re.compile(r"(access_token|corpsecret|key)=[^&\s'\"]+")


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str], as_json: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        self._json = as_json

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _TOKEN_IN_URL.sub(r"\1=***", text)

    def format(self, record: logging.LogRecord) -> str:
        if not self._json:
            return self.redact(super().format(record))
        entry = {"time": record.created, "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
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
