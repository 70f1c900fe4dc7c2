"""Does a drafted sentence contradict a computed assessment? Rival verdicts, stated about the patient.

An assessment's verdict (a statin intensity, a CKD stage, a referral decision, a BP or glycemic
category) is computed by the guideline's own rule, so a draft that states another verdict for the
same patient is wrong, however well it cites. A sentence counts as being about the patient when it
cites a ``[P#]`` or ``[A#]`` entry, speaks of the patient (he, her, the patient...), or recommends
(indicated, should, start, refer...) without addressing a population ("adults with diabetes"):
a guideline sentence that defines moderate-intensity therapy is not a claim about this patient.
A rival term preceded by a negation ("not moderate-intensity", "rather than G3a") is no claim.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Contradiction", "about_patient", "contradictions", "rival_patterns"]

_I = re.I
_PATIENT = re.compile(r"\b(?:patient'?s?|he|she|his|her|him|their|they|this person|you)\b", _I)
_ADVICE = re.compile(
    r"\b(?:indicated|should|start\w*|initiat\w*|prescrib\w*|recommend\w*|needs?|requires?|refer\w*|use|give)\b",
    _I,
)
_POPULATION = re.compile(
    r"\b(?:patients|adults|people|persons|individuals|those|anyone|men|women)\s+(?:with|aged|who|at|of|over|under)\b",
    _I,
)
_NEGATED = re.compile(
    r"(?:\bnot|\bno|\bnor|rather than|instead of|over|versus|vs\.?|than)\s*(?:an?\s+|the\s+)?$", _I
)
_MARKERS = re.compile(r"\[([GPA]\d{1,3}(?:\s*[,;]\s*[GPA]\d{1,3})*)\]")

_STATIN = {
    "high": re.compile(r"\bhigh[- ]intensity\b", _I),
    "moderate": re.compile(r"\bmoderate[- ]intensity\b", _I),
    "low": re.compile(r"\blow[- ]intensity\b", _I),
    "none": re.compile(
        r"\b(?:statins?(?: therapy)?\s+(?:is|are)\s+not\s+(?:indicated|recommended|needed|required|necessary)"
        r"|no\s+statin\s+(?:is\s+)?(?:indicated|needed|required)|does\s+not\s+need\s+a\s+statin"
        r"|statins?\s+(?:is|are)\s+(?:unnecessary|not\s+warranted))\b",
        _I,
    ),
}
_STATIN_RIVALS = {
    "high-intensity": ("moderate", "low", "none"),
    "moderate-intensity": ("low", "none"),
    "consider": ("high",),
    "not indicated": ("high", "moderate"),
}
_REFER_NO = re.compile(
    r"\b(?:referral\s+(?:to\s+nephrology\s+)?(?:is\s+)?not\s+(?:needed|indicated|required|necessary|warranted)"
    r"|no\s+(?:need\s+(?:to|for)\s+(?:a\s+)?refer\w*|(?:nephrology\s+)?referral\s+(?:is\s+)?(?:needed|indicated|required))"
    r"|does\s+not\s+(?:need|require|meet)\s+(?:a\s+)?(?:nephrology\s+)?referral\w*"
    r"|need\s+not\s+be\s+referred|should\s+not\s+be\s+referred)\b",
    _I,
)
_REFER_YES = re.compile(
    r"\b(?:(?:nephrology\s+)?referral\s+(?:to\s+nephrology\s+)?(?:is\s+)?(?:indicated|needed|required|recommended|warranted)"
    r"|should\s+be\s+referred|refer\s+(?:him|her|them|the\s+patient)?\s*to\s+(?:a\s+)?nephrolog\w*"
    r"|meets\s+(?:the\s+)?(?:kdigo\s+)?referral\s+criteria)\b",
    _I,
)
_STAGE = re.compile(
    r"\b(?:G([1-5])([ab])?|(?:ckd\s+)?stage\s+([1-5])([ab])?(?!\s*hypertens)(?:\s+ckd)?)\b", _I
)
_KIDNEY = re.compile(r"\b(?:ckd|kidney|renal|egfr|gfr|G[1-5][ab]?)\b", _I)
_ALBUMIN = re.compile(r"\bA([1-3])\b")
_ALBUMIN_CONTEXT = re.compile(r"\b(?:albumin\w*|acr|uacr|proteinuria)\b", _I)
_BP = {
    "normal": re.compile(
        r"\b(?:normal\s+blood\s+pressure|normotensi\w+|not\s+hypertensive|no\s+hypertension)\b", _I
    ),
    "elevated": re.compile(r"\belevated\s+blood\s+pressure\b", _I),
    "stage 1": re.compile(r"\bstage\s+(?:1|i|one)\s+hypertension\b", _I),
    "stage 2": re.compile(r"\bstage\s+(?:2|ii|two)\s+hypertension\b", _I),
    "severe": re.compile(r"\b(?:hypertensive\s+(?:crisis|urgency|emergency)|severe\s+hypertension)\b", _I),
}
_GLYCEMIC = {
    "normal": re.compile(
        r"\b(?:normal\s+glyc\w+|normoglyc\w+|no\s+(?:pre)?diabetes|does\s+not\s+have\s+(?:pre)?diabetes|not\s+diabetic)\b",
        _I,
    ),
    "prediabetes": re.compile(r"\bpre-?diabet\w*\b", _I),
    "diabetes": re.compile(
        r"\b(?:(?:has|with|meets\s+(?:the\s+)?criteria\s+for|diagnos\w+\s+(?:of|with))\s+(?:type\s+[12]\s+)?diabetes"
        r"|diabetic\s+range|is\s+diabetic)\b",
        _I,
    ),
}
_GLYCEMIC_RIVALS = {"normal": ("prediabetes", "diabetes"), "prediabetes": ("normal", "diabetes"),
                    "diabetes": ("normal", "prediabetes")}  # fmt: skip


@dataclass(frozen=True)
class Contradiction:
    """A sentence stating a verdict other than an assessment's."""

    sentence: str
    assessment: str  # the [A#] id
    verdict: str
    stated: str

    def describe(self) -> str:
        return (
            f"says {self.stated!r} where [{self.assessment}] computed {self.verdict!r}: {self.sentence[:70]}"
        )


