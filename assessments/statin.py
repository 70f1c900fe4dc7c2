"""Statin indication and intensity by the 2018 ACC/AHA cholesterol guideline's four benefit groups.

Checked in the guideline's order; the first that applies decides:

1. Clinical ASCVD (a Condition ever recorded: MI, ACS, angina, ischemic heart disease, stroke,
   TIA, PAD, or a revascularization Procedure): ``high-intensity`` at age <= 75; above 75
   ``moderate-intensity`` (continuing high intensity is reasonable, Class IIa).
2. LDL-C >= 190 mg/dL at any time on record, age >= 20: ``high-intensity``.
3. Diabetes at age 40-75: ``moderate-intensity`` (high intensity is reasonable at 50-75 with
   multiple risk factors, said in the statement).
4. Primary prevention at 40-75 with LDL-C 70-189 (latest, 5 years): the PCE 10-year risk
   decides: >= 20 % ``high-intensity``, 7.5-19.9 % ``moderate-intensity``, 5-7.4 % ``consider``
   (if risk-enhancing factors are present), < 5 % ``not indicated``. LDL-C < 70 is
   ``not indicated``.

Outside these groups: age < 20 is ``not indicated``; age 20-39 without diabetes is
``not indicated`` (lifetime risk discussion); diabetes at 20-39 is ``consider`` when a
diabetic complication is recorded or diabetes has lasted 10 years (Class IIa); age > 75 without
ASCVD is ``consider`` (clinician-patient discussion). Missing inputs give ``insufficient data``.
"""

from __future__ import annotations

from datetime import date

from assessments.conditions import ASCVD, ASCVD_PROCEDURES, DIABETES, DIABETES_COMPLICATION, STATIN
from assessments.model import INSUFFICIENT, Assessment, Input
from assessments.record import Record, point_input
from assessments.results import fmt, insufficient
from assessments.sources import SOURCES
from patient_index.flags import LDL_CODES

__all__ = ["assess_statin", "clinical_ascvd"]

_ID, _NAME = "statin", "Statin therapy (ACC/AHA 2018)"


def clinical_ascvd(rec: Record) -> list[dict[str, object]]:
    """Conditions and revascularization procedures that make clinical ASCVD, oldest first."""

    def find() -> list[dict[str, object]]:
        found = [*ASCVD.select(rec.conditions), *ASCVD_PROCEDURES.select(rec.procedures)]
        return sorted(found, key=lambda e: str(e.get("date") or ""))

    return rec.memo("clinical_ascvd", find)


def _cite(e: dict[str, object], name: str) -> Input:
    return Input(
        name,
        str(e.get("display") or ""),
        "",
        str(e.get("date") or "")[:10] or None,
        (str(e.get("event_id", "")),),
    )


def _result(verdict: str, statement: str, source_key: str, inputs: list[Input], rec: Record) -> Assessment:
    on = STATIN.select(rec.medications)
    if on and verdict != INSUFFICIENT:
        statement += f" Currently on {on[0].get('display')} (since {str(on[0].get('since'))[:10]})."
        inputs = [
            *inputs,
            Input(
                "current statin",
                str(on[0].get("display")),
                "",
                on[0].get("since"),
                tuple(on[0].get("cite") or ()),
            ),
        ]
    return Assessment(_ID, _NAME, verdict, statement, SOURCES[source_key], tuple(inputs))


def _diabetes_years(diabetes: list[dict[str, object]], as_of: date) -> float:
    first = str(diabetes[0].get("date") or "")[:10]
    return (as_of - date.fromisoformat(first)).days / 365.25 if len(first) == 10 else 0.0


