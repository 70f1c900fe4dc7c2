"""CDS Hooks cards from assessments, care gaps, early-warning flags and medication findings.

Every card names its guideline and version in ``source.label`` and links to the cited passage at
``{base}/v1/evidence/{chunk_id}``. Alongside each card goes a trace for the audit log: the
evidence ids with their versions and the patient record entries the card rests on.
"""

from __future__ import annotations

import copy
import functools
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from agent.care_gaps import Recommendation
from agent.medication_checks import DraftOrder, Finding
from agent.medication_rules import Cite

__all__ = [
    "CARD_ASSESSMENTS",
    "OVERRIDE_REASONS",
    "assessment_cards",
    "care_gap_cards",
    "covered_flags",
    "evidence_url",
    "finding_cards",
    "flag_cards",
]

Card = tuple[dict[str, Any], dict[str, Any]]  # (the card, its audit trace)
_SYSTEM = "https://clinical-reasoning-agent.example/cds/override-reasons"
OVERRIDE_REASONS = [
    {
        "system": _SYSTEM,
        "code": "clinically-appropriate",
        "display": "Clinically appropriate for this patient",
    },
    {
        "system": _SYSTEM,
        "code": "benefit-outweighs-risk",
        "display": "Benefit outweighs the risk; will monitor",
    },
    {"system": _SYSTEM, "code": "data-out-of-date", "display": "The record data shown is out of date"},
]
_MAX_CONDITIONAL_LINKS = 5
# The assessments a patient-view card can come from, and the indicator of each verdict that asks a
# clinician to act (verdicts not listed, such as "not indicated" or "normal", make no card).
CARD_ASSESSMENTS: dict[str, dict[str, str]] = {
    "statin": {"high-intensity": "warning", "moderate-intensity": "warning", "consider": "info"},
    "ckd_referral": {"indicated": "warning"},
    "ckd_stage": {"G3a": "info", "G3b": "info", "G4": "warning", "G5": "critical"},
    "bp_category": {"stage 1": "info", "stage 2": "warning", "severe": "critical"},
    "glycemic_status": {"prediabetes": "info", "diabetes": "warning"},
}
# Early-warning flags an assessment card already covers (by flag id prefix).
FLAGS_COVERED_BY: dict[str, str] = {"egfr": "ckd_stage", "bp": "bp_category", "hba1c": "glycemic_status",
                                    "ldl": "statin"}  # fmt: skip


def evidence_url(base: str, chunk_id: str) -> str:
    """Where a clinician opens the cited guideline passage."""
    return f"{base.rstrip('/')}/v1/evidence/{chunk_id}"


def _clip(text: str, limit: int = 139) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _card(
    summary: str, indicator: str, label: str, detail: str, links: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "summary": _clip(summary),
        "indicator": indicator,
        "detail": detail,
        "source": {"label": _clip(label, 200)},
        "links": links,
    }


def _link(label: str, base: str, chunk_id: str) -> dict[str, Any]:
    return {"label": _clip(label, 120), "url": evidence_url(base, chunk_id), "type": "absolute"}


def _trace(
    card: dict[str, Any], kind: str, evidence: list[dict[str, str]], record: Sequence[str]
) -> dict[str, Any]:
    return {"uuid": card["uuid"], "kind": kind, "indicator": card["indicator"], "evidence": evidence,
            "record": list(record)}  # fmt: skip


class Gap(Protocol):
    """A USPSTF recommendation decided for one patient (``assessments.preventive.PreventiveStatus``)."""

    @property
    def recommendation(self) -> Recommendation: ...
    @property
    def status(self) -> str: ...
    @property
    def reason(self) -> str: ...


