"""Which USPSTF recommendations apply to a patient, and which of them are care gaps.

Pure functions: no store, no I/O. The recommendations come from the indexed guideline collection
(:func:`recommendations_from_payloads`) or straight from a USPSTF-API-shaped JSON file
(:func:`recommendations_from_json`).

Rules:

* A recommendation applies when the patient's age (whole years) lies in its ``ageRange``, both
  ends inclusive (the same reading as the ``age=`` search filter), and its sex is ``any`` or the
  patient's. A patient whose recorded sex is neither female nor male gets the ``any`` ones only.
* Superseded versions never apply; the current version of the same recommendation does.
* A care gap is an applicable grade A or B recommendation (the grades USPSTF recommends offering).
  Its population text decides more:

  - pregnancy or hysterectomy populations count only when the record shows that state;
  - populations defined by a risk (smoking, overweight, "at increased risk", sexual activity,
    CVD risk factors...) are ``due`` when the record confirms the risk, else ``conditional``;
  - "no history of CVD" and "nonpregnant" populations are dropped when the record shows it.

This is the age/sex/summary reading the CDS Hooks cards use. Whether a service is *due* (the
record confirms the population and the service was not done within its interval) is decided by
:mod:`assessments.preventive` over the timeline events.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "GAP_GRADES",
    "RISK_FACTORS",
    "CareGap",
    "GapStatus",
    "Recommendation",
    "applies_to",
    "care_gaps",
    "eligible_recommendations",
    "recommendations_from_json",
    "recommendations_from_payloads",
    "risk_factors_from_summary",
]

GAP_GRADES = frozenset({"A", "B"})
RISK_FACTORS = frozenset(
    {
        "pregnant",
        "hysterectomy",
        "tobacco",
        "overweight",
        "obese",
        "cvd",
        "cvd_risk",
        "sexually_active",
        "increased_risk",
    }
)
_SEXES = {"female": "female", "women": "female", "male": "male", "men": "male"}
GapStatus = Literal["due", "conditional"]


@dataclass(frozen=True)
class Recommendation:
    """One specific recommendation, with the population it applies to and where it was cited from."""

    rec_id: str
    title: str
    grade: str  # "A", "B", "C", "D" or "I"
    sex: str  # "any", "female" or "male"
    age_min: float | None
    age_max: float | None
    text: str = ""
    risk_name: str = ""
    superseded: bool = False
    doc_id: str = ""
    version: str = ""
    published: str = ""
    issuer: str = "USPSTF"
    chunk_id: str = ""  # the indexed passage holding it, when loaded from the guideline collection

    @property
    def topic(self) -> str:
        return self.title.partition(" -- ")[0].strip()

    @property
    def population(self) -> str:
        return self.title.partition(" -- ")[2].strip() or self.title


@dataclass(frozen=True)
class CareGap:
    """An applicable grade A/B recommendation: ``due`` outright, or ``conditional`` on a risk to confirm."""

    recommendation: Recommendation
    status: GapStatus
    reason: str


def _norm_sex(value: Any) -> str:
    text = str(value or "").strip().lower()
    if not text or "and" in text or text in ("all", "both", "any"):
        return "any"
    return _SEXES.get(text, "any")


def _grade(value: Any) -> str:
    text = str(value or "").strip().upper().removeprefix("GRADE").strip()
    return text[:1]


def applies_to(rec: Recommendation, age: float, sex: str) -> bool:
    """True when ``rec`` is current and its age range and sex include this patient."""
    if rec.superseded:
        return False
    if rec.age_min is not None and age < rec.age_min:
        return False
    if rec.age_max is not None and age > rec.age_max:
        return False
    patient_sex = str(sex or "").strip().lower()
    return rec.sex == "any" or rec.sex == patient_sex


def eligible_recommendations(
    age: float, sex: str, recommendations: Iterable[Recommendation], *, grades: Collection[str] | None = None
) -> list[Recommendation]:
    """The current recommendations whose population includes a patient of this age and sex.

    Args:
        age: Age in whole years on the day in question.
        sex: ``female`` or ``male`` (FHIR ``Patient.gender``); anything else matches sex-neutral ones only.
        recommendations: All recommendations known, superseded versions included (they are left out).
        grades: Keep only these grades (e.g. ``{"A", "B"}``); ``None`` keeps all.

    Returns:
        The applicable recommendations, ordered by grade then title.
    """
    out = [
        r
        for r in recommendations
        if applies_to(r, age, sex) and (grades is None or r.grade in {g.upper() for g in grades})
    ]
    return sorted(out, key=lambda r: (r.grade, r.title, r.rec_id))


# Population rules, read from the population text (title after " -- ") and the USPSTF risk name.
_PREGNANCY_ONLY = re.compile(
    r"^(asymptomatic )?pregnant|unsensitized.*pregnant|^pregnant and postpartum", re.IGNORECASE
)
_NONPREGNANT = re.compile(r"non-?pregnant", re.IGNORECASE)
_NO_CVD = re.compile(
    r"no (known |history of )+(cvd|cardiovascular)|without (known )?(cvd|cardiovascular)", re.I
)
_RISKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("hysterectomy", re.compile(r"had a hysterectomy", re.I)),
    ("tobacco", re.compile(r"smok|(?<!not started to use )tobacco", re.I)),
    ("overweight", re.compile(r"overweight|obes", re.I)),
    ("cvd_risk", re.compile(r"(cvd|cardiovascular disease) risk|risk factors", re.I)),
    ("sexually_active", re.compile(r"sexually active", re.I)),
    ("increased_risk", re.compile(r"(increased|high) risk|family history|planning or capable", re.I)),
)
_OBESE_TEXT = re.compile(r"(BMI|body mass index)\W+(\(BMI\) )?of 30", re.I)
_CONFIRM_ONLY = frozenset({"pregnant", "hysterectomy"})  # never a gap on a state the record does not show


def _requirement(rec: Recommendation) -> str | None:
    population = rec.population
    if rec.risk_name.lower() == "pregnant" or _PREGNANCY_ONLY.search(population):
        return "pregnant"
    if _NONPREGNANT.search(population) and "cessation" in rec.topic.lower():
        return "tobacco"  # "Interventions for Tobacco Smoking Cessation -- Nonpregnant adults"
    for key, pattern in _RISKS:
        if pattern.search(population):
            return key
    if _OBESE_TEXT.search(rec.text):
        return "obese"  # "Weight Loss ... -- Adults": the text limits it to a BMI of 30 or higher
    if rec.risk_name.lower() == "tobacco user":
        return "tobacco"
    if rec.risk_name.lower() == "sexually active":
        return "sexually_active"
    return None


def _excluded(rec: Recommendation, risks: Collection[str]) -> bool:
    population = rec.population
    if "pregnant" in risks and _NONPREGNANT.search(population):
        return True
    return "cvd" in risks and bool(_NO_CVD.search(population))


def care_gaps(
    age: float,
    sex: str,
    recommendations: Iterable[Recommendation],
    *,
    risk_factors: Collection[str] = (),
) -> list[CareGap]:
    """Grade A/B recommendations that apply to this patient, each ``due`` or ``conditional``.

    Args:
        age: Age in whole years on the day in question.
        sex: ``female`` or ``male``; anything else matches sex-neutral recommendations only.
        recommendations: All recommendations known (superseded versions are left out).
        risk_factors: What the record confirms, from :data:`RISK_FACTORS` (``pregnant``,
            ``hysterectomy``, ``tobacco``, ``overweight`` (BMI >= 25), ``obese`` (BMI >= 30), ``cvd``, ``cvd_risk``, ``sexually_active``,
            ``increased_risk``); :func:`risk_factors_from_summary` derives them from a record summary.

    Returns:
        Gaps ordered ``due`` first, then by grade and title.
    """
    unknown = set(risk_factors) - RISK_FACTORS
    if unknown:
        raise ValueError(f"unknown risk factor(s) {sorted(unknown)}; expected some of {sorted(RISK_FACTORS)}")
    gaps: list[CareGap] = []
    for rec in eligible_recommendations(age, sex, recommendations, grades=GAP_GRADES):
        if _excluded(rec, risk_factors):
            continue
        need = _requirement(rec)
        if need is None:
            gaps.append(CareGap(rec, "due", f"due by age ({age:g}) and sex"))
        elif need in risk_factors:
            gaps.append(CareGap(rec, "due", f"due: age {age:g} and {need.replace('_', ' ')} in the record"))
        elif need not in _CONFIRM_ONLY:
            gaps.append(CareGap(rec, "conditional", f"applies if: {rec.population}"))
    return sorted(gaps, key=lambda g: (g.status != "due", g.recommendation.grade, g.recommendation.title))


_PROBLEM_RISKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("pregnant", re.compile(r"pregnan", re.I)),
    ("hysterectomy", re.compile(r"hysterectomy", re.I)),
    ("tobacco", re.compile(r"smok|tobacco|nicotine", re.I)),
    ("obese", re.compile(r"obes", re.I)),
    ("overweight", re.compile(r"overweight|obes", re.I)),
    (
        "cvd",
        re.compile(
            r"myocardial infarction|coronary|angina|ischemic heart|stroke|cerebrovascular|"
            r"peripheral arter|heart failure",
            re.I,
        ),
    ),
    ("cvd_risk", re.compile(r"hypertens|diabetes|hyperlipid|hypercholesterol|dyslipid|smok", re.I)),
)
_BMI_CODE = "39156-5"


def risk_factors_from_summary(summary: Mapping[str, Any]) -> set[str]:
    """The risk factors a record summary (:func:`patient_index.summary.build_summary`) confirms.

    Read from the active problems' names and the latest BMI (>= 25 overweight, >= 30 obese).
    Sexual activity and "increased risk" are never inferred: those gaps stay ``conditional``.
    """
    found: set[str] = set()
    for problem in summary.get("problems") or []:
        name = str(problem.get("display", ""))
        found.update(key for key, pattern in _PROBLEM_RISKS if pattern.search(name))
    bmi = (summary.get("latest") or {}).get(_BMI_CODE, {}).get("value")
    if isinstance(bmi, int | float):
        if bmi >= 25:
            found.add("overweight")
        if bmi >= 30:
            found.add("obese")
    if "tobacco" in found:
        found.add("cvd_risk")
    return found


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def recommendations_from_json(payload: Any) -> list[Recommendation]:
    """Recommendations from a USPSTF-API-shaped JSON document (``{"specificRecommendations": [...]}``).

    A record is superseded when it says so (``superseded: true`` or ``status: superseded``), when
    another record lists its id under ``supersedes``, or when a later ``version`` of the same id exists.
    """
    records = payload.get("specificRecommendations", []) if isinstance(payload, Mapping) else payload
    if not isinstance(records, list):
        raise ValueError("expected {'specificRecommendations': [...]} or a list of recommendation records")
    declared = {str(t) for r in records if isinstance(r, Mapping) for t in r.get("supersedes") or []}
    latest: dict[str, str] = {}
    for r in records:
        if isinstance(r, Mapping):
            rid, ver = str(r.get("id", "")), str(r.get("version", ""))
            latest[rid] = max(latest.get(rid, ver), ver)
    out = []
    for r in records:
        if not isinstance(r, Mapping) or not all(r.get(k) for k in ("title", "grade")):
            continue
        rid, ver = str(r.get("id", "")), str(r.get("version", ""))
        ages = r.get("ageRange")
        lo, hi = [*ages, None, None][:2] if isinstance(ages, list) else (None, None)
        superseded = (
            bool(r.get("superseded"))
            or str(r.get("status", "")).lower() == "superseded"
            or rid in declared
            or ver != latest.get(rid, ver)
        )
        out.append(
            Recommendation(
                rec_id=rid,
                title=" ".join(str(r["title"]).split()),
                grade=_grade(r["grade"]),
                sex=_norm_sex(r.get("sex") or r.get("gender")),
                age_min=_number(lo),
                age_max=_number(hi),
                text=re.sub(r"<[^>]+>", " ", str(r.get("text", ""))).strip(),
                risk_name=str(r.get("riskName") or ""),
                superseded=superseded,
                doc_id=f"uspstf_{rid}",
                version=ver or "1",
                published=str(r.get("published", "")),
            )
        )
    return out


def recommendations_from_payloads(points: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Recommendation]:
    """Recommendations from guideline-collection points ``(chunk id, payload)`` of ``kind == recommendation``.

    One recommendation per document version; its citation is the document's first chunk. The
    ``superseded`` flag is the indexer's (an older version, or one another document supersedes).
    """
    first: dict[tuple[str, str], tuple[int, str, Mapping[str, Any]]] = {}
    for point_id, p in points:
        if p.get("kind") != "recommendation":
            continue
        key = (str(p.get("doc_id", "")), str(p.get("version", "")))
        index = int(p.get("chunk_index", 0) or 0)
        if key not in first or index < first[key][0]:
            first[key] = (index, point_id, p)
    out = []
    for (doc_id, version), (_, point_id, p) in sorted(first.items()):
        out.append(
            Recommendation(
                rec_id=str(p.get("locator", "")).lstrip("#") or doc_id,
                title=str(p.get("title", "")),
                grade=_grade(p.get("grade")),
                sex=_norm_sex(p.get("sex")),
                age_min=_number(p.get("age_min")),
                age_max=_number(p.get("age_max")),
                text=str(p.get("text", "")),
                risk_name=str(p.get("risk_name", "")),
                superseded=bool(p.get("superseded")) or p.get("status") == "superseded",
                doc_id=doc_id,
                version=version,
                published=str(p.get("published", "")),
                issuer=str(p.get("issuer", "")) or "USPSTF",
                chunk_id=point_id,
            )
        )
    return out
