"""The USPSTF services as data: which record entries count as each service, and how often it is due.

A :class:`Service` is one way of delivering a recommendation (colonoscopy, FIT, mammography...):
the codes that show it was done (SNOMED CT for procedures, LOINC for observations and reports,
CVX for immunizations), display words for what has no code here (medications: no RxNorm table
ships with the project; a few procedures), and the interval after which it is due again, from
the USPSTF recommendation text or its clinical considerations:

==========================  ==========  ===================================================
service                     interval    USPSTF text
==========================  ==========  ===================================================
colonoscopy                 10 years    colorectal cancer 2021: colonoscopy every 10 years
CT colonography             5 years     every 5 years
flexible sigmoidoscopy      5 years     every 5 years
FIT / high-sensitivity FOBT 1 year      every year
stool DNA-FIT               3 years     every 1 to 3 years (the longer bound)
mammography                 2 years     breast cancer 2016: biennial
cervical cytology           3 years     cervical cancer 2018: every 3 years (21-65)
hrHPV (with or w/o cytology) 5 years    every 5 years (30-65)
blood pressure              1 / 3 years annual from 40 (and at increased risk); 3-5 years 18-39
depression questionnaire    1 year      no interval set; yearly, the pragmatic approach
alcohol, drug use, IPV      1 year      no interval set; yearly
HbA1c or glucose            3 years     diabetes 2021: rescreen every 3 years
BMI (children)              1 year      measured at yearly health maintenance visits
HIV, HCV test               once        one-time screening (from the start of the age range)
bone density (DXA)          once        women 65+: no repeat interval established
AAA ultrasound              once        one-time screening
vision screening            once        at least once at ages 3-5
prenatal tests              pregnancy   once in each pregnancy (first prenatal visit)
counselling, medication     1 year      offered at least yearly while the population holds
fluoride varnish            6 months    applied every 3-6 months in the trials
==========================  ==========  ===================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from patient_index.model import Event

__all__ = ["SERVICES", "Service"]

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
CVX = "http://hl7.org/fhir/sid/cvx"
_DONE_TYPES = frozenset({"Procedure", "Observation", "DiagnosticReport", "Immunization"})
_NOT_DONE = frozenset({"entered-in-error", "not-done", "cancelled", "refuted", "unknown"})
YEAR = 365


@dataclass(frozen=True)
class Service:
    """One way of delivering a recommendation and how long it counts for (``None``: once is enough)."""

    key: str
    name: str
    interval_days: int | None
    snomed: frozenset[str] = frozenset()
    loinc: frozenset[str] = frozenset()
    cvx: frozenset[str] = frozenset()
    words: tuple[str, ...] = ()  # lower-case display words; matched on procedures and medications only

    def matches(self, e: Event) -> bool:
        """Whether a timeline event records this service being done."""
        kind = str(e.get("resource_type") or "")
        if str(e.get("status") or "").lower() in _NOT_DONE:
            return False
        system, code = str(e.get("code_system") or ""), str(e.get("code") or "")
        if kind in _DONE_TYPES and code:
            if (system == SNOMED and code in self.snomed) or (system == LOINC and code in self.loinc):
                return True
            if system == CVX and code in self.cvx:
                return True
        if self.words and kind in ("Procedure", "MedicationRequest", "MedicationStatement"):
            display = str(e.get("display") or "").lower()
            return any(w in display for w in self.words)
        return False

    @property
    def interval_text(self) -> str:
        if self.interval_days is None:
            return "once"
        if self.interval_days % YEAR == 0:
            years = self.interval_days // YEAR
            return "1 year" if years == 1 else f"{years} years"
        return f"{round(self.interval_days / 30)} months"


def _s(*codes: str) -> frozenset[str]:
    return frozenset(codes)


_BP_CODES = _s("55284-4", "85354-9", "8480-6", "8462-4", "35094-2")
_PHQ = _s("55757-9", "55758-7", "44249-1", "44261-6", "73831-0", "73832-8", "89204-2", "89206-7", "71354-5")
_GLUCOSE = _s("4548-4", "17856-6", "2339-0", "2345-7", "1558-6", "1504-0", "1518-0")
_COUNSEL = ("dietary counsel", "diet education", "nutrition education", "exercise education",
            "physical activity counsel", "weight management", "weight loss counsel")  # fmt: skip

SERVICES: dict[str, Service] = {
    s.key: s
    for s in (
        Service("colonoscopy", "colonoscopy", 10 * YEAR, _s("73761001", "310634005", "444783004"),
                words=("colonoscopy",)),
        Service("ct_colonography", "CT colonography", 5 * YEAR, _s("418714002"), words=("colonography",)),
        Service("sigmoidoscopy", "flexible sigmoidoscopy", 5 * YEAR, _s("44441009", "24420007"),
                words=("sigmoidoscopy",)),
        Service("fit", "FIT/FOBT", YEAR, _s("1015401000000102", "104435004"),
                _s("57905-2", "29771-3", "56490-6", "56491-4", "2335-8", "14563-1", "14564-9", "14565-6",
                   "12503-9", "12504-7", "27396-1"),
                words=("occult blood", "fecal immunochemical")),
        Service("stool_dna", "stool DNA-FIT", 3 * YEAR, loinc=_s("77353-1", "77354-9"),
                words=("cologuard", "stool dna")),
        Service("mammography", "mammography", 2 * YEAR, _s("71651007", "24623002", "241055006"),
                _s("24606-6", "24604-1", "24605-8", "36625-2"), words=("mammogra",)),
        Service("cervical_cytology", "cervical cytology", 3 * YEAR, _s("90226004", "171149006"),
                _s("10524-7", "19762-4", "19764-0", "19765-7", "19766-5", "19774-9", "33717-0", "47527-7",
                   "47528-5"),
                words=("cervical smear", "papanicolaou", "cervical cytology")),
        Service("hpv_test", "hrHPV test", 5 * YEAR, _s("35904009"),
                _s("21440-3", "30167-1", "38372-9", "59420-0", "59263-4", "59264-2", "71431-1", "75406-9",
                   "77379-6", "77399-4", "77400-0", "69002-4"),
                words=("papillomavirus dna", "hpv test")),
        Service("bp_yearly", "blood pressure measurement", YEAR, _s("75367002", "46973005"), _BP_CODES),
        Service("bp_3y", "blood pressure measurement", 3 * YEAR, _s("75367002", "46973005"), _BP_CODES),
        Service("bp_pregnancy", "blood pressure measurement", None, _s("75367002", "46973005"), _BP_CODES),
        Service("depression_screen", "depression screening (PHQ)", YEAR, _s("171207006", "715252007"), _PHQ,
                words=("depression screening",)),
        Service("alcohol_screen", "alcohol use screening (AUDIT)", YEAR, _s("713107002", "763302001"),
                _s("72109-2", "75626-2", "75624-7"), words=("alcohol screening", "screening for alcohol")),
        Service("drug_screen", "drug use screening (DAST)", YEAR, _s("713106006", "428211000124100"),
                _s("82666-9", "82667-7"), words=("substance use", "drug abuse screening")),
        Service("ipv_screen", "intimate partner violence screening (HARK)", YEAR, _s("866148006"),
                _s("76499-3", "76504-0"), words=("domestic abuse", "intimate partner")),
        Service("glucose_test", "HbA1c or glucose", 3 * YEAR, loinc=_GLUCOSE),
        Service("bmi", "BMI measurement", YEAR, loinc=_s("39156-5", "59576-9")),
        Service("hiv_test", "HIV test", None, _s("31676001", "171121004"),
                _s("75622-1", "56888-1", "7917-8", "7918-6", "5221-7", "48345-3", "48346-1", "31201-7",
                   "80387-4"),
                words=("hiv test", "human immunodeficiency virus antigen")),
        Service("hiv_prenatal", "HIV test", None, _s("31676001", "171121004"),
                _s("75622-1", "56888-1", "7917-8", "7918-6", "5221-7", "48345-3", "48346-1", "31201-7",
                   "80387-4"),
                words=("hiv test", "human immunodeficiency virus antigen")),
        Service("hcv_test", "hepatitis C antibody test", None, _s("104375008"),
                _s("16128-1", "13955-0", "11259-9"), words=("hepatitis c antibody",)),
        Service("bone_density", "bone density (DXA)", None, _s("312681000", "391057001"),
                _s("38265-5", "38263-0", "24701-5"), words=("bone density", "densitometry", "dxa")),
        Service("aaa_ultrasound", "abdominal aortic ultrasound", None,
                words=("abdominal aorta", "aortic aneurysm screening")),
        Service("vision_screen", "vision screening", None, _s("16830007", "36228007"),
                words=("vision screening", "visual acuity")),
        Service("hbsag", "hepatitis B surface antigen", None, _s("47758006"), _s("5196-1", "5195-3"),
                words=("hepatitis b surface antigen",)),
        Service("rh_typing", "Rh(D) typing", None, _s("44608003", "169673001"), _s("10331-7", "882-1"),
                words=("rh typing", "rhd antibody")),
        Service("syphilis_test", "syphilis test", None, _s("269828009"), _s("20507-0", "5292-8", "22587-0"),
                words=("syphilis",)),
        Service("urine_culture", "urine culture", None, _s("117010004"), _s("630-4"), words=("urine culture",)),
        Service("gdm_test", "glucose challenge / tolerance test", None, _s("113076002"), _s("1504-0", "1518-0"),
                words=("glucose tolerance", "glucose challenge")),
        Service("chlamydia_test", "chlamydia test", YEAR, _s("310861008"), _s("21613-5", "43304-5", "6349-5"),
                words=("chlamydia",)),
        Service("gonorrhea_test", "gonorrhea test", YEAR, _s("165829005"), _s("21415-9", "24111-7", "43305-2"),
                words=("gonorrhea",)),
        Service("cessation", "tobacco cessation counselling or medication", YEAR,
                _s("710081004", "225323000", "702388001", "384742004"),
                words=("smoking cessation", "tobacco cessation", "varenicline", "nicotine")),
        Service("cessation_pregnancy", "tobacco cessation counselling", None,
                _s("710081004", "225323000", "702388001", "384742004"),
                words=("smoking cessation", "tobacco cessation")),
        Service("tobacco_prevention", "tobacco use prevention counselling", YEAR,
                words=("tobacco use prevention", "tobacco education")),
        Service("lifestyle_counsel", "diet and physical activity counselling", YEAR, words=_COUNSEL),
        Service("weight_counsel", "weight-loss behavioural intervention", YEAR, words=_COUNSEL),
        Service("breastfeeding_support", "breastfeeding support", None,
                words=("breastfeeding", "lactation")),
        Service("folic_acid", "folic acid supplement", YEAR, words=("folic acid", "prenatal vitamin", "folate")),
        Service("aspirin_preeclampsia", "low-dose aspirin", None, words=("aspirin",)),
        Service("fluoride_varnish", "fluoride varnish", 182, _s("68071007"), words=("fluoride varnish", "fluoride application")),
        Service("ocular_prophylaxis", "ocular prophylaxis", None, words=("erythromycin ophthalmic", "eye prophylaxis")),
    )
}  # fmt: skip
