"""Bot Framework tokens checked without ever stalling the server.

botbuilder validates a token by fetching Microsoft's OpenID metadata and
signing keys with a blocking ``requests.get`` that has no timeout, on the
event loop (``botframework.connector.auth.jwt_token_extractor._OpenIdMetadata``).
With outbound traffic black-holed, one request carrying a JWT-shaped token
froze every endpoint of the process. Here:

- ``precheck`` refuses what can't be a Bot Framework token before any key is
  needed: not ``Bearer`` and three base64url parts, an algorithm other than
  RS256 (``none`` and ``HS*`` included), no key id.
- ``SigningKeys`` fetches the keys with aiohttp (a few seconds' timeout),
  caches them, refreshes them in the background, and fetches again for an
  unknown key id at most once a minute, so forged key ids can't make the bot
  fetch on every request. While keys can't be had, ``KeysUnavailable``
  (the endpoint answers 503 at once).
- botbuilder keeps doing the validation itself (issuer, audience, expiry,
  endorsements, the service URL claim); only where its keys come from is
  replaced, through ``JwtTokenExtractor.get_open_id_metadata``, so its
  blocking fetch is never reached.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import aiohttp
from botframework.connector.auth.authentication_constants import AuthenticationConstants
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor
from jwt.algorithms import RSAAlgorithm

log = logging.getLogger(__name__)

CHANNEL_METADATA_URL = AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
FETCH_TIMEOUT = 4.0  # seconds for the metadata and the keys together
WAIT_FOR_KEYS = 3.0  # how long a request waits for a fetch already under way
MIN_REFETCH = 60.0  # at most one fetch per metadata URL in this many seconds, whatever the key ids
REFRESH_EVERY = 24 * 3600.0  # keys are fetched again in the background this often
MAX_TOKEN = 16 * 1024
_BEARER = re.compile(r"Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")


class KeysUnavailable(Exception):
    """Microsoft's signing keys can't be had right now; the token can't be judged."""


