"""Calls to the Bot Framework connector: pooled, reused and never blocking.

botbuilder's ``CloudAdapter`` builds a new msrest ``ConnectorClient`` and a
``UserTokenClient`` for every activity (msrest's ``ClientRetryPolicy``
then runs a 999-item list comprehension each time, 42% of a turn's CPU),
sends through ``requests`` in a thread on a new connection, and with an app
id set fetches the bot's token through msal, with blocking ``requests``.
Here instead:

- ``Connectors`` is the adapter's connector factory: one ``Connector`` per
  service URL, app id and audience, kept for the life of the process;
- a ``Connector`` makes the v3 conversation calls the adapter makes for
  replies, proactive sends and updates (``send_to_conversation``,
  ``reply_to_activity``, ``update_activity``, ``delete_activity``) with one
  pooled aiohttp session, made at start and closed at stop, with timeouts;
  a refusal raises ``ConnectorError`` with the status;
- ``BotToken`` gets the bot's token from the Microsoft identity platform
  (client credentials) with that session and a timeout, one fetch at a time,
  and keeps it until five minutes before it expires; after a failed fetch,
  sends fail at once for a few seconds instead of each waiting again;
- ``PooledAuthentication`` is botbuilder's configuration authentication with
  these in place: checking incoming tokens stays botbuilder's (tokens.py),
  and the user token client (which peerbot never uses) is made once per app id.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from typing import Any, Callable
from urllib.parse import quote

import aiohttp
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ResourceResponse
from botframework.connector.auth import AuthenticateRequestResult, ClaimsIdentity, ConnectorFactory, UserTokenClient
from botframework.connector import models
from botframework.connector.auth.authentication_constants import AuthenticationConstants
from msrest import Serializer

log = logging.getLogger(__name__)

SEND_TIMEOUT = aiohttp.ClientTimeout(total=20.0, sock_connect=5.0)
TOKEN_TIMEOUT = 5.0  # seconds for one token fetch
TOKEN_MARGIN = 300.0  # a token is fetched again this long before it expires
TOKEN_RETRY = 10.0  # after a failed fetch, sends fail at once for this long
RETRIES = 2  # further tries after a connection failure, a 429 or a 5xx
BACKOFF = 0.5  # seconds before the first retry; doubled each time; Retry-After honoured up to MAX_WAIT
MAX_WAIT = 5.0
RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
LOGIN = AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX
DEFAULT_TENANT = AuthenticationConstants.DEFAULT_CHANNEL_AUTH_TENANT
DEFAULT_AUDIENCE = AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
USER_AGENT = "peerbot (Bot Framework connector v3)"
# Teams uses a few regional service URLs; the least recently used connector
# past this many is let go (an unauthenticated local run takes any URL).
KEEP_CONNECTORS = 64
# The connector client's own serializer, made once (it reads dict attachments and entities as botbuilder does).
_SERIALIZER = Serializer({k: v for k, v in models.__dict__.items() if isinstance(v, type)})


class ConnectorError(Exception):
    """The connector refused a call (``status``), or couldn't be reached (``status`` None)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class TokenUnavailable(ConnectorError):
    """The bot's token for outgoing calls can't be had right now."""


def app_id_of(claims: ClaimsIdentity) -> str:
    """The bot's app id in these claims (audience for channel tokens, appid otherwise), as botbuilder reads it."""
    app_id = claims.get_claim_value(AuthenticationConstants.AUDIENCE_CLAIM) if claims else None
    if app_id is None and claims:
        app_id = claims.get_claim_value(AuthenticationConstants.APP_ID_CLAIM)
    return app_id or ""


