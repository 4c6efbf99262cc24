"""The English catalog (``[operator] language = "en"``): the same keys as `bot.i18n.zh`."""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    # ---- cron lines (bot/sop/cron.py)
    "cron.shortcut": "cron: '{source}' shortcuts are not supported; write five fields "
                     '(e.g. "30 8 * * *") or use at: and days:',
    "cron.field_count": "cron: expected 5 fields (minute hour day-of-month month day-of-week), "
                        "found {count} in '{source}'",
    "cron.dom_or_dow": "cron: '{source}' restricts both day-of-month ({dom}) and day-of-week "
                       "({dow}); crontab would fire when EITHER matches, which is rarely meant. "
                       "Restrict only one of them (or start one with */), or write two SOPs",
    "cron.no_such_day": "cron: '{source}' names days that none of its months has",
    "cron.too_often": "cron: '{source}' fires {count} times a day; an SOP may fire at most "
                      "{limit} times a day (check the minute and hour fields)",
    "cron.empty_item": "cron {field}: empty item in '{text}'",
    "cron.bad_step": "cron {field}: bad step '/{step}' in '{text}'",
    "cron.backwards": "cron {field}: range '{range}' runs backwards; write it from low to high "
                      "or as a list",
    "cron.step_needs_range": "cron {field}: '{item}' needs a range before the step "
                             "(e.g. '{base}-{high}/{step}' or '*/{step}')",
    "cron.not_a_number": "cron {field}: '{text}' is not a number {low}-{high}",
    "cron.not_a_number_or_name": "cron {field}: '{text}' is not a number {low}-{high} "
                                 "or a name ({names})",
    "cron.outside": "cron {field}: {value} is outside {low}-{high}",
    "cron.field.minute": "minute",
    "cron.field.hour": "hour",
    "cron.field.day_of_month": "day-of-month",
    "cron.field.month": "month",
    "cron.field.day_of_week": "day-of-week",
    # ---- operator files: YAML and schema (bot/books/validation.py)
    'hint.did_you_mean': " (did you mean '{name}'?)",
    "hint.allowed": " (allowed: {names})",
    "yaml.empty_file": "the file is empty",
    'yaml.unknown_key': "unknown key '{key}'{hint}",
    'yaml.missing_key': "missing required key '{key}'",
    "yaml.text_not_bool": "expected text, found true/false; put the value in quotes",
    'yaml.text_not_number': (
        'expected text, found the number {value}; YAML reads unquoted digits as a number, '
        'so write the value in quotes as you mean it (e.g. "0012", not 0012)'
    ),
    "yaml.expected_text": "expected text, found {found}",
    "yaml.expected_found": "expected {expected}, found {found}",
    "yaml.too_long": "at most {limit} allowed, found {found}",
    "yaml.too_short": "at least {limit} needed, found {found}",
    "yaml.more": "more",
    "yaml.fewer": "fewer",
    "yaml.not_empty": "must not be empty",
    "yaml.one_of": "expected one of {expected}",
    "yaml.a_list": "a list",
    "yaml.a_mapping": "a mapping (key: value)",
    "yaml.a_whole_number": "a whole number",
    "yaml.a_number": "a number",
    "yaml.true_or_false": "true or false",
    "yaml.nothing": "nothing (empty value)",
    "yaml.found_mapping": "a mapping",
    "yaml.found_list": "a list",
    "yaml.the_number": "the number {value}",
}
