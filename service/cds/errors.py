"""The one error of the CDS package: an HTTP status, a short code and a reason safe to show."""

from __future__ import annotations

__all__ = ["CdsError"]


class CdsError(Exception):
    """A refusal with its HTTP status; ``reason`` never carries request content (no PHI)."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        self.status = status
        self.code = code
        self.reason = reason
        super().__init__(f"{status} {code}: {reason}")
