"""KDIGO 2024 kidney categories and referral: G category, A category, nephrology referral.

* ``ckd_stage``: the G category of the latest eGFR (:func:`assessments.egfr.egfr_series`,
  stale after 12 months): G1 >= 90, G2 60-89, G3a 45-59, G3b 30-44, G4 15-29, G5 < 15.
  Chronicity goes in the statement: below 60 for more than 3 months (the latest run of values
  below 60 spans at least 90 days) meets the GFR criterion for CKD; a shorter run is unconfirmed.
* ``albuminuria``: the A category of the latest urine albumin-to-creatinine ratio (stale after
  12 months): A1 < 30, A2 30-300, A3 > 300 mg/g. One value cannot show persistence (KDIGO
  asks for 2 of 3 specimens over 3-6 months); the statement says how many values agree.
* ``ckd_referral``: indicated when the latest eGFR is < 30, the latest ACR is >= 300 mg/g, or
  eGFR falls faster than 5 mL/min/1.73 m2 per year (least-squares slope over the 3 years before
  ``as_of``, at least 2 values 90 days apart). "Not indicated" needs a current eGFR and a
  current ACR: without an ACR, A3 albuminuria cannot be excluded.
"""

from __future__ import annotations

from assessments.egfr import EgfrValue, egfr_series
from assessments.model import Assessment, Input
from assessments.record import Record, point_input
from assessments.results import fmt, insufficient
from assessments.sources import SOURCES
from patient_index.flags import Point, slope_per_year, years_before

__all__ = [
    "ACR_CODES",
    "acr_points",
    "albuminuria_category",
    "assess_albuminuria",
    "assess_ckd_referral",
    "assess_ckd_stage",
    "g_category",
    "latest_egfr",
    "rapid_decline",
]

# Albumin/creatinine in urine: mass ratio (9318-7), the "microalbumin" ratio (14959-1), 24 h (32294-1 is
# the random-urine variant in some systems)
ACR_CODES = ("9318-7", "14959-1", "32294-1")
_MG_PER_MMOL = 8.84  # 1 mg/mmol creatinine = 8.84 mg/g
_UNIT = "mL/min/1.73m2"


def g_category(egfr: float) -> str:
    """KDIGO GFR category of an eGFR in mL/min/1.73 m2."""
    for cut, cat in ((90, "G1"), (60, "G2"), (45, "G3a"), (30, "G3b"), (15, "G4")):
        if egfr >= cut:
            return cat
    return "G5"


def albuminuria_category(acr_mg_g: float) -> str:
    """KDIGO albuminuria category of a urine ACR in mg/g."""
    if acr_mg_g < 30:
        return "A1"
    return "A2" if acr_mg_g <= 300 else "A3"


def acr_points(rec: Record) -> list[Point]:
    """Urine ACR values in mg/g (mg/mmol converted), oldest first; other units are left out."""
    out = []
    for p in rec.series(ACR_CODES):
        unit = p.unit.replace(" ", "").lower()
        if unit.startswith("mg/g"):
            out.append(p)
        elif unit.startswith("mg/mmol"):
            out.append(Point(p.value * _MG_PER_MMOL, p.day, p.instant, p.event_id, p.code, p.display, "mg/g"))
    return out


def latest_egfr(rec: Record) -> EgfrValue | None:
    """The newest eGFR when it is current (12 months), else ``None``."""
    history = egfr_series(rec)
    if not history or not rec.fresh(history[-1].point.day, "egfr"):
        return None
    return history[-1]


def _below_60_run(history: list[EgfrValue]) -> list[EgfrValue]:
    run: list[EgfrValue] = []
    for v in reversed(history):
        if v.point.value >= 60:
            break
        run.insert(0, v)
    return run


def assess_ckd_stage(rec: Record) -> Assessment:
    """G category of the latest eGFR, with chronicity in the statement."""
    source, name = SOURCES["ckd_stage"], "CKD G category (KDIGO 2024)"
    history = egfr_series(rec)
    latest = latest_egfr(rec)
    if latest is None:
        return insufficient(
            "ckd_stage", name, source, ["serum creatinine or eGFR (none in the last 12 months)"]
        )
    p = latest.point
    cat = g_category(p.value)
    how = "CKD-EPI 2021" if latest.method == "CKD-EPI 2021" else "as reported"
    statement = f"{cat}: eGFR {fmt(p.value, 0)} {_UNIT} on {p.day} ({how})"
    inputs: list[Input] = [Input("eGFR", round(p.value, 1), _UNIT, p.day.isoformat(), (p.event_id,))]
    chronic: bool | None = None
    if p.value < 60:
        run = _below_60_run(history)
        span = (p.day - run[0].point.day).days
        chronic = span >= 90
        if chronic:
            statement += (
                f"; below 60 for {span} days since {run[0].point.day}: meets the CKD criterion (> 3 months)."
            )
        else:
            statement += f"; below 60 for {span} days only: repeat to confirm chronicity (> 3 months)."
        inputs[0:0] = [
            Input("eGFR", round(v.point.value, 1), _UNIT, v.point.day.isoformat(), (v.point.event_id,))
            for v in run[:-1]
        ]
    else:
        statement += "; G1-G2 is CKD only with a marker of kidney damage (e.g. ACR >= 30 mg/g)."
    if cat == "G5":
        statement = statement.replace(f"{cat}:", "G5 (kidney failure range):", 1)
    return Assessment(
        "ckd_stage",
        name,
        cat,
        statement,
        source,
        tuple(inputs),
        (),
        None,
        None,
        {"egfr": round(p.value, 1), "method": latest.method, "chronic": chronic},
    )


