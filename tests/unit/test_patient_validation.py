"""Validation that reuses validated elements says exactly what plain ``fhir.resources`` validation says."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from patient_index import validation
from patient_index.validation import validation_error

_CODE = {
    "coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}],
    "text": "Glucose",
}


def _observation(**changes: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "category": [{"coding": [{"code": "laboratory"}]}],
        "code": copy.deepcopy(_CODE),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2023-04-01T09:30:00+00:00",
        "valueQuantity": {"value": 97.2, "unit": "mg/dL"},
    }
    r.update(changes)
    return {k: v for k, v in r.items() if v is not None}


def _plain(resource: dict[str, Any]) -> bool:
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except Exception:
        return False
    return True


CASES = {
    "valid": _observation(),
    "no status": _observation(status=None),
    "bad code inside a repeated element": _observation(code={"coding": [{"system": 5}]}),
    "two value choices": _observation(valueString="high"),
    "null in a list of elements": _observation(category=[None]),
    "unknown field in an element": _observation(subject={"reference": "Patient/p1", "bogus": 1}),
    "bad date": _observation(effectiveDateTime="yesterday"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_same_verdict_as_plain_validation(name: str) -> None:
    resource = CASES[name]
    validation._elements.clear()
    validation_error(_observation())  # the shared elements are now cached as valid
    error = validation_error(copy.deepcopy(resource))
    assert (error is None) == _plain(resource), error
    if error is not None:
        assert error.startswith("invalid FHIR: ")


def test_an_invalid_element_is_never_cached_and_valid_ones_are_reused() -> None:
    validation._elements.clear()
    assert validation_error(_observation(code={"coding": [{"system": 5}]})) is not None
    assert validation_error(_observation(code={"coding": [{"system": 5}]})) is not None
    assert all('"system": 5' not in text for _, text in validation._elements)
    assert validation_error(_observation()) is None
    size = len(validation._elements)
    for n in range(5):
        assert validation_error(_observation(id=f"o{n}")) is None
    assert len(validation._elements) == size  # every element of these was validated before


SECRET = "SSN 999-12-3456"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"effectiveDateTime": SECRET}, "effectiveDateTime"),
        ({"valueQuantity": {"value": SECRET, "unit": "mg/dL"}}, "valueQuantity.value"),
        ({"issued": SECRET}, "issued"),
        ({"id": SECRET}, "id"),
        ({"subject": {"reference": "Patient/p1", SECRET: 1}}, "subject"),
    ],
)
def test_errors_name_the_field_and_the_rule_never_the_value(changes: dict[str, Any], field: str) -> None:
    """pydantic's message carries ``input_value='SSN 999-12-3456'``: reports would copy it everywhere."""
    resource = _observation()
    resource.update(changes)
    validation._elements.clear()
    error = validation_error(resource)
    assert error is not None and error.startswith("invalid FHIR: ")
    assert field in error and "[type=" in error
    assert "999-12-3456" not in error and "input_value" not in error
