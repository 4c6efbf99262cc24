"""Codes: every store's 「联系我」 and 「加入群聊」 QR codes and the group welcome, made in
WeCom from the operator files by `python -m bot codes sync` (docs/codes.md).

spec (sop/codes.yaml) → desired (what should exist, checked with file:line; group welcome
in welcome_template) → plan (the diff with what was recorded) → sync (apply, record, recover
from an interrupted run) → records (the `wecom_code` rows). The welcomes invite with the
store's join code (invite), and joins through it are attributed (attribution).
"""

from bot.codes.model import DesiredCode, RecordedCode
from bot.codes.records import read_recorded, recorded_codes

__all__ = ["DesiredCode", "RecordedCode", "read_recorded", "recorded_codes"]
