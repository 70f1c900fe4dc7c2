"""Check a draft medication order against guideline rules and the patient's record.

Pure functions. The rules come from :func:`assessments.medication_rules.extract_rules` (read from the
guideline passages); the record facts are the latest eGFR and the active medications of a
summary (:func:`patient_index.summary.build_summary`). Four checks, each a :class:`Finding` that
cites the guideline passage and the record entries it rests on:

* dose: the order's mg/day outside the range the guideline tables give for that drug
  (above twice the top: critical);
* renal: latest eGFR below a limit the guideline gives for the drug or its class (critical,
  suggest removing), or inside a "reduce the dose" band (warning);
* duplicate: the same drug or another drug of the same class already active (warning);
* interaction: an active drug the guideline says not to combine with (critical) or to avoid /
  watch with (warning) this one.

Draft orders are parsed by :func:`assessments.doses.draft_from_resource` (re-exported here); the
label maximum and renal dose checks of named drugs, with the computed eGFR, are
:func:`assessments.doses.order_dose_assessments`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from assessments.doses import DraftOrder, draft_from_resource
from assessments.medication_rules import Cite, MedicationRules, name_key

__all__ = ["DraftOrder", "Finding", "check_order", "draft_from_resource"]

Check = Literal["dose", "renal", "duplicate", "interaction"]
_ALIASES = {"acei": "ace inhibitor", "ra": "receptor agonist"}


@dataclass(frozen=True)
class Finding:
    """One problem with the order: what, how severe, why, and what to suggest."""

    check: Check
    severity: Literal["warning", "critical"]
    summary: str
    detail: str
    cite: Cite
    record_cite: tuple[str, ...] = ()
    remove: bool = False  # suggest removing the draft
    dose_mg: float | None = None  # suggest this dose per administration


def _fmt(value: float) -> str:
    return f"{value:,.1f}".removesuffix(".0")


def _term(term: str) -> str:
    return " ".join(_ALIASES.get(w, w) for w in term.split())


def _names(rules: MedicationRules, drug: str) -> set[str]:
    cls = rules.classes.get(drug, "")
    return {drug, cls} - {""}


def _is(term: str, names: set[str], display: str = "") -> bool:
    t = _term(term)
    if any(t == n or n.startswith(t + " ") or t.startswith(n + " ") for n in names):
        return True
    return bool(display) and f" {t} " in f" {name_key(display)} "


def _dose_check(order: DraftOrder, drug: str, rules: MedicationRules) -> list[Finding]:
    rng, daily = rules.doses.get(drug), order.daily_mg
    if rng is None or daily is None:
        return []
    per_day = order.per_day or 1.0
    table = "; ".join(dict.fromkeys(rng.labels))
    assumed = "" if order.per_day is not None else " (no timing given: once daily assumed)"
    if daily > rng.high * 1.0001:
        top = rng.high / per_day
        if rng.per_dose_high is not None:
            top = min(top, rng.per_dose_high)
        return [
            Finding(
                "dose",
                "critical" if daily > 2 * rng.high else "warning",
                f"{drug.title()} {_fmt(daily)} mg/day is above the guideline maximum of {_fmt(rng.high)} mg/day",
                f"Ordered {_fmt(daily)} mg/day{assumed}. Guideline dosing: {table}.",
                rng.cites[0],
                dose_mg=top,
            )
        ]
    if daily < rng.low * 0.9999:
        return [
            Finding(
                "dose",
                "warning",
                f"{drug.title()} {_fmt(daily)} mg/day is below the guideline range ({_fmt(rng.low)}-{_fmt(rng.high)} mg/day)",
                f"Ordered {_fmt(daily)} mg/day{assumed}. Guideline dosing: {table}.",
                rng.cites[0],
                dose_mg=rng.low / per_day,
            )
        ]
    return []


def _renal_check(drug: str, rules: MedicationRules, egfr: Mapping[str, Any] | None) -> list[Finding]:
    if not egfr or not isinstance(egfr.get("value"), int | float):
        return []
    value, names = float(egfr["value"]), _names(rules, drug)
    out = []
    for limit in sorted(rules.renal, key=lambda r: r.severity != "critical"):
        if (
            not _is(limit.drug, names)
            or value >= limit.below
            or (limit.low is not None and value < limit.low)
        ):
            continue
        band = f"below {_fmt(limit.below)}" if limit.low is None else f"{_fmt(limit.low)}-{_fmt(limit.below)}"
        out.append(
            Finding(
                "renal",
                "critical" if limit.severity == "critical" else "warning",
                f"eGFR {_fmt(value)} on {egfr.get('date', '?')}: guideline limit for {drug} is eGFR {band}",
                f'Latest eGFR {_fmt(value)} mL/min/1.73 m2 ({egfr.get("date", "undated")}). Guideline: "{limit.sentence}"',
                limit.cite,
                tuple(egfr.get("cite") or ()),
                remove=limit.severity == "critical",
            )
        )
        break  # the most severe limit that applies says it all
    return out


def _duplicate_check(drug: str, rules: MedicationRules, active: Sequence[Mapping[str, Any]]) -> list[Finding]:
    cls = rules.classes.get(drug)
    out = []
    for med in active:
        other = rules.find_drug(str(med.get("display", "")))
        if other is None or (other != drug and rules.classes.get(other) != cls):
            continue
        label = rules.class_names.get(cls or "", cls or "")
        what = "the same drug" if other == drug else f"another {label} ({other})"
        dose = rules.doses.get(drug)
        out.append(
            Finding(
                "duplicate",
                "warning",
                f"Duplicate therapy: {what} is already active",
                f"Active since {med.get('since') or 'an unknown date'}: {med.get('display', '')}. "
                f"The guideline lists {drug} as {label}.",
                dose.cites[0] if dose else rules.doses[other].cites[0],
                tuple(med.get("cite") or ()),
                remove=True,
            )
        )
    return out


def _interaction_check(
    order: DraftOrder, drug: str, rules: MedicationRules, active: Sequence[Mapping[str, Any]]
) -> list[Finding]:
    names, out, seen = _names(rules, drug), [], set[str]()
    for med in active:
        display = str(med.get("display", ""))
        other = rules.find_drug(display)
        other_names = _names(rules, other) if other else set()
        for rule in sorted(rules.interactions, key=lambda r: r.severity != "critical"):
            pairs = ((rule.first, rule.second), (rule.second, rule.first))
            hit = next(
                (
                    (mine, theirs)
                    for mine, theirs in pairs
                    if _is(mine, names) and _is(theirs, other_names, display) and other != drug
                ),
                None,
            )
            if hit is None or display in seen:
                continue
            if rule.max_mg is not None and (order.daily_mg is None or order.daily_mg <= rule.max_mg):
                continue
            seen.add(display)
            says = "do not combine" if rule.severity == "critical" else "avoid or watch this combination"
            out.append(
                Finding(
                    "interaction",
                    "critical" if rule.severity == "critical" else "warning",
                    f"Interaction: {drug} with active {other or hit[1]}; guideline: {says}",
                    f'Active: {display}. Guideline: "{rule.sentence}"',
                    rule.cite,
                    tuple(med.get("cite") or ()),
                    remove=True,
                )
            )
    return out


def check_order(
    order: DraftOrder,
    rules: MedicationRules,
    *,
    egfr: Mapping[str, Any] | None = None,
    active: Sequence[Mapping[str, Any]] = (),
) -> list[Finding]:
    """All findings for one draft order, most severe first.

    Args:
        order: The draft (see :func:`draft_from_resource`).
        rules: Rules read from the guidelines.
        egfr: The latest eGFR ``{value, date, cite}`` (a summary's ``latest`` entry), if any.
        active: Active medications ``{display, since, cite}`` (a summary's ``medications``).

    Returns:
        Findings; empty when the drug is unknown to the guidelines or nothing is wrong.
    """
    drug = rules.find_drug(order.display)
    if drug is None:
        return []
    findings = [
        *_renal_check(drug, rules, egfr),
        *_interaction_check(order, drug, rules, active),
        *_dose_check(order, drug, rules),
        *_duplicate_check(drug, rules, active),
    ]
    return sorted(findings, key=lambda f: f.severity != "critical")
