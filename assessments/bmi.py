"""Adult BMI class (WHO/NIH): the latest BMI, or weight and height measured the same day.

Classes: underweight < 18.5, normal 18.5-24.9, overweight 25-29.9, obesity class I 30-34.9,
class II 35-39.9, class III >= 40 kg/m2. Adults (age >= 20) only; children and adolescents
are classed by BMI-for-age percentiles (``not applicable``). Stale after 24 months.
"""

from __future__ import annotations

from assessments.model import Assessment
from assessments.record import Record, point_input
from assessments.results import fmt, insufficient
from assessments.sources import SOURCES
from patient_index.flags import BMI_CODES

__all__ = ["assess_bmi", "bmi_class"]

_ID, _NAME = "bmi_class", "BMI class (WHO)"
WEIGHT_CODES, HEIGHT_CODES = ("29463-7",), ("8302-2",)


def bmi_class(bmi: float) -> str:
    """WHO adult class of a BMI in kg/m2."""
    for cut, label in (
        (40, "obesity class III"),
        (35, "obesity class II"),
        (30, "obesity class I"),
        (25, "overweight"),
        (18.5, "normal"),
    ):
        if bmi >= cut:
            return label
    return "underweight"


def assess_bmi(rec: Record) -> Assessment:
    """BMI class of the latest BMI (recorded, or from same-day weight and height)."""
    source = SOURCES[_ID]
    bmi = rec.latest(BMI_CODES, "bmi")
    inputs = []
    if bmi is not None:
        value, day, inputs = bmi.value, bmi.day, [point_input("BMI", bmi)]
    else:
        w, h = rec.latest(WEIGHT_CODES, "bmi"), rec.latest(HEIGHT_CODES, "bmi")
        if w is None or h is None or w.day != h.day or h.value <= 0:
            return insufficient(
                _ID, _NAME, source, ["BMI, or weight and height (none in the last 24 months)"]
            )
        value, day = w.value / (h.value / 100) ** 2, w.day
        inputs = [point_input("weight", w), point_input("height", h)]
    age = rec.age_at(day)
    if age is not None and age < 20:
        return Assessment(
            _ID,
            _NAME,
            "not applicable",
            f"Not applicable: adult BMI classes; age {age} (use BMI-for-age percentiles).",
            source,
            tuple(inputs),
        )
    cls = bmi_class(value)  # the recorded value decides (29.96 is overweight); it is shown to one decimal
    value = round(value, 1)
    return Assessment(
        _ID,
        _NAME,
        cls,
        f"BMI {fmt(value)} kg/m2 on {day}: {cls}.",
        source,
        tuple(inputs),
        (),
        value,
        "kg/m2",
    )
