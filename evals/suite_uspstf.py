"""``uspstf-eligibility``: do the recommendations the system surfaces for a patient apply to that patient?

For each patient (the shared Synthea records plus generated ones) on a fixed as-of day, the
truth is computed from the USPSTF JSON (see :mod:`evals.uspstf`). The systems scored:

* ``agent-evidence``: the agent's answer to "what preventive care is due?" for that patient, in
  evidence mode; the surfaced set is the USPSTF records its citations point at.
* ``care-gaps``: ``assessments.preventive`` over the patient's timeline events (every resource
  type, read from the same Bundle with the indexer's parser): the recommendations it finds due;
  ``care-gaps+conditional`` adds those that apply if a risk the record does not code holds.
* ``cds-age-sex``: ``agent.care_gaps.care_gaps`` over the record summary (what the CDS Hooks cards
  list today: age, sex and problem-list risks, no service dates).

Patients are split into ``dev`` and ``test`` by a hash of the patient id (:func:`split_of`): the
rules were tuned looking at ``dev`` only.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from evals.metrics import precision_recall
from evals.report import bar_plot, markdown_table
from evals.runner import Case
from evals.uspstf import DUE_GRADES, Demographics, Recommendation, applicable
from evals.uspstf_due import due_ids, read_bundle

__all__ = [
    "QUESTION",
    "call_preventive",
    "care_gaps_system",
    "score_patient",
    "split_of",
    "summarize",
    "truth_for",
]
SPLITS = ("dev", "test")


def split_of(patient_id: str) -> str:
    """``dev`` or ``test``, fixed by the patient id (SHA-256, even first byte: dev)."""
    return "dev" if hashlib.sha256(patient_id.encode()).digest()[0] % 2 == 0 else "test"


QUESTION = "What preventive care and screening is due for this patient?"
System = Callable[[Case], set[str]]


def surfaced_by_agent(result: dict[str, Any]) -> set[str]:
    """USPSTF record ids among an answer's guideline citations."""
    return {
        str(c.get("doc_id", "")).removeprefix("uspstf_")
        for c in result.get("citations", [])
        if c.get("kind") == "guideline" and str(c.get("doc_id", "")).startswith("uspstf_")
    }


def care_gaps_system() -> tuple[Any, str]:
    """``agent.care_gaps`` (the CDS Hooks cards' source) when it is there, and a line saying which."""
    try:
        module = importlib.import_module("agent.care_gaps")
    except ImportError as exc:
        return None, f"agent.care_gaps is not there ({exc})"
    if not all(
        hasattr(module, n) for n in ("care_gaps", "recommendations_from_json", "risk_factors_from_summary")
    ):
        return None, "agent.care_gaps lacks care_gaps / recommendations_from_json / risk_factors_from_summary"
    return (
        module,
        "agent.care_gaps.care_gaps (recommendations from the same JSON, risks from the record summary)",
    )


def call_care_gaps(
    module: Any, payload: Any, demo: dict[str, Any], summary: dict[str, Any] | None
) -> dict[str, set[str]]:
    """The gaps ``care_gaps`` reports for one patient: ``due`` ones, and ``due`` plus ``conditional``."""
    risks = module.risk_factors_from_summary(summary) if summary else set()
    gaps = module.care_gaps(
        demo["age"], demo["sex"], module.recommendations_from_json(payload), risk_factors=risks
    )
    due = {str(g.recommendation.rec_id) for g in gaps if g.status == "due"}
    return {"cds-age-sex": due}


def call_preventive(payload: Any, bundle: Path, as_of: date) -> dict[str, set[str]]:
    """``assessments.preventive`` for one patient: the due ids, and due plus conditional."""
    from assessments.preventive import preventive_status, recommendations_from_json
    from patient_index.events import events_from_bundle

    events, _ = events_from_bundle(json.loads(bundle.read_text(encoding="utf-8")))
    statuses = preventive_status(events, recommendations_from_json(payload), as_of=as_of)
    due = {s.recommendation.rec_id for s in statuses if s.status == "due"}
    maybe = {s.recommendation.rec_id for s in statuses if s.status == "conditional"}
    return {"care-gaps": due, "care-gaps+conditional": due | maybe}


def score_patient(
    truth_applies: set[str], truth_due: set[str], surfaced: set[str], truth_age_sex: set[str] | None = None
) -> dict[str, Any]:
    """Precision and recall of one surfaced set against the truth sets."""
    p_app, r_app = precision_recall(surfaced, truth_applies)
    p_due, r_due = precision_recall(surfaced, truth_due)
    age_sex = truth_age_sex if truth_age_sex is not None else truth_due
    return {
        "surfaced": len(surfaced),
        "hits_applies": len(surfaced & truth_applies),
        "hits_due": len(surfaced & truth_due),
        "hits_age_sex": len(surfaced & age_sex),
        "precision_applies": p_app,
        "recall_applies": r_app,
        "precision_due": p_due,
        "recall_due": r_due,
        "not_applicable": sorted(surfaced - truth_applies),
        "false_due": sorted(surfaced - truth_due),
        "missed_due": sorted(truth_due - surfaced),
    }


