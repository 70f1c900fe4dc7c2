"""``reasoning``: are the computed verdicts right, and do the answers state them first with valid markers?

Two parts, both against the independent truth of :mod:`evals.reasoning_truth` (computed from the
raw FHIR JSON, never from the patient index or the ``assessments`` package):

* verdicts: for every patient and every assessment id the truth covers, ``assessments.assess`` over
  the patient's timeline events must give the truth's verdict (and a value within the tolerance
  below for the scores);
* answers: the agent (evidence mode) is asked one question per topic; the answer's first sentence
  must state the verdict of the topic's assessment and cite its ``[A#]``, every marker must resolve
  to the answer's evidence, and the verdict stated must be the truth's.

Patients are split into dev and test by a hash of their id (stable across runs), so a rule tuned
while looking at dev cases is still measured on test cases it was not tuned on.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from evals.reasoning_truth import INSUFFICIENT, TRUTH_IDS, load_patient, truth
from evals.report import bar_plot, markdown_table
from evals.runner import Case

__all__ = [
    "QUESTIONS",
    "TOLERANCE",
    "build_cases",
    "report_body",
    "score_answer",
    "score_verdicts",
    "split_of",
    "summarize",
]

# Scores agree within these absolute differences (rounding and the age-on-which-day convention).
TOLERANCE = {"egfr_ckd_epi_2021": 1.0, "ascvd_pce_10y": 0.5}
# One question per topic and the assessment whose verdict must open its answer.
QUESTIONS: dict[str, tuple[str, str]] = {
    "statin": ("Is a statin indicated for this patient, and at what intensity?", "statin"),
    "referral": ("Does this patient need a nephrology referral for kidney disease?", "ckd_referral"),
    "bp": ("What is this patient's blood pressure category?", "bp_category"),
    "glycemic": ("Does this patient have diabetes or prediabetes?", "glycemic_status"),
}
_NO_VALUE = frozenset({INSUFFICIENT, "not applicable"})
_MARKER = re.compile(r"\[([GPA]\d{1,3}(?:\s*[,;]\s*[GPA]\d{1,3})*)\]")


def split_of(patient_id: str) -> str:
    """``dev`` or ``test``, from the patient id's hash (half and half, stable)."""
    return "dev" if int(hashlib.sha256(patient_id.encode()).hexdigest(), 16) % 2 == 0 else "test"


def build_cases(files: Sequence[Path], generated: Sequence[Path]) -> list[Case]:
    """One case per patient alive with data: the file, the day judged (its latest value) and the truth."""
    cases = []
    for f in files:
        raw = load_patient(f)
        as_of = raw.last_day() if raw else None
        if raw is None or as_of is None:
            continue
        if raw.died and raw.died < as_of:
            as_of = raw.died
        facts = truth(raw, as_of)
        cases.append(
            Case(
                raw.patient_id,
                {
                    "patient_id": raw.patient_id,
                    "source": f.name,
                    "path": str(f),
                    "as_of": as_of.isoformat(),
                    "split": split_of(raw.patient_id),
                    "generated": f in generated,
                    "truth": facts,
                },
            )
        )
    return cases


def _agrees(aid: str, want: dict[str, Any], got: dict[str, Any] | None) -> bool:
    if got is None:
        return False
    if want["verdict"] == "computed":
        value = got.get("value")
        return value is not None and abs(float(value) - float(want["value"])) <= TOLERANCE.get(aid, 0.0)
    if want["verdict"] in _NO_VALUE and aid in TOLERANCE:  # a score with no value: both must say so
        return got.get("value") is None and got.get("verdict") == want["verdict"]
    return str(got.get("verdict", "")).lower() == str(want["verdict"]).lower()


def score_verdicts(case: Case) -> dict[str, Any]:
    """The system's assessments of one patient against the truth, id by id."""
    from assessments import assess
    from patient_index.events import events_from_bundle

    events, _ = events_from_bundle(json.loads(Path(case.inputs["path"]).read_text(encoding="utf-8")))
    got = {
        a.id: a for a in assess(events, as_of=date.fromisoformat(case.inputs["as_of"]), only=list(TRUTH_IDS))
    }
    rows = {}
    for aid in TRUTH_IDS:
        want = case.inputs["truth"][aid]
        mine = {"verdict": got[aid].verdict, "value": got[aid].value} if aid in got else None
        rows[aid] = {"truth": want, "system": mine, "correct": _agrees(aid, want, mine)}
    return rows


def _first_sentence(answer: str) -> str:
    from agent.text import sentences

    found = sentences(answer)
    return found[0] if found else ""


