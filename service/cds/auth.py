"""Verify the EHR's JWT bearer token as the CDS Hooks security section requires.

Checked: a ``Bearer`` JWT; header ``typ`` JWT, a ``kid`` and an asymmetric ``alg`` (never ``none``
or HMAC); ``iss`` on the allow-list; the signature against that issuer's JWK Set (or a ``jku``
that is allow-listed too), with the ``alg`` that key declares and that fits its key type; ``aud`` equal to the URL of the endpoint called; ``exp``, ``iat``
(not in the future, not older than ``max_token_age_s``) and a ``jti`` never seen before by any
replica sharing the replay store (:mod:`service.shared_state`), remembered until the token expires.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import jwt

from service.cds.errors import CdsError
from service.cds.settings import CdsSettings
from service.shared_state import MemoryReplayStore, ReplayStore

__all__ = ["JwtVerifier"]

log = logging.getLogger(__name__)


# The algorithm families each JWK key type can verify: a token naming another family is refused
# before PyJWT is handed a key it cannot use.
_FAMILIES = {"EC": ("ES",), "RSA": ("RS", "PS")}


def _refuse(reason: str, status: int = 401) -> CdsError:
    return CdsError(status, "unauthorized" if status == 401 else "forbidden", reason)


def _check_alg(jwk: dict[str, Any], alg: str) -> None:
    """Refuse a token whose ``alg`` is not the one its key declares, or not one its key type verifies."""
    declared = jwk.get("alg")
    if declared and declared != alg:
        raise _refuse(f"the token's alg {alg} is not the alg {declared} of the issuer's key")
    if not alg.startswith(_FAMILIES.get(str(jwk.get("kty", "")), ())):
        raise _refuse(f"the token's alg {alg} does not fit the issuer's {jwk.get('kty') or 'unknown'} key")


class JwtVerifier:
    """Checks tokens; caches fetched JWK Sets and remembers ``jti`` values until their tokens expire.

    Args:
        settings: Trusted issuers, algorithms, leeway.
        http: The client that fetches JWK Sets.
        replay: Where seen ``jti`` values are kept; give every replica the same shared store
            (the default remembers them in this process only).
    """

    def __init__(
        self, settings: CdsSettings, http: httpx.Client | None = None, replay: ReplayStore | None = None
    ) -> None:
        self.settings = settings
        self._http = http or httpx.Client(timeout=settings.fhir_timeout_s)
        self._jwks: dict[str, tuple[float, dict[str, Any]]] = {}
        self._keys: dict[tuple[str, str], tuple[dict[str, Any], Any]] = {}  # (source, kid) -> (JWK, key)
        self.replay: ReplayStore = replay or MemoryReplayStore()

    def _load_jwks(self, source: str) -> dict[str, Any]:
        if source.lstrip().startswith("{"):
            return dict(json.loads(source))
        if not source.startswith(("http://", "https://")):
            return dict(json.loads(Path(source).read_text()))
        now = time.monotonic()
        cached = self._jwks.get(source)
        if cached and now - cached[0] < self.settings.jwks_cache_s:
            return cached[1]
        try:
            reply = self._http.get(source, headers={"Accept": "application/json"})
            reply.raise_for_status()
            keys = dict(reply.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("JWKS fetch failed", extra={"error": type(exc).__name__})
            raise _refuse("the issuer's JWK Set could not be fetched") from exc
        self._jwks[source] = (now, keys)
        return keys

    def _key(self, header: dict[str, Any], issuer_source: str, alg: str) -> Any:
        jku = header.get("jku")
        source = issuer_source
        if jku:
            if jku != issuer_source and jku not in self.settings.jku_allowlist:
                raise _refuse("the token's jku is not on the allow-list", 403)
            source = str(jku)
        try:
            keys = self._load_jwks(source).get("keys") or []
        except (OSError, ValueError) as exc:
            raise _refuse("the issuer's configured JWK Set is unreadable") from exc
        match = [k for k in keys if isinstance(k, dict) and k.get("kid") == header["kid"]]
        if not match:
            raise _refuse("no key with the token's kid in the issuer's JWK Set")
        _check_alg(match[0], alg)
        cached = self._keys.get((source, str(header["kid"])))
        if cached is not None and cached[0] == match[0]:  # the same JWK as last time: reuse its parsed key
            return cached[1]
        try:
            key = jwt.PyJWK(match[0]).key
        except (jwt.PyJWTError, TypeError, ValueError, KeyError) as exc:
            raise _refuse("the issuer's key for this kid is unusable") from exc
        self._keys[(source, str(header["kid"]))] = (match[0], key)
        return key

    def _remember(self, issuer: str, jti: str, exp: float) -> None:
        # An expired token is refused anyway, so its jti need only be kept until exp + leeway.
        key = hashlib.sha256(f"{issuer}\n{jti}".encode()).hexdigest()
        if not self.replay.claim(key, exp + self.settings.leeway_s, time.time()):
            raise _refuse("the token's jti was used before (replay)")

    def verify(self, authorization: str | None, audiences: list[str]) -> dict[str, Any]:
        """The verified claims of the request's token.

        Args:
            authorization: The ``Authorization`` header.
            audiences: The URLs of the endpoint called; ``aud`` must name one of them.

        Raises:
            CdsError: 401 (missing, malformed, badly signed, expired, wrong audience, replayed) or 403
                (issuer or jku not trusted), with the reason.
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _refuse("an Authorization: Bearer <JWT> header is required")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise _refuse("the bearer token is not a well-formed JWT") from exc
        alg = str(header.get("alg", ""))
        if alg not in self.settings.algorithms:
            raise _refuse(f"alg {alg or 'none'} is not accepted; use an asymmetric algorithm such as ES384")
        if str(header.get("typ", "")).upper() != "JWT" or not header.get("kid"):
            raise _refuse("the JWT header needs typ JWT and a kid")
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer not in self.settings.issuers:
            raise _refuse("the token's issuer is not trusted by this service", 403)
        key = self._key(header, self.settings.issuers[issuer], alg)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=audiences,
                issuer=issuer,
                leeway=self.settings.leeway_s,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _refuse("the token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise _refuse("the token's aud is not this endpoint's URL") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise _refuse(f"the token lacks the required claim {exc.claim}") from exc
        except (jwt.PyJWTError, TypeError, ValueError) as exc:  # TypeError: a key PyJWT cannot use
            raise _refuse(f"the token failed verification ({type(exc).__name__})") from exc
        if time.time() - float(claims["iat"]) > self.settings.max_token_age_s + self.settings.leeway_s:
            raise _refuse("the token was issued too long ago")
        self._remember(issuer, str(claims["jti"]), float(claims["exp"]))
        return claims
