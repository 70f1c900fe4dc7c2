"""Settings of the CDS Hooks service (``CRA_CDS_*``): trusted EHR issuers, audience, FHIR timeouts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.net import is_loopback

__all__ = ["ASYMMETRIC_ALGORITHMS", "CdsSettings"]

# The spec forbids "none" and every symmetric (HMAC) algorithm; it recommends ES384 and RS384.
ASYMMETRIC_ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")


class CdsSettings(BaseSettings):
    """Who may call the CDS services and how the service reaches an EHR's FHIR server."""

    model_config = SettingsConfigDict(env_prefix="CRA_CDS_", env_file=".env", extra="ignore")

    issuers: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Allow-list of EHR issuers (JWT iss) -> that issuer's public keys: a JWKS URL, a JWKS JSON "
            "file path, or inline JWKS JSON. Empty: every call is refused with 401."
        ),
    )
    jku_allowlist: list[str] = Field(
        default_factory=list,
        description="JWKS URLs a token's jku header may name (besides the issuers' own JWKS URLs).",
    )
    base_url: str = Field(
        default="",
        description=(
            "Public base URL of this service, e.g. https://cds.example.org; a token's aud must be "
            "{base_url}/cds-services[/{id}], and card links start with it. Empty: loopback only "
            "(calls to another host get 503, and cra serve refuses a public bind with issuers set)."
        ),
    )
    algorithms: list[str] = Field(default_factory=lambda: list(ASYMMETRIC_ALGORITHMS))
    max_token_age_s: int = Field(default=600, ge=10, description="Refuse tokens issued longer ago than this.")
    leeway_s: int = Field(default=30, ge=0, le=300, description="Clock skew allowed on exp and iat.")
    jwks_cache_s: int = Field(default=300, ge=0, description="How long fetched JWKS are reused.")
    fhir_timeout_s: float = Field(default=3.0, gt=0, description="Timeout of one FHIR request.")
    fhir_max_pages: int = Field(default=20, ge=1, description="Most Bundle pages followed per query.")
    uspstf_json: Path | None = Field(
        default=None,
        description="USPSTF recommendations JSON used when the guideline index holds no recommendation set.",
    )
    auth_disabled: bool = Field(
        default=False, description="Development only: accept calls without a JWT. Never in production."
    )

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in ASYMMETRIC_ALGORITHMS]
        if bad:
            raise ValueError(f"CDS Hooks forbids 'none' and symmetric algorithms; not allowed: {bad}")
        return value

    @field_validator("uspstf_json", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("base_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip().rstrip("/")

    def public_bind_problem(self, host: str) -> str | None:
        """Why serving CDS Hooks on ``host`` would be unsafe with these settings, or ``None``.

        Off loopback, the audience and the card links need ``base_url``: the ``Host`` header is the
        caller's to choose. (Without issuers every call is refused anyway, so nothing is at stake.)
        """
        if is_loopback(host):
            return None
        if self.auth_disabled:
            return (
                f"CRA_CDS_AUTH_DISABLED=true on {host}: CDS calls without a JWT are only allowed on a "
                "loopback address"
            )
        if self.issuers and not self.base_url:
            return (
                f"CRA_CDS_BASE_URL is empty on {host}: token audiences and card links would follow the "
                "caller's Host header; set it to the URL the EHR calls, e.g. https://cds.example.org"
            )
        return None
