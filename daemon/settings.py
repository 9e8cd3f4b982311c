"""Settings from the environment and env files (prefix `PLEDGEWATCH_`).

Usage::

    settings = load_settings(env_files=["/etc/pledgewatch/pledgewatch.env"])
    settings.webhooks["ops"].url

Later env files win over earlier ones; the real environment wins over files.
Under systemd, a credential (`LoadCredential=PLEDGEWATCH_API_TOKEN:...`) wins
over both: each file in $CREDENTIALS_DIRECTORY named like a variable supplies it.
A bad value raises `ConfigError`, whose message names the variable and never
repeats a secret.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from sqlalchemy.engine import make_url

from daemon.model import durations, recurrence
from daemon.model.durations import parse_duration, parse_durations
from daemon.model.schedule import NoticeType, Policy

PREFIX = "PLEDGEWATCH_"
CONSOLE = "console"  # the sink used when no webhook is configured
_WEBHOOK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
DATABASES = ("sqlite", "postgresql")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the variable or file."""


def _durations(value: Any) -> Any:
    return parse_durations(value) if isinstance(value, str) else value


def _duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


Durations = Annotated[tuple[timedelta, ...], NoDecode, BeforeValidator(_durations)]
Duration = Annotated[timedelta, NoDecode, BeforeValidator(_duration)]
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_list)]


def _split_secrets(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text) if part]


def _networks(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return tuple(ipaddress.ip_network(p.strip()) for p in value.split(",") if p.strip())
        except ValueError as exc:
            raise ValueError(f"not a list of networks such as 10.0.0.0/8,::1/128 ({exc})") from None
    return value


Networks = Annotated[
    tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...], NoDecode, BeforeValidator(_networks)
]


