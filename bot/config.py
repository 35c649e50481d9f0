"""Configuration from ``PEERBOT_*`` environment variables and an optional ``.env``.

Settings are checked once at start. A bad value stops the program with one
plain line per problem naming the variable and what is allowed, because the
person reading it is often an admin setting the bot up for the first time,
not a Python developer.
"""

from __future__ import annotations

import base64
import logging
from enum import Enum
from pathlib import Path
from typing import Annotated

import re

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PREFIX = "PEERBOT_"

CommaList = Annotated[frozenset[str], NoDecode]
SlackChannelMap = Annotated[dict[str, str], NoDecode]


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
    kb_dir: Path | None = Field(None, description="an organization's own knowledge entries (a directory)")
    timezone: str = Field("America/New_York", description="IANA time zone for new teams (each person can set their own)")
    checkin_self_join: str = Field("request", pattern="^(request|off)$",
                                   description="'/checkin join TEAM': 'request' asks the admins to approve, 'off' leaves the roster to admins")
    pulse_flag_at: int = Field(50, ge=1, le=99, description="a pulse index or sign at or past this (0-100) is flagged")
    pulse_sharp_change: int = Field(15, ge=1, le=100, description="points a pulse index or sign may worsen before it is flagged")
    form_idle_minutes: int = Field(30, ge=1, le=10080, description="minutes before a half-filled form asks to resume")
    max_message_chars: int = Field(4000, ge=200, le=40000, description="longest message the bot reads")
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(8080, ge=1, le=65535)
    log_level: LogLevel = LogLevel.WARNING
    # Slack (bot/channels/slack/): on when a bot token is set. Order matters:
    # each check below sees the fields defined above it.
    slack_bot_token: SecretStr | None = Field(None, description="the Slack app's Bot User OAuth Token (xoxb-...)")
    slack_socket_mode: bool = Field(False, description="connect to Slack over Socket Mode instead of HTTP")
    slack_app_token: SecretStr | None = Field(None, validate_default=True, description="app-level token for Socket Mode (xapp-...)")
    slack_signing_secret: SecretStr | None = Field(None, validate_default=True, description="the Slack app's Signing Secret")
    slack_supervisor_channel: str | None = Field(None, validate_default=True, description="Slack channel id of the peer-supervisor channel")
    slack_channels: SlackChannelMap = Field(default_factory=dict, description="other named channels: name=CHANNEL_ID, comma-separated")
    slack_api_url: str = Field("https://slack.com/api/", description="base URL of the Slack Web API")
    # Microsoft Teams (bot/channels/teams/): on with an app id, or without
    # credentials for local testing. The password comes before the app id so
    # the app id's check sees both.
    teams_app_password: SecretStr | None = Field(None, description="the Teams bot's client secret")
    teams_app_id: str | None = Field(None, validate_default=True, description="the Teams bot's Microsoft app id")
    teams_tenant_id: str | None = Field(None, description="the one Microsoft 365 tenant the bot serves")
    teams_local_testing: bool = Field(False, validate_default=True, description="serve Teams unauthenticated, for local testing only")
    # Concerns (intents/concern.py).
    concern_key: SecretStr | None = Field(None, description="Fernet key that locks anonymous reporters' relay links")
    # What people build up over several steps (bot/flow_state.py): with a
    # key, sealed in the database for every replica; without, in memory.
    flow_state_key: SecretStr | None = Field(None, description="key that seals drafts and half-filled private forms in the database")
    backup_channel: str | None = Field(None, description="where concerns about a peer supervisor go instead")
    concern_escalate_hours: int = Field(24, ge=1, le=720, description="weekday hours before an unacknowledged concern is escalated")
    concern_escalation_channel: str | None = Field(None, description="where escalations are re-posted (default: the same channel)")
    concern_escalation_mention: str = Field("", max_length=200, description="who an escalation calls on, e.g. a Slack <!subteam^ID>")
    concern_retention_days: int = Field(90, ge=1, le=3650, description="days a resolved concern's text is kept")
    concern_daily_limit: int = Field(5, ge=1, le=100, description="most concerns one person can send in 24 hours")
    holidays: str = Field("US", description="public holidays that don't count as business hours: a country code, optionally -SUBDIVISION (US, US-CA, GB-SCT), or none")

    @field_validator("supervisors", "admins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_is_known(cls, value: str) -> str:
        from intents.inputs import time_zone  # the same reading as /checkin tz: any case, proper spelling kept

        zone = time_zone(value)
        if zone is None:
            raise ValueError("must be an IANA time zone name such as America/Chicago or Europe/London")
        return zone.key

    @field_validator("holidays")
    @classmethod
    def _holidays_are_known(cls, value: str) -> str:
        from bot.business_days import HolidayError, check_calendar_name

        try:
            check_calendar_name(value)
        except HolidayError as exc:
            raise ValueError(str(exc)) from None
        return value.strip()

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

    @field_validator("slack_bot_token")
    @classmethod
    def _slack_bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"xoxb-[A-Za-z0-9-]{8,}", value.get_secret_value()):
            raise ValueError("must be the app's Bot User OAuth Token (OAuth & Permissions), starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _slack_app_token(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"xapp-[A-Za-z0-9-]{8,}", value.get_secret_value()):
            raise ValueError("must be an app-level token (Basic Information > App-Level Tokens), starting with xapp-")
        if value is None and info.data.get("slack_socket_mode"):
            raise ValueError("is needed for Socket Mode: an app-level token with connections:write, starting with xapp-")
        return value

    @field_validator("slack_signing_secret")
    @classmethod
    def _slack_signing_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", value.get_secret_value()):
            raise ValueError("must be the app's Signing Secret (Basic Information > App Credentials): 32 letters a-f and digits")
        if value is None and info.data.get("slack_bot_token") and not info.data.get("slack_socket_mode"):
            raise ValueError("is needed to check that requests really come from Slack (Basic Information > App Credentials)")
        return value

    @field_validator("slack_supervisor_channel")
    @classmethod
    def _slack_supervisor_channel(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not re.fullmatch(r"[CG][A-Z0-9]{6,}", value.strip()):
            raise ValueError("must be a Slack channel id like C0123ABCDE (channel details, at the bottom), not its name")
        if value is None and info.data.get("slack_bot_token"):
            raise ValueError("is needed when Slack is on: the id of the peer-supervisor channel, like C0123ABCDE")
        return value.strip() if value else value

    @field_validator("slack_channels", mode="before")
    @classmethod
    def _slack_channels(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        pairs = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, _, channel_id = part.partition("=")
            if not name.strip() or not re.fullmatch(r"[CG][A-Z0-9]{6,}", channel_id.strip()):
                raise ValueError("must be name=CHANNEL_ID pairs separated by commas, like wellbeing=C0123ABCDE")
            pairs[name.strip()] = channel_id.strip()
        return pairs

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError("must be an http(s) URL, like https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("teams_app_id", "teams_tenant_id")
    @classmethod
    def _teams_ids(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = (value or "").strip() or None
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", value):
            raise ValueError("must be a GUID like 00000000-0000-0000-0000-000000000000 (from the Azure bot registration)")
        if info.field_name == "teams_app_id":
            has_password = info.data.get("teams_app_password") is not None
            if value and not has_password:
                raise ValueError("is set, so PEERBOT_TEAMS_APP_PASSWORD (the bot's client secret) is needed too")
            if not value and has_password:
                raise ValueError("is needed when PEERBOT_TEAMS_APP_PASSWORD is set")
        return value

    @field_validator("teams_local_testing")
    @classmethod
    def _teams_local_testing(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("teams_app_id"):
            raise ValueError("must be off when PEERBOT_TEAMS_APP_ID is set: with credentials every request is checked")
        return value

    @field_validator("concern_key")
    @classmethod
    def _concern_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        from cryptography.fernet import Fernet

        try:
            Fernet(value.get_secret_value().strip().encode())
        except (ValueError, TypeError):
            raise ValueError("must be a key made by `peerbot concerns new-key` (44 characters of URL-safe base64)") from None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("flow_state_key")
    @classmethod
    def _flow_state_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        key = value.get_secret_value().strip() if value is not None else ""
        if not key:
            return None
        try:
            whole = len(base64.urlsafe_b64decode(key.encode())) == 32 and len(key) == 44
        except (ValueError, TypeError):
            whole = False
        if not whole:
            raise ValueError("must be a key made by `peerbot concerns new-key` (44 characters of URL-safe base64)")
        concern_key = info.data.get("concern_key")
        if concern_key is not None and concern_key.get_secret_value() == key:
            raise ValueError("must be a different key from PEERBOT_CONCERN_KEY: make another with `peerbot concerns new-key`")
        return SecretStr(key)

    @field_validator("backup_channel", "concern_escalation_channel")
    @classmethod
    def _optional_channel(cls, value: str | None) -> str | None:
        return (value or "").strip().lstrip("#") or None

    @property
    def teams_enabled(self) -> bool:
        """Teams is served with real credentials, or unauthenticated for local testing."""
        return bool(self.teams_app_id) or self.teams_local_testing

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
        secret = name in Settings.model_fields and "SecretStr" in str(Settings.model_fields[name].annotation)
        got_text = f" (got {got!r})" if isinstance(got, (str, int)) and len(str(got)) < 80 and not secret else ""
        lines.append(f"{PREFIX}{name.upper()}: {message}{got_text}")
    return lines


def load_settings(**overrides: object) -> Settings:
    """Read and check the configuration; raise ``ConfigError`` on any problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc)) from None


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.value,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
