"""The Slack platform: a Bolt ``AsyncApp`` mounted in peerbot's aiohttp server
(``POST /slack/events`` for events, commands, buttons, shortcuts and modals),
or connected over Socket Mode when there is no public URL.

Every HTTP request is checked against the signing secret (and Slack's
five-minute replay window) before anything is parsed; a repeated event id
(Slack's retries, ``X-Slack-Retry-Num``) is acknowledged and dropped before
any listener runs, and an event's work waits for its durable claim
(repeats.py), so the ack itself never waits for the disk.

Every Web API call, and every post to a response_url, goes through one
aiohttp session opened at start and closed at shutdown, so connections to
Slack are kept and reused instead of opened for each call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack import shapes
from bot.channels.slack.channel import QUIET as _quiet, SlackChannel
from bot.channels.slack.checks import check_slack
from bot.channels.slack.listeners import CLAIM, Listeners
from bot.channels.slack.repeats import Repeats
from bot.config import Settings

log = logging.getLogger(__name__)

PATH = "/slack/events"
PACE_SECONDS = 1.0
RATE_LIMIT_RETRIES = 3
WEB_API_TIMEOUT = 15


def build_client(settings: Settings) -> AsyncWebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = AsyncWebClient(token=token, base_url=settings.slack_api_url, logger=_quiet, timeout=WEB_API_TIMEOUT)
    # A 429 is waited out (Retry-After) and tried again, up to three times.
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES))
    return client


def open_session() -> aiohttp.ClientSession:
    """The one session every call to Slack shares (slack_sdk opens, and
    closes, a new one per call when it has none). Its timeout stands in for
    the per-call one slack_sdk only sets on sessions of its own."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEB_API_TIMEOUT))


def channel_ids(settings: Settings) -> dict[str, str]:
    """Logical channel names to Slack channel ids, from configuration."""
    ids = dict(settings.slack_channels)
    if settings.slack_supervisor_channel:
        ids[settings.supervisor_channel] = settings.slack_supervisor_channel
    return ids


class SlackPlatform:
    def __init__(self, settings: Settings, *, pace_seconds: float = PACE_SECONDS):
        self.settings = settings
        self.client = build_client(settings)
        self.slack = SlackChannel(self.client, channel_ids(settings), pace_seconds=pace_seconds)
        self.listeners = Listeners(self.slack, settings.max_message_chars)
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
        # Socket Mode needs no signing secret (Slack's websocket is the trust);
        # HTTP mode always has one (bot/config.py insists).
        self.verifier = SignatureVerifier(secret) if secret else None
        self.bolt = AsyncApp(
            client=self.client,
            signing_secret=secret,
            request_verification_enabled=bool(secret),
            process_before_response=True,
            logger=_quiet,
            name="peerbot",
        )
        self.bolt.middleware(self._skip_repeats)
        self.listeners.register(self.bolt)
        self.socket: Any = None
        self.repeats: Repeats | None = None
        self.checks: asyncio.Task | None = None
        self.fine: list[str] = []
        self.problems: list[str] = []

    # -- requests ----------------------------------------------------------------

    async def _skip_repeats(
        self, body: dict[str, Any], context: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Claim each event id once; a retry or redelivery is acknowledged and
        dropped. The durable claim rides in the context for the work to await."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and self.repeats is not None:
            claim = self.repeats.take(str(event_id))
            if claim is None:
                return BoltResponse(status=200, body="")
            context[CLAIM] = claim
        await next()
        return None

    async def handle(self, request: web.Request) -> web.Response:
        try:
            body = await request.text()
        except UnicodeDecodeError:
            return self._malformed("the body is not UTF-8")
        headers = {k.lower(): v for k, v in request.headers.items()}
        # Checked here before parsing, so a forged body of any shape is a plain 401.
        if self.verifier is None or not self.verifier.is_valid_request(body, headers):
            return web.Response(status=401, text="invalid request signature")
        # Signed is not the same as well formed: the shape is checked before
        # Bolt reads a field, so a body no Slack payload looks like is a 400
        # and one log line (the field at fault, never a value), not a 500.
        try:
            parsed = parse_body(body, request.content_type)
        except (ValueError, RecursionError):  # JSON that isn't (or nests without end), in the body or its payload field
            return self._malformed("the body is not JSON")
        reason = shapes.problem(parsed)
        if reason:
            return self._malformed(reason)
        bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=headers)
        response = await self.bolt.async_dispatch(bolt_request)
        if response.status == 404:
            # Nothing of ours listens for it (an event type, a callback id from
            # an old version of the app): acknowledged, so Slack neither retries
            # nor shows the person an error.
            log.info("slack: acknowledged a %s request nothing here handles", str(parsed.get("type") or "slash command")[:40])
            return web.Response(status=200, text="")
        return await to_aiohttp_response(response)

    @staticmethod
    def _malformed(reason: str) -> web.Response:
        log.warning("slack: refused a signed but malformed request: %s", reason)
        return web.Response(status=400, text="the request body is not shaped like a Slack payload")

    # -- lifecycle -------------------------------------------------------------

    async def start(self, runtime: Any) -> None:
        self.listeners.runtime = runtime
        self.slack.flows = runtime.engine.flows
        self.client.session = open_session()
        self.repeats = Repeats(lambda ids: runtime.store.slack_events.claim_many(ids, runtime.engine.now()))
        runtime.courier.register(self.slack)
        self.checks = asyncio.create_task(self.check(), name="slack-checks")
        if self.settings.slack_socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            assert self.settings.slack_app_token is not None
            self.socket = AsyncSocketModeHandler(self.bolt, self.settings.slack_app_token.get_secret_value())
            await self.socket.connect_async()

    async def check(self) -> None:
        self.fine, self.problems = await check_slack(
            self.client, self.settings.supervisor_channel, self.settings.slack_supervisor_channel
        )
        for line in self.fine:
            log.info("Slack: %s", line)
        for line in self.problems:
            log.warning("Slack: %s", line)

    async def stop(self) -> None:
        if self.checks is not None:
            self.checks.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.checks
        if self.socket is not None:
            await self.socket.close_async()
        for task in list(self.listeners._tasks):
            task.cancel()
        if self.repeats is not None:
            # Claims already acknowledged are written before the store closes.
            await self.repeats.drain()
        if self.client.session is not None:
            await self.client.session.close()


SLACK = web.AppKey("slack", SlackPlatform)


def install(app: web.Application, settings: Settings) -> SlackPlatform:
    platform = SlackPlatform(settings)
    app[SLACK] = platform
    if not settings.slack_socket_mode:
        app.router.add_post(PATH, platform.handle)
    return platform
