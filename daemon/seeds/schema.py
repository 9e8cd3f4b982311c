"""The seed document's schema: pydantic models of a file, and its errors as SeedError."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from daemon.model.statuses import Kind, Status

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # what a commitment id may be


class SeedError(Exception):
    """A seed file that cannot be imported; says where and why."""

    def __init__(
        self, file: str, message: str, *, commitment: str | None = None, field: str | None = None
    ) -> None:
        self.file, self.commitment, self.field = file, commitment, field
        self.reason = message  # what is wrong, without where
        where = file
        if commitment:
            where += f": commitment {commitment!r}"
        if field:
            where += f": field {field!r}"
        super().__init__(f"{where}: {message}")


def _no_nul(value: Any) -> Any:
    """Refuse NUL characters, which PostgreSQL cannot store in text."""
    texts = value if isinstance(value, list) else [value]
    if any(isinstance(t, str) and "\0" in t for t in texts):
        raise ValueError("contains a NUL character")
    return value


def as_strings(value: Any) -> Any:
    """Return a list with every item made a str (YAML reads `reminders: [3]` as an int)."""
    return [str(v) for v in value] if isinstance(value, list) else value


# The models keep their underscored names: pydantic puts a model's name in some of its
# messages ("Input should be a valid dictionary or instance of _Source"), which an import
# prints. The package reads them through the public aliases below the classes.


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = None
    publisher: str | None = None
    url: str | None = None
    published: date | None = None


class _Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requires: str
    status: Status = Status.KEPT


class _Extracted(BaseModel):
    """Where `pledgewatch extract` found the commitment (kept with it, shown by `show`)."""

    model_config = ConfigDict(extra="forbid")
    sentence: str = Field(min_length=1)
    span: list[int] = Field(min_length=2, max_length=2)  # [start, end) in the article's text
    parties: list[str] = []
    confidence: float = Field(ge=0, le=1)
    cue: str = ""

    _text = field_validator("sentence", "parties", "cue")(_no_nul)

    @field_validator("span")
    @classmethod
    def _ordered(cls, span: list[int]) -> list[int]:
        if span[0] < 0 or span[1] < span[0]:
            raise ValueError("span must be [start, end] with 0 <= start <= end")
        return span


class _Commitment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200, pattern=ID_PATTERN)
    title: str = Field(min_length=1)
    description: str | None = None
    parties: list[str] = []
    kind: Kind = Kind.DELIVERABLE
    status: Status | None = None
    deadline: Any = None
    reminders: list[str] | None = None
    tags: list[str] = []
    conditions: list[_Condition] = []
    deadline_from: Literal["conditions"] | None = None  # the deadline counts from when they are met
    check_in: str | None = None  # ongoing: how often (default: PLEDGEWATCH_CHECK_IN)
    every: str | None = None  # recurring: an interval such as 3mo
    cron: str | None = None  # recurring: a crontab line
    extracted: _Extracted | None = None  # proposed by `pledgewatch extract` from this sentence

    _strings = field_validator("reminders", mode="before")(as_strings)
    _text = field_validator("title", "description", "parties", "tags")(_no_nul)


class _File(BaseModel):
    """A whole seed document: its source, its time zone and its commitments."""

    model_config = ConfigDict(extra="forbid")
    source: _Source = _Source()
    timezone: str | None = None
    commitments: list[_Commitment]


Source = _Source
Condition = _Condition
Extracted = _Extracted
Commitment = _Commitment
Document = _File


class Fields(TypedDict):
    """A validated commitment's fields, as `Commitment` holds them."""

    id: str
    title: str
    description: str | None
    parties: list[str]
    kind: Kind
    status: Status | None
    deadline: Any
    reminders: list[str] | None
    tags: list[str]
    conditions: list[Condition]
    deadline_from: Literal["conditions"] | None
    check_in: str | None
    every: str | None
    cron: str | None
    extracted: Extracted | None


def as_fields(commitment: Commitment) -> Fields:
    """Return a validated commitment's fields as the plain dict the rest of the import reads."""
    return Fields(**dict(commitment))


def explain(name: str, raw: dict[str, Any], exc: ValidationError) -> SeedError:
    """Turn pydantic's first error into one naming the commitment id and the field."""
    error = exc.errors(include_input=False, include_url=False)[0]
    loc = list(error["loc"])
    commitment = None
    if len(loc) >= 2 and loc[0] == "commitments" and isinstance(loc[1], int):
        items = raw.get("commitments") or []
        item = items[loc[1]] if loc[1] < len(items) else None
        commitment = (
            str(item.get("id")) if isinstance(item, dict) and item.get("id") else f"#{loc[1] + 1}"
        )
        loc = loc[2:]
    field = ".".join(str(part) for part in loc) or None
    message = str(error["msg"]).removeprefix("Value error, ")
    return SeedError(name, message, commitment=commitment, field=field)
