"""Which `PLEDGEWATCH_` variables are settings: any other one is refused, with a hint.

A misspelt variable would otherwise be ignored and its setting left at the
default, unnoticed. Names are matched without regard to case, as
pydantic-settings matches them (`case_sensitive` is off).

| variable | a setting when |
| --- | --- |
| `PLEDGEWATCH_<FIELD>` | FIELD is a `Settings` field |
| `PLEDGEWATCH_WEBHOOKS__<NAME>` | always (a JSON object for the whole block) |
| `PLEDGEWATCH_WEBHOOKS__<NAME>__<FIELD>` | FIELD is a `WebhookSettings` field |
| `PLEDGEWATCH_WEBHOOKS__<NAME>__HEADERS__<HEADER>` | always (one header) |
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from daemon.settings.core import Settings
from daemon.settings.values import PREFIX, ConfigError
from daemon.settings.webhooks import WebhookSettings

# Read with the prefix but not by the daemon: the test suite's PostgreSQL server
# (tests/support/databases.py, in the README). Allowed so that a developer's shell
# that sets it can still run pledgewatch.
NOT_SETTINGS = frozenset({"PLEDGEWATCH_TEST_POSTGRES"})

_DELIMITER = "__"  # Settings' env_nested_delimiter
_FIELDS = tuple(name.upper() for name in Settings.model_fields)
_WEBHOOK_FIELDS = tuple(name.upper() for name in WebhookSettings.model_fields)
_WEBHOOKS = "WEBHOOKS"


def refuse_unknown(names: Iterable[str]) -> None:
    """Raise ConfigError naming every `PLEDGEWATCH_` variable in `names` that is not a setting.

    Each is named with the closest valid name as a hint where one is close.
    """
    problems = []
    for name in dict.fromkeys(names):  # once each, in the order given
        if not name.upper().startswith(PREFIX) or name.upper() in NOT_SETTINGS:
            continue
        problem = _problem(name[len(PREFIX) :])
        if problem is not None:
            problems.append(f"{name}: {problem}")
    if problems:
        raise ConfigError("; ".join(problems))


def _problem(rest: str) -> str | None:
    """Return why PREFIX + `rest` is not a setting, with a hint, or None when it is one."""
    head, *tail = rest.split(_DELIMITER)
    if head.upper() == _WEBHOOKS:
        return _webhook_problem(tail)
    if head.upper() in _FIELDS and not tail:
        return None
    if head.upper() in _FIELDS:  # PLEDGEWATCH_HTTP_PORT__X: the setting takes no parts
        return _not_a_setting(PREFIX + head.upper())
    closest = _closest(head, _FIELDS)
    if closest == _WEBHOOKS:
        if tail:  # PLEDGEWATCH_WEBHOOK__OPS__URL
            return _not_a_setting(PREFIX + _DELIMITER.join([_WEBHOOKS, *tail]))
        # PLEDGEWATCH_WEBHOOKS_OPS_URL: single underscores where two are needed.
        name, _, field = head.partition("_")[2].rpartition("_")
        if name and field.upper() in _WEBHOOK_FIELDS:
            return _not_a_setting(PREFIX + _DELIMITER.join([_WEBHOOKS, name, field.upper()]))
    return _not_a_setting(PREFIX + closest if closest else None)


def _webhook_problem(parts: list[str]) -> str | None:
    """Return why PLEDGEWATCH_WEBHOOKS__ + `parts` is not a setting, or None when it is one."""
    if len(parts) < 2:  # the whole table, or one whole block, as JSON
        return None
    name, field, *rest = parts
    where = f"{PREFIX}{_WEBHOOKS}{_DELIMITER}{name}{_DELIMITER}"
    if field.upper() in _WEBHOOK_FIELDS:
        if not rest or (field.upper() == "HEADERS" and len(rest) == 1):
            return None
        return _not_a_setting(where + field.upper())
    closest = _closest(field, _WEBHOOK_FIELDS)
    if closest:
        return _not_a_setting(where + closest)
    return "not a setting (a webhook takes " + ", ".join(_WEBHOOK_FIELDS) + ")"


def _closest(word: str, choices: tuple[str, ...]) -> str | None:
    found = difflib.get_close_matches(word.upper(), choices, n=1)
    return found[0] if found else None


def _not_a_setting(hint: str | None) -> str:
    return f"not a setting (did you mean {hint}?)" if hint else "not a setting"
