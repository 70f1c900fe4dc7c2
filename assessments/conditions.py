"""Which recorded problems and medications count for a rule: code sets and words, as data.

A Condition matches a :class:`ConditionSet` by SNOMED CT code, by ICD-10-CM code prefix, or by
a word in its display (records are coded inconsistently; the words catch what the codes miss).
Words that change the meaning ("family history of", "prediabetes") exclude a match. The sets
follow the definitions in the guideline text each rule implements, e.g. clinical ASCVD as the
2018 ACC/AHA cholesterol guideline defines it (ACS, MI, stable or unstable angina, coronary or
other arterial revascularization, stroke, TIA, atherosclerotic peripheral artery disease).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from patient_index.model import Event

__all__ = [
    "ANTIHYPERTENSIVE",
    "ASCVD",
    "ASCVD_PROCEDURES",
    "ATRIAL_FIBRILLATION",
    "DIABETES",
    "DIABETES_COMPLICATION",
    "HEART_FAILURE",
    "HYPERTENSION",
    "STATIN",
    "STROKE_TIA_EMBOLISM",
    "VASCULAR_DISEASE",
    "ConditionSet",
    "DrugSet",
]

_SNOMED = "http://snomed.info/sct"
_ICD10 = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")


@dataclass(frozen=True)
class ConditionSet:
    """A clinical concept: SNOMED codes, ICD-10 prefixes, and display words (with exclusions)."""

    name: str
    snomed: frozenset[str]
    icd10: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ("family history", "fh of", "screening", "at risk", "risk of", "suspected")

    def matches(self, e: Event | dict[str, Any]) -> bool:
        """Whether a Condition event (or a summary problem) names this concept."""
        display = str(e.get("display") or "").lower()
        if any(x in display for x in self.exclude):
            return False
        code, system = str(e.get("code") or ""), str(e.get("code_system") or "")
        if code and system == _SNOMED and code in self.snomed:
            return True
        if code and system in _ICD10 and code.replace(".", "").upper().startswith(self.icd10 or ("\0",)):
            return True
        return any(w in display for w in self.words)

    def select(self, items: Iterable[Any]) -> list[Any]:
        """The items that match, in the given order."""
        return [e for e in items if self.matches(e)]


_ALWAYS_EXCLUDED = ("family history", "fh of", "screening", "at risk", "risk of", "suspected")

ASCVD = ConditionSet(
    "clinical ASCVD",
    frozenset(
        {
            "22298006",
            "399211009",
            "401303003",
            "401314000",
            "57054005",
            "414545008",
            "53741008",
            "194828000",
            "4557003",
            "230690007",
            "266257000",
            "422504002",
            "399957001",
            "840580004",
            "275526006",
            "1755008",
            "414795007",
        }
    ),
    icd10=("I20", "I21", "I22", "I23", "I24", "I25", "I63", "G45", "I70", "I739", "Z951", "Z955"),
    words=(
        "myocardial infarction",
        "ischemic heart disease",
        "ischaemic heart disease",
        "coronary heart disease",
        "coronary artery disease",
        "coronary arteriosclerosis",
        "angina",
        "acute coronary syndrome",
        "stroke",
        "cerebral infarction",
        "transient ischemic attack",
        "transient ischaemic attack",
        "peripheral arterial disease",
        "peripheral artery disease",
        "peripheral vascular disease",
    ),
    exclude=(
        *_ALWAYS_EXCLUDED,
        "hemorrhagic stroke",
        "haemorrhagic stroke",
        "heat stroke",
        "sunstroke",
        "ludwig",
    ),
)
# Coronary or other arterial revascularization also makes clinical ASCVD (Procedure events).
ASCVD_PROCEDURES = ConditionSet(
    "arterial revascularization",
    frozenset({"232717009", "415070008", "36969009", "397193006", "414088005", "175135009"}),
    words=(
        "coronary artery bypass",
        "percutaneous coronary",
        "coronary stent",
        "angioplasty",
        "coronary revascularization",
        "carotid endarterectomy",
    ),
)
DIABETES = ConditionSet(
    "diabetes mellitus",
    frozenset(
        {
            "44054006",
            "46635009",
            "73211009",
            "127013003",
            "368581000119106",
            "422034002",
            "1551000119108",
            "90781000119102",
            "157141000119108",
            "97331000119101",
            "1501000119109",
        }
    ),
    icd10=("E08", "E09", "E10", "E11", "E13"),
    words=("diabetes", "diabetic"),
    exclude=(*_ALWAYS_EXCLUDED, "prediabetes", "pre-diabetes", "gestational", "insipidus"),
)
DIABETES_COMPLICATION = ConditionSet(
    "diabetic complication",
    frozenset(
        {
            "127013003",
            "368581000119106",
            "422034002",
            "1551000119108",
            "90781000119102",
            "157141000119108",
            "97331000119101",
            "1501000119109",
        }
    ),
    words=(
        "diabetic renal",
        "diabetic nephropathy",
        "diabetic retinopathy",
        "diabetic neuropathy",
        "neuropathy due to",
        "retinopathy due to",
        "nephropathy due to",
    ),
)
ATRIAL_FIBRILLATION = ConditionSet(
    "atrial fibrillation",
    frozenset({"49436004", "282825002", "440059007", "426749004", "440028005"}),
    icd10=("I48",),
    words=("atrial fibrillation",),
)
HEART_FAILURE = ConditionSet(
    "heart failure",
    frozenset({"88805009", "84114007", "42343007", "85232009", "417996009", "441481004"}),
    icd10=("I50", "I110", "I130", "I132"),
    words=("heart failure", "cardiac failure"),
)
HYPERTENSION = ConditionSet(
    "hypertension",
    frozenset({"38341003", "59621000", "1201005", "10725009", "78975002"}),
    icd10=("I10", "I11", "I12", "I13", "I15", "I16"),
    words=("hypertension", "hypertensive"),
    exclude=(
        *_ALWAYS_EXCLUDED,
        "pulmonary",
        "gestational",
        "ocular",
        "intracranial",
        "portal",
        "white coat",
        "pregnancy",
    ),
)
STROKE_TIA_EMBOLISM = ConditionSet(
    "stroke, TIA or thromboembolism",
    frozenset({"230690007", "266257000", "422504002", "275526006", "432504007"}),
    icd10=("I63", "I64", "G45", "I74", "Z8673"),
    words=(
        "stroke",
        "cerebral infarction",
        "transient ischemic attack",
        "transient ischaemic attack",
        "systemic embolism",
        "arterial embolism",
        "thromboembolism",
    ),
    exclude=(
        *_ALWAYS_EXCLUDED,
        "heat stroke",
        "sunstroke",
        "venous thromboembolism",
        "pulmonary",
        "deep vein",
    ),
)
VASCULAR_DISEASE = ConditionSet(
    "vascular disease (prior MI, PAD, aortic plaque)",
    frozenset({"22298006", "399211009", "401303003", "401314000", "57054005", "399957001", "840580004"}),
    icd10=("I21", "I22", "I252", "I70", "I739"),
    words=(
        "myocardial infarction",
        "peripheral arterial disease",
        "peripheral artery disease",
        "peripheral vascular disease",
        "aortic plaque",
        "aortic atherosclerosis",
    ),
)


@dataclass(frozen=True)
class DrugSet:
    """A drug class recognised by ingredient or brand words in a medication's display."""

    name: str
    pattern: re.Pattern[str]

    def matches(self, item: Event | dict[str, Any]) -> bool:
        """Whether a medication event or summary item belongs to this class."""
        return bool(self.pattern.search(str(item.get("display") or "").lower()))

    def select(self, items: Iterable[Any]) -> list[Any]:
        """The items that match, in the given order."""
        return [m for m in items if self.matches(m)]


ANTIHYPERTENSIVE = DrugSet(
    "antihypertensive",
    re.compile(
        r"\w+pril\b|\w+sartan\b|amlodipine|nifedipine|felodipine|isradipine|nicardipine|diltiazem|"
        r"verapamil|hydrochlorothiazide|chlorthalidone|indapamide|metolazone|metoprolol|atenolol|"
        r"carvedilol|bisoprolol|propranolol|nebivolol|labetalol|nadolol|furosemide|bumetanide|"
        r"torsemide|spironolactone|eplerenone|hydralazine|clonidine|doxazosin|prazosin|terazosin|"
        r"minoxidil|methyldopa|aliskiren|lasix|toprol|norvasc|zestril|prinivil|cozaar|diovan|"
        r"tenormin|lopressor|coreg"
    ),
)
STATIN = DrugSet(
    "statin",
    re.compile(
        r"(simva|simvi|atorva|rosuva|prava|lova|fluva|pitava)statin|lipitor|crestor|zocor|pravachol|livalo"
    ),
)
