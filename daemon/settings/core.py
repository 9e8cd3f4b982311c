"""The daemon's Settings: every `PLEDGEWATCH_` variable, validated, and shown masked."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url

from daemon import masking
from daemon.model import recurrence
from daemon.model.durations import format_duration
from daemon.model.schedule import Policy
from daemon.settings import credentials
from daemon.settings.values import CONSOLE, PREFIX, Duration, Durations, Networks
from daemon.settings.webhooks import NAME_PATTERN, WebhookSettings

DATABASES = ("sqlite", "postgresql")


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
    page_token: SecretStr | None = None  # unset: the status pages are open to all who reach them
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
    def _check_in_interval(cls, value: str) -> str:
        # RecurrenceError is a ValueError: reported as this variable.
        probe = recurrence.Recurrence(since=datetime(2000, 1, 1, tzinfo=UTC))
        recurrence.check(probe, value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("reminder_offsets", "retry_schedule")
    @classmethod
    def _not_negative(cls, value: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
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
    def _webhook_names(cls, value: dict[str, WebhookSettings]) -> dict[str, WebhookSettings]:
        if CONSOLE in value:
            raise ValueError(f"the name {CONSOLE!r} is reserved for the console sink")
        for name in value:
            if not NAME_PATTERN.match(name):
                raise ValueError(
                    f"webhook name {name!r}: use up to 64 letters, digits, _ or -, starting with a letter or digit"
                )
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
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
        from_credentials = credentials.CredentialsSource(settings_cls)
        return init_settings, from_credentials, env_settings, dotenv_settings, file_secret_settings

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
            "database_url": masking.mask_database_url(self.effective_database_url()),
            "http_host": self.http_host,
            "http_port": self.http_port,
            "timezone": self.timezone,
            "reminder_offsets": ",".join(format_duration(d) for d in self.reminder_offsets),
            "overdue_repeat": format_duration(self.overdue_repeat),
            "check_in": self.check_in,
            "catch_up": self.catch_up,
            "catch_up_grace": format_duration(self.catch_up_grace),
            "retry_schedule": ",".join(format_duration(d) for d in self.retry_schedule),
            "allow_private_targets": self.allow_private_targets,
            "allowed_targets": ",".join(str(n) for n in self.allowed_targets),
            "max_concurrency": self.max_concurrency,
            "webhook_concurrency": self.webhook_concurrency,
            "lease_margin": format_duration(self.lease_margin),
            "log_level": self.log_level,
            "log_format": self.log_format,
            "api_token": "********" if self.api_token else None,
            "page_token": "********" if self.page_token else None,
            "webhooks": {
                name: {
                    "url": masking.mask_url(hook.url),
                    "secret": "********" if hook.secret else None,
                    "format": hook.format,
                    "events": list(hook.events),
                    "tags": list(hook.tags),
                    "headers": {key: "********" for key in hook.headers},
                    "timeout": format_duration(hook.timeout),
                }
                for name, hook in sorted(self.webhooks.items())
            }
            or {CONSOLE: "no webhook configured: notices are printed to standard output"},
        }
