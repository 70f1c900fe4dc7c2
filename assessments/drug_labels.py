"""Label dosing of named drugs, as data: the adult maximum daily dose and the renal adjustments.

Facts from each drug's US prescribing information (FDA label, section 2 "Dosage and
Administration" and 8.6 "Renal Impairment"); the guideline passage that lists the drug's doses is
named where the indexed corpus has one, so the agent can cite it as a ``[G#]``. Amounts are mg per
day for adults. Renal bands use eGFR in mL/min/1.73 m2 (labels that give creatinine clearance are
read at the same numbers, as clinical practice does).

========================  ============  ==========================================================
drug                      max mg/day    renal
========================  ============  ==========================================================
atorvastatin              80            none
rosuvastatin              40            eGFR < 30 (not on dialysis): start 5, max 10
simvastatin               80*           eGFR < 30: start 5, monitor (*80 only if tolerated >= 1 y)
pravastatin               80            eGFR < 30: start 10
lovastatin                80            eGFR < 30: above 20 with caution
fluvastatin               80            eGFR < 30: above 40 not studied
pitavastatin              4             eGFR < 60: start 1, max 2
ezetimibe                 10            none
metformin                 2550          eGFR < 30 contraindicated; 30-45 do not start
sitagliptin               100           eGFR 30-45: 50; < 30: 25
lisinopril                80            eGFR 10-30: start 5; < 10: start 2.5
losartan                  100           none
amlodipine                10            none
hydrochlorothiazide       50            none (anuria: contraindicated)
gabapentin                3600          eGFR 30-59: 1400; 15-29: 700; < 15: 300
allopurinol               800           eGFR 10-20: 200; < 10: 100
acetaminophen             4000          none
========================  ============  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from assessments.model import Source

__all__ = ["LABELS", "LabelDose", "RenalBand", "find_label"]


@dataclass(frozen=True)
class RenalBand:
    """Within ``low <= eGFR < below``: the label's limit (``max_mg``) or a ban (``contraindicated``)."""

    below: float
    low: float = 0.0
    max_mg: float | None = None
    contraindicated: bool = False
    do_not_start: bool = False
    text: str = ""  # what the label says for this band, for the statement


@dataclass(frozen=True)
class LabelDose:
    """One drug's label dosing: names it goes by, the adult daily maximum and the renal bands."""

    drug: str
    names: tuple[str, ...]
    max_mg_day: float
    source: Source
    renal: tuple[RenalBand, ...] = ()
    note: str = ""

    def band(self, egfr: float) -> RenalBand | None:
        """The renal band ``egfr`` falls in (the most restrictive first), if any."""
        return next((b for b in self.renal if b.low <= egfr < b.below), None)


_STATIN = (
    "acc_aha_cholesterol_2018",
    "2018 AHA/ACC/AACVPR/AAPA/ABC/ACPM/ADA/AGS/APhA/ASPC/NLA/PCNA Guideline on the Management of Blood Cholesterol",
    "Statin Therapy -- ACC/AHA 2018 > Statin Intensity Definitions",
)
_ADA = ("ada_diabetes_2024", "Standards of Care in Diabetes—2024")
_ADA_MEDS = "Pharmacologic Approaches to Glycemic Treatment in Type 2 Diabetes — ADA 2024 > Medication Classes for Type 2 Diabetes"


def _label(product: str, *, guideline: tuple[str, str, str] | None = None, query: str = "") -> Source:
    reference = (
        f"{product} US prescribing information (FDA label), Dosage and Administration; Renal Impairment"
    )
    if guideline is None:
        return Source("", f"{product} prescribing information (FDA label)", "Dosage and Administration",
                      reference=reference)  # fmt: skip
    return Source(*guideline, "", query, reference)


def _statin(product: str, query: str) -> Source:
    return _label(product, guideline=_STATIN, query=query)


