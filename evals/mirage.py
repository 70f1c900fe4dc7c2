"""``mirage``: the MIRAGE medical QA benchmark (7,663 multiple-choice questions in five data sets).

Two modes, as in the MIRAGE paper: ``cot`` (chain of thought, no retrieval) and ``rag`` (the
question's top guideline passages from the project's own index are put before it). The model
answers in JSON (``step_by_step_thinking``, ``answer_choice``); servers that support JSON-schema
output are held to the option letters, and a reply that cannot be read counts as wrong.
Accuracy per data set comes with a 95% Wilson interval; the MIRAGE average is the mean of the
five data sets' accuracies.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from evals.metrics import wilson_interval
from evals.report import markdown_table
from evals.runner import Case

__all__ = [
    "DATASETS",
    "PUBLISHED",
    "build_cases",
    "messages_for",
    "parse_choice",
    "schema_for",
    "summarize",
]

DATASETS = ("mmlu", "medqa", "medmcqa", "pubmedqa", "bioasq")
# Averages over the five data sets from the MIRAGE/MedRAG paper, as listed in ../shared/data/README.md.
PUBLISHED = {
    "GPT-4, chain of thought": 0.734,
    "GPT-4 + MedRAG": 0.800,
    "GPT-3.5, chain of thought": 0.614,
    "GPT-3.5 + MedRAG": 0.716,
    "Llama-3-70B + MedRAG": 0.786,
}
_SYSTEM_COT = (
    "You are a helpful medical expert, and your task is to answer a multi-choice medical question. "
    "Please first think step-by-step and then choose the answer from the provided options. Organize your "
    'output in a json formatted as {"step_by_step_thinking": "...", "answer_choice": "A"}. Your responses '
    "will be used for research purposes only, so please have a definite answer."
)
_SYSTEM_RAG = (
    "You are a helpful medical expert, and your task is to answer a multi-choice medical question using "
    "the relevant documents. Please first think step-by-step and then choose the answer from the provided "
    'options. Organize your output in a json formatted as {"step_by_step_thinking": "...", '
    '"answer_choice": "A"}. Your responses will be used for research purposes only, so please have a '
    "definite answer."
)
_LETTER_KEY = re.compile(r'"answer_choice"\s*:\s*"?\(?([A-J])\b')
_LETTER_PHRASE = re.compile(r"\b(?:answer|option|choice)\s*(?:is|:)?\s*\(?([A-J])\)?\b", re.I)


def load(path: Path) -> dict[str, dict[str, Any]]:
    """``{data set: {question id: {question, options, answer, ...}}}``."""
    return dict(json.loads(path.read_text(encoding="utf-8")))


def build_cases(
    bench: dict[str, dict[str, Any]], modes: list[str], limit: int | None, seed: int, datasets: list[str]
) -> list[Case]:
    """Per mode and data set, every question or a seeded sample of ``limit`` of them."""
    cases = []
    for name in datasets:
        ids = sorted(bench[name])
        if limit is not None and limit < len(ids):
            ids = sorted(random.Random(f"{seed}:{name}").sample(ids, limit))
        for mode in modes:
            for qid in ids:
                q = bench[name][qid]
                cases.append(
                    Case(
                        f"{mode}/{name}/{qid}",
                        {
                            "mode": mode,
                            "dataset": name,
                            "question": q["question"],
                            "options": q["options"],
                            "answer": q["answer"],
                        },
                    )
                )
    return cases


def schema_for(letters: list[str]) -> dict[str, Any]:
    """The JSON schema of the reply, with the option letters as an enum."""
    return {
        "type": "object",
        "properties": {
            "step_by_step_thinking": {"type": "string", "maxLength": 1500},
            "answer_choice": {"type": "string", "enum": letters},
        },
        "required": ["step_by_step_thinking", "answer_choice"],
        "additionalProperties": False,
    }


def messages_for(question: str, options: dict[str, str], documents: list[str] | None) -> list[dict[str, str]]:
    """The chat of one question (MedRAG's prompt wording), with documents in ``rag`` mode."""
    opts = "\n".join(f"{k}. {v}" for k, v in sorted(options.items()))
    user = f"Here is the question:\n{question}\n\nHere are the potential choices:\n{opts}\n\nPlease think step-by-step and generate your output in json:"
    if documents is None:
        return [{"role": "system", "content": _SYSTEM_COT}, {"role": "user", "content": user}]
    docs = "\n".join(f"Document [{i}] {d}" for i, d in enumerate(documents, 1))
    return [
        {"role": "system", "content": _SYSTEM_RAG},
        {"role": "user", "content": f"Here are the relevant documents:\n{docs}\n\n{user}"},
    ]


def parse_choice(raw: str, letters: list[str]) -> str | None:
    """The option letter in a reply: the JSON field, else a ``"answer_choice": "X"`` fragment, else
    "the answer is X"; ``None`` when none names a valid option."""
    text = raw.strip().removeprefix("```json").removeprefix("```").removesuffix("```")
    try:
        data = json.loads(text)
        choice = (
            str(data.get("answer_choice", "")).strip().strip("().").upper()[:1]
            if isinstance(data, dict)
            else ""
        )
        if choice in letters:
            return choice
    except json.JSONDecodeError:
        pass
    for pattern in (_LETTER_KEY, _LETTER_PHRASE):
        m = pattern.search(raw)
        if m and m.group(1).upper() in letters:
            return m.group(1).upper()
    return None


def summarize(records: list[dict[str, Any]], modes: list[str], datasets: list[str]) -> list[dict[str, Any]]:
    """A row per mode and data set (accuracy, 95% CI, parse rate), then the mode's MIRAGE average."""
    rows: list[dict[str, Any]] = []
    for mode in modes:
        per: list[dict[str, Any]] = []
        for name in datasets:
            recs = [r for r in records if r["inputs"]["mode"] == mode and r["inputs"]["dataset"] == name]
            if not recs:
                continue
            correct = sum(bool(r.get("scores", {}).get("correct")) for r in recs)
            parsed = sum(r.get("outputs", {}).get("choice") is not None for r in recs)
            lo, hi = wilson_interval(correct, len(recs))
            options = len(recs[0]["inputs"]["options"])
            row: dict[str, Any] = {
                "config": f"{mode}/{name}",
                "accuracy": round(correct / len(recs), 4),
                "ci_low": round(lo, 4),
                "ci_high": round(hi, 4),
                "chance": round(1 / options, 3),
                "parse_rate": round(parsed / len(recs), 4),
                "errors": sum(1 for r in recs if r.get("error")),
                "n": len(recs),
            }
            rows.append(row)
            per.append(row)
        if per:
            n = sum(r["n"] for r in per)
            rows.append(
                {
                    "config": f"{mode}/average",
                    "accuracy": round(sum(r["accuracy"] for r in per) / len(per), 4),
                    "ci_low": "",
                    "ci_high": "",
                    "chance": round(sum(r["chance"] for r in per) / len(per), 3),
                    "parse_rate": round(sum(r["parse_rate"] * r["n"] for r in per) / n, 4),
                    "errors": sum(r["errors"] for r in per),
                    "n": n,
                }
            )
    return rows


def report_body(folder: Any, summary: list[dict[str, Any]], records: list[dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per = [r for r in summary if not r["config"].endswith("/average")]
    fig, ax = plt.subplots(figsize=(9, 4))
    xs = range(len(per))
    ax.bar(
        xs,
        [r["accuracy"] for r in per],
        yerr=[
            [r["accuracy"] - r["ci_low"] for r in per],
            [r["ci_high"] - r["accuracy"] for r in per],
        ],
        capsize=3,
        color=["steelblue" if r["config"].startswith("cot") else "darkorange" for r in per],
    )
    ax.scatter(xs, [r["chance"] for r in per], marker="_", s=300, color="black", label="chance", zorder=3)
    for name, value in PUBLISHED.items():
        if name.startswith("GPT-4"):
            ax.axhline(value, linestyle="--", linewidth=1, color="grey")
            ax.text(
                len(per) - 0.5, value, f" {name} (avg)", fontsize=7, ha="right", va="bottom", color="dimgrey"
            )
    ax.set_xticks(list(xs), [r["config"] for r in per], rotation=35, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_title("MIRAGE accuracy per data set (blue: CoT, orange: RAG)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "scores.png", dpi=110)
    plt.close(fig)
    published = [{"system": k, "MIRAGE average": v} for k, v in PUBLISHED.items()]
    averages = [
        {"system": f"this run, {r['config']}", "MIRAGE average": r["accuracy"]}
        for r in summary
        if r["config"].endswith("/average")
    ]
    wrong = [r for r in records if not r.get("scores", {}).get("correct")][:10]
    worst = [
        {
            "id": r["id"],
            "question": r["inputs"]["question"][:90],
            "answer": r["inputs"]["answer"],
            "chose": r.get("outputs", {}).get("choice"),
            "reply": str(r.get("outputs", {}).get("raw", ""))[:90],
        }
        for r in wrong
    ]
    return [
        "## Accuracy per data set\n",
        markdown_table(
            summary, ["config", "accuracy", "ci_low", "ci_high", "chance", "parse_rate", "errors", "n"]
        ),
        "\n![scores](scores.png)\n",
        "## Beside the published figures\n",
        markdown_table([*averages, *published], ["system", "MIRAGE average"]),
        "\n## Wrong answers (first ten)\n",
        markdown_table(worst, list(worst[0]) if worst else ["id"]),
    ]
