"""CHA2DS2-VASc stroke risk in atrial fibrillation (2023 ACC/AHA/ACCP/HRS AF guideline).

Computed when atrial fibrillation is an active problem. Points, each from the record up to
``as_of``: congestive heart failure 1, hypertension 1, age >= 75 2 (65-74 1), diabetes 1,
prior stroke, TIA or thromboembolism 2, vascular disease (prior MI, PAD, aortic plaque) 1,
female sex 1. A history item counts when a matching Condition was ever recorded (a resolved
stroke is still a prior stroke). The verdict is the score; the statement gives the
guideline's anticoagulation threshold: OAC recommended at >= 2 in men and >= 3 in women,
may be considered at 1 (men) or 2 (women).
"""

from __future__ import annotations

from assessments.conditions import (
    ATRIAL_FIBRILLATION,
    DIABETES,
    HEART_FAILURE,
    HYPERTENSION,
    STROKE_TIA_EMBOLISM,
    VASCULAR_DISEASE,
    ConditionSet,
)
from assessments.model import Assessment, Input
from assessments.record import Record
from assessments.results import insufficient
from assessments.sources import SOURCES

__all__ = ["assess_cha2ds2_vasc", "cha2ds2_vasc", "oac_advice"]

_ID, _NAME = "cha2ds2_vasc", "CHA2DS2-VASc (AF stroke risk)"
_ITEMS: tuple[tuple[str, ConditionSet, int], ...] = (
    ("congestive heart failure", HEART_FAILURE, 1),
    ("hypertension", HYPERTENSION, 1),
    ("diabetes", DIABETES, 1),
    ("stroke/TIA/thromboembolism", STROKE_TIA_EMBOLISM, 2),
    ("vascular disease", VASCULAR_DISEASE, 1),
)


def cha2ds2_vasc(
    *, chf: bool, hypertension: bool, age: int, diabetes: bool, stroke: bool, vascular: bool, female: bool
) -> int:
    """The CHA2DS2-VASc score from its seven items."""
    age_points = 2 if age >= 75 else 1 if age >= 65 else 0
    return (
        int(chf)
        + int(hypertension)
        + age_points
        + int(diabetes)
        + 2 * int(stroke)
        + int(vascular)
        + int(female)
    )


def oac_advice(score: int, female: bool) -> str:
    """The 2023 guideline's anticoagulation statement for a score (the female point does not count alone)."""
    non_sex = score - (1 if female else 0)
    if non_sex >= 2:
        return "oral anticoagulation recommended (Class I)"
    if non_sex == 1:
        return "oral anticoagulation may be considered (Class IIb)"
    return "no antithrombotic therapy recommended (Class III: No Benefit)"


def assess_cha2ds2_vasc(rec: Record) -> Assessment:
    """CHA2DS2-VASc when atrial fibrillation is an active problem."""
    source = SOURCES[_ID]
    af = ATRIAL_FIBRILLATION.select(rec.problems)
    if not af:
        return Assessment(
            _ID,
            _NAME,
            "not applicable",
            "Not applicable: no active atrial fibrillation on the problem list.",
            source,
        )
    age = rec.age
    if age is None or rec.sex not in ("male", "female"):
        return insufficient(_ID, _NAME, source, ["date of birth and sex (male or female)"])
    inputs = [Input("atrial fibrillation", str(af[0].get("display")), "", af[0].get("onset"),
                    tuple(af[0].get("cite") or ()))]  # fmt: skip
    found: dict[str, bool] = {}
    for label, cset, _points in _ITEMS:
        hits = cset.select(rec.conditions)
        found[label] = bool(hits)
        if hits:
            e = hits[0]
            inputs.append(
                Input(label, str(e.get("display")), "", str(e.get("date"))[:10], (str(e.get("event_id")),))
            )
    inputs += [rec.age_input(), rec.sex_input()]
    female = rec.sex == "female"
    score = cha2ds2_vasc(chf=found["congestive heart failure"], hypertension=found["hypertension"], age=age,
                         diabetes=found["diabetes"], stroke=found["stroke/TIA/thromboembolism"],
                         vascular=found["vascular disease"], female=female)  # fmt: skip
    present = [label for label, ok in found.items() if ok]
    if age >= 65:
        present.append(f"age {age}")
    if female:
        present.append("female")
    statement = (
        f"CHA2DS2-VASc {score} ({', '.join(present) or 'no risk factors'}): {oac_advice(score, female)}."
    )
    return Assessment(_ID, _NAME, str(score), statement, source, tuple(inputs), (), float(score), "points")