_CRCL30 = "severe renal impairment (eGFR < 30)"
LABELS: tuple[LabelDose, ...] = (
    LabelDose("atorvastatin", ("atorvastatin", "lipitor"), 80,
              _statin("Atorvastatin calcium (Lipitor)", "high-intensity statin atorvastatin 40-80 mg")),
    LabelDose("rosuvastatin", ("rosuvastatin", "crestor"), 40,
              _statin("Rosuvastatin calcium (Crestor)", "high-intensity statin rosuvastatin 20-40 mg"),
              (RenalBand(30, max_mg=10, text=f"{_CRCL30}, not on hemodialysis: start 5 mg, do not exceed 10 mg/day"),)),
    LabelDose("simvastatin", ("simvastatin", "zocor"), 80,
              _statin("Simvastatin (Zocor)", "moderate-intensity statin simvastatin 20-40 mg"),
              (RenalBand(30, max_mg=5, text=f"{_CRCL30}: start 5 mg/day and monitor closely"),),
              "80 mg/day only for patients who have taken it for 12 months or more without muscle toxicity"),
    LabelDose("pravastatin", ("pravastatin", "pravachol"), 80,
              _statin("Pravastatin sodium (Pravachol)", "moderate-intensity statin pravastatin 40-80 mg"),
              (RenalBand(30, max_mg=10, text=f"{_CRCL30}: start 10 mg/day"),)),
    LabelDose("lovastatin", ("lovastatin", "mevacor", "altoprev"), 80,
              _statin("Lovastatin (Mevacor)", "moderate-intensity statin lovastatin 40-80 mg"),
              (RenalBand(30, max_mg=20, text=f"{_CRCL30}: doses above 20 mg/day only with caution"),)),
    LabelDose("fluvastatin", ("fluvastatin", "lescol"), 80,
              _statin("Fluvastatin sodium (Lescol)", "moderate-intensity statin fluvastatin 80 mg"),
              (RenalBand(30, max_mg=40, text=f"{_CRCL30}: doses above 40 mg/day have not been studied"),)),
    LabelDose("pitavastatin", ("pitavastatin", "livalo"), 4,
              _statin("Pitavastatin (Livalo)", "moderate-intensity statin pitavastatin 1-4 mg"),
              (RenalBand(60, max_mg=2, text="moderate or severe renal impairment (eGFR < 60) or dialysis: start "
                                            "1 mg, do not exceed 2 mg/day"),)),
    LabelDose("ezetimibe", ("ezetimibe", "zetia"), 10, _label("Ezetimibe (Zetia)")),
    LabelDose("metformin", ("metformin", "glucophage"), 2550,
              _label("Metformin hydrochloride (Glucophage)", guideline=(*_ADA, f"{_ADA_MEDS} > Metformin"),
                     query="metformin eGFR contraindicated dose"),
              (RenalBand(30, contraindicated=True, text="contraindicated below eGFR 30"),
               RenalBand(45, 30, do_not_start=True, text="starting it at eGFR 30-45 is not recommended; if eGFR "
                                                          "falls below 45 on treatment, reassess benefit and risk"))),
    LabelDose("sitagliptin", ("sitagliptin", "januvia"), 100,
              _label("Sitagliptin (Januvia)", guideline=(*_ADA, f"{_ADA_MEDS} > DPP-4 Inhibitors"),
                     query="DPP-4 inhibitors sitagliptin renal dose"),
              (RenalBand(30, max_mg=25, text="eGFR < 30: 25 mg once daily"),
               RenalBand(45, 30, max_mg=50, text="eGFR 30-45: 50 mg once daily"))),
    LabelDose("lisinopril", ("lisinopril", "zestril", "prinivil"), 80, _label("Lisinopril (Zestril)"),
              (RenalBand(10, max_mg=2.5, text="eGFR < 10 or dialysis: start 2.5 mg/day"),
               RenalBand(30, 10, max_mg=5, text="eGFR 10-30: start 5 mg/day"))),
    LabelDose("losartan", ("losartan", "cozaar"), 100, _label("Losartan potassium (Cozaar)")),
    LabelDose("amlodipine", ("amlodipine", "norvasc"), 10, _label("Amlodipine besylate (Norvasc)")),
    LabelDose("hydrochlorothiazide", ("hydrochlorothiazide", "hctz"), 50, _label("Hydrochlorothiazide")),
    LabelDose("gabapentin", ("gabapentin", "neurontin"), 3600, _label("Gabapentin (Neurontin)"),
              (RenalBand(15, max_mg=300, text="eGFR < 15: 100-300 mg/day"),
               RenalBand(30, 15, max_mg=700, text="eGFR 15-29: 200-700 mg/day"),
               RenalBand(60, 30, max_mg=1400, text="eGFR 30-59: 400-1400 mg/day"))),
    LabelDose("allopurinol", ("allopurinol", "zyloprim"), 800, _label("Allopurinol (Zyloprim)"),
              (RenalBand(10, max_mg=100, text="eGFR < 10: 100 mg/day or less"),
               RenalBand(20, 10, max_mg=200, text="eGFR 10-20: 200 mg/day"))),
    LabelDose("acetaminophen", ("acetaminophen", "paracetamol", "tylenol"), 4000, _label("Acetaminophen")),
)  # fmt: skip
_BY_NAME = {n: label for label in LABELS for n in label.names}


def find_label(name: str) -> LabelDose | None:
    """The label entry for a drug or brand name (case-insensitive), if the table has it."""
    return _BY_NAME.get(name.strip().lower())
