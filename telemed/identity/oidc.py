"""The OpenID Connect client: discovery, authorization code with PKCE, ID token validation.

The provider's metadata comes from its discovery document; its keys from `jwks_uri`, fetched
again when an ID token names a key id not seen yet (the provider rotated its keys), at most
once every `JWKS_REFRESH_SECONDS`. The JOSE work (signature, claims) is joserfc's.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import web
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from telemed import keys
from telemed.settings import Settings

log = logging.getLogger("telemed.identity.oidc")

ALGORITHMS = ("RS256", "PS256", "ES256", "RS512", "PS512", "ES384")
METADATA_TTL_SECONDS = 3600
JWKS_REFRESH_SECONDS = 10
LEEWAY_SECONDS = 30
PENDING_TTL_SECONDS = 600
TIMEOUT = aiohttp.ClientTimeout(total=10)


class OidcError(Exception):
    """A refused or failed sign-on step; `code` says which (snake_case)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


@dataclass(frozen=True)
class ProviderMetadata:
    """What the discovery document says about the provider."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


@dataclass(frozen=True)
class PendingLogin:
    """What the browser's session keeps between the redirect and the callback."""

    state: str
    nonce: str
    verifier: str
    next_path: str
    started: int

    def dump(self) -> dict[str, Any]:
        return {"state": self.state, "nonce": self.nonce, "verifier": self.verifier,
                "next": self.next_path, "started": self.started}

    @classmethod
    def parse(cls, data: object) -> PendingLogin | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(str(data["state"]), str(data["nonce"]), str(data["verifier"]),
                       str(data["next"]), int(data["started"]))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class SignOn:
    """A validated sign-on: the ID token, its claims and the user information."""

    id_token: str
    claims: dict[str, Any]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier (RFC 7636)."""
    return _b64(hashlib.sha256(verifier.encode()).digest())


class OidcClient:
    """One relying party registration at one provider."""

    def __init__(self, settings: Settings, http: aiohttp.ClientSession) -> None:
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.client_secret = settings.oidc_client_secret
        self.scopes = settings.oidc_scopes
        self.acr_values = settings.oidc_min_acr  # asked for, so the ID token says the level
        self.redirect_uri = f"{settings.effective_public_url}/auth/oidc/callback"
        self.public_url = settings.effective_public_url
        self._http = http
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._lock = asyncio.Lock()

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._http.get(url, timeout=TIMEOUT) as resp:
                if resp.status != 200:
                    raise OidcError("provider_unavailable", f"{url} answered {resp.status}")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise OidcError("provider_unavailable", f"{url}: {exc}") from exc
        if not isinstance(data, dict):
            raise OidcError("provider_unavailable", f"{url} is not a JSON object")
        return data

    async def metadata(self) -> ProviderMetadata:
        """The provider's discovery document (cached for an hour)."""
        fresh = time.monotonic() - self._metadata_at < METADATA_TTL_SECONDS
        if self._metadata is not None and fresh:
            return self._metadata
        doc = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
        if doc.get("issuer") != self.issuer:
            raise OidcError("provider_unavailable", "discovery names another issuer")
        try:
            found = ProviderMetadata(
                issuer=doc["issuer"],
                authorization_endpoint=str(doc["authorization_endpoint"]),
                token_endpoint=str(doc["token_endpoint"]),
                jwks_uri=str(doc["jwks_uri"]),
                end_session_endpoint=(str(doc["end_session_endpoint"])
                                      if doc.get("end_session_endpoint") else None),
            )
        except KeyError as exc:
            raise OidcError("provider_unavailable", f"discovery lacks {exc}") from exc
        self._metadata, self._metadata_at = found, time.monotonic()
        return found

    async def _key_set(self, kid: str | None) -> KeySet:
        """The provider's keys; fetched again when `kid` is new (rate-limited)."""
        async with self._lock:
            known = self._keys is not None and (
                kid is None or any(k.kid == kid for k in self._keys.keys))
            stale = time.monotonic() - self._keys_at >= JWKS_REFRESH_SECONDS
            if self._keys is None or (not known and stale):
                doc = await self._get_json((await self.metadata()).jwks_uri)
                try:
                    self._keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]
                except (JoseError, ValueError, KeyError, TypeError) as exc:
                    raise OidcError("provider_unavailable", f"bad JWKS: {exc}") from exc
                self._keys_at = time.monotonic()
                log.info("fetched the provider's keys (%d)", len(self._keys.keys))
            return self._keys

    async def begin(self, next_path: str) -> tuple[str, PendingLogin]:
        """The authorization URL to send the browser to, and what to keep until the callback."""
        meta = await self.metadata()
        pending = PendingLogin(state=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24),
                               verifier=secrets.token_urlsafe(48), next_path=next_path,
                               started=int(time.time()))
        params = {
            "response_type": "code", "client_id": self.client_id,
            "redirect_uri": self.redirect_uri, "scope": self.scopes, "state": pending.state,
            "nonce": pending.nonce, "code_challenge": pkce_challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
        if self.acr_values:
            params["acr_values"] = self.acr_values
        return f"{meta.authorization_endpoint}?{urlencode(params)}", pending

    async def finish(self, pending: PendingLogin, *, state: str, code: str) -> SignOn:
        """Check the state, redeem the code, validate the ID token; OidcError on any refusal."""
        if not state or not secrets.compare_digest(state, pending.state):
            raise OidcError("state_mismatch")
        if time.time() - pending.started > PENDING_TTL_SECONDS:
            raise OidcError("login_expired")
        if not code or len(code) > 2048:
            raise OidcError("invalid_request", "no code")
        tokens = await self._redeem(code, pending.verifier)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("invalid_token", "no ID token")
        return SignOn(id_token, await self.validate_id_token(id_token, nonce=pending.nonce))

    async def _redeem(self, code: str, verifier: str) -> dict[str, Any]:
        meta = await self.metadata()
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.redirect_uri, "code_verifier": verifier,
                "client_id": self.client_id}
        headers = {"Accept": "application/json"}
        if self.client_secret:  # client_secret_basic: both parts form-encoded (RFC 6749 2.3.1)
            pair = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        try:
            async with self._http.post(meta.token_endpoint, data=form, headers=headers,
                                       timeout=TIMEOUT) as resp:
                data = await resp.json(content_type=None)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise OidcError("provider_unavailable", str(exc)) from exc
        if not isinstance(data, dict):
            raise OidcError("provider_unavailable", "token endpoint answered no JSON object")
        if status != 200:  # e.g. invalid_grant: a code used twice, expired, or not ours
            raise OidcError("code_refused", str(data.get("error", status)))
        return data

    async def validate_id_token(self, id_token: str, *, nonce: str,
                                now: int | None = None) -> dict[str, Any]:
        """The claims of an ID token signed by the provider, for us, current, with `nonce`."""
        try:
            header = jws.extract_compact(id_token.encode()).headers()
        except (JoseError, ValueError, UnicodeError) as exc:
            raise OidcError("invalid_token", f"malformed: {exc}") from exc
        kid = header.get("kid")
        key_set = await self._key_set(kid if isinstance(kid, str) else None)
        if isinstance(kid, str) and not any(k.kid == kid for k in key_set.keys):
            raise OidcError("invalid_token", "signed with an unknown key")
        try:
            token = jwt.decode(id_token, key_set, algorithms=list(ALGORITHMS))
            registry = jwt.JWTClaimsRegistry(
                now=now, leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": self.issuer},
                sub={"essential": True},
                exp={"essential": True}, iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            )
            registry.validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise OidcError("invalid_token", str(exc)) from exc
        claims = dict(token.claims)
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.client_id not in audiences:
            raise OidcError("invalid_token", "issued for another client")
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise OidcError("invalid_token", "issued for another authorized party")
        return claims

    async def logout_url(self, id_token: str | None, return_to: str) -> str | None:
        """Where to end the session at the provider (RP-initiated logout), if it supports it."""
        try:
            meta = await self.metadata()
        except OidcError:
            return None
        if meta.end_session_endpoint is None:
            return None
        query = {"client_id": self.client_id, "post_logout_redirect_uri": return_to}
        if id_token:
            query["id_token_hint"] = id_token
        return f"{meta.end_session_endpoint}?{urlencode(query)}"


OIDC: web.AppKey[OidcClient] = web.AppKey("oidc", OidcClient)


async def _oidc_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as http:
        app[OIDC] = OidcClient(app[keys.SETTINGS], http)
        yield


def setup_oidc(app: web.Application) -> None:
    """Own the OIDC client (and its HTTP session) when an issuer is configured."""
    if app[keys.SETTINGS].oidc_issuer:
        app.cleanup_ctx.append(_oidc_ctx)


def oidc_client(app: web.Application) -> OidcClient | None:
    """The configured OIDC client, or None when single sign-on is not set up."""
    return app.get(OIDC)
