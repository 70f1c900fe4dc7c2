"""Glycemic status by HbA1c (ADA Standards of Care 2024, section 2) or a diabetes diagnosis.

* ``diabetes``: a diabetes Condition on record (any time up to ``as_of``), or HbA1c >= 6.5 %.
  A single HbA1c >= 6.5 % without a diagnosis needs a second abnormal result to confirm it
  (the statement says so, ``details.confirmed`` is false); two values >= 6.5 % confirm it.
* ``prediabetes``: the latest HbA1c 5.7-6.4 % (within 3 years) and no diabetes.
* ``normal``: the latest HbA1c < 5.7 % (within 3 years) and no diabetes.

Without a diagnosis and without an HbA1c in the last 3 years the verdict is ``insufficient
data`` (a recorded "prediabetes" problem alone is not an HbA1c).
"""

from __future__ import annotations

from assessments.conditions import DIABETES
from assessments.model import Assessment, Input
from assessments.record import Record, point_input
from assessments.results import fmt, insufficient
from assessments.sources import SOURCES
from patient_index.flags import HBA1C_CODES

__all__ = ["assess_glycemic", "hba1c_status"]

_ID, _NAME = "glycemic_status", "Glycemic status (ADA 2024)"


def hba1c_status(hba1c_pct: float) -> str:
    """ADA category of one HbA1c (%): normal < 5.7, prediabetes 5.7-6.4, diabetes >= 6.5."""
    if hba1c_pct >= 6.5:
        return "diabetes"
    return "prediabetes" if hba1c_pct >= 5.7 else "normal"


def assess_glycemic(rec: Record) -> Assessment:
    """Glycemic status from the diagnosis list and the HbA1c series."""
    source = SOURCES[_ID]
    diagnosis = DIABETES.select(rec.conditions)
    all_a1c = rec.series(HBA1C_CODES)
    latest = all_a1c[-1] if all_a1c and rec.fresh(all_a1c[-1].day, "hba1c") else None
    a1c_text = f"; latest HbA1c {fmt(latest.value)} % on {latest.day}" if latest else ""
    if diagnosis:
        d = diagnosis[0]
        inputs = [
            Input(
                "diabetes diagnosis",
                str(d.get("display")),
                "",
                str(d.get("date"))[:10],
                (str(d.get("event_id")),),
            )
        ]
        if latest:
            inputs.append(point_input("HbA1c", latest))
        return Assessment(
            _ID,
            _NAME,
            "diabetes",
            f"Diabetes: {str(d.get('display')).lower()} on record since {str(d.get('date'))[:10]}{a1c_text}.",
            source,
            tuple(inputs),
            (),
            latest.value if latest else None,
            "%" if latest else None,
            {"confirmed": True, "by": "diagnosis"},
        )
    if latest is None:
        return insufficient(_ID, _NAME, source, ["HbA1c (none in the last 3 years)"])
    status = hba1c_status(latest.value)
    if status == "diabetes":
        high = [p for p in all_a1c if p.value >= 6.5]
        confirmed = len(high) >= 2
        tail = (
            f"confirmed by {len(high)} values >= 6.5 % (first {high[0].day})"
            if confirmed
            else "a single value: confirm with a repeat test"
        )
        return Assessment(
            _ID,
            _NAME,
            "diabetes",
            f"Diabetes range: HbA1c {fmt(latest.value)} % on {latest.day} (>= 6.5 %), {tail}.",
            source,
            tuple(point_input("HbA1c", p) for p in (high if confirmed else [latest])),
            (),
            latest.value,
            "%",
            {"confirmed": confirmed, "by": "HbA1c"},
        )
    band = "5.7-6.4 %" if status == "prediabetes" else "< 5.7 %"
    return Assessment(
        _ID,
        _NAME,
        status,
        f"{status.capitalize()}: HbA1c {fmt(latest.value)} % on {latest.day} ({band}); no diabetes diagnosis.",
        source,
        (point_input("HbA1c", latest),),
        (),
        latest.value,
        "%",
        {"by": "HbA1c"},
    )
