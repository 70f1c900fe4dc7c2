"""Which guideline issuers are trusted, and how a passage from anyone else is labelled.

A guideline chunk names its issuer (front matter, a registry, or the heading's "-- ACC/AHA 2018").
Passages from issuers outside the trusted list (``CRA_TRUSTED_ISSUERS``; by default the issuers of
the packaged open-medicine corpus and USPSTF) are labelled "local, unverified" wherever they are
cited, so a clinician never reads a local file's claim as a society's guidance. The issuer is what
the document says it is: trust decides labelling, and the evidence guard's dose checks apply to
every passage whoever issued it.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "DEFAULT_TRUSTED_ISSUERS",
    "TRUSTED",
    "UNVERIFIED",
    "expand_trusted",
    "is_trusted",
    "labelled_issuer",
    "trust_of",
]

TRUSTED = "trusted issuer"
UNVERIFIED = "local, unverified"

# The issuers of the 43 open-medicine guidelines (as the indexer reads them) and of the USPSTF
# recommendation sets; "default" in CRA_TRUSTED_ISSUERS stands for this list.
DEFAULT_TRUSTED_ISSUERS: tuple[str, ...] = (
    "AASLD", "ABA", "ACC/AHA", "ACCF/AHA", "ACG", "ACOG", "ACR", "AHA", "AHA/AAP", "AHA/ACC",
    "AHA/ACC/HFSA", "AHA/ASA", "APA", "ASH", "ATS/IDSA", "BTF", "BTS", "ADA", "Endocrine Society",
    "ESC", "GINA", "GOLD", "IDSA", "KDIGO", "NICE", "RCP", "SCCM/ESICM", "TIMI Study Group",
    "Wells PS et al.", "USPSTF",
)  # fmt: skip


def _key(issuer: str) -> str:
    return " ".join(str(issuer).split()).casefold()


def expand_trusted(names: Iterable[str]) -> tuple[str, ...]:
    """The configured list with ``default`` replaced by :data:`DEFAULT_TRUSTED_ISSUERS`, blanks dropped."""
    out: list[str] = []
    for name in names:
        name = " ".join(str(name).split())
        if name.casefold() == "default":
            out.extend(DEFAULT_TRUSTED_ISSUERS)
        elif name:
            out.append(name)
    return tuple(dict.fromkeys(out))


def is_trusted(issuer: str, trusted: Iterable[str] = DEFAULT_TRUSTED_ISSUERS) -> bool:
    """Whether ``issuer`` is on the trusted list (case and spacing ignored)."""
    return bool(str(issuer or "").strip()) and _key(issuer) in {_key(t) for t in trusted}


def trust_of(issuer: str, trusted: Iterable[str] = DEFAULT_TRUSTED_ISSUERS) -> str:
    """:data:`TRUSTED` or :data:`UNVERIFIED`: the ``trust`` field of a guideline citation."""
    return TRUSTED if is_trusted(issuer, trusted) else UNVERIFIED


def labelled_issuer(issuer: str, trusted: Iterable[str] = DEFAULT_TRUSTED_ISSUERS) -> str:
    """The issuer as a citation or a card shows it: ``"Riverside Clinic (local, unverified)"``."""
    if is_trusted(issuer, trusted):
        return str(issuer)
    name = str(issuer or "").strip() or "unknown issuer"
    return name if name.endswith(f"({UNVERIFIED})") else f"{name} ({UNVERIFIED})"