class BotToken:
    """The bot's access token for one audience, fetched without blocking and cached."""

    def __init__(self, connectors: "Connectors", audience: str):
        self.connectors = connectors
        self.audience = audience
        self.fetches = 0
        self._token: str | None = None
        self._expires = 0.0
        self._failed_at: float | None = None
        self._fetching: asyncio.Task | None = None

    async def get(self) -> str:
        now = self.connectors.clock()
        if self._token and now < self._expires - TOKEN_MARGIN:
            return self._token
        try:
            if self._fetching is None:
                if self._failed_at is not None and now - self._failed_at < TOKEN_RETRY:
                    raise TokenUnavailable("the bot's token couldn't be fetched a moment ago; not trying again yet")
                self._fetching = asyncio.get_running_loop().create_task(self._fetch(), name="teams-bot-token")
                # Every waiter may have been cancelled: the failure is logged in _fetch, not left unretrieved.
                self._fetching.add_done_callback(lambda task: task.cancelled() or task.exception())
            # Shielded: a cancelled send doesn't cancel the fetch others are waiting on.
            return await asyncio.shield(self._fetching)
        except TokenUnavailable:
            # An early refresh failed: the token in hand is still good until it expires.
            if self._token and self.connectors.clock() < self._expires:
                return self._token
            raise

    def forget(self) -> None:
        self._token, self._expires = None, 0.0

    async def _fetch(self) -> str:
        self.fetches += 1
        connectors = self.connectors
        scope = self.audience if self.audience.endswith("/.default") else self.audience.rstrip("/") + "/.default"
        form = {"grant_type": "client_credentials", "client_id": connectors.app_id,
                "client_secret": connectors.password, "scope": scope}
        try:
            async with asyncio.timeout(connectors.token_timeout):
                async with connectors.session.post(connectors.token_url, data=form) as response:
                    data = await response.json(content_type=None)
                    if response.status != 200 or not isinstance(data, dict) or not data.get("access_token"):
                        error = data.get("error") if isinstance(data, dict) else None
                        raise TokenUnavailable(f"the identity platform refused the bot's token ({response.status} {error or ''})".strip(), response.status)
            self._token = str(data["access_token"])
            self._expires = connectors.clock() + float(data.get("expires_in") or 3600)
            self._failed_at = None
            return self._token
        except TokenUnavailable as exc:
            self._failed_at = connectors.clock()
            log.warning("teams: %s", exc)
            raise
        except (aiohttp.ClientError, OSError, ValueError, asyncio.TimeoutError) as exc:
            self._failed_at = connectors.clock()
            log.warning("teams: the bot's token couldn't be fetched (%s)", exc.__class__.__name__)
            raise TokenUnavailable(f"the bot's token couldn't be fetched ({exc.__class__.__name__})") from None
        finally:
            self._fetching = None


class _Conversations:
    """The subset of msrest's ``ConversationsOperations`` that ``CloudAdapterBase`` calls."""

    def __init__(self, connector: "Connector"):
        self._connector = connector

    async def send_to_conversation(self, conversation_id: str, activity: Activity, **_: Any) -> ResourceResponse:
        return await self._connector.call("POST", self._connector.path(conversation_id), activity)

    async def reply_to_activity(self, conversation_id: str, activity_id: str, activity: Activity, **_: Any) -> ResourceResponse:
        return await self._connector.call("POST", self._connector.path(conversation_id, activity_id), activity)

    async def update_activity(self, conversation_id: str, activity_id: str, activity: Activity, **_: Any) -> ResourceResponse:
        return await self._connector.call("PUT", self._connector.path(conversation_id, activity_id), activity)

    async def delete_activity(self, conversation_id: str, activity_id: str, **_: Any) -> None:
        await self._connector.call("DELETE", self._connector.path(conversation_id, activity_id), None)


class Connector:
    """Stands in for botbuilder's ``ConnectorClient`` for one service URL and app id."""

    def __init__(self, connectors: "Connectors", service_url: str, token: BotToken | None):
        self.connectors = connectors
        self.base = service_url.rstrip("/") + "/v3/conversations/"
        self.token = token
        self.conversations = _Conversations(self)

    def path(self, conversation_id: str, activity_id: str | None = None) -> str:
        url = self.base + quote(conversation_id, safe="") + "/activities"
        return url + "/" + quote(activity_id, safe="") if activity_id else url

    async def call(self, method: str, url: str, activity: Activity | None) -> Any:
        """One call to the connector. Sent again only when the first surely
        didn't land: the connection was never made, the connector throttled
        it (429, or 503 with Retry-After), or it refused the bot's token (once,
        with a fresh one). A POST that timed out or got another error may have
        reached the person already, so it is not sent twice here; an update
        or a delete is safe to repeat."""
        body = json.dumps(_SERIALIZER.body(activity, "Activity")).encode() if activity is not None else None
        repeatable = method != "POST"
        wait = BACKOFF
        attempt = 0
        fresh_token = False
        while True:
            headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json", "User-Agent": USER_AGENT}
            if self.token is not None:
                headers["Authorization"] = "Bearer " + await self.token.get()
            try:
                async with self.connectors.session.request(method, url, data=body, headers=headers) as response:
                    text = await response.read()
                    if response.status in (200, 201, 202):
                        return _resource(text) if method != "DELETE" else None
                    if response.status == 401 and self.token is not None and not fresh_token:
                        # A cached token the connector no longer takes: refused, so not delivered.
                        self.token.forget()
                        fresh_token = True
                        continue
                    retry_after = response.headers.get("Retry-After")
                    throttled = response.status == 429 or (response.status == 503 and retry_after is not None)
                    if attempt >= RETRIES or not (throttled or (repeatable and response.status in RETRY_STATUSES)):
                        raise ConnectorError(f"the connector answered {response.status}", response.status)
                    wait = _retry_after(retry_after, wait)
            except aiohttp.InvalidURL:
                raise ConnectorError("the service URL isn't a URL") from None
            except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
                if attempt >= RETRIES:
                    raise ConnectorError(f"the connector couldn't be reached ({exc.__class__.__name__})") from None
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:  # sent, perhaps received
                if attempt >= RETRIES or not repeatable:
                    raise ConnectorError(f"the connector didn't answer ({exc.__class__.__name__})") from None
            attempt += 1
            await asyncio.sleep(wait)
            wait *= 2


