"""The CDS Hooks JWT rules: issuer allow-list with its JWK Set, audience, exp/iat/jti, asymmetric algorithms only."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service.cds.auth import JwtVerifier
from service.cds.errors import CdsError
from service.cds.settings import CdsSettings

ISS = "https://ehr.example.org"
AUD = "https://cds.example.org/cds-services/cra-care-gaps"


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def _jwks(key: ec.EllipticCurvePrivateKey, kid: str = "k1") -> str:
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return json.dumps({"keys": [{**public, "kid": kid, "alg": "ES384", "use": "sig"}]})


def _token(key: Any, *, alg: str = "ES384", kid: str = "k1", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISS, "aud": AUD, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})


@pytest.fixture
def verifier(key: ec.EllipticCurvePrivateKey) -> JwtVerifier:
    return JwtVerifier(CdsSettings(issuers={ISS: _jwks(key)}, _env_file=None))  # type: ignore[call-arg]


def test_a_good_token_passes_once(verifier: JwtVerifier, key: ec.EllipticCurvePrivateKey) -> None:
    token = _token(key, tenant="org-1")
    claims = verifier.verify(f"Bearer {token}", [AUD])
    assert claims["iss"] == ISS and claims["tenant"] == "org-1"
    with pytest.raises(CdsError, match="replay"):
        verifier.verify(f"Bearer {token}", [AUD])


@pytest.mark.parametrize(
    ("make", "status", "reason"),
    [
        (lambda k: None, 401, "Bearer"),
        (lambda k: "not-a-jwt", 401, "well-formed"),
        (lambda k: _token(k, aud="https://cds.example.org/cds-services/other"), 401, "aud"),
        (lambda k: _token(k, exp=int(time.time()) - 600), 401, "expired"),
        (lambda k: _token(k, iat=int(time.time()) - 7200), 401, "too long ago"),
        (lambda k: _token(k, jti=None), 401, "jti"),
        (lambda k: _token(k, iss="https://evil.example.org"), 403, "not trusted"),
        (lambda k: _token(k, kid="unknown"), 401, "kid"),
        (lambda k: _token(ec.generate_private_key(ec.SECP384R1())), 401, "verification"),
        (lambda k: _token("shared-secret-of-32-bytes-or-more!!", alg="HS256"), 401, "asymmetric"),
        (lambda k: jwt.encode({"iss": ISS, "aud": AUD}, "", algorithm="none"), 401, "none"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(
    verifier: JwtVerifier, key: ec.EllipticCurvePrivateKey, make: Any, status: int, reason: str
) -> None:
    token = make(key)
    with pytest.raises(CdsError) as err:
        verifier.verify(None if token is None else f"Bearer {token}", [AUD])
    assert err.value.status == status and reason in err.value.reason


def test_jku_must_be_allow_listed(key: ec.EllipticCurvePrivateKey) -> None:
    verifier = JwtVerifier(CdsSettings(issuers={ISS: _jwks(key)}, _env_file=None))  # type: ignore[call-arg]
    now = int(time.time())
    token = jwt.encode(
        {"iss": ISS, "aud": AUD, "exp": now + 60, "iat": now, "jti": "j"},
        key,
        algorithm="ES384",
        headers={"kid": "k1", "typ": "JWT", "jku": "https://attacker.example.org/jwks"},
    )
    with pytest.raises(CdsError) as err:
        verifier.verify(f"Bearer {token}", [AUD])
    assert err.value.status == 403 and "jku" in err.value.reason


def test_symmetric_algorithms_cannot_be_configured() -> None:
    with pytest.raises(ValueError, match="symmetric"):
        CdsSettings(algorithms=["HS256"], _env_file=None)  # type: ignore[call-arg]


def test_an_alg_that_does_not_fit_the_issuers_key_is_a_401_not_a_500(
    verifier: JwtVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    # Reachable without any valid signature: the issuer's key is EC, the token says RS256 (was TypeError).
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for alg, signer in (
        ("RS256", rsa_key),
        ("PS384", rsa_key),
        ("ES512", ec.generate_private_key(ec.SECP521R1())),
    ):
        with pytest.raises(CdsError) as err:
            verifier.verify(f"Bearer {_token(signer, alg=alg)}", [AUD])
        assert err.value.status == 401 and "alg" in err.value.reason, (alg, err.value.reason)


def test_the_alg_a_jwks_key_declares_is_enforced() -> None:
    # An RSA key declared for RS384 only: a PS384 token, validly signed by that same key, is refused.
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwks = json.dumps({"keys": [{**public, "kid": "k1", "alg": "RS384"}]})
    verifier = JwtVerifier(CdsSettings(issuers={ISS: jwks}, _env_file=None))  # type: ignore[call-arg]
    assert verifier.verify(f"Bearer {_token(rsa_key, alg='RS384')}", [AUD])["iss"] == ISS
    with pytest.raises(CdsError) as err:
        verifier.verify(f"Bearer {_token(rsa_key, alg='PS384')}", [AUD])
    assert err.value.status == 401 and "alg RS384" in err.value.reason
    # without a declared alg, the key type still decides which family may be used
    unpinned = json.dumps({"keys": [{**public, "kid": "k1"}]})
    bare = JwtVerifier(CdsSettings(issuers={ISS: unpinned}, _env_file=None))  # type: ignore[call-arg]
    assert bare.verify(f"Bearer {_token(rsa_key, alg='PS384')}", [AUD])["iss"] == ISS
    with pytest.raises(CdsError, match="does not fit"):
        bare.verify(f"Bearer {_token(ec.generate_private_key(ec.SECP384R1()), alg='ES384')}", [AUD])