def truth_for(
    demo: Demographics, recs: list[Recommendation], as_of: date, bundle: Path | None = None
) -> dict[str, Any] | None:
    """Inputs and truth sets of one patient, or ``None`` when the patient is not alive on ``as_of``.

    ``truth_age_sex``: A/B records whose age and sex fit (the old "due"); ``truth_due``: those of
    them the raw Bundle makes due (:mod:`evals.uspstf_due`; equal to ``truth_age_sex`` without a
    Bundle).
    """
    age = demo.age(as_of)
    if age is None or age < 0 or not demo.alive(as_of):
        return None
    age_sex = applicable(recs, age, demo.sex, grades=DUE_GRADES)
    mins = {r.id: r.age_min for r in recs if r.id in age_sex and not r.superseded}
    due = due_ids(read_bundle(bundle), mins, as_of, age) if bundle is not None else age_sex
    return {
        "patient_id": demo.patient_id,
        "source": demo.source,
        "split": split_of(demo.patient_id),
        "age": age,
        "sex": demo.sex,
        "as_of": as_of.isoformat(),
        "truth_applies": sorted(applicable(recs, age, demo.sex)),
        "truth_age_sex": sorted(age_sex),
        "truth_due": sorted(due),
    }


def summarize(records: list[dict[str, Any]], systems: list[str]) -> list[dict[str, Any]]:
    """Rows per system, over all patients and per split (``<system>/dev``, ``<system>/test``):
    micro-averaged precision and recall against each truth set."""
    rows = []
    for name in systems:
        for split in ("", *SPLITS):
            part = [r for r in records if not split or r["inputs"].get("split") == split]
            rows.append(_row(f"{name}/{split}" if split else name, name, part))
    return rows


def _row(config: str, name: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Micro-averages over the records scored for system ``name``."""
    mine = [r for r in records if name in r.get("scores", {})]
    scored = [r["scores"][name] for r in mine]

    def total(key: str) -> int:
        return sum(len(r["inputs"].get(key, r["inputs"]["truth_due"])) for r in mine)

    def ratio(hits: int, of: int) -> float:
        return round(hits / of, 4) if of else 0.0

    surfaced = sum(s["surfaced"] for s in scored)
    hits_app = sum(s["hits_applies"] for s in scored)
    hits_due = sum(s["hits_due"] for s in scored)
    hits_age_sex = sum(s.get("hits_age_sex", s["hits_due"]) for s in scored)
    return {
        "config": config,
        "precision_applies": ratio(hits_app, surfaced),
        "recall_applies": ratio(hits_app, total("truth_applies")),
        "precision_due": ratio(hits_due, surfaced),
        "recall_due": ratio(hits_due, total("truth_due")),
        "recall_age_sex": ratio(hits_age_sex, total("truth_age_sex")),
        "surfaced_per_patient": round(surfaced / len(scored), 2) if scored else 0.0,
        "patients_with_any": ratio(sum(1 for s in scored if s["surfaced"]), len(scored)),
        "n": len(scored),
    }


def report_body(
    folder: Any, summary: list[dict[str, Any]], records: list[dict[str, Any]], notes: list[str]
) -> list[str]:
    """Tables, the plot and the worst patients of the report."""
    metrics = ["precision_applies", "recall_applies", "precision_due", "recall_due"]
    plotted = [r for r in summary if "/" not in r["config"]]
    bar_plot(folder / "scores.png", "uspstf-eligibility", plotted, "config", metrics)
    cols = ["config", *metrics, "recall_age_sex", "surfaced_per_patient", "patients_with_any", "n"]
    worst = []
    for r in records:
        for name, s in r.get("scores", {}).items():
            if not name.startswith("care-gaps"):
                continue
            worst.append(
                {
                    "patient": r["inputs"]["source"][:40],
                    "split": r["inputs"].get("split", ""),
                    "age": r["inputs"]["age"],
                    "sex": r["inputs"]["sex"],
                    "system": name,
                    "due": len(r["inputs"]["truth_due"]),
                    "surfaced": s["surfaced"],
                    "not due": ", ".join(s.get("false_due", [])[:6]),
                    "missed": ", ".join(s.get("missed_due", [])[:6]),
                }
            )
    worst.sort(key=lambda w: (w["system"] != "care-gaps", -len(w["not due"]) - len(w["missed"])))
    ages = sorted(r["inputs"]["age"] for r in records)
    n = len(records)
    pop = (
        f"{n} patients alive on the as-of day ({sum(r['inputs'].get('split') == 'dev' for r in records)} dev, "
        f"{sum(r['inputs'].get('split') == 'test' for r in records)} test), ages {ages[0]}–{ages[-1]}, "
        f"{sum(r['inputs']['sex'] == 'female' for r in records)} female; truth per patient: "
        f"{sum(len(r['inputs']['truth_applies']) for r in records) / n:.1f} applicable records, "
        f"{sum(len(r['inputs'].get('truth_age_sex', [])) for r in records) / n:.1f} grade A/B by age and sex, "
        f"{sum(len(r['inputs']['truth_due']) for r in records) / n:.1f} due."
        if records
        else "No patients."
    )
    return [
        *notes,
        "## Population\n",
        pop + "\n",
        "## Scores (micro-averaged over patients; `/dev` and `/test` are the splits)\n",
        markdown_table(summary, cols),
        "\n![scores](scores.png)\n",
        "## Worst cases (care-gaps: surfaced but not due, and due but missed)\n",
        markdown_table(worst[:12], list(worst[0]) if worst else ["patient"]),
    ]
