"""FHIR R4 resources -> timeline events (see :mod:`patient_index.model` for the payload).

Each supported resource becomes one event; an Observation with components becomes one event
per component; a clinical note (DocumentReference) becomes one event per chunk of its text.
Numeric values are normalised to their series' canonical unit (:mod:`patient_index.units`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from patient_index.model import Event, ReferenceRange
from patient_index.units import normalize_quantity
from retrieval.text import pack_by_words

__all__ = [
    "BILLING_TYPES",
    "TIMELINE_TYPES",
    "event_id",
    "events_from_bundle",
    "parse_date",
    "patient_ref",
    "resource_events",
]

TIMELINE_TYPES = frozenset(
    {
        "Patient", "Encounter", "Condition", "Observation", "MedicationRequest", "MedicationStatement",
        "Procedure", "Immunization", "AllergyIntolerance", "DiagnosticReport", "DocumentReference",
        "CarePlan", "ImagingStudy",
    }
)  # fmt: skip
BILLING_TYPES = frozenset({"Claim", "ExplanationOfBenefit", "Coverage", "ClaimResponse"})
_NS = uuid.UUID("0b6f3c1e-2d4a-4e8b-9c55-7a1f0e2d3c4b")
_TAG = re.compile(r"<[^>]+>")
_NOTE_WORDS = 160


_NS_BYTES = _NS.bytes


def event_id(patient_id: str, resource_type: str, resource_id: str, part: str = "") -> str:
    """Stable point id of an event: the same resource (and part) always lands on the same point.

    This is ``str(uuid.uuid5(_NS, "patient|type|id|part"))`` (RFC 4122 name-based, SHA-1), written
    out by hand: every event of every record gets one, and building ``uuid.UUID`` objects was a
    third of the time spent turning a CDS prefetch into a summary.
    """
    name = f"{patient_id}|{resource_type}|{resource_id}|{part}".encode()
    digest = bytearray(hashlib.sha1(_NS_BYTES + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def parse_date(value: Any) -> tuple[str, float | None]:
    """An ISO 8601 FHIR date/dateTime as given, and its instant in epoch seconds (UTC; dates at midnight)."""
    if not isinstance(value, str) or not value.strip():
        return "", None
    text = value.strip()
    try:
        if len(text) == 4:
            moment = datetime(int(text), 1, 1, tzinfo=UTC)
        elif len(text) == 7:
            moment = datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=UTC)
        elif len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        return text, None
    return text, moment.timestamp()


def patient_ref(reference: Any, aliases: dict[str, str] | None = None) -> str | None:
    """The Patient id a reference points to: ``Patient/x``, a URL ending so, or a bundle ``urn:uuid``."""
    if not isinstance(reference, dict):
        return None
    ref = reference.get("reference")
    if not isinstance(ref, str) or not ref:
        return None
    if aliases and ref in aliases:
        return aliases[ref]
    if ref.startswith("urn:uuid:"):
        return None if aliases is not None else ref.removeprefix("urn:uuid:")
    parts = ref.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "Patient":
        return parts[-1]
    if len(parts) >= 4 and parts[-4] == "Patient" and parts[-2] == "_history":
        return parts[-3]
    return None


def _coding(concept: Any) -> tuple[str, str, str]:
    """(system, code, display) of the first coding of a CodeableConcept, falling back to its text."""
    if not isinstance(concept, dict):
        return "", "", ""
    for c in concept.get("coding") or []:
        if isinstance(c, dict) and (c.get("code") or c.get("display")):
            return (
                str(c.get("system", "")),
                str(c.get("code", "")),
                str(c.get("display") or concept.get("text") or ""),
            )
    return "", "", str(concept.get("text", ""))


def _first_coding(concepts: Any) -> tuple[str, str, str]:
    if isinstance(concepts, list) and concepts:
        return _coding(concepts[0])
    return _coding(concepts)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _reference_range(ranges: Any) -> ReferenceRange | None:
    if not isinstance(ranges, list) or not ranges or not isinstance(ranges[0], dict):
        return None
    r = ranges[0]
    low, high = r.get("low") or {}, r.get("high") or {}
    return {
        "low": _num(low.get("value")),
        "high": _num(high.get("value")),
        "unit": str(low.get("unit") or high.get("unit") or ""),
        "text": str(r.get("text", "")),
    }


def _status(resource: dict[str, Any]) -> str:
    clinical = resource.get("clinicalStatus")
    if isinstance(clinical, dict):
        return _coding(clinical)[1] or _coding(clinical)[2]
    return str(resource.get("status", ""))


def _version(resource: dict[str, Any]) -> str:
    meta = resource.get("meta") or {}
    return str(meta.get("versionId") or meta.get("lastUpdated") or "")


def _value(obj: dict[str, Any], code: str) -> tuple[float | str | None, str, dict[str, Any]]:
    """Value, unit and normalisation details of an Observation or component."""
    q = obj.get("valueQuantity")
    if isinstance(q, dict) and _num(q.get("value")) is not None:
        n = normalize_quantity(code, float(q["value"]), str(q.get("unit") or q.get("code") or ""))
        extra: dict[str, Any] = {}
        if n.original_value is not None:
            extra.update(original_value=n.original_value, original_unit=n.original_unit)
        if n.flag:
            extra["unit_flag"] = n.flag
        return n.value, n.unit, extra
    if isinstance(obj.get("valueCodeableConcept"), dict):
        return _coding(obj["valueCodeableConcept"])[2] or None, "", {}
    for key in ("valueString", "valueBoolean", "valueInteger", "valueDateTime"):
        if key in obj:
            v = obj[key]
            return (float(v) if key == "valueInteger" else str(v)), "", {}
    return None, "", {}


def _fmt(value: float | str | None, unit: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        shown = f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}".rstrip("0").rstrip(".")
        return f"{shown} {unit}".strip()
    return f"{value} {unit}".strip()


def _base(resource: dict[str, Any], patient_id: str, part: str = "") -> Event:
    rtype, rid = resource["resourceType"], str(resource.get("id", ""))
    return dict(
        event_id=event_id(patient_id, rtype, rid, part),
        patient_id=patient_id,
        resource_type=rtype,
        resource_id=rid,
        part=part,
        version=_version(resource),
        code_system="",
        code="",
        display="",
        category="",
        value=None,
        unit="",
        reference_range=None,
        interpretation="",
        date="",
        date_ts=None,
        end_date=None,
        status=_status(resource),
        text="",
    )


def _dated(event: Event, *candidates: Any) -> None:
    for c in candidates:
        if isinstance(c, dict):
            c = c.get("start") or c.get("end")
        text, ts = parse_date(c)
        if text:
            event["date"], event["date_ts"] = text, ts
            return


def _observation(r: dict[str, Any], pid: str) -> list[Event]:
    system, code, display = _coding(r.get("code"))
    category = _first_coding(r.get("category"))[1]
    interp = _first_coding(r.get("interpretation"))
    out = []
    components = [c for c in r.get("component") or [] if isinstance(c, dict)]
    pieces = [(f"component:{_coding(c.get('code'))[1]}", c) for c in components] if components else [("", r)]
    for part, obj in pieces:
        e = _base(r, pid, part)
        csys, ccode, cdisp = _coding(obj.get("code")) if part else (system, code, display)
        value, unit, extra = _value(obj, ccode)
        e.update(
            code_system=csys, code=ccode, display=cdisp, category=category, value=value, unit=unit, **extra
        )
        e["reference_range"] = _reference_range(obj.get("referenceRange") or r.get("referenceRange"))
        ci = _first_coding(obj.get("interpretation")) if part else interp
        e["interpretation"] = ci[1] or ci[2]
        _dated(
            e,
            r.get("effectiveDateTime"),
            r.get("effectivePeriod"),
            r.get("effectiveInstant"),
            r.get("issued"),
        )
        label = f"{display}: {cdisp}" if part and display else cdisp
        rng = e["reference_range"]
        ref = (
            f" [ref {rng.get('low')}-{rng.get('high')}]"
            if rng and (rng.get("low") or rng.get("high"))
            else ""
        )
        flag = f" ({e['interpretation']})" if e["interpretation"] else ""
        e["text"] = (
            f"{e['date'][:10]} Observation ({category or 'other'}): {label} {_fmt(value, unit)}{ref}{flag}".strip()
        )
        out.append(e)
    return out


def _note_text(r: dict[str, Any]) -> str:
    texts = []
    for content in r.get("content") or []:
        att = (content or {}).get("attachment") or {}
        data, ctype = att.get("data"), str(att.get("contentType", "text/plain"))
        if not data:
            continue
        try:
            raw = base64.b64decode(data, validate=False).decode("utf-8", errors="replace")
        except ValueError:
            continue
        if "html" in ctype:
            raw = html.unescape(_TAG.sub(" ", raw))
        if ctype.startswith("text/") or "html" in ctype or "xml" in ctype:
            texts.append(raw)
    return "\n".join(texts)


def _chunks(text: str, words: int = _NOTE_WORDS) -> list[str]:
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    # Long paragraphs are offered sentence by sentence, short ones whole.
    pieces = (
        sentence
        for para in paragraphs
        for sentence in (re.split(r"(?<=[.!?])\s+", para) if len(para.split()) > words else [para])
    )
    return pack_by_words(pieces, words)


def _encounter(e: Event, r: dict[str, Any]) -> None:
    """Fill ``e`` from a Encounter."""
    cls = r.get("class") or {}
    system, code, display = _first_coding(r.get("type"))
    e.update(code_system=system, code=code, display=display, category=str(cls.get("code", "")))
    _dated(e, r.get("period"))
    e["end_date"] = parse_date((r.get("period") or {}).get("end"))[0] or None
    reason = _first_coding(r.get("reasonCode"))[2]
    e["text"] = f"{e['date'][:10]} Encounter ({e['category']}): {display}" + (
        f"; reason: {reason}" if reason else ""
    )


def _condition(e: Event, r: dict[str, Any]) -> None:
    """Fill ``e`` from a Condition."""
    e.update(zip(("code_system", "code", "display"), _coding(r.get("code")), strict=True))
    e["category"] = _first_coding(r.get("category"))[1]
    _dated(e, r.get("onsetDateTime"), r.get("onsetPeriod"), r.get("recordedDate"))
    e["end_date"] = parse_date(r.get("abatementDateTime"))[0] or None
    since = f"since {e['date'][:10]}" if e["date"] else "onset unknown"
    ended = f", resolved {e['end_date'][:10]}" if e["end_date"] else ""
    e["text"] = (
        f"{e['date'][:10]} Condition: {e['display']} ({e['status'] or 'status unknown'}, {since}{ended})"
    )


def _medication(e: Event, r: dict[str, Any]) -> None:
    """Fill ``e`` from a MedicationRequest or MedicationStatement."""
    med = r.get("medicationCodeableConcept")
    e.update(zip(("code_system", "code", "display"), _coding(med), strict=True))
    if not e["display"] and isinstance(r.get("medicationReference"), dict):
        e["display"] = str(r["medicationReference"].get("display", ""))
    _dated(
        e,
        r.get("authoredOn"),
        r.get("effectiveDateTime"),
        r.get("effectivePeriod"),
        r.get("dateAsserted"),
    )
    period = r.get("effectivePeriod") or ((r.get("dispenseRequest") or {}).get("validityPeriod")) or {}
    e["end_date"] = parse_date(period.get("end"))[0] or None
    dosage = [
        d.get("text") for d in r.get("dosageInstruction") or r.get("dosage") or [] if isinstance(d, dict)
    ]
    dose = f"; {dosage[0]}" if dosage and dosage[0] else ""
    e["text"] = f"{e['date'][:10]} Medication: {e['display']} ({e['status']}){dose}"


def _procedure(e: Event, r: dict[str, Any]) -> None:
    """Fill ``e`` from a Procedure."""
    e.update(zip(("code_system", "code", "display"), _coding(r.get("code")), strict=True))
    _dated(e, r.get("performedDateTime"), r.get("performedPeriod"))
    e["end_date"] = parse_date((r.get("performedPeriod") or {}).get("end"))[0] or None
    e["text"] = f"{e['date'][:10]} Procedure: {e['display']} ({e['status']})"


def _immunization(e: Event, r: dict[str, Any]) -> None:
    """Fill ``e`` from a Immunization."""
    e.update(zip(("code_system", "code", "display"), _coding(r.get("vaccineCode")), strict=True))
    _dated(e, r.get("occurrenceDateTime"), r.get("occurrenceString"), r.get("recorded"))
    e["text"] = f"{e['date'][:10]} Immunization: {e['display']} ({e['status']})"


def _allergy_intolerance(e: Event, r: dict[str, Any]) -> None:
    """Fill ``e`` from a AllergyIntolerance."""
    e.update(zip(("code_system", "code", "display"), _coding(r.get("code")), strict=True))
    e["category"] = ",".join(str(c) for c in r.get("category") or [])
    _dated(e, r.get("onsetDateTime"), r.get("recordedDate"), r.get("assertedDate"))
    reactions = [
        _first_coding(m)[2]
        for rx in r.get("reaction") or []
        if isinstance(rx, dict)
        for m in rx.get("manifestation") or []
    ]
    crit = r.get("criticality")
    e["text"] = (
        f"{e['date'][:10]} Allergy: {e['display']} ({e['status'] or 'status unknown'}"
        + (f", criticality {crit}" if crit else "")
        + (f"; reactions: {', '.join(x for x in reactions if x)}" if any(reactions) else "")
        + ")"
    )


def _diagnostic_report(e: Event, r: dict[str, Any]) -> None:
    """Fill ``e`` from a DiagnosticReport."""
    e.update(zip(("code_system", "code", "display"), _coding(r.get("code")), strict=True))
    e["category"] = _first_coding(r.get("category"))[1]
    _dated(e, r.get("effectiveDateTime"), r.get("effectivePeriod"), r.get("issued"))
    conclusion = str(r.get("conclusion") or "")
    coded = [_coding(c)[2] for c in r.get("conclusionCode") or []]
    e["value"] = conclusion or ("; ".join(x for x in coded if x) or None)
    e["text"] = f"{e['date'][:10]} Report: {e['display']}" + (
        f"; conclusion: {e['value']}" if e["value"] else ""
    )


def _care_plan(e: Event, r: dict[str, Any]) -> None:
    """Fill ``e`` from a CarePlan."""
    e.update(zip(("code_system", "code", "display"), _first_coding(r.get("category")), strict=True))
    _dated(e, r.get("period"), r.get("created"))
    e["end_date"] = parse_date((r.get("period") or {}).get("end"))[0] or None
    acts = [
        _coding((a.get("detail") or {}).get("code"))[2]
        for a in r.get("activity") or []
        if isinstance(a, dict)
    ]
    e["text"] = f"{e['date'][:10]} Care plan: {e['display']} ({e['status']})" + (
        f"; activities: {', '.join(a for a in acts if a)}" if any(acts) else ""
    )


def _imaging_study(e: Event, r: dict[str, Any]) -> None:
    """Fill ``e`` from a ImagingStudy."""
    modalities = [m.get("code", "") for m in r.get("modality") or [] if isinstance(m, dict)]
    series = [s for s in r.get("series") or [] if isinstance(s, dict)]
    if not modalities:
        modalities = [str((s.get("modality") or {}).get("code", "")) for s in series]
    sites = [str((s.get("bodySite") or {}).get("display", "")) for s in series]
    e.update(display=f"Imaging {'/'.join(m for m in modalities if m)}".strip(), category="imaging")
    e["code"] = ",".join(m for m in modalities if m)
    _dated(e, r.get("started"))
    e["text"] = f"{e['date'][:10]} Imaging study: {e['display']}" + (
        f" of {', '.join(s for s in sites if s)}" if any(sites) else ""
    )


_FILLERS: dict[str, Callable[[Event, dict[str, Any]], None]] = {
    "Encounter": _encounter,
    "Condition": _condition,
    "MedicationRequest": _medication,
    "MedicationStatement": _medication,
    "Procedure": _procedure,
    "Immunization": _immunization,
    "AllergyIntolerance": _allergy_intolerance,
    "DiagnosticReport": _diagnostic_report,
    "CarePlan": _care_plan,
    "ImagingStudy": _imaging_study,
}


def resource_events(r: dict[str, Any], patient_id: str) -> list[Event]:
    """Events of one clinical resource that belongs to ``patient_id``."""
    rtype = r["resourceType"]
    if rtype == "Observation":
        return _observation(r, patient_id)
    if rtype == "DocumentReference":
        system, code, display = _coding(r.get("type"))
        out = []
        for i, chunk in enumerate(_chunks(_note_text(r))):
            e = _base(r, patient_id, f"chunk:{i}")
            e.update(code_system=system, code=code, display=display or "Clinical note",
                     category=_first_coding(r.get("category"))[2])  # fmt: skip
            _dated(e, r.get("date"), (r.get("context") or {}).get("period"))
            e["text"] = f"{e['date'][:10]} Note ({display or 'clinical note'}): {chunk}"
            out.append(e)
        return out
    e = _base(r, patient_id)
    if rtype == "Patient":
        e.update(display="Patient", gender=str(r.get("gender", "")), birth_date=str(r.get("birthDate", "")))
        e["race"] = _us_core_race(r)
        e["deceased_date"] = r.get("deceasedDateTime") if isinstance(r.get("deceasedDateTime"), str) else None
        _dated(e, r.get("birthDate"))
        e["text"] = f"Patient: {e['gender'] or 'sex unknown'}, born {e['birth_date'] or 'unknown'}" + (
            f", died {e['deceased_date'][:10]}" if e["deceased_date"] else ""
        )
        return [e]
    fill = _FILLERS.get(rtype)
    if fill is None:
        return []
    fill(e, r)
    return [e]


def _us_core_race(r: dict[str, Any]) -> str:
    """The US Core race OMB category (display) of a Patient, or "" (the PCE are race-specific)."""
    for ext in r.get("extension") or []:
        if isinstance(ext, dict) and str(ext.get("url", "")).endswith("us-core-race"):
            for part in ext.get("extension") or []:
                if isinstance(part, dict) and part.get("url") == "ombCategory":
                    return str((part.get("valueCoding") or {}).get("display") or "")
    return ""


def events_from_bundle(bundle: dict[str, Any]) -> tuple[list[Event], list[dict[str, Any]]]:
    """All events of an in-memory Bundle, and the resources skipped (position, type, reason).

    Validation is left to the indexer; this is the plain mapping, used by tests and tools.
    """
    from patient_index.reader import bundle_aliases, owner_of

    aliases = bundle_aliases(bundle.get("entry") or [])
    events: list[Event] = []
    skipped: list[dict[str, Any]] = []
    for i, entry in enumerate(bundle.get("entry") or []):
        r = (entry or {}).get("resource")
        if not isinstance(r, dict):
            skipped.append({"position": f"entry[{i}]", "type": "?", "reason": "entry without a resource"})
            continue
        rtype = r.get("resourceType", "?")
        if rtype not in TIMELINE_TYPES:
            continue
        pid = owner_of(r, aliases)
        if pid is None:
            skipped.append(
                {"position": f"entry[{i}]", "type": rtype, "reason": "no resolvable patient reference"}
            )
            continue
        events.extend(resource_events(r, pid))
    return events, skipped