def assess_albuminuria(rec: Record) -> Assessment:
    """A category of the latest urine ACR (stale after 12 months)."""
    source, name = SOURCES["albuminuria"], "Albuminuria category (KDIGO 2024)"
    pts = acr_points(rec)
    if not pts or not rec.fresh(pts[-1].day, "acr"):
        return insufficient(
            "albuminuria",
            name,
            source,
            ["urine albumin-to-creatinine ratio (ACR; none in the last 12 months)"],
        )
    p = pts[-1]
    cat = albuminuria_category(p.value)
    window = [q for q in pts if (p.day - q.day).days <= 183]
    agree = [q for q in window if albuminuria_category(q.value) == cat]
    statement = f"{cat}: urine ACR {fmt(p.value)} mg/g on {p.day}"
    if len(agree) >= 2:
        statement += f"; {len(agree)} of {len(window)} values in 6 months agree."
    else:
        statement += "; confirm on 2 of 3 specimens over 3-6 months."
    return Assessment(
        "albuminuria",
        name,
        cat,
        statement,
        source,
        tuple(point_input("urine ACR", q) for q in window),
        (),
        round(p.value, 1),
        "mg/g",
    )


def rapid_decline(rec: Record) -> tuple[float | None, list[EgfrValue]]:
    """The eGFR slope per year over the 3 years before ``as_of`` (``None`` if not computable)."""
    recent = [v for v in egfr_series(rec) if v.point.day >= years_before(rec.as_of, 3)]
    return slope_per_year([v.point for v in recent], 90), recent


def assess_ckd_referral(rec: Record) -> Assessment:
    """KDIGO 2024 nephrology referral: eGFR < 30, ACR >= 300 mg/g, or decline > 5 per year."""
    source, name = SOURCES["ckd_referral"], "Nephrology referral (KDIGO 2024)"
    egfr = latest_egfr(rec)
    acr = acr_points(rec)
    acr_now = acr[-1] if acr and rec.fresh(acr[-1].day, "acr") else None
    slope, recent = rapid_decline(rec)
    reasons: list[str] = []
    inputs: list[Input] = []
    if egfr is not None:
        p = egfr.point
        inputs.append(Input("eGFR", round(p.value, 1), _UNIT, p.day.isoformat(), (p.event_id,)))
        if p.value < 30:
            reasons.append(f"eGFR {fmt(p.value, 0)} on {p.day} (< 30, {g_category(p.value)})")
    if acr_now is not None:
        inputs.append(point_input("urine ACR", acr_now))
        if acr_now.value >= 300:
            reasons.append(f"ACR {fmt(acr_now.value)} mg/g on {acr_now.day} (>= 300, A3)")
    if slope is not None and slope < -5:
        first, last = recent[0].point, recent[-1].point
        inputs += [
            Input("eGFR", round(v.point.value, 1), _UNIT, v.point.day.isoformat(), (v.point.event_id,))
            for v in recent
            if egfr is None or v.point.event_id != egfr.point.event_id
        ]
        reasons.append(
            f"eGFR falling {fmt(-slope)} per year ({fmt(first.value, 0)} on {first.day} to "
            f"{fmt(last.value, 0)} on {last.day}; > 5 per year)"
        )
    details = {"egfr_slope_per_year": None if slope is None else round(slope, 2)}
    if reasons:
        return Assessment(
            "ckd_referral",
            name,
            "indicated",
            "Nephrology referral indicated: " + "; ".join(reasons) + ".",
            source,
            tuple(inputs),
            (),
            None,
            None,
            details,
        )
    missing = []
    if egfr is None:
        missing.append("serum creatinine or eGFR (none in the last 12 months)")
    if acr_now is None:
        missing.append("urine albumin-to-creatinine ratio (ACR; none in the last 12 months)")
    if missing:
        reason = ""
        if egfr is not None:
            reason = (
                f"eGFR {fmt(egfr.point.value, 0)} on {egfr.point.day} is above 30 and not falling > 5 per year, "
                "but without a current urine ACR A3 albuminuria cannot be excluded; measure urine ACR"
            )
        return insufficient("ckd_referral", name, source, missing, inputs, reason)
    assert egfr is not None and acr_now is not None
    return Assessment(
        "ckd_referral",
        name,
        "not indicated",
        f"Nephrology referral not indicated by KDIGO criteria: eGFR {fmt(egfr.point.value, 0)} "
        f"(>= 30), ACR {fmt(acr_now.value)} mg/g (< 300), no decline > 5 per year.",
        source,
        tuple(inputs),
        (),
        None,
        None,
        details,
    )