def assess_statin(rec: Record, pce: Assessment) -> Assessment:
    """The statin verdict; ``pce`` is this patient's ``ascvd_pce_10y`` assessment."""
    age = rec.age
    if age is None:
        return insufficient(_ID, _NAME, SOURCES["statin_primary"], ["date of birth"])
    age_in = rec.age_input()
    ascvd = clinical_ascvd(rec)
    if ascvd:
        e = ascvd[0]
        what = f"clinical ASCVD ({str(e.get('display')).lower()} since {str(e.get('date'))[:10]})"
        if age <= 75:
            return _result(
                "high-intensity",
                f"High-intensity statin indicated: {what}.",
                "statin_ascvd",
                [_cite(e, "clinical ASCVD"), age_in],
                rec,
            )
        return _result(
            "moderate-intensity",
            f"At least moderate-intensity statin: {what}, age {age} > 75; continuing high intensity is reasonable.",
            "statin_ascvd_over_75",
            [_cite(e, "clinical ASCVD"), age_in],
            rec,
        )
    ldl_all = rec.series(LDL_CODES)
    high_ldl = [p for p in ldl_all if p.value >= 190]
    if high_ldl and age >= 20:
        p = high_ldl[-1]
        return _result(
            "high-intensity",
            f"High-intensity statin indicated: LDL-C {fmt(p.value, 0)} mg/dL on {p.day} (>= 190, severe "
            "hypercholesterolemia); no risk estimate needed.",
            "statin_ldl190",
            [point_input("LDL cholesterol", p), age_in],
            rec,
        )
    diabetes = DIABETES.select(rec.conditions)
    if diabetes:
        d = diabetes[0]
        since = str(d.get("date"))[:10]
        if 40 <= age <= 75:
            extra = " High intensity is reasonable at 50-75 with multiple risk factors." if age >= 50 else ""
            return _result(
                "moderate-intensity",
                f"Moderate-intensity statin indicated: diabetes (since {since}) at age {age} (40-75).{extra}",
                "statin_diabetes",
                [_cite(d, "diabetes"), age_in],
                rec,
            )
        if 20 <= age < 40:
            complications = DIABETES_COMPLICATION.select(rec.conditions)
            if complications or _diabetes_years(diabetes, rec.as_of) >= 10:
                why = (
                    f"{str(complications[0].get('display')).lower()}"
                    if complications
                    else f"diabetes for >= 10 years (since {since})"
                )
                return _result(
                    "consider",
                    f"Consider moderate-intensity statin: age {age} with {why}.",
                    "statin_diabetes",
                    [_cite(d, "diabetes"), age_in],
                    rec,
                )
    if age < 20:
        return _result(
            "not indicated",
            f"Statin not indicated: age {age} (< 20) without LDL-C >= 190.",
            "statin_primary",
            [age_in],
            rec,
        )
    if age < 40:
        return _result(
            "not indicated",
            f"Statin not indicated: age {age} (< 40) without ASCVD, LDL-C >= 190 or qualifying diabetes; "
            "lifetime risk discussion.",
            "statin_primary",
            [age_in],
            rec,
        )
    if age > 75:
        return _result(
            "consider",
            f"Consider statin after a clinician-patient discussion: age {age} (> 75) without clinical ASCVD.",
            "statin_special",
            [age_in],
            rec,
        )
    ldl = rec.latest(LDL_CODES, "lipids")
    missing = [] if ldl is not None else ["LDL cholesterol (none in the last 5 years)"]
    if pce.verdict == INSUFFICIENT or pce.value is None:
        missing += list(pce.missing) or ["inputs of the Pooled Cohort Equations"]
    if missing:
        return insufficient(_ID, _NAME, SOURCES["statin_primary"], missing, [age_in])
    assert ldl is not None and pce.value is not None
    ldl_in = point_input("LDL cholesterol", ldl)
    pce_in = Input("10-year ASCVD risk (PCE)", pce.value, "%", rec.as_of.isoformat(), tuple(pce.event_ids))
    risk = f"10-year ASCVD risk {fmt(pce.value)} %"
    if ldl.value < 70:
        return _result(
            "not indicated",
            f"Statin not indicated: LDL-C {fmt(ldl.value, 0)} mg/dL (< 70), {risk}.",
            "statin_primary",
            [ldl_in, pce_in, age_in],
            rec,
        )
    if pce.value >= 20:
        verdict, text = "high-intensity", f"High-intensity statin indicated: {risk} (>= 20 %)."
    elif pce.value >= 7.5:
        verdict = "moderate-intensity"
        text = f"Moderate-intensity statin indicated after a risk discussion: {risk} (7.5-19.9 %)."
    elif pce.value >= 5:
        verdict, text = (
            "consider",
            f"Consider moderate-intensity statin if risk-enhancing factors: {risk} (5-7.4 %).",
        )
    else:
        verdict, text = "not indicated", f"Statin not indicated: {risk} (< 5 %); lifestyle."
    return _result(verdict, text, "statin_primary", [ldl_in, pce_in, age_in], rec)
