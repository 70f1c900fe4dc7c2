"""Dose checks for named drugs: the label maximum, and the renal adjustment at the computed eGFR.

A drug and dose come from a question ("atorvastatin 800 mg", "metformin 1 g twice daily"), from
a draft order (a FHIR MedicationRequest), or, when a question names a drug without a dose, from
the patient's active order of that drug. Each gives one :class:`~assessments.model.Assessment`
with id ``dose_check`` and one verdict:

* ``contraindicated``: the eGFR is in a band where the label contraindicates the drug;
* ``above maximum``: the daily dose exceeds the label's adult maximum (the statement says by how
  much: "Atorvastatin 800 mg/day is above the 80 mg/day label maximum (10x).");
* ``renal adjustment needed``: the daily dose exceeds the label's limit for the eGFR band, or the
  label advises against starting the drug in that band;
* ``within range``;
* ``insufficient data``: no dose, or a renally adjusted drug without a current eGFR.

The eGFR is the CKD-EPI 2021 value :func:`assessments.assess` computes from the latest
creatinine (``egfr_ckd_epi_2021``), unless the caller passes one. The label data are in
:mod:`assessments.drug_labels`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from assessments.drug_labels import LABELS, LabelDose, find_label
from assessments.engine import assess
from assessments.model import INSUFFICIENT, Assessment, Input
from patient_index.model import Event

__all__ = [
    "DOSE_CHECK",
    "DoseMention",
    "DraftOrder",
    "check_dose",
    "dose_assessments",
    "draft_from_resource",
    "mentions_in_text",
    "order_dose_assessments",
]

DOSE_CHECK = "dose_check"
_EGFR_UNIT = "mL/min/1.73m2"
_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|g)\b", re.I)
_PER_DAY = {"d": 1.0, "h": 24.0, "wk": 1 / 7, "mo": 1 / 30, "min": 1440.0}


# -- draft orders (FHIR MedicationRequest) ----------------------------------------------------------


@dataclass(frozen=True)
class DraftOrder:
    """The parts of a draft MedicationRequest the checks read."""

    resource_type: str
    resource_id: str
    display: str
    dose_mg: float | None  # per administration
    per_day: float | None  # administrations per day (None when the order gives no timing)
    resource: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @property
    def daily_mg(self) -> float | None:
        if self.dose_mg is None:
            return None
        return self.dose_mg * (self.per_day if self.per_day is not None else 1.0)

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"


def _display(resource: Mapping[str, Any]) -> str:
    concept = resource.get("medicationCodeableConcept") or {}
    texts = [str(concept.get("text") or "")] + [
        str(c.get("display") or "") for c in concept.get("coding") or []
    ]
    ref = resource.get("medicationReference") or {}
    return next((t for t in [*texts, str(ref.get("display") or "")] if t), "")


def _dose_mg(resource: Mapping[str, Any], display: str) -> tuple[float | None, float | None]:
    dosage = (resource.get("dosageInstruction") or [{}])[0] or {}
    per_day = None
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    if repeat.get("frequency") and repeat.get("periodUnit") in _PER_DAY:
        per_day = (
            float(repeat["frequency"]) / float(repeat.get("period") or 1) * _PER_DAY[repeat["periodUnit"]]
        )
    qty = ((dosage.get("doseAndRate") or [{}])[0] or {}).get("doseQuantity") or {}
    value, unit = qty.get("value"), str(qty.get("unit") or qty.get("code") or "").lower()
    if isinstance(value, int | float) and unit in ("mg", "g"):
        return float(value) * (1000 if unit == "g" else 1), per_day
    strength = _STRENGTH.search(display)  # "metformin 500 MG Oral Tablet" x tablets
    if strength and (value is None or isinstance(value, int | float)):
        mg = float(strength.group(1)) * (1000 if strength.group(2).lower() == "g" else 1)
        return mg * float(value if isinstance(value, int | float) else 1), per_day
    return None, per_day


def draft_from_resource(resource: Mapping[str, Any]) -> DraftOrder:
    """A :class:`DraftOrder` from a MedicationRequest (dose from doseQuantity, else the product strength)."""
    display = _display(resource)
    dose, per_day = _dose_mg(resource, display)
    return DraftOrder(
        str(resource.get("resourceType", "MedicationRequest")),
        str(resource.get("id", "")),
        display,
        dose,
        per_day,
        resource,
    )


# -- doses named in text ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DoseMention:
    """A drug and (when given) its dose: mg per administration and administrations per day."""

    label: LabelDose
    mg: float | None
    per_day: float | None
    origin: str  # "question", "order" or "record"
    date: str | None = None
    event_ids: tuple[str, ...] = ()

    @property
    def daily_mg(self) -> float | None:
        return None if self.mg is None else self.mg * (self.per_day or 1.0)


_NAMES = sorted({n for label in LABELS for n in label.names}, key=len, reverse=True)
_NAME_RE = re.compile(r"\b(" + "|".join(map(re.escape, _NAMES)) + r")\b", re.I)
_AMOUNT = re.compile(r"(\d+(?:[.,]\d+)?)\s*(mg|milligrams?|g|grams?|mcg|micrograms?|µg)\b", re.I)
_FREQUENCY: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(r"\b(four times (a|per|each) day|qid|q\.i\.d\.|q6h|every 6 hours)\b", re.I), 4.0),
    (re.compile(r"\b(three times (a|per|each) day|tid|t\.i\.d\.|q8h|every 8 hours)\b", re.I), 3.0),
    (re.compile(r"\b(twice (a |per |each )?day|twice daily|bid|b\.i\.d\.|q12h|every 12 hours)\b", re.I), 2.0),
    (re.compile(r"(\bonce (a|per|each) day|\bonce daily|\bdaily|\bqd|/\s*day|\ba day|\bper day|\bnightly|"
                r"\bat bedtime|\bqhs)\b", re.I), 1.0),
)  # fmt: skip


def _mg(number: str, unit: str) -> float:
    value = float(number.replace(",", ""))
    u = unit.lower()
    if u.startswith("g"):
        return value * 1000
    if u.startswith(("mc", "mi", "µ")) and not u.startswith("mil"):
        return value / 1000
    return value


def _per_day(text: str) -> float | None:
    return next((n for pattern, n in _FREQUENCY if pattern.search(text)), None)


def mentions_in_text(text: str) -> list[DoseMention]:
    """The drugs the text names, each with the dose written next to it (after it, or just before it)."""
    hits = list(_NAME_RE.finditer(text))
    out: list[DoseMention] = []
    for i, m in enumerate(hits):
        label = find_label(m.group(1))
        if label is None or any(x.label is label for x in out):
            continue
        stop = hits[i + 1].start() if i + 1 < len(hits) else len(text)
        after = re.split(r"[.;?!\n]", text[m.end() : stop], maxsplit=1)[0][:80]
        amount = _AMOUNT.search(after)
        window = after
        if amount is None:  # "800 mg of atorvastatin"
            before = text[max(0, m.start() - 25) : m.start()]
            amount = next(iter(reversed(list(_AMOUNT.finditer(before)))), None)
            window = before + " " + after
        mg = _mg(amount.group(1), amount.group(2)) if amount else None
        out.append(DoseMention(label, mg, _per_day(window) if amount else None, "question"))
    return out


# -- the check --------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:,.1f}".removesuffix(".0")


def _times(ratio: float) -> str:
    return f"{round(ratio)}x" if abs(ratio - round(ratio)) < 0.05 else f"{ratio:.1f}x"


def _egfr(
    egfr: float | Assessment | None, events: Sequence[Event], as_of: date | None
) -> Assessment | float | None:
    if egfr is not None:
        return egfr
    if not events:
        return None
    (computed,) = assess(events, as_of=as_of, only=["egfr_ckd_epi_2021"])
    return computed


def check_dose(mention: DoseMention, egfr: float | Assessment | None = None) -> Assessment:
    """The verdict for one drug and dose (see the module text)."""
    label, daily = mention.label, mention.daily_mg
    name = label.drug.capitalize()
    dose_input = Input(
        f"{label.drug} dose ({mention.origin})", daily, "mg/day", mention.date, mention.event_ids
    )
    inputs, details = [dose_input], {"drug": label.drug, "max_mg_day": label.max_mg_day}
    if daily is None:
        return Assessment(DOSE_CHECK, f"Dose check: {label.drug}", INSUFFICIENT,
                          f"{name}: no dose given; label maximum {_fmt(label.max_mg_day)} mg/day.", label.source,
                          tuple(inputs), ("the dose in mg and how often it is taken",), details=details)  # fmt: skip
    assumed = ""
    value: float | None = None
    egfr_text = ""
    if isinstance(egfr, Assessment):
        if egfr.sufficient and egfr.value is not None:
            value = float(egfr.value)
            creat = next((i for i in egfr.inputs if i.name == "creatinine"), None)
            inputs.append(Input("eGFR (CKD-EPI 2021)", round(value, 1), _EGFR_UNIT, creat.date if creat else None,
                                tuple(egfr.event_ids)))  # fmt: skip
            egfr_text = f"eGFR {_fmt(round(value))} {_EGFR_UNIT}" + (f" ({creat.date})" if creat else "")
    elif isinstance(egfr, int | float):
        value = float(egfr)
        inputs.append(Input("eGFR", value, _EGFR_UNIT))
        egfr_text = f"eGFR {_fmt(round(value))} {_EGFR_UNIT}"
    band = label.band(value) if value is not None else None
    ratio = daily / label.max_mg_day
    details |= {"daily_mg": daily, "ratio": round(ratio, 2)}
    over = daily > label.max_mg_day * 1.0001
    over_text = f"{name} {_fmt(daily)} mg/day{assumed} is above the {_fmt(label.max_mg_day)} mg/day label maximum ({_times(ratio)})."
    verdict, parts = "within range", []
    if band is not None and band.contraindicated:
        verdict = "contraindicated"
        parts.append(f"{name} is contraindicated at {egfr_text}: label: {band.text}.")
        parts += [over_text] if over else []
    elif over:
        verdict = "above maximum"
        parts.append(over_text)
        if band is not None:
            parts.append(f"At {egfr_text} the label also says: {band.text}.")
    elif band is not None and (
        band.do_not_start or (band.max_mg is not None and daily > band.max_mg * 1.0001)
    ):
        verdict = "renal adjustment needed"
        parts.append(
            f"{name} {_fmt(daily)} mg/day{assumed} needs renal adjustment at {egfr_text}: label: {band.text}."
        )
    elif value is None and label.renal:
        verdict = INSUFFICIENT
        parts.append(f"{name} {_fmt(daily)} mg/day{assumed} is within the {_fmt(label.max_mg_day)} mg/day label "
                     "maximum; its label adjusts the dose to kidney function and no current eGFR is on record.")  # fmt: skip
    else:
        renal = f" at {egfr_text}" if egfr_text and label.renal else ""
        parts.append(f"{name} {_fmt(daily)} mg/day{assumed} is within the label range (maximum "
                     f"{_fmt(label.max_mg_day)} mg/day){renal}.")  # fmt: skip
    if label.note and daily > label.max_mg_day / 2 and verdict == "within range":
        parts.append(f"Label: {label.note}.")
    if mention.per_day is None:
        parts.append("No timing given: once daily assumed.")
    missing = ("serum creatinine (eGFR) within the last 12 months",) if verdict == INSUFFICIENT else ()
    if band is not None:
        details["renal_band"] = band.text
    return Assessment(DOSE_CHECK, f"Dose check: {label.drug}", verdict, " ".join(parts), label.source,
                      tuple(inputs), missing, daily, "mg/day", details)  # fmt: skip


def _from_record(label: LabelDose, events: Sequence[Event], as_of: date | None) -> DoseMention | None:
    """The patient's latest active order of the drug, with the strength its product name gives."""
    orders = [
        e for e in events
        if e.get("resource_type") in ("MedicationRequest", "MedicationStatement")
        and str(e.get("status") or "").lower() in ("active", "")
        and _NAME_RE.search(str(e.get("display") or ""))
        and find_label(_NAME_RE.search(str(e.get("display") or "")).group(1)) is label  # type: ignore[union-attr]
        and (as_of is None or str(e.get("date") or "")[:10] <= as_of.isoformat())
    ]  # fmt: skip
    if not orders:
        return None
    e = max(orders, key=lambda o: str(o.get("date") or ""))
    strength = _STRENGTH.search(str(e.get("display") or ""))
    mg = _mg(strength.group(1), strength.group(2)) if strength else None
    return DoseMention(label, mg, _per_day(str(e.get("text") or "")), "record", str(e.get("date") or "")[:10] or None,
                       (str(e.get("event_id", "")),))  # fmt: skip


