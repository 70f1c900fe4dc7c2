"""FHIR R4 validation of single resources with ``fhir.resources`` (R4B models, which read R4 content)."""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["is_unknown_type", "load_models", "validation_error"]


@cache
def _model(rtype: str) -> Any:
    """The model class of a resource type, or None when FHIR R4 has no such type."""
    from fhir.resources.R4B import get_fhir_model_class

    try:
        return get_fhir_model_class(rtype)
    except (KeyError, ValueError):  # fhir.resources raises ValueError("... is not a valid FHIR Model")
        return None


def load_models(rtypes: frozenset[str]) -> None:
    """Import the model classes up front, so forked readers share them instead of importing each."""
    for rtype in sorted(rtypes):
        _model(rtype)


def is_unknown_type(rtype: str) -> bool:
    """True when FHIR R4 has no resource type of this name."""
    return _model(rtype) is None


def validation_error(resource: dict[str, Any]) -> str | None:
    """Why a resource is not valid FHIR R4 (the first errors, shortened), or None when it is."""
    model = _model(str(resource.get("resourceType")))
    if model is None:
        return "unknown resource type (not in FHIR R4)"
    try:
        model.model_validate(resource)
    except Exception as exc:  # pydantic's ValidationError, or fhir-core's own errors
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        return "invalid FHIR: " + "; ".join(lines[1:3] if len(lines) > 1 else lines[:1])[:300]
    return None
