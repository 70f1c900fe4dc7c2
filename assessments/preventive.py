"""USPSTF services due: in the population the record confirms, and not done within the interval.

A current grade A or B recommendation is **due** for a patient on the day assessed when all hold:

1. *Age and sex*: the age in whole years lies in the record's ``ageRange`` (inclusive) and its sex
   is ``any`` or the patient's; where the recommendation text narrows the age (cervical cytology
   21-29, blood pressure yearly from 40, chlamydia in women 24 and younger) the rule below does.
2. *Population*: the record confirms the population condition the recommendation names, read
   from Conditions and Observations: an active pregnancy (and, where asked, 24 weeks or more, or a
   preeclampsia risk), current tobacco use (latest smoking status within 3 years), ever smoked,
   overweight or obese (latest BMI within 2 years >= 25 / >= 30, or an obesity problem), CVD risk
   factors (hypertension, dyslipidemia, metabolic syndrome), sexual activity (a pregnancy, a
   contraceptive, an STI), capable of pregnancy (no hysterectomy). "Nonpregnant" and "has not
   started to use tobacco" populations exclude those who are. A population the record cannot
   confirm (at increased risk, a calculated CVD risk, pack-years, fair skin, Rh-negative, water
   fluoride) makes the recommendation ``conditional``, never due.
3. *Not a screening of a known disease*: screening for a condition the record already shows is not
   due (diabetes, hypertension, colorectal or breast cancer, osteoporosis, HIV, hepatitis C, AAA);
   cervical screening is not due after a hysterectomy.
4. *Not done within the interval*: no Procedure, Observation, DiagnosticReport or Immunization
   (or, for supplements and counselling, MedicationRequest) coded as one of the recommendation's
   services (:mod:`assessments.preventive_services`) is dated within the service's interval before
   the day assessed; one-time services count from the start of the age range, prenatal ones from
   the start of the current pregnancy.

Each due item is an :class:`~assessments.model.Assessment` with id ``uspstf_<record id>`` (the
same as the recommendation's ``doc_id``), verdict ``due`` (or ``conditional``), citing its inputs:
age, sex, the confirming condition, and the last service event with its date.

The recommendations are data the caller loads (the indexed guideline collection,
:func:`recommendations_from_payloads`, or the USPSTF JSON, :func:`recommendations_from_json`),
so these assessments are not part of :func:`assessments.assess`, which takes events only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from assessments.conditions import DIABETES, HYPERTENSION, ConditionSet
from assessments.model import Assessment, Input, Source
from assessments.preventive_eligibility import (
    GAP_GRADES,
    Recommendation,
    eligible_recommendations,
    recommendations_from_json,
    recommendations_from_payloads,
)
from assessments.preventive_services import SERVICES, Service
from assessments.record import Record, build_record
from assessments.smoking import SMOKING_CODES, current_smoker, smoker_from_text
from patient_index.flags import clinical_time
from patient_index.model import Event

__all__ = [
    "RULES",
    "PreventiveStatus",
    "Rule",
    "due_services",
    "preventive_assessments",
    "preventive_status",
    "recommendations_from_json",
    "recommendations_from_payloads",
]

Status = Literal["due", "conditional", "done", "not in population"]
Window = Literal["interval", "once", "pregnancy"]
# Populations no record code confirms: the recommendation stays conditional.
UNCONFIRMABLE = {
    "increased_risk": "at increased risk (history the record does not code)",
    "risk_calculation": "a calculated 10-year CVD risk of 10 % or more (see the statin assessment)",
    "pack_years": "a 20 pack-year smoking history (pack-years are not recorded)",
    "fair_skin": "fair skin type",
    "low_fluoride_water": "a water supply deficient in fluoride",
    "rh_negative": "Rh(D)-negative and unsensitized",
}


@dataclass(frozen=True)
class Rule:
    """How one recommendation is decided: population keys, services (any one counts), window."""

    title: str  # regex on the recommendation title
    population: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    window: Window = "interval"
    excluded_by: tuple[str, ...] = ()
    ages: tuple[int | None, int | None] = (None, None)
    text: str = ""  # regex on the recommendation text, where one title holds several

    def fits(self, rec: Recommendation, age: int) -> bool:
        lo, hi = self.ages
        return (lo is None or age >= lo) and (hi is None or age <= hi)

    def names(self, rec: Recommendation) -> bool:
        if not re.search(self.title, rec.title, re.I):
            return False
        return not self.text or bool(re.search(self.text, rec.text, re.I))


_CERVIX_X = ("hysterectomy",)
RULES: tuple[Rule, ...] = (
    Rule(r"^Cervical Cancer: Screening", (), ("cervical_cytology",), excluded_by=_CERVIX_X, ages=(21, 29)),
    Rule(r"^Cervical Cancer: Screening", (), ("cervical_cytology", "hpv_test"), excluded_by=_CERVIX_X,
         ages=(30, 65)),
    Rule(r"^Colorectal Cancer: Screening", (),
         ("colonoscopy", "ct_colonography", "sigmoidoscopy", "fit", "stool_dna"), excluded_by=("colorectal_cancer",)),
    Rule(r"^Breast Cancer: Screening", (), ("mammography",), excluded_by=("breast_cancer",)),
    Rule(r"^High Blood Pressure in Adults", (), ("bp_yearly",), excluded_by=("hypertension",), ages=(40, None)),
    Rule(r"^High Blood Pressure in Adults", (), ("bp_3y",), excluded_by=("hypertension",), ages=(18, 39)),
    Rule(r"^Human Immunodeficiency Virus \(HIV\) Infection: Screening -- Pregnant", ("pregnant",),
         ("hiv_prenatal",), "pregnancy", ("hiv",)),
    Rule(r"^Human Immunodeficiency Virus \(HIV\) Infection: Screening", (), ("hiv_test",), "once", ("hiv",)),
    Rule(r"^Interventions for Tobacco Smoking Cessation.* -- Nonpregnant", ("tobacco", "not_pregnant"),
         ("cessation",)),
    Rule(r"^Interventions for Tobacco Smoking Cessation.* -- Pregnant", ("pregnant", "tobacco"),
         ("cessation_pregnancy",), "pregnancy"),
    Rule(r"^Ocular Prophylaxis", ("newborn",), ("ocular_prophylaxis",), "once"),
    Rule(r"^Hepatitis B Virus Infection in Pregnant", ("pregnant",), ("hbsag",), "pregnancy"),
    Rule(r"^Rh\(D\) Incompatibility.* -- Unsensitized", ("pregnant", "rh_negative"), ("rh_typing",), "pregnancy"),
    Rule(r"^Rh\(D\) Incompatibility", ("pregnant",), ("rh_typing",), "pregnancy"),
    Rule(r"^Syphilis Infection in Pregnant", ("pregnant",), ("syphilis_test",), "pregnancy"),
    Rule(r"^Syphilis Infection in Nonpregnant", ("increased_risk",), ("syphilis_test",)),
    Rule(r"^Prevention of Human Immunodeficiency Virus.*Preexposure", ("increased_risk",)),
    Rule(r"^Folic Acid", ("capable_of_pregnancy",), ("folic_acid",)),
    Rule(r"^Abdominal Aortic Aneurysm", ("ever_smoked",), ("aaa_ultrasound",), "once", ("aaa",)),
    Rule(r"^Abnormal Blood Glucose", ("overweight",), ("glucose_test",), excluded_by=("diabetes",)),
    Rule(r"^Aspirin Use to Prevent Cardiovascular", ("risk_calculation",)),
    Rule(r"^Asymptomatic Bacteriuria", ("pregnant",), ("urine_culture",), "pregnancy"),
    Rule(r"^BRCA-Related Cancer", ("increased_risk",)),
    Rule(r"^Breast Cancer: Medication Use", ("increased_risk",)),
    Rule(r"^Breastfeeding", ("pregnant",), ("breastfeeding_support",), "pregnancy"),
    Rule(r"^Chlamydia and Gonorrhea", ("sexually_active",), ("chlamydia_test",), ages=(None, 24), text="chlamydia"),
    Rule(r"^Chlamydia and Gonorrhea", ("sexually_active",), ("gonorrhea_test",), ages=(None, 24), text="gonorrhea"),
    Rule(r"^Chlamydia and Gonorrhea", ("sexually_active", "increased_risk"), ages=(25, None)),
    Rule(r"^Dental Caries", ("low_fluoride_water",), text="oral fluoride supplementation"),
    Rule(r"^Dental Caries", (), ("fluoride_varnish",), text="fluoride varnish"),
    Rule(r"^Depression in (Adults|Children and Adolescents)", (), ("depression_screen",)),
    Rule(r"^Falls Prevention", ("increased_risk",)),
    Rule(r"^Gestational Diabetes", ("pregnant_24w",), ("gdm_test",), "pregnancy", ("diabetes",)),
    Rule(r"^Healthy Diet and Physical Activity.*Risk Factors", ("cvd_risk",), ("lifestyle_counsel",)),
    Rule(r"^Hepatitis C Virus Infection", (), ("hcv_test",), "once", ("hcv",)),
    Rule(r"^Intimate Partner Violence", (), ("ipv_screen",)),
    Rule(r"^Latent Tuberculosis", ("increased_risk",)),
    Rule(r"^Low-Dose Aspirin Use.*Preeclampsia", ("pregnant", "preeclampsia_risk"), ("aspirin_preeclampsia",),
         "pregnancy"),
    Rule(r"^Lung Cancer: Screening", ("pack_years",), ages=(50, 80)),
    Rule(r"^Obesity in Children and Adolescents", (), ("bmi",)),
    Rule(r"^Osteoporosis.* -- Postmenopausal", ("increased_risk",)),
    Rule(r"^Osteoporosis", (), ("bone_density",), "once", ("osteoporosis",)),
    Rule(r"^Perinatal Depression", ("pregnant", "increased_risk")),
    Rule(r"^Preeclampsia: Screening", ("pregnant",), ("bp_pregnancy",), "pregnancy"),
    Rule(r"^Prevention and Cessation of Tobacco Use in Children", ("non_tobacco",), ("tobacco_prevention",)),
    Rule(r"Hepatitis B Virus Infection in Adolescents and Adults", ("increased_risk",)),
    Rule(r"^Sexually Transmitted Infections: Behavioral", ("increased_risk",)),
    Rule(r"^Skin Cancer Prevention", ("fair_skin",)),
    Rule(r"^Statin Use for the Primary Prevention", ("risk_calculation",)),
    Rule(r"^Unhealthy Alcohol Use", (), ("alcohol_screen",)),
    Rule(r"^Unhealthy Drug Use", (), ("drug_screen",)),
    Rule(r"^Vision in Children", (), ("vision_screen",), "once"),
    Rule(r"^Weight Loss to Prevent Obesity", ("obese",), ("weight_counsel",)),
)  # fmt: skip

_PREGNANCY = ConditionSet("pregnancy", frozenset({"72892002", "77386006", "47200007"}), ("Z33", "Z34"),
                          ("normal pregnancy", "pregnant state"), ("history", "termination", "ectopic"))  # fmt: skip
_PREGNANCY_EVER = ConditionSet(
    "pregnancy (any)",
    frozenset({"72892002", "77386006", "47200007", "79586000", "19169002", "398254007"}),
    ("O", "Z33", "Z34"),
    ("pregnan", "miscarriage", "preeclampsia"),
    (),
)
_SMOKER = ConditionSet("tobacco use", frozenset({"449868002", "77176002", "65568007", "8517006"}), ("F17",),
                       ("smokes tobacco", "tobacco smoker", "cigarette smoker", "ex-smoker"))  # fmt: skip
_OBESE = ConditionSet("obesity", frozenset({"162864005", "414916001", "238136002", "408512008"}), ("E66",),
                      ("obesity", "obese"))  # fmt: skip
_OVERWEIGHT = ConditionSet("overweight", frozenset({"162863004", "238131007"}), ("E663",), ("overweight",))
_DYSLIPIDEMIA = ConditionSet(
    "dyslipidemia or metabolic syndrome",
    frozenset({"55822004", "13644009", "302870006", "370992007", "237602007", "398036000"}),
    ("E78", "E8881"),
    ("hyperlipid", "hypercholesterol", "dyslipid", "hypertriglycerid", "metabolic syndrome"),
)
_HISTORY: dict[str, ConditionSet] = {
    "diabetes": DIABETES,
    "hypertension": HYPERTENSION,
    "colorectal_cancer": ConditionSet(
        "colorectal cancer", frozenset({"363406005", "109838007", "93761005", "94260004"}), ("C18", "C19", "C20"),
        ("malignant neoplasm of colon", "malignant tumor of colon", "colorectal cancer", "carcinoma of colon")),
    "breast_cancer": ConditionSet("breast cancer", frozenset({"254837009"}), ("C50",),
                                  ("malignant neoplasm of breast", "breast cancer", "carcinoma of breast")),
    "osteoporosis": ConditionSet("osteoporosis", frozenset({"64859006", "443165006"}), ("M80", "M81"),
                                 ("osteoporosis",)),
    "hiv": ConditionSet("HIV infection", frozenset({"86406008", "62479008"}), ("B20", "Z21"),
                        ("human immunodeficiency virus infection", "hiv infection")),
    "hcv": ConditionSet("hepatitis C", frozenset({"128302006", "50711007"}), ("B171", "B182"), ("hepatitis c",)),
    "aaa": ConditionSet("abdominal aortic aneurysm", frozenset({"233985008"}), ("I713", "I714"),
                        ("aortic aneurysm",)),
    "hysterectomy": ConditionSet("hysterectomy", frozenset({"236886002", "116140006", "116143008"}), ("Z9071",),
                                 ("hysterectomy",)),
    "preeclampsia_history": ConditionSet("preeclampsia", frozenset({"398254007"}), ("O14",), ("preeclampsia",)),
    "ckd": ConditionSet("chronic kidney disease",
                        frozenset({"709044004", "431855005", "431856006", "433144002", "431857002", "46177005"}),
                        ("N18",), ("chronic kidney disease",)),
}  # fmt: skip
_SEXUAL_ACTIVITY_PROCEDURES = ConditionSet(
    "sexual activity (procedure)",
    frozenset({"66348005", "11466000", "65200003", "301807007", "755621000000101", "714812005", "10383002"}),
    words=("childbirth", "cesarean", "contracept", "intrauterine device", "termination of pregnancy"),
    exclude=(),
)
_CONTRACEPTIVE = re.compile(
    r"contracept|levonorgestrel|etonogestrel|norethindrone|ethinyl estradiol|medroxyprogesterone|"
    r"nuvaring|drospirenone|norgestimate|desogestrel|mirena|nexplanon",
    re.I,
)
_STI = ConditionSet("sexually transmitted infection", frozenset(), ("A5", "A6"),
                    ("chlamydia", "gonorrh", "syphilis", "trichomon", "genital herpes"), ())  # fmt: skip
_BMI = ("39156-5",)
_PREGNANCY_MAX_DAYS = 294  # 42 weeks: an unresolved pregnancy older than that is not current
_VOID = frozenset({"entered-in-error", "refuted"})
_INACTIVE = frozenset({"resolved", "inactive", "remission"})


def _day(e: Event) -> date | None:
    when = clinical_time(e.get("date"))
    return when[0] if when else None


def _end(e: Event) -> date | None:
    when = clinical_time(e.get("end_date"))
    return when[0] if when else None


def _active(e: Event, day: date) -> bool:
    """A Condition active on ``day``: begun, not ended (by date, or by a status without a date)."""
    start, end = _day(e), _end(e)
    if start is None or start > day or str(e.get("status") or "").lower() in _VOID:
        return False
    if end is not None:
        return end > day
    return str(e.get("status") or "").lower() not in _INACTIVE


def _cite(name: str, e: Event, value: Any = None) -> Input:
    d = _day(e)
    return Input(name, value if value is not None else str(e.get("display") or ""), "",
                 d.isoformat() if d else None, (str(e.get("event_id", "")),))  # fmt: skip


class _Facts:
    """The population conditions of one record, each computed once: an Input when confirmed."""

    def __init__(self, rec: Record) -> None:
        self.rec = rec
        self.cache: dict[str, Input | None] = {}
        self.pregnancy_start: date | None = None

    def get(self, key: str) -> Input | None:
        if key not in self.cache:
            self.cache[key] = _FACTS[key](self)
        return self.cache[key]

    def condition(self, cs: ConditionSet, *, active: bool) -> Event | None:
        day = self.rec.as_of
        hits = [e for e in self.rec.conditions if cs.matches(e) and (not active or _active(e, day))]
        return hits[-1] if hits else None

    def history(self, key: str) -> Input | None:
        cs = _HISTORY[key]
        e = self.condition(cs, active=False)
        if e is None and key == "hysterectomy":
            e = next((p for p in reversed(self.rec.events) if p.get("resource_type") == "Procedure"
                      and cs.matches(p) and (_day(p) or date.max) <= self.rec.as_of), None)  # fmt: skip
        return _cite(cs.name, e) if e is not None else None

    def pregnant(self) -> Input | None:
        day = self.rec.as_of
        for e in reversed(self.rec.conditions):
            start = _day(e)
            if (
                _PREGNANCY.matches(e)
                and _active(e, day)
                and start
                and (day - start).days <= _PREGNANCY_MAX_DAYS
            ):
                self.pregnancy_start = start
                return _cite("pregnancy", e)
        return None

    def pregnant_24w(self) -> Input | None:
        found = self.get("pregnant")
        if found is None or self.pregnancy_start is None:
            return None
        weeks = (self.rec.as_of - self.pregnancy_start).days // 7
        return Input("gestation", weeks, "weeks", found.date, found.event_ids) if weeks >= 24 else None

    def preeclampsia_risk(self) -> Input | None:
        for key in ("preeclampsia_history", "hypertension", "diabetes", "ckd"):
            if (found := self.history(key)) is not None:
                return found
        return None

    def tobacco(self) -> Input | None:
        found = current_smoker(self.rec)
        return found if found is not None and found.value is True else None

    def ever_smoked(self) -> Input | None:
        if (now := self.tobacco()) is not None:
            return now
        for obs in reversed(self.rec.observations(SMOKING_CODES)):
            text = str(obs.get("value") or "")
            if "former" in text.lower() or smoker_from_text(text):
                return _cite("smoking history", obs, text)
        e = self.condition(_SMOKER, active=False)
        return _cite("smoking history", e) if e is not None else None

    def bmi_at_least(self, cut: float, cs: ConditionSet) -> Input | None:
        p = self.rec.latest(_BMI, "bmi")
        if p is not None and p.value >= cut:
            return Input("BMI", round(p.value, 1), p.unit or "kg/m2", p.day.isoformat(), (p.event_id,))
        e = self.condition(cs, active=True) or self.condition(_OBESE, active=True)
        return _cite(cs.name, e) if e is not None else None

    def cvd_risk(self) -> Input | None:
        for cs in (HYPERTENSION, _DYSLIPIDEMIA):
            if (e := self.condition(cs, active=True)) is not None:
                return _cite("CVD risk factor", e)
        return None

    def sexually_active(self) -> Input | None:
        day = self.rec.as_of
        e = self.condition(_PREGNANCY_EVER, active=False) or self.condition(_STI, active=False)
        if e is not None:
            return _cite("sexual activity", e)
        for ev in reversed(self.rec.events):
            kind, d = ev.get("resource_type"), _day(ev)
            if d is None or d > day:
                continue
            if (kind == "Procedure" and _SEXUAL_ACTIVITY_PROCEDURES.matches(ev)) or (
                kind in ("MedicationRequest", "MedicationStatement")
                and _CONTRACEPTIVE.search(str(ev.get("display") or ""))
            ):
                return _cite("sexual activity", ev)
        return None

    def ruled_out(self, risk: str) -> Input | None:
        """The record entry that rules a risk out (a never/former smoker, a normal recent BMI)."""
        if risk == "tobacco":
            found = current_smoker(self.rec)
            return found if found is not None and found.value is False else None
        if risk in ("overweight", "obese"):
            p = self.rec.latest(_BMI, "bmi")
            cut = 25.0 if risk == "overweight" else 30.0
            if p is not None and p.value < cut:
                return Input("BMI", round(p.value, 1), p.unit or "kg/m2", p.day.isoformat(), (p.event_id,))
        return None

    def absent(self, key: str, label: str) -> Input | None:
        return None if self.get(key) is not None else Input(label, True)

    def newborn(self) -> Input | None:
        born = self.rec.born
        if born is None or (self.rec.as_of - born).days >= 28:
            return None
        return self.rec.age_input()

    def capable_of_pregnancy(self) -> Input | None:
        if self.rec.sex != "female" or self.history("hysterectomy") is not None:
            return None
        return Input("capable of pregnancy (female, no hysterectomy recorded)", True)


_FACTS: dict[str, Callable[[_Facts], Input | None]] = {
    "pregnant": _Facts.pregnant,
    "pregnant_24w": _Facts.pregnant_24w,
    "preeclampsia_risk": _Facts.preeclampsia_risk,
    "not_pregnant": lambda f: f.absent("pregnant", "not pregnant"),
    "tobacco": _Facts.tobacco,
    "non_tobacco": lambda f: f.absent("tobacco", "no current tobacco use"),
    "ever_smoked": _Facts.ever_smoked,
    "overweight": lambda f: f.bmi_at_least(25.0, _OVERWEIGHT),
    "obese": lambda f: f.bmi_at_least(30.0, _OBESE),
    "cvd_risk": _Facts.cvd_risk,
    "sexually_active": _Facts.sexually_active,
    "newborn": _Facts.newborn,
    "capable_of_pregnancy": _Facts.capable_of_pregnancy,
}
# Risks whose absence leaves the recommendation conditional (a state's absence excludes it).
_RISKS = frozenset({"tobacco", "ever_smoked", "overweight", "obese", "cvd_risk", "sexually_active"})


@dataclass(frozen=True)
class PreventiveStatus:
    """One current A/B recommendation whose age and sex fit, with what decides it."""

    recommendation: Recommendation
    status: Status
    reason: str
    inputs: tuple[Input, ...] = ()
    services: tuple[Service, ...] = ()
    last: Input | None = None  # the latest service event found (within the interval or not)
    missing: tuple[str, ...] = ()


def _birthday(born: date, years: int) -> date:
    try:
        return born.replace(year=born.year + years)
    except ValueError:  # 29 February
        return born.replace(year=born.year + years, day=28)


def _last_service(rec: Record, services: Sequence[Service]) -> tuple[Service, Event, date] | None:
    best: tuple[Service, Event, date] | None = None
    for e in rec.events:
        d = _day(e)
        if d is None or d > rec.as_of:
            continue
        for s in services:
            if s.matches(e) and (
                best is None or (d, str(e.get("event_id"))) > (best[2], str(best[1].get("event_id")))
            ):
                best = (s, e, d)
    return best


def _window_start(rule: Rule, service: Service, rec: Record, rec_min: float | None, facts: _Facts) -> date:
    if rule.window == "pregnancy":
        return facts.pregnancy_start or rec.as_of
    if rule.window == "once" or service.interval_days is None:
        if rec.born is None:
            return date.min
        return _birthday(rec.born, int(rec_min or 0))
    return rec.as_of - timedelta(days=service.interval_days) + timedelta(days=1)


def _decide(rec: Recommendation, record: Record, facts: _Facts) -> PreventiveStatus | None:
    age = record.age
    assert age is not None
    named = [r for r in RULES if r.names(rec)]
    base = (record.age_input(), record.sex_input())
    if not named:
        return PreventiveStatus(
            rec, "conditional", "no rule for this recommendation: confirm it applies", base
        )
    rule = next((r for r in named if r.fits(rec, age)), None)
    if rule is None:
        return PreventiveStatus(
            rec, "not in population", f"age {age} is outside the ages its text gives", base
        )
    for key in rule.excluded_by:
        if (found := facts.history(key)) is not None:
            return PreventiveStatus(rec, "not in population", f"{found.name} in the record", (*base, found))
    inputs, missing = list(base), []
    for key in rule.population:
        if key in UNCONFIRMABLE:
            missing.append(UNCONFIRMABLE[key])
            continue
        found = facts.get(key)
        if found is not None:
            inputs.append(found)
        elif key in _RISKS and (ruled_out := facts.ruled_out(key)) is not None:
            return PreventiveStatus(rec, "not in population", f"{ruled_out.name}: {ruled_out.value}",
                                    (*inputs, ruled_out))  # fmt: skip
        elif key in _RISKS:
            missing.append(key.replace("_", " "))
        else:
            return PreventiveStatus(rec, "not in population", f"the record does not show: {key.replace('_', ' ')}",
                                    tuple(inputs))  # fmt: skip
    if missing:
        return PreventiveStatus(rec, "conditional", "applies if: " + "; ".join(missing), tuple(inputs),
                                missing=tuple(missing))  # fmt: skip
    services = tuple(SERVICES[k] for k in rule.services)
    if not services:
        return PreventiveStatus(rec, "due", "in the population; no service to look up", tuple(inputs))
    found_last = _last_service(record, services)
    last = None
    if found_last is not None:
        service, event, when = found_last
        last = _cite(f"last {service.name}", event)
        inputs.append(last)
        if when >= _window_start(rule, service, record, rec.age_min, facts):
            why = "this pregnancy" if rule.window == "pregnancy" else f"interval {service.interval_text}"
            return PreventiveStatus(
                rec, "done", f"{service.name} on {when} ({why})", tuple(inputs), services, last
            )
    return PreventiveStatus(
        rec, "due", _due_reason(rule, services, found_last), tuple(inputs), services, last
    )


def _due_reason(rule: Rule, services: Sequence[Service], last: tuple[Service, Event, date] | None) -> str:
    if rule.window == "pregnancy":
        scope = "in this pregnancy"
    elif rule.window == "once":
        scope = "at least once"
    else:
        scope = "; ".join(f"{s.name} every {s.interval_text}" for s in services)
    if last is None:
        return f"no {' / '.join(dict.fromkeys(s.name for s in services))} in the record ({scope})"
    return f"last {last[0].name} on {last[2]}, not within the interval ({scope})"


def preventive_status(
    events: Sequence[Event],
    recommendations: Iterable[Recommendation],
    *,
    as_of: date | None = None,
    summary: dict[str, Any] | None = None,
) -> list[PreventiveStatus]:
    """Every current grade A/B recommendation whose age and sex fit, decided (see the module text).

    Args:
        events: One patient's timeline events (all resource types: procedures count as services).
        recommendations: All recommendations known (superseded versions are left out).
        as_of: The day assessed; defaults to the day of the latest event.
        summary: ``build_summary`` of the same events at ``as_of``, when the caller has it.

    Returns:
        One status per recommendation, ``due`` first, then by grade and title; empty when the
        age or sex is unknown.
    """
    record = build_record(events, as_of=as_of, summary=summary)
    if record.age is None or not record.sex:
        return []
    facts = _Facts(record)
    out = [
        s
        for rec in eligible_recommendations(record.age, record.sex, recommendations, grades=GAP_GRADES)
        if (s := _decide(rec, record, facts)) is not None
    ]
    order = {"due": 0, "conditional": 1, "done": 2, "not in population": 3}
    return sorted(out, key=lambda s: (order[s.status], s.recommendation.grade, s.recommendation.title))


def due_services(
    events: Sequence[Event], recommendations: Iterable[Recommendation], *, as_of: date | None = None
) -> list[PreventiveStatus]:
    """The recommendations that are due (see :func:`preventive_status`)."""
    return [s for s in preventive_status(events, recommendations, as_of=as_of) if s.status == "due"]


def _source(rec: Recommendation) -> Source:
    return Source(rec.doc_id or f"uspstf_{rec.rec_id}", rec.title, rec.population, rec.grade, rec.title,
                  f"USPSTF {rec.published or rec.version}".strip())  # fmt: skip


def _assessment(s: PreventiveStatus) -> Assessment:
    rec = s.recommendation
    label = {"due": "due", "conditional": "may be due", "done": "up to date", "not in population": "not due"}
    statement = f"{rec.topic} ({rec.population}, USPSTF grade {rec.grade}): {label[s.status]}; {s.reason}."
    details = {"rec_id": rec.rec_id, "services": [x.key for x in s.services], "status": s.status}
    return Assessment(f"uspstf_{rec.rec_id}", rec.topic, s.status, statement, _source(rec), s.inputs,
                      s.missing, details=details)  # fmt: skip


def preventive_assessments(
    events: Sequence[Event],
    recommendations: Iterable[Recommendation],
    *,
    as_of: date | None = None,
    summary: dict[str, Any] | None = None,
    include: Iterable[Status] = ("due",),
) -> list[Assessment]:
    """One :class:`Assessment` per recommendation whose status is in ``include`` (``due`` by default).

    Each has id ``uspstf_<record id>``, verdict the status, the inputs that decided it (age, sex,
    the confirming condition, the last service with its date) and the USPSTF record as its source.
    """
    wanted = set(include)
    return [
        _assessment(s)
        for s in preventive_status(events, recommendations, as_of=as_of, summary=summary)
        if s.status in wanted
    ]