def dose_assessments(
    text: str, events: Sequence[Event], *, egfr: float | Assessment | None = None, as_of: date | None = None
) -> list[Assessment]:
    """Dose checks for the drugs a question names (``dose_check`` assessments, in order of mention).

    Args:
        text: The question, e.g. "Confirm atorvastatin 800 mg as high-intensity".
        events: The patient's timeline events (for the eGFR, and the active order of a drug named
            without a dose); may be empty.
        egfr: The eGFR to use (a number, or the ``egfr_ckd_epi_2021`` assessment); computed from
            ``events`` when not given.
        as_of: The day assessed (defaults to the latest event's).

    Returns:
        One assessment per drug of :mod:`assessments.drug_labels` the text names; empty when none.
    """
    mentions = mentions_in_text(text)
    mentions = [(_from_record(m.label, events, as_of) or m) if m.mg is None else m for m in mentions]
    renal = any(m.label.renal for m in mentions)
    kidney = _egfr(egfr, events, as_of) if renal else egfr
    return [check_dose(m, kidney) for m in mentions]


def order_dose_assessments(
    resource: Mapping[str, Any],
    events: Sequence[Event] = (),
    *,
    egfr: float | Assessment | None = None,
    as_of: date | None = None,
) -> list[Assessment]:
    """The dose check of one draft MedicationRequest (empty when the drug is not in the label table)."""
    order = draft_from_resource(resource)
    found = _NAME_RE.search(order.display)
    label = find_label(found.group(1)) if found else None
    if label is None:
        return []
    mention = DoseMention(label, order.dose_mg, order.per_day, "order", None, ())
    return [check_dose(mention, _egfr(egfr, events, as_of) if label.renal else egfr)]