def score_answer(result: dict[str, Any], target: str, want: dict[str, Any]) -> dict[str, Any]:
    """Answer-level checks of one reply: the first sentence states the target's verdict, markers resolve."""
    evidence = {e["id"] for e in result.get("evidence", [])}
    answer = str(result.get("answer", ""))
    markers = [m.strip() for group in _MARKER.findall(answer) for m in re.split(r"[,;]", group)]
    cites = [
        c
        for cit in result.get("citations", [])
        if cit.get("kind") == "assessment"
        for c in cit.get("cites") or []
    ]
    item = next((a for a in result.get("assessments", []) if a.get("id") == target), None)
    first = _first_sentence(answer)
    verdict = str(item["verdict"]) if item else ""
    marker = f"[{item.get('evidence_id')}]" if item else "[none]"
    states = item is not None and verdict.lower() in first.lower() and marker in first
    return {
        "first_sentence": first[:220],
        "verdict": verdict,
        "first_sentence_verdict": states,
        "markers_resolve": bool(markers) and all(m in evidence for m in markers + cites),
        "answer_correct": states
        and _agrees(target, want, {"verdict": verdict, "value": item.get("value") if item else None}),
        "guard_passed": bool(result.get("guard", {}).get("passed")),
        "mode": result.get("mode"),
    }


def _rate(values: list[bool]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows: verdict accuracy per split (all ids, then each id), then the answer-level rates per split."""
    rows = []
    for split in ("dev", "test", "all"):
        mine = [r for r in records if split == "all" or r["inputs"]["split"] == split]
        verdicts = [v for r in mine for v in r.get("scores", {}).get("verdicts", {}).values()]
        row: dict[str, Any] = {"config": f"verdicts/{split}", "accuracy": _rate([v["correct"] for v in verdicts]),
                               "n": len(verdicts), "patients": len(mine)}  # fmt: skip
        for aid in TRUTH_IDS:
            row[aid] = _rate(
                [r["scores"]["verdicts"][aid]["correct"] for r in mine if "verdicts" in r.get("scores", {})]
            )
        rows.append(row)
    for split in ("dev", "test", "all"):
        answers = [
            a
            for r in records
            if split == "all" or r["inputs"]["split"] == split
            for a in r.get("scores", {}).get("answers", {}).values()
        ]
        rows.append(
            {
                "config": f"answers/{split}",
                "first_sentence_verdict": _rate([a["first_sentence_verdict"] for a in answers]),
                "markers_resolve": _rate([a["markers_resolve"] for a in answers]),
                "answer_correct": _rate([a["answer_correct"] for a in answers]),
                "guard_passed": _rate([a["guard_passed"] for a in answers]),
                "n": len(answers),
            }
        )
    return rows


def _shown(system: dict[str, Any]) -> str:
    """A system result as the table shows it: the verdict, with the value when there is one."""
    value = system.get("value")
    return str(system.get("verdict", "")) + (f" ({value:.2f})" if value is not None else "")


def _mismatches(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in records:
        for aid, v in r.get("scores", {}).get("verdicts", {}).items():
            if not v["correct"]:
                t, s = v["truth"], v["system"] or {}
                out.append({"patient": r["inputs"]["source"][:32], "split": r["inputs"]["split"], "id": aid,
                            "truth": t["verdict"] if "value" not in t else f"{t['value']:.1f}",
                            "system": _shown(s)})  # fmt: skip
    return out


def report_body(
    folder: Path, summary: list[dict[str, Any]], records: list[dict[str, Any]], notes: list[str]
) -> list[str]:
    """Tables, the plot and the disagreements."""
    verdict_rows = [r for r in summary if r["config"].startswith("verdicts/")]
    answer_rows = [r for r in summary if r["config"].startswith("answers/")]
    bar_plot(
        folder / "verdicts.png",
        "reasoning: verdict accuracy by assessment",
        verdict_rows[:2],
        "config",
        list(TRUTH_IDS),
    )
    bar_plot(folder / "answers.png", "reasoning: answer-level checks", answer_rows[:2], "config",
             ["first_sentence_verdict", "markers_resolve", "answer_correct", "guard_passed"])  # fmt: skip
    examples = [
        {"patient": r["inputs"]["source"][:32], "topic": topic, **{k: a[k] for k in ("verdict", "first_sentence_verdict", "answer_correct")},
         "first sentence": a["first_sentence"][:150]}
        for r in records
        for topic, a in r.get("scores", {}).get("answers", {}).items()
    ][:12]  # fmt: skip
    mismatches = _mismatches(records)
    return [
        *notes,
        "## Verdict accuracy against the independent truth\n",
        markdown_table(verdict_rows, ["config", "accuracy", "n", "patients", *TRUTH_IDS]),
        "\n![verdicts](verdicts.png)\n",
        "## Answers (evidence mode)\n",
        markdown_table(
            answer_rows,
            ["config", "first_sentence_verdict", "markers_resolve", "answer_correct", "guard_passed", "n"],
        ),
        "\n![answers](answers.png)\n",
        markdown_table(examples, list(examples[0]) if examples else ["patient"]),
        f"\n## Disagreements ({len(mismatches)})\n",
        markdown_table(mismatches[:40], ["patient", "split", "id", "truth", "system"])
        if mismatches
        else "None.\n",
    ]
