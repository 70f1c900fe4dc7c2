"""Independent truth for the ``reasoning`` suite: guideline verdicts computed from the raw FHIR JSON.

Nothing here uses the patient index, the summary or the ``assessments`` package: the Bundle's
resources are read directly and each rule is written again from the guideline (and the input
freshness windows the issue specifies), so a shared bug cannot make both sides agree.

Rules (``as_of`` is the day judged; only data dated on or before it counts):

* eGFR, CKD-EPI 2021 race-free: 142 x min(Scr/k,1)^a x max(Scr/k,1)^-1.2 x 0.9938^age (x 1.012
  female), k 0.7/0.9 and a -0.241/-0.302 (female/male), serum creatinine (LOINC 2160-0, 38483-4,
  mg/dL) of the latest day with one, within 12 months; age on that day, adults only.
* G category of the latest eGFR (creatinine recomputed; a reported eGFR only on a day without
  creatinine), within 12 months: G1 >= 90, G2 >= 60, G3a >= 45, G3b >= 30, G4 >= 15, else G5.
* A category of the latest urine ACR (9318-7, 14959-1, 32294-1), 12 months: A1 < 30,
  A2 <= 300, A3 > 300 mg/g.
* CKD referral (KDIGO 2024): eGFR < 30, ACR >= 300 mg/g, or an eGFR slope below -5 per year
  (least squares over the 3 years before ``as_of``, values >= 90 days apart); "not indicated"
  needs a current eGFR and ACR; otherwise insufficient.
* BP category (ACC/AHA 2017): the mean of the day-means of the last two days with a systolic and
  a diastolic reading (latest within 12 months, earlier within 24), rounded half up; the higher
  of the systolic and diastolic classes: normal, elevated, stage 1, stage 2, severe (> 180 / > 120).
* Glycemic status (ADA 2024): diabetes when a diabetes condition is on record or any HbA1c is
  >= 6.5 %; else the latest HbA1c within 3 years: >= 5.7 prediabetes, below normal.
* PCE 10-year risk (2013, the African American equations when the US Core race extension says
  Black or African American, the white equations otherwise), age 40-79, no clinical ASCVD; latest total and HDL cholesterol (5 years), systolic BP (12 months),
  current smoking (latest smoking status, 3 years, or an active daily-smoking problem), diabetes,
  an active antihypertensive.
* Statin (ACC/AHA 2018): clinical ASCVD -> high-intensity (moderate above 75); any LDL-C >= 190 at
  20+ -> high; diabetes at 40-75 -> moderate; 40-75 with latest LDL-C 70-189 (5 years): PCE >= 20 %
  high, >= 7.5 % moderate, >= 5 % consider, else not indicated; LDL-C < 70 not indicated; under
  20 or 20-39 without diabetes not indicated; diabetes 20-39 consider with a complication or 10+
  years of diabetes, else not indicated; over 75 without ASCVD consider.
* BMI class (WHO), age 20+, latest BMI (39156-5) within 24 months.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

__all__ = ["TRUTH_IDS", "RawPatient", "load_patient", "truth"]

TRUTH_IDS = (
    "egfr_ckd_epi_2021",
    "ckd_stage",
    "albuminuria",
    "ckd_referral",
    "ascvd_pce_10y",
    "statin",
    "bp_category",
    "glycemic_status",
    "bmi_class",
)
INSUFFICIENT = "insufficient data"
_CREATININE = {"2160-0", "38483-4"}
_EGFR = {"33914-3", "62238-1", "48642-3", "48643-1", "69405-9", "98979-8"}
_ACR = {"9318-7", "14959-1", "32294-1"}
_ASCVD_WORDS = ("myocardial infarction", "coronary", "ischemic heart", "ischaemic heart", "angina",
                "stroke", "transient ischemic", "peripheral arter", "acute coronary")  # fmt: skip
_ASCVD_PROCEDURES = ("coronary artery bypass", "percutaneous coronary", "coronary stent", "angioplasty")
_ANTIHYPERTENSIVES = ("lisinopril", "enalapril", "ramipril", "losartan", "valsartan", "amlodipine",
                      "hydrochlorothiazide", "chlorthalidone", "metoprolol", "atenolol", "carvedilol",
                      "verapamil", "diltiazem", "nifedipine", "furosemide", "spironolactone", "olmesartan")  # fmt: skip
# Goff et al. 2013, Table A: (ln age, ln age^2, ln TC, ln age x ln TC, ln HDL, ln age x ln HDL,
# ln treated SBP, ln age x ln treated SBP, ln untreated SBP, ln age x ln untreated SBP, smoker,
# ln age x smoker, diabetes, baseline survival, mean of the sum)
_PCE = {
    ("white", "female"): (-29.799, 4.884, 13.540, -3.114, -13.578, 3.149, 2.019, 0, 1.957, 0, 7.574, -1.665, 0.661, 0.9665, -29.18),
    ("black", "female"): (17.114, 0, 0.940, 0, -18.920, 4.475, 29.291, -6.432, 27.820, -6.087, 0.691, 0, 0.874, 0.9533, 86.61),
    ("white", "male"): (12.344, 0, 11.853, -2.664, -7.990, 1.769, 1.797, 0, 1.764, 0, 7.837, -1.795, 0.658, 0.9144, 61.18),
    ("black", "male"): (2.469, 0, 0.302, 0, -0.307, 0, 1.916, 0, 1.809, 0, 0.549, 0, 0.645, 0.8954, 19.54),
}  # fmt: skip
_RACE_URL = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"


@dataclass
class RawPatient:
    """What the truth reads from one Bundle: demographics and dated values, straight from the JSON."""

    patient_id: str
    source: str
    born: date | None
    sex: str
    died: date | None
    race: str = "white"  # "black" when the US Core race extension says Black or African American
    values: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)  # LOINC -> (when, value)
    smoking: list[tuple[datetime, str]] = field(default_factory=list)
    conditions: list[dict[str, Any]] = field(default_factory=list)  # display, onset, end, status
    procedures: list[tuple[date, str]] = field(default_factory=list)
    medications: list[dict[str, Any]] = field(default_factory=list)  # display, status, start, end

    def last_day(self) -> date | None:
        days = [w.date() for vs in self.values.values() for w, _ in vs]
        return max(days, default=None)


def _when(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        if len(text) == 10:
            return datetime.fromisoformat(text + "T00:00:00+00:00")
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _codes(concept: Any) -> list[str]:
    return [str(c.get("code", "")) for c in (concept or {}).get("coding", [])]


def _display(concept: Any) -> str:
    codings = (concept or {}).get("coding", [])
    return str((concept or {}).get("text") or (codings[0].get("display") if codings else "") or "")


def _observation(p: RawPatient, r: dict[str, Any]) -> None:
    when = _when(r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start"))
    if when is None or r.get("status") in ("entered-in-error", "cancelled"):
        return
    parts = [(r.get("code"), r)] + [(c.get("code"), c) for c in r.get("component", [])]
    for concept, holder in parts:
        quantity = holder.get("valueQuantity") or {}
        for code in _codes(concept):
            if isinstance(quantity.get("value"), int | float):
                p.values.setdefault(code, []).append((when, float(quantity["value"])))
            elif code == "72166-2" and holder.get("valueCodeableConcept"):
                p.smoking.append((when, _display(holder["valueCodeableConcept"]).lower()))


def _race(patient: dict[str, Any]) -> str:
    """``black`` when the US Core race extension's OMB category is Black or African American."""
    for ext in patient.get("extension", []):
        if ext.get("url") == _RACE_URL:
            for part in ext.get("extension", []):
                coding = part.get("valueCoding") or {}
                if part.get("url") == "ombCategory" and coding.get("code") == "2054-5":
                    return "black"
    return "white"