def _resource(text: bytes) -> ResourceResponse:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    return ResourceResponse(id=data.get("id") if isinstance(data, dict) else None)


def _retry_after(header: str | None, default: float) -> float:
    try:
        return min(max(float(header), 0.0), MAX_WAIT) if header else default
    except ValueError:
        return default


class _Factory(ConnectorFactory):
    def __init__(self, connectors: "Connectors", app_id: str):
        self.connectors, self.app_id = connectors, app_id

    async def create(self, service_url: str, audience: str = None) -> Connector:
        return self.connectors.connector(service_url, self.app_id, audience or DEFAULT_AUDIENCE)


class Connectors:
    """Every connector this process talks to, with the one session and the bot tokens."""

    def __init__(self, app_id: str = "", password: str = "", tenant: str = "", *,
                 token_url: str | None = None, token_timeout: float = TOKEN_TIMEOUT,
                 send_timeout: aiohttp.ClientTimeout = SEND_TIMEOUT, clock: Callable[[], float] = time.monotonic):
        self.app_id = app_id
        self.password = password
        self.token_url = token_url or f"{LOGIN}{tenant or DEFAULT_TENANT}{AuthenticationConstants.TO_CHANNEL_FROM_BOT_TOKEN_ENDPOINT_PATH}"
        self.token_timeout = token_timeout
        self.send_timeout = send_timeout
        self.clock = clock
        self.made = 0  # connectors built so far (one per service URL, app id and audience)
        self._connectors: collections.OrderedDict[tuple[str, str, str], Connector] = collections.OrderedDict()
        self._tokens: dict[str, BotToken] = {}
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None or self._session.closed:
            # trust_env: an outbound proxy (HTTPS_PROXY) is honoured, as requests did.
            self._session = aiohttp.ClientSession(timeout=self.send_timeout, trust_env=True,
                                                  connector=aiohttp.TCPConnector(limit=100, limit_per_host=50))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise ConnectorError("the Teams channel isn't started")
        return self._session

    def factory(self, app_id: str) -> ConnectorFactory:
        return _Factory(self, app_id)

    def connector(self, service_url: str, app_id: str, audience: str) -> Connector:
        key = (service_url, app_id, audience)
        found = self._connectors.get(key)
        if found is not None:
            self._connectors.move_to_end(key)
            return found
        if app_id and app_id != self.app_id and app_id != AuthenticationConstants.ANONYMOUS_SKILL_APP_ID:
            raise PermissionError("a connector was asked for with another bot's app id")
        token = self.token(audience) if app_id and app_id == self.app_id else None
        found = self._connectors[key] = Connector(self, service_url, token)
        self.made += 1
        while len(self._connectors) > KEEP_CONNECTORS:
            self._connectors.popitem(last=False)
        return found

    def token(self, audience: str) -> BotToken:
        if audience not in self._tokens:
            self._tokens[audience] = BotToken(self, audience)
        return self._tokens[audience]


class PooledAuthentication(ConfigurationBotFrameworkAuthentication):
    """botbuilder's authentication from configuration, handing out pooled connectors."""

    def __init__(self, configuration: Any, connectors: Connectors):
        super().__init__(configuration)
        self.connectors = connectors
        self._user_token_clients: dict[str, UserTokenClient] = {}

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        result = await super().authenticate_request(activity, auth_header)
        result.connector_factory = self.connectors.factory(app_id_of(result.claims_identity))
        return result

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self.connectors.factory(app_id_of(claims_identity))

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        app_id = app_id_of(claims_identity)
        if app_id not in self._user_token_clients:
            self._user_token_clients[app_id] = await super().create_user_token_client(claims_identity)
        return self._user_token_clients[app_id]
