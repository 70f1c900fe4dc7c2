"""``uspstf-eligibility``: do the recommendations the system surfaces for a patient apply to that patient?

For each patient (the shared Synthea records plus generated ones) on a fixed as-of day, the
truth is computed from the USPSTF JSON (see :mod:`evals.uspstf`). The systems scored:

* ``agent-evidence``: the agent's answer to "what preventive care is due?" for that patient, in
  evidence mode; the surfaced set is the USPSTF records its citations point at.
* ``care-gaps``: ``agent.care_gaps`` when that module exists (the CDS Hooks cards' source).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import date
from typing import Any

from evals.metrics import precision_recall
from evals.report import bar_plot, markdown_table
from evals.runner import Case
from evals.uspstf import DUE_GRADES, Demographics, Recommendation, applicable

__all__ = ["QUESTION", "care_gaps_system", "score_patient", "summarize"]

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
    return {"care-gaps": due, "care-gaps+conditional": {str(g.recommendation.rec_id) for g in gaps}}


def score_patient(truth_applies: set[str], truth_due: set[str], surfaced: set[str]) -> dict[str, Any]:
    """Precision and recall of one surfaced set against both truth sets."""
    p_app, r_app = precision_recall(surfaced, truth_applies)
    p_due, r_due = precision_recall(surfaced, truth_due)
    return {
        "surfaced": len(surfaced),
        "hits_applies": len(surfaced & truth_applies),
        "hits_due": len(surfaced & truth_due),
        "precision_applies": p_app,
        "recall_applies": r_app,
        "precision_due": p_due,
        "recall_due": r_due,
        "not_applicable": sorted(surfaced - truth_applies),
    }


def truth_for(demo: Demographics, recs: list[Recommendation], as_of: date) -> dict[str, Any] | None:
    """Inputs and truth sets of one patient, or ``None`` when the patient is not alive on ``as_of``."""
    age = demo.age(as_of)
    if age is None or age < 0 or not demo.alive(as_of):
        return None
    return {
        "patient_id": demo.patient_id,
        "source": demo.source,
        "age": age,
        "sex": demo.sex,
        "as_of": as_of.isoformat(),
        "truth_applies": sorted(applicable(recs, age, demo.sex)),
        "truth_due": sorted(applicable(recs, age, demo.sex, grades=DUE_GRADES)),
    }


def summarize(records: list[dict[str, Any]], systems: list[str]) -> list[dict[str, Any]]:
    """One row per system: micro-averaged precision and recall against both truth sets."""
    rows = []
    for name in systems:
        scored = [r["scores"][name] for r in records if name in r.get("scores", {})]
        surfaced = sum(s["surfaced"] for s in scored)
        applies = sum(len(r["inputs"]["truth_applies"]) for r in records if name in r.get("scores", {}))
        due = sum(len(r["inputs"]["truth_due"]) for r in records if name in r.get("scores", {}))
        hits_app = sum(s["hits_applies"] for s in scored)
        hits_due = sum(s["hits_due"] for s in scored)
        rows.append(
            {
                "config": name,
                "precision_applies": round(hits_app / surfaced, 4) if surfaced else 0.0,
                "recall_applies": round(hits_app / applies, 4) if applies else 0.0,
                "precision_due": round(hits_due / surfaced, 4) if surfaced else 0.0,
                "recall_due": round(hits_due / due, 4) if due else 0.0,
                "surfaced_per_patient": round(surfaced / len(scored), 2) if scored else 0.0,
                "patients_with_any": round(sum(1 for s in scored if s["surfaced"]) / len(scored), 4)
                if scored
                else 0.0,
                "n": len(scored),
            }
        )
    return rows


def report_body(
    folder: Any, summary: list[dict[str, Any]], records: list[dict[str, Any]], notes: list[str]
) -> list[str]:
    """Tables, the plot and the worst patients of the report."""
    metrics = ["precision_applies", "recall_applies", "precision_due", "recall_due"]
    bar_plot(folder / "scores.png", "uspstf-eligibility", summary, "config", metrics)
    cols = ["config", *metrics, "surfaced_per_patient", "patients_with_any", "n"]
    worst = []
    for r in records:
        for name, s in r.get("scores", {}).items():
            worst.append(
                {
                    "patient": r["inputs"]["source"][:40],
                    "age": r["inputs"]["age"],
                    "sex": r["inputs"]["sex"],
                    "system": name,
                    "due": len(r["inputs"]["truth_due"]),
                    "surfaced": s["surfaced"],
                    "recall_due": s["recall_due"],
                    "not applicable": ", ".join(s["not_applicable"][:5]),
                }
            )
    worst.sort(key=lambda w: (-len(w["not applicable"]), w["recall_due"] or 0))
    ages = sorted(r["inputs"]["age"] for r in records)
    pop = (
        f"{len(records)} patients alive on the as-of day, ages {ages[0]}–{ages[-1]}, "
        f"{sum(r['inputs']['sex'] == 'female' for r in records)} female; truth per patient: "
        f"{sum(len(r['inputs']['truth_applies']) for r in records) / len(records):.1f} applicable records, "
        f"{sum(len(r['inputs']['truth_due']) for r in records) / len(records):.1f} due (grade A/B)."
        if records
        else "No patients."
    )
    return [
        *notes,
        "## Population\n",
        pop + "\n",
        "## Scores (micro-averaged over patients)\n",
        markdown_table(summary, cols),
        "\n![scores](scores.png)\n",
        "## Worst cases (surfaced records that do not apply first, then lowest recall)\n",
        markdown_table(worst[:12], list(worst[0]) if worst else ["patient"]),
    ]
