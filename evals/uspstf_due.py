"""The *due* truth of ``uspstf-eligibility``, straight from the FHIR Bundle JSON and the USPSTF JSON.

Written apart from the system (it imports neither ``assessments`` nor ``agent`` and reads no
timeline events): resources are read as the Bundle holds them, codes compared as plain strings.

A current grade A/B record is due on the as-of day when

* the patient's age (whole years) is in its ``ageRange`` and the sex fits, and any narrower age
  its text gives (cervical 21-29 cytology / 30-65 cytology or HPV; BP every year from 40, every
  3 years 18-39; chlamydia/gonorrhea 24 and younger; lung 50-80);
* the population the record names is confirmed by the record (table ``RULES``: ``needs``); a
  population no FHIR code confirms (increased risk, calculated risk, pack-years, fair skin,
  Rh-negative, fluoride-poor water) is never due;
* no condition screened for is already recorded (``unless``);
* no Procedure / Observation / DiagnosticReport / Immunization (MedicationRequest for supplements,
  aspirin and cessation drugs) coded as the service is dated inside the look-back: ``months``
  before the day, since the start of the age range (``once``), or since the current pregnancy
  began (``pregnancy``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

__all__ = ["RULES", "BundleFacts", "due_ids", "read_bundle"]

# -- services: codes (SNOMED / LOINC / CVX as plain strings), display words, look-back -------------
Test = tuple[frozenset[str], tuple[str, ...], int | None]  # codes, words, months (None: see scope)


def _t(codes: str, words: str = "", months: int | None = None) -> Test:
    return frozenset(codes.split()), tuple(w for w in words.split("|") if w), months


BP = "55284-4 85354-9 8480-6 8462-4 35094-2 75367002 46973005"
HIV = "31676001 171121004 75622-1 56888-1 7917-8 7918-6 5221-7 48345-3 48346-1 31201-7 80387-4"
COUNSEL = ("dietary counsel|diet education|nutrition education|exercise education|physical activity counsel|"
           "weight management|weight loss counsel")  # fmt: skip
TESTS: dict[str, tuple[Test, ...]] = {
    "crc": (
        _t("73761001 310634005 444783004", "colonoscopy", 120),
        _t("418714002", "colonography", 60),
        _t("44441009 24420007", "sigmoidoscopy", 60),
        _t(
            "1015401000000102 104435004 57905-2 29771-3 56490-6 56491-4 2335-8 14563-1 14564-9 14565-6 "
            "12503-9 12504-7 27396-1",
            "occult blood|fecal immunochemical",
            12,
        ),
        _t("77353-1 77354-9", "cologuard|stool dna", 36),
    ),
    "mammo": (_t("71651007 24623002 241055006 24606-6 24604-1 24605-8 36625-2", "mammogra", 24),),
    "pap": (
        _t(
            "90226004 171149006 10524-7 19762-4 19764-0 19765-7 19766-5 19774-9 33717-0 47527-7 47528-5",
            "cervical smear|papanicolaou|cervical cytology",
            36,
        ),
    ),
    "hpv": (
        _t(
            "35904009 21440-3 30167-1 38372-9 59420-0 59263-4 59264-2 71431-1 75406-9 77379-6 77399-4 "
            "77400-0 69002-4",
            "papillomavirus dna|hpv test",
            60,
        ),
    ),
    "bp12": (_t(BP, "", 12),),
    "bp36": (_t(BP, "", 36),),
    "bp": (_t(BP),),
    "phq": (
        _t(
            "171207006 715252007 55757-9 55758-7 44249-1 44261-6 73831-0 73832-8 89204-2 89206-7 71354-5",
            "depression screening",
            12,
        ),
    ),
    "audit": (
        _t("713107002 763302001 72109-2 75626-2 75624-7", "alcohol screening|screening for alcohol", 12),
    ),
    "dast": (_t("713106006 428211000124100 82666-9 82667-7", "substance use|drug abuse screening", 12),),
    "hark": (_t("866148006 76499-3 76504-0", "domestic abuse|intimate partner", 12),),
    "glucose": (_t("4548-4 17856-6 2339-0 2345-7 1558-6 1504-0 1518-0", "", 36),),
    "bmi": (_t("39156-5 59576-9", "", 12),),
    "hiv": (_t(HIV, "hiv test|human immunodeficiency virus antigen"),),
    "hcv": (_t("104375008 16128-1 13955-0 11259-9", "hepatitis c antibody"),),
    "dxa": (_t("312681000 391057001 38265-5 38263-0 24701-5", "bone density|densitometry|dxa"),),
    "aaa": (_t("", "abdominal aorta|aortic aneurysm screening"),),
    "vision": (_t("16830007 36228007", "vision screening|visual acuity"),),
    "hbsag": (_t("47758006 5196-1 5195-3", "hepatitis b surface antigen"),),
    "rh": (_t("44608003 169673001 10331-7 882-1", "rh typing|rhd antibody"),),
    "syph": (_t("269828009 20507-0 5292-8 22587-0", "syphilis"),),
    "ucx": (_t("117010004 630-4", "urine culture"),),
    "gdm": (_t("113076002 1504-0 1518-0", "glucose tolerance|glucose challenge"),),
    "ct": (_t("310861008 21613-5 43304-5 6349-5", "chlamydia", 12),),
    "gc": (_t("165829005 21415-9 24111-7 43305-2", "gonorrhea", 12),),
    "quit": (
        _t(
            "710081004 225323000 702388001 384742004",
            "smoking cessation|tobacco cessation|varenicline|nicotine",
            12,
        ),
    ),
    "quit_preg": (_t("710081004 225323000 702388001 384742004", "smoking cessation|tobacco cessation"),),
    "tob_prev": (_t("", "tobacco use prevention|tobacco education", 12),),
    "counsel": (_t("", COUNSEL, 12),),
    "breastfeed": (_t("", "breastfeeding|lactation"),),
    "folate": (_t("", "folic acid|prenatal vitamin|folate", 12),),
    "aspirin": (_t("", "aspirin"),),
    "varnish": (_t("68071007", "fluoride varnish|fluoride application", 6),),
    "eyes": (_t("", "erythromycin ophthalmic|eye prophylaxis"),),
}


@dataclass(frozen=True)
class TruthRule:
    needs: tuple[str, ...] = ()  # population facts; "never" means no record code confirms it
    tests: str = ""  # key of TESTS; "" when there is no service to look up
    scope: str = "months"  # "months", "once" or "pregnancy"
    unless: tuple[str, ...] = ()  # recorded conditions that take the patient out
    ages: tuple[int, int] = (0, 200)


R = TruthRule
# By USPSTF record id (the 49 grade A/B records of the 2021 set).
RULES: dict[str, tuple[TruthRule, ...]] = {
    "426": (R((), "pap", unless=("hysterectomy",), ages=(21, 29)),
            R((), "pap+hpv", unless=("hysterectomy",), ages=(30, 65))),
    "10426": (R((), "pap", unless=("hysterectomy",), ages=(21, 29)),
              R((), "pap+hpv", unless=("hysterectomy",), ages=(30, 65))),
    "331": (R((), "crc", unless=("crc",)),),
    "310": (R((), "mammo", unless=("breast_cancer",)),),
    "302": (R((), "bp12", unless=("htn",), ages=(40, 200)), R((), "bp36", unless=("htn",), ages=(18, 39))),
    "485": (R((), "hiv", "once", ("hiv",)),),
    "486": (R(("pregnant",), "hiv", "pregnancy", ("hiv",)),),
    "1905": (R(("smoker", "not_pregnant"), "quit"),),
    "1906": (R(("pregnant", "smoker"), "quit_preg", "pregnancy"),),
    "447": (R(("newborn",), "eyes", "once"),),
    "503": (R(("pregnant",), "hbsag", "pregnancy"),),
    "186": (R(("pregnant",), "rh", "pregnancy"),),
    "187": (R(("never",)),),
    "431": (R(("pregnant",), "syph", "pregnancy"),),
    "329": (R(("never",)),),
    "487": (R(("never",)),),
    "347": (R(("can_conceive",), "folate"),),
    "518": (R(("ever_smoked",), "aaa", "once", ("aaa",)),),
    "303": (R(("bmi25",), "glucose", unless=("diabetes",)),),
    "322": (R(("never",)),),
    "513": (R(("pregnant",), "ucx", "pregnancy"),),
    "507": (R(("never",)),),
    "510": (R(("never",)),),
    "339": (R(("pregnant",), "breastfeed", "pregnancy"),),
    "254": (R(("sexually_active",), "ct", ages=(0, 24)),),
    "255": (R(("sexually_active",), "gc", ages=(0, 24)),),
    "246": (R(("never",)),),
    "247": (R((), "varnish"),),
    "315": (R((), "phq"),),
    "316": (R((), "phq"),),
    "405": (R(("never",)),),
    "222": (R(("pregnant_24w",), "gdm", "pregnancy", ("diabetes",)),),
    "1845": (R(("cvd_risk",), "counsel"),),
    "524": (R((), "hcv", "once", ("hcv",)),),
    "434": (R((), "hark"),),
    "337": (R(("never",)),),
    "249": (R(("pregnant", "preeclampsia_risk"), "aspirin", "pregnancy"),),
    "1916": (R(("never",)),),
    "369": (R((), "bmi"),),
    "421": (R(("never",)),),
    "420": (R((), "dxa", "once", ("osteoporosis",)),),
    "449": (R(("never",)),),
    "364": (R(("pregnant",), "bp", "pregnancy"),),
    "585": (R(("not_smoker",), "tob_prev"),),
    "1885": (R(("never",)),),
    "1445": (R(("never",)),),
    "402": (R(("never",)),),
    "341": (R(("never",)),),
    "438": (R((), "audit"),),
    "767": (R((), "dast"),),
    "372": (R((), "vision", "once"),),
    "433": (R(("bmi30",), "counsel"),),
}  # fmt: skip

# -- conditions: SNOMED codes / ICD-10 prefixes / display words ------------------------------------
Cond = tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]


def _c(codes: str, icd: str = "", words: str = "") -> Cond:
    return frozenset(codes.split()), tuple(icd.split()), tuple(w for w in words.split("|") if w)


CONDITIONS: dict[str, Cond] = {
    "pregnancy": _c("72892002 77386006 47200007", "Z33 Z34", "normal pregnancy|pregnant state"),
    "pregnancy_any": _c("72892002 77386006 47200007 79586000 19169002 398254007", "O Z33 Z34",
                        "pregnan|miscarriage|preeclampsia"),
    "smoker": _c("449868002 77176002 65568007 8517006", "F17",
                 "smokes tobacco|tobacco smoker|cigarette smoker|ex-smoker"),
    "obese": _c("162864005 414916001 238136002 408512008", "E66", "obesity|obese"),
    "overweight": _c("162863004 238131007", "E663", "overweight"),
    "htn": _c("38341003 59621000 1201005 10725009 78975002", "I10 I11 I12 I13 I15 I16", "hypertension|hypertensive"),
    "lipids": _c("55822004 13644009 302870006 370992007 237602007 398036000", "E78 E8881",
                 "hyperlipid|hypercholesterol|dyslipid|hypertriglycerid|metabolic syndrome"),
    "diabetes": _c("44054006 46635009 73211009 127013003 368581000119106 422034002 1551000119108 90781000119102 "
                   "157141000119108 97331000119101 1501000119109", "E08 E09 E10 E11 E13", "diabetes|diabetic"),
    "crc": _c("363406005 109838007 93761005 94260004", "C18 C19 C20",
              "malignant neoplasm of colon|malignant tumor of colon|colorectal cancer|carcinoma of colon"),
    "breast_cancer": _c("254837009", "C50", "malignant neoplasm of breast|breast cancer|carcinoma of breast"),
    "osteoporosis": _c("64859006 443165006", "M80 M81", "osteoporosis"),
    "hiv": _c("86406008 62479008", "B20 Z21", "human immunodeficiency virus infection|hiv infection"),
    "hcv": _c("128302006 50711007", "B171 B182", "hepatitis c"),
    "aaa": _c("233985008", "I713 I714", "aortic aneurysm"),
    "hysterectomy": _c("236886002 116140006 116143008", "Z9071", "hysterectomy"),
    "preeclampsia": _c("398254007", "O14", "preeclampsia"),
    "ckd": _c("709044004 431855005 431856006 433144002 431857002 46177005", "N18", "chronic kidney disease"),
    "sti": _c("", "A5 A6", "chlamydia|gonorrh|syphilis|trichomon|genital herpes"),
}  # fmt: skip
# Display words that change a condition's meaning ("family history of diabetes", "prediabetes").
NOT_THIS = ("family history", "fh of", "screening", "at risk", "risk of", "suspected")
NOT_THIS_BY = {
    "diabetes": ("prediabetes", "pre-diabetes", "gestational", "insipidus"),
    "htn": ("pulmonary", "gestational", "ocular", "intracranial", "portal", "white coat", "pregnancy"),
    "pregnancy": ("history", "termination", "ectopic"),
}
SEX_PROCEDURES = frozenset(
    ["66348005", "11466000", "65200003", "301807007", "755621000000101", "714812005", "10383002"]
)
SEX_PROCEDURE_WORDS = (
    "childbirth",
    "cesarean",
    "contracept",
    "intrauterine device",
    "termination of pregnancy",
)
CONTRACEPTIVES = ("contracept", "levonorgestrel", "etonogestrel", "norethindrone", "ethinyl estradiol",
                  "medroxyprogesterone", "nuvaring", "drospirenone", "norgestimate", "desogestrel", "mirena",
                  "nexplanon")  # fmt: skip
SKIP_STATUS = {"entered-in-error", "not-done", "cancelled", "refuted", "unknown"}
ENDED = {"resolved", "inactive", "remission"}


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _codes(concept: Any) -> tuple[set[str], str]:
    concept = concept or {}
    codings = concept.get("coding") or []
    words = [str(concept.get("text") or "")] + [str(c.get("display") or "") for c in codings]
    return {str(c.get("code")) for c in codings if c.get("code")}, " ".join(words).lower()


@dataclass
class Item:
    kind: str
    codes: set[str]
    text: str
    day: date | None
    end: date | None = None
    status: str = ""
    value: Any = None


@dataclass
class BundleFacts:
    """The resources of one Bundle that the due truth reads."""

    born: date | None
    sex: str
    items: list[Item]


def read_bundle(path: Path) -> BundleFacts:
    """Patient, Condition, Observation, Procedure, Immunization, DiagnosticReport, MedicationRequest."""
    data = json.loads(path.read_text(encoding="utf-8"))
    born, sex, items = None, "", []
    for entry in data.get("entry", []) if isinstance(data, dict) else []:
        r = entry.get("resource") or {}
        kind = r.get("resourceType")
        status = str(r.get("status") or "").lower()
        if kind == "Patient" and born is None:
            born, sex = _date(r.get("birthDate")), str(r.get("gender") or "")
        elif kind == "Condition":
            codes, text = _codes(r.get("code"))
            clinical = ((r.get("clinicalStatus") or {}).get("coding") or [{}])[0].get("code", "")
            verification = ((r.get("verificationStatus") or {}).get("coding") or [{}])[0].get("code", "")
            when = (
                r.get("onsetDateTime") or (r.get("onsetPeriod") or {}).get("start") or r.get("recordedDate")
            )
            items.append(
                Item(
                    kind,
                    codes,
                    text,
                    _date(when),
                    _date(r.get("abatementDateTime")),
                    str(verification if verification in SKIP_STATUS else clinical).lower(),
                )
            )
        elif kind == "Observation":
            codes, text = _codes(r.get("code"))
            value = (r.get("valueQuantity") or {}).get("value")
            if value is None and r.get("valueCodeableConcept"):
                value = _codes(r.get("valueCodeableConcept"))[1]
            when = (
                r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start") or r.get("issued")
            )
            items.append(Item(kind, codes, text, _date(when), None, status, value))
            for comp in r.get("component") or []:
                ccodes, ctext = _codes(comp.get("code"))
                items.append(
                    Item(
                        kind,
                        ccodes,
                        ctext,
                        _date(when),
                        None,
                        status,
                        (comp.get("valueQuantity") or {}).get("value"),
                    )
                )
        elif kind in ("Procedure", "Immunization", "DiagnosticReport", "MedicationRequest"):
            concept = {
                "Immunization": r.get("vaccineCode"),
                "MedicationRequest": r.get("medicationCodeableConcept"),
            }
            codes, text = _codes(concept.get(kind, r.get("code")))
            when = (
                r.get("performedDateTime")
                or (r.get("performedPeriod") or {}).get("start")
                or r.get("occurrenceDateTime")
                or r.get("effectiveDateTime")
                or (r.get("effectivePeriod") or {}).get("start")
                or r.get("authoredOn")
            )
            items.append(Item(kind, codes, text, _date(when), None, status))
    return BundleFacts(born, sex, items)  # fmt: skip


def _years(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


class _Judge:
    def __init__(self, facts: BundleFacts, day: date) -> None:
        self.f, self.day = facts, day
        self.items = [
            i for i in facts.items if i.day is not None and i.day <= day and i.status not in SKIP_STATUS
        ]
        self.pregnancy_start: date | None = None
        p = self.current_pregnancy()
        self.pregnancy_start = p.day if p else None

    def _is(self, item: Item, name: str) -> bool:
        codes, prefixes, words = CONDITIONS[name]
        if any(w in item.text for w in (*NOT_THIS, *NOT_THIS_BY.get(name, ()))):
            return False
        if item.codes & codes:
            return True
        if any(c.replace(".", "").upper().startswith(p) for c in item.codes for p in prefixes if p):
            return True
        return any(w in item.text for w in words)

    def conditions(self, name: str, active: bool = False) -> list[Item]:
        out = []
        for i in self.items:
            if i.kind != "Condition" or not self._is(i, name):
                continue
            if active and (
                (i.end is not None and i.end <= self.day) or (i.end is None and i.status in ENDED)
            ):
                continue
            out.append(i)
        return out

    def current_pregnancy(self) -> Item | None:
        live = [
            i for i in self.conditions("pregnancy", active=True) if i.day and (self.day - i.day).days <= 294
        ]
        return max(live, key=lambda i: i.day or date.min) if live else None

    def smoking(self) -> str:
        """'current', 'not' or '' from the latest status within 3 years or an active smoker problem."""
        if any(
            "smokes" in i.text or "tobacco smoker" in i.text for i in self.conditions("smoker", active=True)
        ):
            return "current"
        obs = [i for i in self.items if i.kind == "Observation" and "72166-2" in i.codes and i.day]
        if not obs:
            return ""
        last = max(obs, key=lambda i: i.day or date.min)
        if last.day is None or (self.day - last.day).days > 3 * 365:
            return ""
        text = str(last.value or "").lower()
        if any(w in text for w in ("never", "former", "ex-smoker", "non-smoker", "nonsmoker", "quit")):
            return "not"
        return "current" if any(w in text for w in ("current", "every day", "some day", "smokes")) else ""

    def bmi(self) -> float | None:
        obs = [i for i in self.items if i.kind == "Observation" and "39156-5" in i.codes
               and isinstance(i.value, int | float) and i.day and (self.day - i.day).days <= 730]  # fmt: skip
        return float(max(obs, key=lambda i: i.day or date.min).value) if obs else None

    def fact(self, need: str) -> bool:
        if need == "never":
            return False
        if need == "pregnant":
            return self.pregnancy_start is not None
        if need == "not_pregnant":
            return self.pregnancy_start is None
        if need == "pregnant_24w":
            return self.pregnancy_start is not None and (self.day - self.pregnancy_start).days >= 24 * 7
        if need == "preeclampsia_risk":
            return any(self.conditions(n) for n in ("preeclampsia", "htn", "diabetes", "ckd"))
        if need == "smoker":
            return self.smoking() == "current"
        if need == "not_smoker":
            return self.smoking() != "current"
        if need == "ever_smoked":
            ever = any(i.kind == "Observation" and "72166-2" in i.codes
                       and any(w in str(i.value or "").lower() for w in ("former", "current", "every day", "some day"))
                       for i in self.items)  # fmt: skip
            return ever or bool(self.conditions("smoker")) or self.smoking() == "current"
        if need in ("bmi25", "bmi30"):
            cut, names = (25.0, ("overweight", "obese")) if need == "bmi25" else (30.0, ("obese",))
            value = self.bmi()
            return (value is not None and value >= cut) or any(self.conditions(n, active=True) for n in names)
        if need == "cvd_risk":
            return bool(self.conditions("htn", active=True) or self.conditions("lipids", active=True))
        if need == "sexually_active":
            if self.conditions("pregnancy_any") or self.conditions("sti"):
                return True
            return any(
                (
                    i.kind == "Procedure"
                    and (i.codes & SEX_PROCEDURES or any(w in i.text for w in SEX_PROCEDURE_WORDS))
                )
                or (i.kind == "MedicationRequest" and any(w in i.text for w in CONTRACEPTIVES))
                for i in self.items
            )
        if need == "newborn":
            return self.f.born is not None and (self.day - self.f.born).days < 28
        if need == "can_conceive":
            return self.f.sex == "female" and not self.hysterectomy()
        raise KeyError(need)

    def hysterectomy(self) -> bool:
        if self.conditions("hysterectomy"):
            return True
        return any(i.kind == "Procedure" and self._is(i, "hysterectomy") for i in self.items)

    def done(self, tests_key: str, scope: str, age_min: float) -> bool:
        tests = [t for k in tests_key.split("+") for t in TESTS[k]]
        for codes, words, months in tests:
            if scope == "pregnancy":
                start = self.pregnancy_start or self.day
            elif scope == "once" or months is None:
                born = self.f.born or date.min
                start = born.replace(year=born.year + int(age_min)) if born != date.min else born
            else:
                start = self.day - timedelta(days=round(months * 365 / 12)) + timedelta(days=1)
            for i in self.items:
                if i.day is None or i.day < start:
                    continue
                coded = i.kind in ("Procedure", "Observation", "DiagnosticReport", "Immunization") and bool(
                    i.codes & codes
                )
                worded = i.kind in ("Procedure", "MedicationRequest") and any(w in i.text for w in words)
                if coded or worded:
                    return True
        return False


def due_ids(facts: BundleFacts, age_sex_ab: dict[str, float], day: date, age: int) -> set[str]:
    """Ids of the due records among ``age_sex_ab`` (A/B ids whose age and sex fit -> their age_min)."""
    judge = _Judge(facts, day)
    out = set()
    for rid, age_min in age_sex_ab.items():
        rules = RULES.get(rid)
        if rules is None:
            out.add(rid)  # a record this table does not know: due by age and sex
            continue
        rule = next((r for r in rules if r.ages[0] <= age <= r.ages[1]), None)
        if rule is None or not all(judge.fact(n) for n in rule.needs):
            continue
        if any(judge.hysterectomy() if u == "hysterectomy" else judge.conditions(u) for u in rule.unless):
            continue
        if rule.tests and judge.done(rule.tests, rule.scope, age_min):
            continue
        out.add(rid)
    return out