def load_patient(path: Path) -> RawPatient | None:
    """The raw facts of one Synthea Bundle (``None`` without a Patient resource)."""
    resources = [
        e.get("resource") or {} for e in json.loads(path.read_text(encoding="utf-8")).get("entry", [])
    ]
    patient = next((r for r in resources if r.get("resourceType") == "Patient"), None)
    if patient is None:
        return None
    born, died = _when(patient.get("birthDate")), _when(patient.get("deceasedDateTime"))
    p = RawPatient(str(patient["id"]), path.name, born.date() if born else None, str(patient.get("gender") or ""),
                   died.date() if died else None, _race(patient))  # fmt: skip
    for r in resources:
        kind = r.get("resourceType")
        if kind == "Observation":
            _observation(p, r)
        elif kind == "Condition":
            onset, end = _when(r.get("onsetDateTime")), _when(r.get("abatementDateTime"))
            status = (_codes(r.get("clinicalStatus")) or [""])[0]
            p.conditions.append({"display": _display(r.get("code")).lower(), "onset": onset.date() if onset else None,
                                 "end": end.date() if end else None, "status": status})  # fmt: skip
        elif kind == "Procedure":
            when = _when(r.get("performedDateTime") or (r.get("performedPeriod") or {}).get("start"))
            if when:
                p.procedures.append((when.date(), _display(r.get("code")).lower()))
        elif kind == "MedicationRequest":
            when = _when(r.get("authoredOn"))
            p.medications.append({"display": _display(r.get("medicationCodeableConcept")).lower(),
                                  "status": r.get("status"), "start": when.date() if when else None})  # fmt: skip
    for vs in p.values.values():
        vs.sort()
    p.smoking.sort()
    return p