def _part(text: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def precheck(authorization: str) -> str | None:
    """Why this Authorization header can't carry a Bot Framework token, or None.

    Costs nothing and needs no key, so forged tokens of these kinds never
    reach a key fetch."""
    if len(authorization) > MAX_TOKEN:
        return "the token is too long"
    match = _BEARER.fullmatch(authorization)
    if not match:
        return "the Authorization header isn't a Bearer token"
    try:
        header, claims = _part(match.group(1)), _part(match.group(2))
    except (ValueError, UnicodeDecodeError):
        return "the token isn't readable"
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return "the token isn't readable"
    if header.get("alg") not in AuthenticationConstants.ALLOWED_SIGNING_ALGORITHMS:
        return "the token isn't signed the way Bot Framework signs"
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        return "the token names no signing key"
    return None


@dataclass
class SigningKey:
    """What botbuilder's token extractor reads from its metadata: a key and its endorsements."""

    public_key: Any
    endorsements: list[str]


@dataclass
class _KeySet:
    keys: dict[str, SigningKey] = field(default_factory=dict)
    fetched_at: float | None = None
    tried_at: float | None = None
    fetching: asyncio.Task | None = None


class SigningKeys:
    """Signing keys per OpenID metadata URL, fetched asynchronously and cached.

    ``metadata_url``, if given, is fetched instead of every URL botbuilder
    asks for: tests point it at a fake metadata server on loopback."""

    def __init__(self, *, metadata_url: str | None = None, timeout: float = FETCH_TIMEOUT,
                 wait: float = WAIT_FOR_KEYS, min_refetch: float = MIN_REFETCH,
                 clock: Callable[[], float] = time.monotonic):
        self.metadata_url = metadata_url
        self.timeout = timeout
        self.wait = wait
        self.min_refetch = min_refetch
        self.clock = clock
        self.fetches = 0
        self._sets: dict[str, _KeySet] = {}
        self._session: aiohttp.ClientSession | None = None
        self._refresher: asyncio.Task | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Fetch the channel's keys now and again every day, in the background."""
        self._refresher = asyncio.get_running_loop().create_task(self._keep_fresh(), name="teams-signing-keys")

    async def close(self) -> None:
        tasks = [self._refresher] + [s.fetching for s in self._sets.values()]
        for task in tasks:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._session is not None:
            await self._session.close()

    async def _keep_fresh(self) -> None:
        while True:
            keyset = self._set(CHANNEL_METADATA_URL)
            if keyset.fetching is None:
                keyset.fetching = asyncio.get_running_loop().create_task(self._fetch(CHANNEL_METADATA_URL, keyset))
            with contextlib.suppress(Exception):
                await asyncio.shield(keyset.fetching)
            await asyncio.sleep(REFRESH_EVERY if keyset.keys else self.min_refetch)

    # -- keys --------------------------------------------------------------------

    def _set(self, url: str) -> _KeySet:
        return self._sets.setdefault(url, _KeySet())

    async def get(self, url: str, kid: str) -> SigningKey:
        """The key ``kid`` from the metadata at ``url``.

        Raises ``PermissionError`` for a key id Microsoft doesn't publish and
        ``KeysUnavailable`` when the keys can't be fetched in time."""
        keyset = self._set(url)
        now = self.clock()
        if kid in keyset.keys:
            if keyset.fetched_at is not None and now - keyset.fetched_at > REFRESH_EVERY:
                self._maybe_fetch(url, keyset, now)  # in the background; the old key still counts
            return keyset.keys[kid]
        self._maybe_fetch(url, keyset, now)
        if keyset.fetching is not None:
            with contextlib.suppress(Exception, asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(keyset.fetching), self.wait)
        if kid in keyset.keys:
            return keyset.keys[kid]
        if not keyset.keys:
            raise KeysUnavailable("Microsoft's signing keys can't be fetched right now")
        raise PermissionError("the token names a signing key Microsoft doesn't publish")

    def _maybe_fetch(self, url: str, keyset: _KeySet, now: float) -> None:
        """Start a fetch unless one is under way or one started less than ``min_refetch`` ago."""
        if keyset.fetching is not None:
            return
        if keyset.tried_at is not None and now - keyset.tried_at < self.min_refetch:
            return
        keyset.tried_at = now
        keyset.fetching = asyncio.get_running_loop().create_task(self._fetch(url, keyset), name="teams-key-fetch")

    async def _fetch(self, url: str, keyset: _KeySet) -> None:
        keyset.tried_at = self.clock()
        self.fetches += 1
        try:
            async with asyncio.timeout(self.timeout):
                metadata = await self._json(self.metadata_url or url)
                keys = await self._json(str(metadata["jwks_uri"]))
            keyset.keys = _parse_keys(keys)
            keyset.fetched_at = self.clock()
            log.info("teams: fetched %d Bot Framework signing keys", len(keyset.keys))
        except (Exception, asyncio.TimeoutError) as exc:
            # One line, no traceback: an outage of Microsoft's endpoint or of our network.
            log.warning("teams: Bot Framework signing keys could not be fetched (%s); tokens are refused until they can", exc.__class__.__name__)
        finally:
            keyset.fetching = None

    async def _json(self, url: str) -> Any:
        if self._session is None or self._session.closed:
            # trust_env: an outbound proxy (HTTPS_PROXY) is honoured, as requests did.
            self._session = aiohttp.ClientSession(trust_env=True, timeout=aiohttp.ClientTimeout(total=self.timeout))
        async with self._session.get(url) as response:
            response.raise_for_status()
            return await response.json(content_type=None)


def _parse_keys(document: Any) -> dict[str, SigningKey]:
    keys: dict[str, SigningKey] = {}
    for entry in (document or {}).get("keys") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        try:
            public_key = RSAAlgorithm.from_jwk(json.dumps(entry))
        except Exception:
            continue  # a key we can't read is a key we don't trust
        endorsements = entry.get("endorsements")
        keys[entry["kid"]] = SigningKey(public_key, [str(e) for e in endorsements] if isinstance(endorsements, list) else [])
    return keys


# -- where botbuilder's token extractor gets its keys ---------------------------

_IN_USE: contextvars.ContextVar[SigningKeys | None] = contextvars.ContextVar("peerbot_teams_signing_keys", default=None)


class _Metadata:
    """Stands in for botbuilder's ``_OpenIdMetadata``: same ``get(kid)``, no blocking fetch."""

    def __init__(self, url: str):
        self.url = url

    async def get(self, key_id: str) -> SigningKey:
        keys = _IN_USE.get()
        if keys is None:
            # Outside a request this process checks: refuse rather than fetch blocking.
            raise KeysUnavailable("no signing key cache is active")
        if not isinstance(key_id, str) or not key_id:
            raise PermissionError("the token names no signing key")
        return await keys.get(self.url, key_id)


@contextlib.contextmanager
def using(keys: SigningKeys):
    """Validate the tokens of this block with ``keys``."""
    token = _IN_USE.set(keys)
    try:
        yield
    finally:
        _IN_USE.reset(token)


def install() -> None:
    """Route every botbuilder key lookup in this process through ``_Metadata``."""
    JwtTokenExtractor.get_open_id_metadata = staticmethod(_Metadata)  # type: ignore[method-assign]


install()