def care_gap_cards(gaps: Sequence[Gap], base: str, patient_cite: Sequence[str]) -> list[Card]:
    """One info card per gap that is due; one card listing the gaps that depend on an unrecorded risk."""
    out: list[Card] = []
    for gap in (g for g in gaps if g.status == "due"):
        rec = gap.recommendation
        label = f"USPSTF: {rec.topic} (grade {rec.grade}, version {rec.version})"
        links = (
            [_link(f"USPSTF recommendation: {rec.population}", base, rec.chunk_id)] if rec.chunk_id else []
        )
        card = _card(
            f"{rec.topic} due (USPSTF grade {rec.grade}): {rec.population}",
            "info",
            label,
            f"{rec.text}\n\n*Why this card*: {gap.reason}.",
            links,
        )
        evidence = [{"id": rec.chunk_id, "doc_id": rec.doc_id, "version": rec.version}]
        out.append((card, _trace(card, "care-gap", evidence, patient_cite)))
    conditional = [g for g in gaps if g.status == "conditional"]
    if conditional:
        lines = [
            f"- **{g.recommendation.topic}** (grade {g.recommendation.grade}): {g.reason}"
            for g in conditional
        ]
        links = [
            _link(f"USPSTF: {g.recommendation.topic}", base, g.recommendation.chunk_id)
            for g in conditional[:_MAX_CONDITIONAL_LINKS]
            if g.recommendation.chunk_id
        ]
        card = _card(
            f"{len(conditional)} more USPSTF A/B recommendations apply if a risk factor is present",
            "info",
            "USPSTF recommendations (current versions)",
            "The record does not show these risks; confirm with the patient:\n\n" + "\n".join(lines),
            links,
        )
        evidence = [
            {
                "id": g.recommendation.chunk_id,
                "doc_id": g.recommendation.doc_id,
                "version": g.recommendation.version,
            }
            for g in conditional
        ]
        out.append((card, _trace(card, "care-gap-conditional", evidence, patient_cite)))
    return out


def flag_cards(
    flags: Sequence[Mapping[str, Any]], passages: Mapping[str, Mapping[str, Any] | None], base: str
) -> list[Card]:
    """One card per early-warning flag; ``passages`` maps a threshold source to its guideline chunk."""
    out: list[Card] = []
    for flag in flags:
        source = str(flag.get("threshold_source", ""))
        passage = passages.get(source)
        links, evidence, label = [], [], source
        if passage:
            p = passage["payload"]
            label = f"{p.get('title', '')} (version {p.get('version', '')}): threshold {source}"
            links = [_link(f"{p.get('title', '')}: {p.get('section', '')}", base, passage["id"])]
            evidence = [
                {
                    "id": passage["id"],
                    "doc_id": str(p.get("doc_id", "")),
                    "version": str(p.get("version", "")),
                }
            ]
        card = _card(str(flag.get("summary", "")), str(flag.get("severity", "info")), label,
                     f"{flag.get('detail', '')}\n\n*Threshold source*: {source}", links)  # fmt: skip
        out.append((card, _trace(card, f"flag:{flag.get('id', '')}", evidence, flag.get("cite") or [])))
    return out


@functools.cache
def _trusted_issuers() -> tuple[str, ...]:
    from agent.settings import AgentSettings

    return tuple(AgentSettings().trusted_issuers)  # CRA_TRUSTED_ISSUERS, read once


def _label(cite: Cite) -> str:
    """The source line of a card; an issuer outside the trusted list reads "X (local, unverified)"."""
    from guidelines_index.trust import labelled_issuer

    issuer = labelled_issuer(cite.issuer, _trusted_issuers()) if cite.issuer else cite.doc_id
    return f"{issuer}: {cite.title} (version {cite.version})"


