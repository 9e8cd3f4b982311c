"""Settings from the environment and env files (prefix `PLEDGEWATCH_`).

Usage::

    settings = load_settings(env_files=["/etc/pledgewatch/pledgewatch.env"])
    settings.webhooks["ops"].url

Later env files win over earlier ones; the real environment wins over files.
Under systemd, a credential (`LoadCredential=PLEDGEWATCH_API_TOKEN:...`) wins
over both: each file in $CREDENTIALS_DIRECTORY named like a variable supplies it.
A bad value raises `ConfigError`, whose message names the variable and never
repeats a secret; so does a `PLEDGEWATCH_` variable that is no setting (a
misspelt name), with the closest setting as a hint.

| module | holds |
| --- | --- |
| `values` | `PREFIX`, `CONSOLE`, `ConfigError` and the value types (durations, lists) |
| `webhooks` | `WebhookSettings`: one webhook block |
| `core` | `Settings`: every variable, and `masked()` for display |
| `credentials` | the systemd credentials source |
| `names` | which `PLEDGEWATCH_` names are settings; the others refused |
| `loading` | `load_settings` |
"""

from __future__ import annotations

from daemon.masking import mask_database_url, mask_url
from daemon.settings.core import DATABASES, Settings
from daemon.settings.loading import load_settings
from daemon.settings.values import CONSOLE, PREFIX, ConfigError
from daemon.settings.webhooks import WebhookSettings

__all__ = [
    "CONSOLE",
    "DATABASES",
    "PREFIX",
    "ConfigError",
    "Settings",
    "WebhookSettings",
    "load_settings",
    "mask_database_url",
    "mask_url",
]
