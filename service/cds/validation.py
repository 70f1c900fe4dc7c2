"""Shape checks of what a CDS Hooks request carries, so malformed FHIR is a 400 that names the field.

Only the fields the services read are checked, and only their JSON types: a ``dosageInstruction``
that is not a list, or a dose whose ``value`` is not a number, would otherwise surface as a 500 deep
inside the medication checks. Messages name paths, never values (a value may be clinical text).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.cds.errors import CdsError

__all__ = ["check_draft_orders"]

_NUMBER = (int, float)


def _bad(path: str, expected: str) -> CdsError:
    return CdsError(400, "invalid_resource", f"{path} must be {expected}")


def _objects(value: Any, path: str) -> list[Mapping[str, Any]]:
    """``value`` as a list of objects (absent: empty), else a 400 naming ``path``."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise _bad(path, "a list of objects")
    return value


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(path, "an object")
    return value


def _number(value: Any, path: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, _NUMBER)):
        raise _bad(path, "a number")


def _check_dosage(resource: Mapping[str, Any], where: str) -> None:
    for i, dosage in enumerate(_objects(resource.get("dosageInstruction"), f"{where}.dosageInstruction")):
        at = f"{where}.dosageInstruction[{i}]"
        repeat = _object(_object(dosage.get("timing"), f"{at}.timing").get("repeat"), f"{at}.timing.repeat")
        for key in ("frequency", "period"):
            _number(repeat.get(key), f"{at}.timing.repeat.{key}")
        if repeat.get("periodUnit") is not None and not isinstance(repeat["periodUnit"], str):
            raise _bad(f"{at}.timing.repeat.periodUnit", "a string")
        for j, rate in enumerate(_objects(dosage.get("doseAndRate"), f"{at}.doseAndRate")):
            qty = _object(rate.get("doseQuantity"), f"{at}.doseAndRate[{j}].doseQuantity")
            _number(qty.get("value"), f"{at}.doseAndRate[{j}].doseQuantity.value")


def _check_medication(resource: Mapping[str, Any], where: str) -> None:
    concept = _object(resource.get("medicationCodeableConcept"), f"{where}.medicationCodeableConcept")
    _objects(concept.get("coding"), f"{where}.medicationCodeableConcept.coding")
    _object(resource.get("medicationReference"), f"{where}.medicationReference")


def check_draft_orders(context: Mapping[str, Any]) -> None:
    """400 when a draft MedicationRequest has a field the checks read in the wrong JSON type.

    Raises:
        CdsError: 400 ``invalid_resource`` naming the field, e.g.
            ``draftOrders.entry[0].resource.dosageInstruction must be a list of objects``.
    """
    bundle = context.get("draftOrders")
    if not isinstance(bundle, Mapping):
        return  # the hook's own check answers 400 for a missing or non-Bundle draftOrders
    for i, entry in enumerate(_objects(bundle.get("entry"), "draftOrders.entry")):
        resource = entry.get("resource")
        if isinstance(resource, Mapping) and resource.get("resourceType") == "MedicationRequest":
            where = f"draftOrders.entry[{i}].resource"
            _check_medication(resource, where)
            _check_dosage(resource, where)