def _age(born: date | None, day: date) -> int | None:
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _upto(values: Iterable[tuple[datetime, Any]], as_of: date) -> list[tuple[datetime, Any]]:
    return [(w, v) for w, v in values if w.date() <= as_of]


def _fresh(when: datetime, as_of: date, days: int) -> bool:
    return (as_of - when.date()).days <= days


def _latest(p: RawPatient, codes: set[str], as_of: date, days: int) -> tuple[datetime, float] | None:
    found = sorted(x for c in codes for x in _upto(p.values.get(c, []), as_of))
    return found[-1] if found and _fresh(found[-1][0], as_of, days) else None


def ckd_epi_2021(creatinine: float, age: int, sex: str) -> float:
    """The race-free CKD-EPI 2021 creatinine eGFR (mL/min/1.73 m2)."""
    k, a = (0.7, -0.241) if sex == "female" else (0.9, -0.302)
    ratio = creatinine / k
    value = 142 * min(ratio, 1) ** a * max(ratio, 1) ** -1.200 * 0.9938**age
    return value * (1.012 if sex == "female" else 1.0)


def _egfr_series(p: RawPatient, as_of: date) -> list[tuple[datetime, float]]:
    """Each creatinine recomputed at the age on its day; a reported eGFR only on other days."""
    out: dict[date, tuple[datetime, float]] = {}
    if p.sex in ("female", "male"):
        for when, scr in sorted(x for c in _CREATININE for x in _upto(p.values.get(c, []), as_of)):
            age = _age(p.born, when.date())
            if age is not None and age >= 18 and scr > 0:
                out[when.date()] = (when, ckd_epi_2021(scr, age, p.sex))
    for when, value in sorted(x for c in _EGFR for x in _upto(p.values.get(c, []), as_of)):
        out.setdefault(when.date(), (when, value))
    return sorted(out.values())


def _g_category(value: float) -> str:
    for cut, name in ((90, "G1"), (60, "G2"), (45, "G3a"), (30, "G3b"), (15, "G4")):
        if value >= cut:
            return name
    return "G5"


