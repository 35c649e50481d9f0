"""Configuration from ``PEERBOT_*`` environment variables and an optional ``.env``.

Settings are checked once at start. A bad value stops the program with one
plain line per problem naming the variable and what is allowed, because the
person reading it is often an admin setting the bot up for the first time,
not a Python developer.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PREFIX = "PEERBOT_"

CommaList = Annotated[frozenset[str], NoDecode]


class LogLevel(str, Enum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    db: Path = Field(Path("peerbot.db"), description="path of the SQLite database file")
    min_group: int = Field(5, ge=3, le=1000, description="fewest answers before team results are shown")
    supervisors: CommaList = Field(frozenset(), description="comma-separated user ids with the supervisor role")
    admins: CommaList = Field(frozenset(), description="comma-separated user ids with the admin role")
    supervisor_channel: str = Field("supervisors", min_length=1, description="name of the peer-supervisor channel")
    kb_dir: Path | None = Field(None, description="an organisation's own knowledge entries (a directory)")
    form_idle_minutes: int = Field(30, ge=1, le=10080, description="minutes before a half-filled form asks to resume")
    max_message_chars: int = Field(4000, ge=200, le=40000, description="longest message the bot reads")
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(8080, ge=1, le=65535)
    log_level: LogLevel = LogLevel.WARNING

    @field_validator("supervisors", "admins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("kb_dir")
    @classmethod
    def _kb_dir_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError("must be an existing directory of YAML entries")
        return value

    @field_validator("db")
    @classmethod
    def _db_parent_exists(cls, value: Path) -> Path:
        if value.is_dir():
            raise ValueError("must be a file path, not a directory")
        if not value.expanduser().resolve().parent.is_dir():
            raise ValueError("must be in a directory that exists")
        return value.expanduser()

    def roles_of(self, user: str) -> frozenset[str]:
        """Everyone is a peer worker; supervisors and admins come from configuration."""
        roles = {"peer"}
        if user in self.supervisors:
            roles.add("supervisor")
        if user in self.admins:
            roles.update({"admin", "supervisor"})
        return frozenset(roles)


class ConfigError(Exception):
    """Raised with one readable line per problem."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def _allowed(field_name: str) -> str | None:
    """What a field accepts, in words, or None to keep pydantic's own message."""
    field = Settings.model_fields[field_name]
    if field.annotation is LogLevel:
        return "one of " + ", ".join(level.value for level in LogLevel)
    bounds = {attr: getattr(meta, attr) for meta in field.metadata for attr in ("ge", "le") if hasattr(meta, attr)}
    if field.annotation is int and bounds:
        return f"a whole number from {bounds.get('ge')} to {bounds.get('le')}"
    return None


def describe_errors(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else "?"
        allowed = _allowed(name) if name in Settings.model_fields else None
        message = f"must be {allowed}" if allowed else item["msg"].removeprefix("Value error, ")
        got = item.get("input")
        got_text = f" (got {got!r})" if isinstance(got, (str, int)) and len(str(got)) < 80 else ""
        lines.append(f"{PREFIX}{name.upper()}: {message}{got_text}")
    return lines


def load_settings(**overrides: object) -> Settings:
    """Read and check the configuration; raise ``ConfigError`` on any problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc)) from None