class WebhookSettings(BaseModel):
    """One webhook block: `PLEDGEWATCH_WEBHOOKS__<NAME>__URL` and its siblings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    secret: SecretStr | None = None
    format: Literal["json", "slack", "discord", "teams", "cloudevents"] = "json"
    events: CommaList = ()
    tags: CommaList = ()
    headers: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    timeout: Duration = timedelta(seconds=15)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        try:
            parts.port  # noqa: B018 -- raises on a port outside 0-65535
        except ValueError:
            raise ValueError("has a port outside 1-65535") from None
        return value

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        parts = _split_secrets(value.get_secret_value())
        if not parts:
            raise ValueError("is empty")
        for position, part in enumerate(parts, start=1):
            # Positions, never values: the message must not carry the secret.
            where = f"secret {position}" if len(parts) > 1 else "it"
            if not part.startswith("whsec_"):
                raise ValueError(f"{where} must start with whsec_ followed by base64 (not shown)")
            try:
                key = base64.b64decode(part[len("whsec_") :], validate=True)
            except binascii.Error:
                raise ValueError(
                    f"{where}: the part after whsec_ is not base64 (not shown)"
                ) from None
            if not key:
                raise ValueError(f"{where}: the key after whsec_ is empty")
        return value

    @property
    def secrets(self) -> list[str]:
        """Every signing secret: several during a rotation, each giving one signature."""
        return _split_secrets(self.secret.get_secret_value()) if self.secret else []

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = {t.value for t in NoticeType}
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(
                f"unknown event type {unknown[0]!r} (one of: {', '.join(sorted(known))})"
            )
        return value

    @field_validator("headers", mode="before")
    @classmethod
    def _json_headers(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError('must be a JSON object such as {"X-Team": "desk"}') from None
        return value

    @field_validator("headers")
    @classmethod
    def _header_safe(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"header name {name!r} is not a valid HTTP token")
            if any(c in text for c in "\r\n\0"):
                raise ValueError(
                    f"header {name!r} has a line break or NUL (the value is not shown)"
                )
        return value

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0")
        return value

    def wants(self, event_type: str, tags: Iterable[str]) -> bool:
        """Return True when this webhook takes this event for a pledge with these tags."""
        if self.events and event_type not in self.events:
            return False
        return not self.tags or bool(set(self.tags) & set(tags))


class Settings(BaseSettings):
    """Every setting pledgewatch reads; see config/pledgewatch.env.example."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_nested_delimiter="__", extra="ignore")

    database_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8787, ge=0, le=65535)
    timezone: str = "UTC"
    reminder_offsets: Durations = (timedelta(days=30), timedelta(days=7), timedelta(days=1))
    overdue_repeat: Duration = timedelta(days=7)
    check_in: str = "30d"
    catch_up: Literal["latest", "all", "none"] = "latest"
    catch_up_grace: Duration = timedelta(minutes=5)
    retry_schedule: Durations = (
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
    )
    allow_private_targets: bool = False
    allowed_targets: Networks = ()
    max_concurrency: int = Field(default=16, ge=2, le=256)
    webhook_concurrency: int = Field(default=4, ge=1, le=255)
    # How long past two sends' timeouts a delivery stays leased to the replica that claimed
    # it; a replica that dies holds its deliveries this much longer than two sends can take.
    lease_margin: Duration = Field(default=timedelta(seconds=30), gt=timedelta(0))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    api_token: SecretStr | None = None  # unset: the write API refuses every write
    webhooks: dict[str, WebhookSettings] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Moscow)"
            ) from None
        return value

    @field_validator("check_in")
    @classmethod
    def _interval(cls, value: str) -> str:
        # RecurrenceError is a ValueError: reported as this variable.
        probe = recurrence.Recurrence(since=datetime(2000, 1, 1, tzinfo=UTC))
        recurrence.check(probe, value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("reminder_offsets", "retry_schedule")
    @classmethod
    def _positive(cls, value: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
        if any(v < timedelta(0) for v in value):
            raise ValueError("durations must not be negative")
        return value

    @model_validator(mode="after")
    def _room_for_others(self) -> Settings:
        # A webhook must never be able to take every slot, or one hanging
        # endpoint would hold up all the others.
        if self.webhook_concurrency >= self.max_concurrency:
            raise ValueError(
                f"PLEDGEWATCH_WEBHOOK_CONCURRENCY ({self.webhook_concurrency}) must be below "
                f"PLEDGEWATCH_MAX_CONCURRENCY ({self.max_concurrency})"
            )
        return self

    @field_validator("webhooks")
    @classmethod
    def _names(cls, value: dict[str, WebhookSettings]) -> dict[str, WebhookSettings]:
        if CONSOLE in value:
            raise ValueError(f"the name {CONSOLE!r} is reserved for the console sink")
        for name in value:
            if not _WEBHOOK_NAME.match(name):
                raise ValueError(
                    f"webhook name {name!r}: use up to 64 letters, digits, _ or -, starting with a letter or digit"
                )
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            backend = make_url(value).get_backend_name()
        except Exception:
            raise ValueError(
                "is not a database URL (sqlite:///path or postgresql://user@host/db)"
            ) from None
        if backend not in DATABASES:
            raise ValueError(f"{backend!r} is not supported (use sqlite or postgresql)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Return the sources, strongest first: arguments, credentials, environment, env files."""
        # A credential outranks the environment: under systemd, EnvironmentFile= values
        # are in the environment too, and a credential is the more deliberate place.
        credentials = _CredentialsSource(settings_cls)
        return init_settings, credentials, env_settings, dotenv_settings, file_secret_settings

    @property
    def policy(self) -> Policy:
        """The timing settings as the model takes them."""
        return Policy(
            reminder_offsets=self.reminder_offsets,
            overdue_repeat=self.overdue_repeat,
            catch_up=self.catch_up,
            check_in=self.check_in,
            grace=self.catch_up_grace,
        )

    @property
    def zone(self) -> ZoneInfo:
        """The default zone for seed files that name none."""
        return ZoneInfo(self.timezone)

    def effective_database_url(self) -> str:
        """Return DATABASE_URL, or the SQLite file in $STATE_DIRECTORY (systemd) else ./var/."""
        if self.database_url:
            return self.database_url
        state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
        folder = Path(state) if state else Path("var")
        return f"sqlite:///{folder / 'pledgewatch.db'}"

    def masked(self) -> dict[str, Any]:
        """Return the effective settings with every secret masked, for display."""
        return {
            "database_url": mask_database_url(self.effective_database_url()),
            "http_host": self.http_host,
            "http_port": self.http_port,
            "timezone": self.timezone,
            "reminder_offsets": ",".join(_fmt(d) for d in self.reminder_offsets),
            "overdue_repeat": _fmt(self.overdue_repeat),
            "check_in": self.check_in,
            "catch_up": self.catch_up,
            "catch_up_grace": _fmt(self.catch_up_grace),
            "retry_schedule": ",".join(_fmt(d) for d in self.retry_schedule),
            "allow_private_targets": self.allow_private_targets,
            "allowed_targets": ",".join(str(n) for n in self.allowed_targets),
            "max_concurrency": self.max_concurrency,
            "webhook_concurrency": self.webhook_concurrency,
            "lease_margin": _fmt(self.lease_margin),
            "log_level": self.log_level,
            "log_format": self.log_format,
            "api_token": "********" if self.api_token else None,
            "webhooks": {
                name: {
                    "url": mask_url(hook.url),
                    "secret": "********" if hook.secret else None,
                    "format": hook.format,
                    "events": list(hook.events),
                    "tags": list(hook.tags),
                    "headers": {key: "********" for key in hook.headers},
                    "timeout": _fmt(hook.timeout),
                }
                for name, hook in sorted(self.webhooks.items())
            }
            or {CONSOLE: "no webhook configured: notices are printed to standard output"},
        }


def _fmt(value: timedelta) -> str:
    return durations.format_duration(value)


def mask_url(url: str) -> str:
    """Return `url` with its password, query values and token-like path parts masked.

    The scheme, host and port stay visible so an operator can tell webhooks apart.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal: keep its brackets
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"***@{host}"
    # Webhook services carry their token in the path: mask every segment that looks
    # like one (long, digit-heavy, or letters and digits mixed). Over-masking is safe.
    path = "/".join("***" if _token_like(seg) else seg for seg in parts.path.split("/"))
    query = "&".join(f"{pair.split('=')[0]}=***" for pair in parts.query.split("&") if pair)
    return f"{parts.scheme}://{host}{path}" + (f"?{query}" if query else "")


def _token_like(segment: str) -> bool:
    digits = sum(c.isdigit() for c in segment)
    mixed = digits > 0 and any(c.isalpha() for c in segment) and len(segment) >= 6
    return len(segment) >= 16 or digits >= 6 or mixed


def mask_database_url(url: str) -> str:
    """Return a database URL with its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unreadable database URL>"


def load_settings(env_files: Sequence[str | Path] = ()) -> Settings:
    """Return the settings from the environment and `env_files` (later files win).

    Raises:
        ConfigError: a file is missing or a value is invalid; names the variable.
    """
    for path in env_files:
        _check_env_file(Path(path))

    try:
        return Settings(_env_file=tuple(str(p) for p in env_files) or None)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except SettingsError as exc:
        # Raised when a whole nested variable (PLEDGEWATCH_WEBHOOKS=...) is not JSON.
        match = re.search(r'field "(\w+)"', str(exc))
        variable = PREFIX + (match[1].upper() if match else "?")
        raise ConfigError(
            f"{variable}: cannot be parsed (expected JSON); set its parts as {variable}__<NAME>__..."
        ) from None


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


def _describe(exc: ValidationError) -> str:
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


class _CredentialsSource(EnvSettingsSource):
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
        folder = os.environ.get("CREDENTIALS_DIRECTORY")
        found = _read_credentials(Path(folder)) if folder else {}
        self.env_vars = {
            (name if self.case_sensitive else name.lower()): value for name, value in found.items()
        }


def _read_credentials(folder: Path) -> dict[str, str]:
    """Return {file name: text} for every PLEDGEWATCH_ file in `folder`."""
    try:
        names = sorted(entry.name for entry in os.scandir(folder))
    except OSError as exc:
        raise ConfigError(
            f"CREDENTIALS_DIRECTORY {folder}: cannot be listed ({exc.strerror})"
        ) from None
    found: dict[str, str] = {}
    for name in names:
        # Environment names are matched case-insensitively; credential names too.
        if not name.upper().startswith(PREFIX):
            continue
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