def _slope(points: list[tuple[datetime, float]]) -> float | None:
    if len(points) < 2 or (points[-1][0] - points[0][0]).days < 90:
        return None
    xs = [(w - points[0][0]).total_seconds() / 86400 / 365.25 for w, _ in points]
    ys = [v for _, v in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else None


def _kidney(p: RawPatient, as_of: date) -> dict[str, Any]:
    out: dict[str, Any] = {}
    creat = _latest(p, _CREATININE, as_of, 365)
    age = _age(p.born, creat[0].date()) if creat else None
    if creat and age is not None and age >= 18 and p.sex in ("female", "male"):
        out["egfr_ckd_epi_2021"] = {"verdict": "computed", "value": ckd_epi_2021(creat[1], age, p.sex)}
    else:
        out["egfr_ckd_epi_2021"] = {"verdict": INSUFFICIENT}
    series = _egfr_series(p, as_of)
    latest = series[-1] if series and _fresh(series[-1][0], as_of, 365) else None
    out["ckd_stage"] = {"verdict": _g_category(latest[1]) if latest else INSUFFICIENT}
    acr = _latest(p, _ACR, as_of, 365)
    grade = None if acr is None else "A1" if acr[1] < 30 else "A2" if acr[1] <= 300 else "A3"
    out["albuminuria"] = {"verdict": grade or INSUFFICIENT}
    window = [x for x in series if x[0].date() >= date(as_of.year - 3, as_of.month, min(as_of.day, 28))]
    slope = _slope(window)
    urgent = (latest and latest[1] < 30) or (acr and acr[1] >= 300) or (slope is not None and slope < -5)
    referral = "indicated" if urgent else "not indicated" if latest and acr else INSUFFICIENT
    out["ckd_referral"] = {"verdict": referral}
    return out


def _bp(p: RawPatient, as_of: date) -> str:
    age = _age(p.born, as_of)
    days: dict[date, tuple[list[float], list[float]]] = {}
    for code, slot in (("8480-6", 0), ("8462-4", 1)):
        for when, v in _upto(p.values.get(code, []), as_of):
            days.setdefault(when.date(), ([], []))[slot].append(v)
    visits = sorted(d for d, (s, di) in days.items() if s and di)
    if age is None or age < 18:
        return "not applicable"  # children are classed by percentiles
    if len(visits) < 2:
        return INSUFFICIENT
    last, before = visits[-1], visits[-2]
    if (as_of - last).days > 365 or (as_of - before).days > 730:
        return INSUFFICIENT
    means = [tuple(sum(x) / len(x) for x in days[d]) for d in (before, last)]
    sbp = math.floor((means[0][0] + means[1][0]) / 2 + 0.5)
    dbp = math.floor((means[0][1] + means[1][1]) / 2 + 0.5)
    if sbp > 180 or dbp > 120:
        return "severe"
    if sbp >= 140 or dbp >= 90:
        return "stage 2"
    if sbp >= 130 or dbp >= 80:
        return "stage 1"
    return "elevated" if sbp >= 120 else "normal"


def _has(p: RawPatient, words: Iterable[str], as_of: date, *, active: bool = False) -> list[dict[str, Any]]:
    out = []
    for c in p.conditions:
        if c["onset"] is None or c["onset"] > as_of or not any(w in c["display"] for w in words):
            continue
        if "prediabet" in c["display"] or "family history" in c["display"]:
            continue
        if active and (
            c["status"] not in ("active", "recurrence", "relapse") or (c["end"] and c["end"] <= as_of)
        ):
            continue
        out.append(c)
    return out


def _diabetes(p: RawPatient, as_of: date) -> list[dict[str, Any]]:
    return _has(p, ("diabetes", "diabetic"), as_of)


def _glycemic(p: RawPatient, as_of: date) -> str:
    a1c = _upto(p.values.get("4548-4", []), as_of)
    if _diabetes(p, as_of) or any(v >= 6.5 for _, v in a1c):
        return "diabetes"
    if not a1c or not _fresh(a1c[-1][0], as_of, 3 * 365):
        return INSUFFICIENT
    return "prediabetes" if a1c[-1][1] >= 5.7 else "normal"


def _ascvd(p: RawPatient, as_of: date) -> bool:
    procedures = any(d <= as_of and any(w in name for w in _ASCVD_PROCEDURES) for d, name in p.procedures)
    return procedures or bool(_has(p, _ASCVD_WORDS, as_of))


def _smoker(p: RawPatient, as_of: date) -> bool | None:
    status = [(w, s) for w, s in p.smoking if w.date() <= as_of and _fresh(w, as_of, 3 * 365)]
    if _has(p, ("smokes tobacco",), as_of, active=True):
        return True
    if not status or "unknown" in status[-1][1]:
        return None
    return "current" in status[-1][1] or "every day" in status[-1][1] or "some day" in status[-1][1]


def _treated(p: RawPatient, as_of: date) -> bool:
    return any(
        m["status"] == "active" and m["start"] and m["start"] <= as_of
        and any(d in m["display"] for d in _ANTIHYPERTENSIVES)
        for m in p.medications
    )  # fmt: skip


def pce_risk(
    age: int,
    sex: str,
    tc: float,
    hdl: float,
    sbp: float,
    treated: bool,
    smoker: bool,
    diabetic: bool,
    race: str = "white",
) -> float:
    """The 2013 Pooled Cohort Equations' 10-year risk (%); ``race`` "black" or anything else (white/other)."""
    c = _PCE[("black" if race == "black" else "white", sex)]
    la, ltc, lhdl, lsbp = math.log(age), math.log(tc), math.log(hdl), math.log(sbp)
    total = c[0] * la + c[1] * la**2 + c[2] * ltc + c[3] * la * ltc + c[4] * lhdl + c[5] * la * lhdl
    total += (c[6] + c[7] * la) * lsbp if treated else (c[8] + c[9] * la) * lsbp
    total += (c[10] + c[11] * la) * smoker + c[12] * diabetic
    return 100 * (1 - c[13] ** math.exp(total - c[14]))


def _pce(p: RawPatient, as_of: date) -> dict[str, Any]:
    age = _age(p.born, as_of)
    if age is None or not 40 <= age <= 79 or p.sex not in ("female", "male") or _ascvd(p, as_of):
        return {"verdict": "not applicable"}
    tc, hdl = _latest(p, {"2093-3"}, as_of, 5 * 365), _latest(p, {"2085-9"}, as_of, 5 * 365)
    sbp, smoker = _latest(p, {"8480-6"}, as_of, 365), _smoker(p, as_of)
    if tc is None or hdl is None or sbp is None or smoker is None:
        return {"verdict": INSUFFICIENT}
    risk = pce_risk(
        age, p.sex, tc[1], hdl[1], sbp[1], _treated(p, as_of), smoker, bool(_diabetes(p, as_of)), p.race
    )
    return {"verdict": "computed", "value": risk}


def _statin(p: RawPatient, as_of: date, pce: dict[str, Any]) -> str:
    age = _age(p.born, as_of)
    if age is None:
        return INSUFFICIENT
    if _ascvd(p, as_of):
        return "high-intensity" if age <= 75 else "moderate-intensity"
    ldl = _upto(p.values.get("18262-6", []) + p.values.get("13457-7", []), as_of)
    if age >= 20 and any(v >= 190 for _, v in ldl):
        return "high-intensity"
    diabetes = _diabetes(p, as_of)
    if age < 20:
        return "not indicated"
    if age < 40:
        if not diabetes:
            return "not indicated"
        onset = min(c["onset"] for c in diabetes)
        complication = any(
            w in c["display"] for c in diabetes for w in ("neuropathy", "retinopathy", "renal", "nephropathy")
        )
        return "consider" if complication or (as_of - onset).days >= 3652 else "not indicated"
    if age > 75:
        return "consider"
    if diabetes:
        return "moderate-intensity"
    latest = sorted(ldl)[-1] if ldl else None
    if latest is None or not _fresh(latest[0], as_of, 5 * 365):
        return INSUFFICIENT
    if latest[1] < 70:
        return "not indicated"
    if pce.get("value") is None:
        return INSUFFICIENT
    risk = pce["value"]
    return (
        "high-intensity"
        if risk >= 20
        else "moderate-intensity"
        if risk >= 7.5
        else "consider"
        if risk >= 5
        else "not indicated"
    )


def _bmi(p: RawPatient, as_of: date) -> str:
    age = _age(p.born, as_of)
    latest = _latest(p, {"39156-5"}, as_of, 2 * 365)
    if age is None or age < 20:
        return "not applicable"
    if latest is None:
        return INSUFFICIENT
    for cut, name in ((40, "obesity class III"), (35, "obesity class II"), (30, "obesity class I"),
                      (25, "overweight"), (18.5, "normal")):  # fmt: skip
        if latest[1] >= cut:
            return name
    return "underweight"


def truth(p: RawPatient, as_of: date) -> dict[str, dict[str, Any]]:
    """Assessment id -> ``{"verdict", "value"?}`` for one patient on ``as_of``."""
    out = _kidney(p, as_of)
    pce = _pce(p, as_of)
    out["ascvd_pce_10y"] = pce
    out["statin"] = {"verdict": _statin(p, as_of, pce)}
    out["bp_category"] = {"verdict": _bp(p, as_of)}
    out["glycemic_status"] = {"verdict": _glycemic(p, as_of)}
    out["bmi_class"] = {"verdict": _bmi(p, as_of)}
    return out
