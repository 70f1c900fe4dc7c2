"""``faithfulness``: are the agent's answers grounded in what they cite, and does it abstain when it should?

Three groups of questions:

* ``no-patient``: every fourth question of the guideline question set (the corpus answers them);
* ``with-patient``: ``evals/data/patient_questions.jsonl`` asked about indexed Synthea patients;
* ``unanswerable``: ``evals/data/unanswerable_questions.jsonl``, clinical questions on topics
  the indexed corpus (open-medicine + USPSTF) does not cover; the right answer is an abstention.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from evals.metrics import wilson_interval
from evals.report import bar_plot, markdown_table
from evals.runner import Case

__all__ = ["GROUPS", "build_cases", "load_jsonl", "summarize"]

GROUPS = ("no-patient", "with-patient", "unanswerable")


def load_jsonl(name: str) -> list[dict[str, Any]]:
    """A versioned JSONL file shipped in ``evals/data``."""
    text = (files("evals") / "data" / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def build_cases(patient_ids: list[str], limit: int | None) -> list[Case]:
    """The cases of the three groups; ``limit`` caps each group (patient questions: per group)."""
    guideline = load_jsonl("guideline_questions.jsonl")[::4]
    patient = [
        {"id": f"{q['id']}@{pid[:8]}", "q": q["q"], "patient_id": pid}
        for pid in patient_ids
        for q in load_jsonl("patient_questions.jsonl")
    ]
    unanswerable = load_jsonl("unanswerable_questions.jsonl")
    groups = {
        "no-patient": [
            Case(q["id"], {"group": "no-patient", "q": q["q"], "answerable": True}) for q in guideline
        ],
        "with-patient": [
            Case(
                q["id"],
                {"group": "with-patient", "q": q["q"], "answerable": True, "patient_id": q["patient_id"]},
            )
            for q in patient
        ],
        "unanswerable": [
            Case(q["id"], {"group": "unanswerable", "q": q["q"], "answerable": False}) for q in unanswerable
        ],
    }
    return [c for g in GROUPS for c in groups[g][:limit]]


def _row(name: str, recs: list[dict[str, Any]]) -> dict[str, Any]:
    s = [r["scores"] for r in recs if r.get("scores")]
    cites = sum(x["citations"] for x in s)
    claims = sum(x["clinical_sentences"] for x in s)
    correct = sum(x["abstention_correct"] for x in s)
    lo, hi = wilson_interval(correct, len(s))
    return {
        "config": name,
        "citation_validity": round(sum(x["citations_valid"] for x in s) / cites, 4) if cites else 1.0,
        "sentence_support": round(sum(x["supported_sentences"] for x in s) / claims, 4) if claims else 1.0,
        "abstention_accuracy": round(correct / len(s), 4) if s else 0.0,
        "abstention_ci": f"{lo:.2f}–{hi:.2f}",
        "abstain_rate": round(sum(x["abstained"] for x in s) / len(s), 4) if s else 0.0,
        "refuse_rate": round(sum(x.get("refused", False) for x in s) / len(s), 4) if s else 0.0,
        "citations": cites,
        "clinical_sentences": claims,
        "errors": sum(1 for r in recs if r.get("error")),
        "n": len(s),
    }


def summarize(records: list[dict[str, Any]], mode: str) -> list[dict[str, Any]]:
    """One row per group and one over all answers, named ``<mode>/<group>``."""
    rows = [_row(f"{mode}/{g}", [r for r in records if r["inputs"]["group"] == g]) for g in GROUPS]
    rows.append(_row(f"{mode}/all", records))
    return rows


def report_body(folder: Any, summary: list[dict[str, Any]], records: list[dict[str, Any]]) -> list[str]:
    metrics = ["citation_validity", "sentence_support", "abstention_accuracy", "abstain_rate"]
    bar_plot(folder / "scores.png", "faithfulness", summary, "config", metrics)
    worst = sorted(
        (r for r in records if r.get("scores")),
        key=lambda r: (
            r["scores"]["abstention_correct"],
            -(r["scores"]["clinical_sentences"] - r["scores"]["supported_sentences"]),
        ),
    )
    rows = [
        {
            "id": r["id"],
            "group": r["inputs"]["group"],
            "question": r["inputs"]["q"][:90],
            "mode": r["outputs"].get("mode"),
            "abstention ok": r["scores"]["abstention_correct"],
            "supported": f"{r['scores']['supported_sentences']}/{r['scores']['clinical_sentences']}",
            "first unsupported sentence": (r["scores"]["unsupported_examples"] or [""])[0][:100],
        }
        for r in worst[:15]
    ]
    return [
        "## Scores\n",
        "`citation_validity`: cited markers that name retrieved evidence. `sentence_support`: clinical "
        "sentences whose citations carry their numbers and at least 60% of their content words (a lexical "
        "check, no NLI model offline). `abstention_accuracy`: abstained exactly when the question is "
        "unanswerable from the corpus (95% Wilson interval beside it); a refusal by the input guard counts "
        "as wrong on these clinical questions and is shown as `refuse_rate`. In evidence mode every sentence "
        "is quoted from the item it cites, so support is high by construction; the figure matters in LLM mode.\n",
        markdown_table(
            summary,
            [
                "config",
                "citation_validity",
                "sentence_support",
                "abstention_accuracy",
                "abstention_ci",
                "abstain_rate",
                "refuse_rate",
                "citations",
                "clinical_sentences",
                "errors",
                "n",
            ],
        ),
        "\n![scores](scores.png)\n",
        "## Worst cases (wrong abstention first, then most unsupported sentences)\n",
        markdown_table(rows, list(rows[0]) if rows else ["id"]),
    ]
