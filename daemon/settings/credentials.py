"""Settings from systemd credentials: the `PLEDGEWATCH_*` files in $CREDENTIALS_DIRECTORY."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic_settings import BaseSettings, EnvSettingsSource

from daemon.settings.values import PREFIX, ConfigError


class CredentialsSource(EnvSettingsSource):
    """Variables from systemd credentials: $CREDENTIALS_DIRECTORY/PLEDGEWATCH_* files.

    ``LoadCredential=PLEDGEWATCH_WEBHOOKS__OPS__SECRET:/etc/pledgewatch/ops.secret``
    makes systemd copy that file, readable by the service alone, to
    $CREDENTIALS_DIRECTORY/PLEDGEWATCH_WEBHOOKS__OPS__SECRET. Each such file is
    read like an environment variable of that name (same prefix, same ``__``
    nesting), its trailing newline dropped. Files with other names are never
    opened: they may be another program's binary keys.

    Raises:
        ConfigError: the directory or a PLEDGEWATCH_ file in it cannot be read;
            the message names the file, never its content.
    """

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        # Replace what the parent read from os.environ: the same parsing, other values.
        folder = credentials_folder()
        found = _read_credentials(folder) if folder else {}
        self.env_vars = {
            (name if self.case_sensitive else name.lower()): value for name, value in found.items()
        }


def credentials_folder() -> Path | None:
    """Return $CREDENTIALS_DIRECTORY (set by systemd for a unit given credentials), or None."""
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    return Path(folder) if folder else None


def credential_names(folder: Path) -> list[str]:
    """Return the names of the PLEDGEWATCH_ files in `folder`, sorted; no file is opened."""
    try:
        names = sorted(entry.name for entry in os.scandir(folder))
    except OSError as exc:
        raise ConfigError(
            f"CREDENTIALS_DIRECTORY {folder}: cannot be listed ({exc.strerror})"
        ) from None
    # Environment names are matched case-insensitively; credential names too.
    return [name for name in names if name.upper().startswith(PREFIX)]


def _read_credentials(folder: Path) -> dict[str, str]:
    """Return {file name: text} for every PLEDGEWATCH_ file in `folder`."""
    found: dict[str, str] = {}
    for name in credential_names(folder):
        file = folder / name
        try:
            text = file.read_bytes().decode("utf-8")
        except OSError as exc:
            raise ConfigError(f"credential {file}: cannot be read ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            # The position only: the decoder's own message quotes the bad byte.
            raise ConfigError(f"credential {file}: not UTF-8 text (byte {exc.start})") from None
        # `echo secret > file` and editors add a newline that is no part of the value.
        found[name] = text.rstrip("\r\n")
    return found
