"""Settings loaded: env files checked, then every source read, errors naming the variable."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import DotEnvSettingsSource, SettingsError

from daemon.settings import credentials, names
from daemon.settings.core import Settings
from daemon.settings.values import PREFIX, ConfigError


def load_settings(env_files: Sequence[str | Path] = ()) -> Settings:
    """Return the settings from the environment and `env_files` (later files win).

    Raises:
        ConfigError: a file is missing, a `PLEDGEWATCH_` variable is not a setting
            or a value is invalid; names the file or the variable.
    """
    for path in env_files:
        _check_env_file(Path(path))
    names.refuse_unknown(_variable_names(env_files))

    try:
        return Settings(_env_file=tuple(str(p) for p in env_files) or None)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(_variable_errors(exc)) from None
    except SettingsError as exc:
        # Raised when a whole nested variable (PLEDGEWATCH_WEBHOOKS=...) is not JSON.
        match = re.search(r'field "(\w+)"', str(exc))
        variable = PREFIX + (match[1].upper() if match else "?")
        raise ConfigError(
            f"{variable}: cannot be parsed (expected JSON); set its parts as {variable}__<NAME>__..."
        ) from None


def _variable_names(env_files: Sequence[str | Path]) -> list[str]:
    """Return the name of every variable the settings are read from, as written.

    The environment's, the env files' (read as pydantic-settings reads them) and
    the credentials' (file names only: no file is opened).
    """
    found = list(os.environ)
    if env_files:
        # case_sensitive: the names as written, for the message; env_vars is every one.
        files = DotEnvSettingsSource(Settings, env_file=tuple(env_files), case_sensitive=True)
        found += files.env_vars
    folder = credentials.credentials_folder()
    if folder:
        found += credentials.credential_names(folder)
    return found


def _check_env_file(file: Path) -> None:
    """Refuse an env file that is missing, unreadable or not UTF-8 text, naming it.

    Reading it here, not only checking permissions, also catches what os.access
    cannot see (root reads everything; a file may be a folder or undecodable).
    """
    if file.is_dir():
        raise ConfigError(f"env file {file}: is a folder, not a file")
    if not file.exists():
        raise ConfigError(f"env file {file}: not found")
    try:
        file.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"env file {file}: not readable ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"env file {file}: not UTF-8 text (byte {exc.start})") from None


def _variable_errors(exc: ValidationError) -> str:
    """Name each bad variable with pydantic's reason, never the value (it may be a secret)."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not loc:  # a rule across variables: its message names them
            lines.append(message)
            continue
        variable = PREFIX + "__".join(part.upper() for part in loc)
        lines.append(f"{variable}: {message}")
    return "; ".join(lines)