def _stated(pattern: re.Pattern[str], text: str) -> str | None:
    """The first match of ``pattern`` in ``text`` that no negation precedes."""
    for m in pattern.finditer(text):
        if not _NEGATED.search(text[max(0, m.start() - 14) : m.start()]):
            return m.group(0)
    return None


def _stages(text: str) -> list[tuple[str, str]]:
    """``(number, letter)`` of every un-negated CKD G stage the text states."""
    out = []
    for m in _STAGE.finditer(text):
        if _NEGATED.search(text[max(0, m.start() - 14) : m.start()]):
            continue
        number, letter = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        out.append((number, (letter or "").lower()))
    return out


def rival_patterns(assessment_id: str, verdict: str) -> list[re.Pattern[str]]:
    """The phrases that state a verdict other than ``verdict`` (empty: nothing is checked)."""
    v = verdict.lower()
    if assessment_id == "statin":
        return [_STATIN[r] for r in _STATIN_RIVALS.get(v, ())]
    if assessment_id == "ckd_referral":
        return [_REFER_NO] if v == "indicated" else [_REFER_YES] if v == "not indicated" else []
    if assessment_id == "bp_category" and v in _BP:
        return [p for k, p in _BP.items() if k != v]
    if assessment_id == "glycemic_status":
        return [_GLYCEMIC[r] for r in _GLYCEMIC_RIVALS.get(v, ())]
    return []


def _rival_grade(assessment_id: str, verdict: str, text: str) -> str | None:
    """A CKD G stage or albuminuria A grade in ``text`` that differs from ``verdict``."""
    if assessment_id == "ckd_stage" and _KIDNEY.search(text):
        want = re.fullmatch(r"G([1-5])([ab])?", verdict.strip(), _I)
        if want:
            for number, letter in _stages(text):
                mine = (want.group(2) or "").lower()
                if number != want.group(1) or (letter and mine and letter != mine):
                    return f"G{number}{letter}"
    if assessment_id == "albuminuria" and _ALBUMIN_CONTEXT.search(text):
        for m in _ALBUMIN.finditer(text):
            if f"A{m.group(1)}" != verdict.strip().upper():
                return m.group(0)
    return None


def about_patient(sentence: str, cites: Iterable[str], kinds: dict[str, str]) -> bool:
    """Whether the sentence makes a claim about this patient (see the module docstring)."""
    if any(kinds.get(c) in ("patient", "assessment") for c in cites):
        return True
    if _PATIENT.search(sentence):
        return True
    return bool(_ADVICE.search(sentence)) and not _POPULATION.search(sentence)


def contradictions(
    sentences: Sequence[str], evidence: Sequence[dict[str, Any]], *, skip: Iterable[str] = ()
) -> list[Contradiction]:
    """Every (sentence, assessment) pair where the sentence states a rival verdict.

    Args:
        sentences: The draft's sentences, markers included.
        evidence: The evidence items; the ``assessment`` ones with sufficient data are checked.
        skip: Sentences exempt from the check (copied verbatim from their cited source).
    """
    kinds = {str(e["id"]): str(e["kind"]) for e in evidence}
    checked = [e for e in evidence if e["kind"] == "assessment" and e.get("sufficient", True)]
    exempt = set(skip)
    found: list[Contradiction] = []
    for sentence in sentences:
        if sentence in exempt:
            continue
        cites = [c.strip() for group in _MARKERS.findall(sentence) for c in re.split(r"[,;]", group)]
        body = _MARKERS.sub(" ", sentence)
        if not about_patient(body, cites, kinds):
            continue
        for a in checked:
            aid, verdict = str(a.get("assessment_id", "")), str(a.get("verdict", ""))
            stated = next((s for p in rival_patterns(aid, verdict) if (s := _stated(p, body))), None)
            stated = stated or _rival_grade(aid, verdict, body)
            if stated:
                found.append(Contradiction(sentence, str(a["id"]), verdict, stated))
    return found
