"""Unit normalisation for the series clinicians trend: one canonical unit per series, or a flag.

A value in a unit we cannot convert is kept as recorded and flagged; it is never mixed into
the series. Conversion factors are the standard ones (glucose 18.016 mg/dL per mmol/L,
cholesterol 38.67, triglycerides 88.57, creatinine 88.42 umol/L per mg/dL; HbA1c IFCC to NGSP
by the IFCC-NGSP master equation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CANONICAL", "Normalized", "canonical_unit", "normalize_quantity"]

_ALIASES = {
    "mg/dl": "mg/dL",
    "mmol/l": "mmol/L",
    "umol/l": "umol/L",
    "µmol/l": "umol/L",
    "μmol/l": "umol/L",
    "mmol/mol": "mmol/mol",
    "%": "%",
    "kg": "kg",
    "g": "g",
    "[lb_av]": "[lb_av]",
    "lb": "[lb_av]",
    "lbs": "[lb_av]",
    "cm": "cm",
    "m": "m",
    "[in_i]": "[in_i]",
    "in": "[in_i]",
    "mm[hg]": "mm[Hg]",
    "mmhg": "mm[Hg]",
    "cel": "Cel",
    "°c": "Cel",
    "degc": "Cel",
    "[degf]": "[degF]",
    "°f": "[degF]",
    "degf": "[degF]",
    "kg/m2": "kg/m2",
    "kg/m^2": "kg/m2",
    "ml/min/{1.73_m2}": "mL/min/{1.73_m2}",
    "ml/min/1.73m2": "mL/min/{1.73_m2}",
    "ml/min/1.73 m2": "mL/min/{1.73_m2}",
    "ml/min": "mL/min",
}

Convert = Callable[[float], float]
# LOINC's eGFR codes are normalised to 1.73 m2 body surface by definition, so a value labelled
# plain "mL/min" under one of them (Synthea does this) is the same quantity, not a raw clearance.
_EGFR = {"mL/min/{1.73_m2}": lambda v: v, "mL/min": lambda v: v}
_GLUCOSE = {"mg/dL": lambda v: v, "mmol/L": lambda v: v * 18.016}
_CHOLESTEROL = {"mg/dL": lambda v: v, "mmol/L": lambda v: v * 38.67}
_SERIES: dict[str, tuple[str, dict[str, Convert]]] = {
    "2339-0": ("mg/dL", _GLUCOSE),  # glucose, blood
    "2345-7": ("mg/dL", _GLUCOSE),  # glucose, serum/plasma
    "2093-3": ("mg/dL", _CHOLESTEROL),  # total cholesterol
    "18262-6": ("mg/dL", _CHOLESTEROL),  # LDL (direct)
    "13457-7": ("mg/dL", _CHOLESTEROL),  # LDL (calculated)
    "2085-9": ("mg/dL", _CHOLESTEROL),  # HDL
    "2571-8": ("mg/dL", {"mg/dL": lambda v: v, "mmol/L": lambda v: v * 88.57}),  # triglycerides
    "2160-0": ("mg/dL", {"mg/dL": lambda v: v, "umol/L": lambda v: v / 88.42}),  # creatinine
    "38483-4": ("mg/dL", {"mg/dL": lambda v: v, "umol/L": lambda v: v / 88.42}),
    "4548-4": ("%", {"%": lambda v: v, "mmol/mol": lambda v: v * 0.09148 + 2.152}),  # HbA1c
    "29463-7": ("kg", {"kg": lambda v: v, "g": lambda v: v / 1000, "[lb_av]": lambda v: v * 0.45359237}),
    "8302-2": ("cm", {"cm": lambda v: v, "m": lambda v: v * 100, "[in_i]": lambda v: v * 2.54}),
    "8310-5": ("Cel", {"Cel": lambda v: v, "[degF]": lambda v: (v - 32) * 5 / 9}),
    "8480-6": ("mm[Hg]", {"mm[Hg]": lambda v: v}),
    "8462-4": ("mm[Hg]", {"mm[Hg]": lambda v: v}),
    "39156-5": ("kg/m2", {"kg/m2": lambda v: v}),
    "33914-3": ("mL/min/{1.73_m2}", _EGFR),
    "62238-1": ("mL/min/{1.73_m2}", _EGFR),
    "48642-3": ("mL/min/{1.73_m2}", _EGFR),
    "48643-1": ("mL/min/{1.73_m2}", _EGFR),
    "69405-9": ("mL/min/{1.73_m2}", _EGFR),
    "98979-8": ("mL/min/{1.73_m2}", _EGFR),
}
CANONICAL = {code: unit for code, (unit, _) in _SERIES.items()}


@dataclass(frozen=True)
class Normalized:
    value: float
    unit: str
    original_value: float | None = None  # set when a conversion was applied
    original_unit: str = ""
    flag: str = ""  # why the value is not comparable with its series, when it is not


def _alias(unit: str) -> str:
    clean = unit.strip()
    return _ALIASES.get(clean.lower(), clean)


def canonical_unit(code: str) -> str | None:
    """The unit a known series is stored in, or ``None`` for series we do not normalise."""
    return CANONICAL.get(code)


def normalize_quantity(code: str, value: float, unit: str) -> Normalized:
    """Express ``value`` in the canonical unit of series ``code``; flag what cannot be converted."""
    spec = _SERIES.get(code)
    unit_in = _alias(unit or "")
    if spec is None:
        return Normalized(value, unit_in)
    canonical, conversions = spec
    convert = conversions.get(unit_in)
    if convert is None:
        return Normalized(
            value,
            unit_in,
            flag=f"unit {unit_in or '(none)'!r} cannot be converted to {canonical} for LOINC {code}; "
            "kept as recorded and left out of trends",
        )
    if unit_in == canonical:
        return Normalized(value, canonical)
    return Normalized(round(convert(value), 4), canonical, original_value=value, original_unit=unit_in)