def _suggestions(order: DraftOrder, finding: Finding) -> list[dict[str, Any]]:
    out = []
    if finding.dose_mg is not None and order.resource:
        changed = copy.deepcopy(dict(order.resource))
        dosage = (changed.get("dosageInstruction") or [{}])[0]
        rate = (dosage.get("doseAndRate") or [{}])[0]
        rate["doseQuantity"] = {"value": round(finding.dose_mg, 3), "unit": "mg",
                                "system": "http://unitsofmeasure.org", "code": "mg"}  # fmt: skip
        dosage["doseAndRate"] = [rate]
        changed["dosageInstruction"] = [dosage, *(changed.get("dosageInstruction") or [])[1:]]
        out.append({
            "label": f"Change the dose to {finding.dose_mg:g} mg",
            "uuid": str(uuid.uuid4()),
            "isRecommended": True,
            "actions": [{"type": "update", "description": f"Set the dose to {finding.dose_mg:g} mg", "resource": changed}],
        })  # fmt: skip
    if finding.remove and order.resource_id:
        out.append({
            "label": "Remove this order",
            "uuid": str(uuid.uuid4()),
            "isRecommended": finding.severity == "critical",
            "actions": [{"type": "delete", "description": "Remove the draft order", "resourceId": order.reference}],
        })  # fmt: skip
    return out


def finding_cards(order: DraftOrder, findings: Sequence[Finding], base: str) -> list[Card]:
    """One warning or critical card per finding, with suggestions that change or remove the draft."""
    out: list[Card] = []
    for finding in findings:
        card = _card(finding.summary, finding.severity, _label(finding.cite), finding.detail,
                     [_link(f"{finding.cite.title}: {finding.cite.section}", base, finding.cite.chunk_id)])  # fmt: skip
        suggestions = _suggestions(order, finding)
        if suggestions:
            card["suggestions"] = suggestions
            card["selectionBehavior"] = "at-most-one"
        card["overrideReasons"] = OVERRIDE_REASONS
        evidence = [
            {"id": finding.cite.chunk_id, "doc_id": finding.cite.doc_id, "version": finding.cite.version}
        ]
        out.append((card, _trace(card, f"order:{finding.check}", evidence, finding.record_cite)))
    return out


def _inputs_text(inputs: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for i in inputs:
        value = i.get("value")
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        rows.append(
            f"- {i.get('name')}: {shown} {i.get('unit') or ''}".rstrip() + f" ({i.get('date') or 'undated'})"
        )
    return "\n".join(rows)


def assessment_cards(
    records: Sequence[Mapping[str, Any]], passages: Mapping[str, Mapping[str, Any] | None], base: str
) -> list[Card]:
    """One card per assessment whose verdict calls for action (see ``CARD_ASSESSMENTS``).

    Args:
        records: :func:`agent.assessing.run_assessments` output (the agent's evidence uses the same).
        passages: Assessment id -> the guideline chunk ``{id, payload}`` its source names, if indexed.
        base: This service's public base URL, for the evidence links.
    """
    out: list[Card] = []
    for record in records:
        j = record["json"]
        indicator = CARD_ASSESSMENTS.get(j["id"], {}).get(j["verdict"])
        if indicator is None:
            continue
        source, passage = j["source"], passages.get(j["id"])
        label = f"{source.get('title', '')}: {source.get('section', '')}" + (
            f" (grade {source['grade']})" if source.get("grade") else ""
        )
        links, evidence = [], []
        if passage:
            p = passage["payload"]
            label = f"{label}, version {p.get('version', '')}"
            links = [
                _link(f"{p.get('title', '')}: {' > '.join(p.get('section_path') or [])}", base, passage["id"])
            ]
            evidence = [
                {
                    "id": passage["id"],
                    "doc_id": str(p.get("doc_id", "")),
                    "version": str(p.get("version", "")),
                }
            ]
        detail = f"{j['statement']}\n\n*Computed from*:\n{_inputs_text(j.get('inputs', []))}"
        card = _card(j["statement"], indicator, label, detail, links)
        out.append((card, _trace(card, f"assessment:{j['id']}", evidence, record.get("event_ids", []))))
    return out


def covered_flags(flags: Sequence[Mapping[str, Any]], carded: Sequence[str]) -> list[Mapping[str, Any]]:
    """The flags no assessment card speaks for (an eGFR flag is dropped when a CKD stage card is shown)."""
    shown = set(carded)
    return [f for f in flags if FLAGS_COVERED_BY.get(str(f.get("id", "")).split("-")[0]) not in shown]
