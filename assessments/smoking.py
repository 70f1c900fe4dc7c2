"""Current smoking from the record: the latest tobacco smoking status, or a "smokes tobacco" problem.

The latest LOINC 72166-2 (tobacco smoking status) Observation within 3 years decides; its
value is the answer's display ("Never smoker", "Former smoker", "Current every day smoker",
...). An active problem such as "Smokes tobacco daily" counts as current smoking too. An
answer such as "Unknown if ever smoked" is no answer.
"""

from __future__ import annotations

from assessments.model import Input
from assessments.record import Record
from patient_index.flags import clinical_time

__all__ = ["SMOKING_CODES", "current_smoker", "smoker_from_text"]

SMOKING_CODES = ("72166-2",)
_CURRENT = ("current", "every day", "some day", "heavy tobacco", "light tobacco", "smokes")
_NOT_CURRENT = ("never", "former", "ex-smoker", "non-smoker", "nonsmoker", "quit")


def smoker_from_text(text: str) -> bool | None:
    """True for a current-smoker answer, False for never/former, None when it says neither."""
    t = text.lower()
    if any(w in t for w in _NOT_CURRENT):
        return False
    if any(w in t for w in _CURRENT) or t.strip() in ("smoker", "smoker, current status unknown"):
        return True
    return None


def current_smoker(rec: Record) -> Input | None:
    """Whether the patient smokes now, as an input citing its event; ``None`` when not known."""
    for p in rec.problems:
        display = str(p.get("display") or "")
        if "smokes" in display.lower() or "tobacco smoker" in display.lower():
            return Input("current smoker", True, "", p.get("onset"), tuple(p.get("cite") or ()))
    for e in reversed(rec.observations(SMOKING_CODES)):
        answer = smoker_from_text(str(e.get("value") or ""))
        when = clinical_time(e.get("date"))
        if answer is None or when is None:
            continue
        if not rec.fresh(when[0], "smoking"):
            return None
        return Input("current smoker", answer, "", when[0].isoformat(), (str(e.get("event_id", "")),))
    return None
