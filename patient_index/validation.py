"""FHIR R4 validation of single resources with ``fhir.resources`` (R4B models, which read R4 content).

Records repeat the same elements endlessly: the same ``code`` and ``category`` on thousands of
Observations, the same ``subject`` on every resource of a patient. Validating an element
depends only on its content and its type, so each distinct element (by its exact JSON) is
validated once with its own ``fhir.resources`` model and the validated instance is handed to
the resource's model, which accepts an instance of the right class as already valid; the
resource's own rules (required fields, choice types, nulls in lists) still run every time.
A resource that fails is validated again plainly, so its error reads exactly as without the
cache.

An error names the field and the rule it broke, never the rejected value: pydantic's own message
(``input_value='SSN 999-12-3456'``) would copy whatever sat in the wrong field into reports,
JSON output and logs.
"""

from __future__ import annotations

import json
import re
import typing
from functools import cache
from typing import Any

__all__ = ["describe_error", "is_unknown_type", "load_models", "validation_error"]

_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MAX_CACHED = 20_000  # validated elements kept (per process); cleared when full
_elements: dict[tuple[type, str], Any] = {}


@cache
def _model(rtype: str) -> Any:
    """The model class of a resource type, or None when FHIR R4 has no such type."""
    from fhir.resources.R4B import get_fhir_model_class

    try:
        return get_fhir_model_class(rtype)
    except (KeyError, ValueError):  # fhir.resources raises ValueError("... is not a valid FHIR Model")
        return None


def _element_model(annotation: Any) -> Any:
    """The model class of a field holding FHIR elements (``X``, ``X | None``, ``list[X]``), else None."""
    stack = [annotation]
    while stack:
        a = stack.pop()
        if hasattr(a, "get_model_klass"):
            return a.get_model_klass()
        stack.extend(typing.get_args(a))
    return None


@cache
def _element_fields(model: Any) -> dict[str, Any]:
    """JSON name -> element model class, for the fields of ``model`` that hold complex elements."""
    fields = {(f.alias or name): _element_model(f.annotation) for name, f in model.model_fields.items()}
    # Contained resources are whole resources of any type: validated with their container.
    return {k: m for k, m in fields.items() if m is not None and k != "contained"}


def _validated(model: Any, value: dict[str, Any]) -> Any:
    key = (model, json.dumps(value))
    found = _elements.get(key)
    if found is None:
        found = model.model_validate(value)
        if len(_elements) >= _MAX_CACHED:
            _elements.clear()
        _elements[key] = found
    return found


def _validate_reusing_elements(model: Any, resource: dict[str, Any]) -> None:
    fields = _element_fields(model)
    data: dict[str, Any] = {}
    for key, value in resource.items():
        element = fields.get(key)
        if element is not None:
            if isinstance(value, dict):
                value = _validated(element, value)
            elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
                value = [_validated(element, v) for v in value]
        data[key] = value
    model.model_validate(data)


def load_models(rtypes: frozenset[str]) -> None:
    """Import the model classes up front, so forked readers share them instead of importing each."""
    for rtype in sorted(rtypes):
        model = _model(rtype)
        if model is not None:
            _element_fields(model)


def is_unknown_type(rtype: str) -> bool:
    """True when FHIR R4 has no resource type of this name."""
    return _model(rtype) is None


def validation_error(resource: dict[str, Any]) -> str | None:
    """Why a resource is not valid FHIR R4 (the first errors, shortened), or None when it is."""
    model = _model(str(resource.get("resourceType")))
    if model is None:
        return "unknown resource type (not in FHIR R4)"
    try:
        _validate_reusing_elements(model, resource)
        return None
    except Exception:  # validated again below, plainly, for the exact error
        pass
    try:
        model.model_validate(resource)
    except Exception as exc:  # pydantic's ValidationError, or fhir-core's own errors
        return "invalid FHIR: " + describe_error(exc)
    return None


def _location(loc: tuple[Any, ...]) -> str:
    """A field path such as ``valueQuantity.value`` or ``category[0]``; unknown field names that do not
    look like names (they come from the file) are not spelled out."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = str(part) if _FIELD.fullmatch(str(part)) else "(unnamed field)"
            out += f".{name}" if out else name
    return out or "(resource)"


def describe_error(exc: Exception, limit: int = 2) -> str:
    """The first ``limit`` problems of a validation error as ``field: rule [type=...]``, without values."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):  # fhir-core's own errors may quote what they read
        return f"the resource was refused by the FHIR model ({type(exc).__name__})"
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = [f"{_location(tuple(e['loc']))}: {e['msg']} [type={e['type']}]" for e in errors[:limit]]
    more = f"; and {len(errors) - limit} more" if len(errors) > limit else ""
    return ("; ".join(parts) + more)[:300]
