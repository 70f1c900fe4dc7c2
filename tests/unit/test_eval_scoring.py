from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from evals.faithfulness import clinical_sentences, score_answer, supported
from evals.metrics import precision_recall, wilson_interval
from evals.mirage import build_cases, messages_for, parse_choice, schema_for, summarize
from evals.suite_uspstf import score_patient, surfaced_by_agent
from evals.uspstf import age_on, applicable, demographics, load_recommendations

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


# -- statistics ------------------------------------------------------------------------------------


def test_wilson_interval_known_values() -> None:
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_precision_recall_edges() -> None:
    assert precision_recall({"a", "b"}, {"b", "c", "d"}) == (0.5, pytest.approx(1 / 3))
    assert precision_recall(set(), {"a"}) == (None, 0.0)


# -- USPSTF truth ----------------------------------------------------------------------------------


def _recs(tmp_path: Path) -> Path:
    records = [
        {
            "id": 1,
            "title": "Colorectal -- 50 to 75",
            "grade": "A",
            "sex": "men and women",
            "ageRange": [50, 75],
        },
        {"id": 2, "title": "Breast -- 50 to 74", "grade": "B", "sex": "female", "ageRange": [50, 74]},
        {"id": 3, "title": "Prostate -- 70+", "grade": "D", "sex": "male", "ageRange": [70, 99]},
        {"id": 4, "title": "Old colorectal", "grade": "A", "sex": "men and women", "ageRange": [50, 75]},
        {
            "id": 5,
            "title": "New colorectal",
            "grade": "A",
            "sex": "men and women",
            "ageRange": [45, 75],
            "supersedes": [4],
        },
        {
            "id": 6,
            "title": "Withdrawn",
            "grade": "B",
            "sex": "male",
            "ageRange": [18, 99],
            "status": "superseded",
        },
    ]
    path = tmp_path / "recs.json"
    path.write_text(json.dumps({"specificRecommendations": records}))
    return path


def test_truth_by_age_and_sex_with_superseded_excluded(tmp_path: Path) -> None:
    recs = load_recommendations(_recs(tmp_path))
    assert [r.superseded for r in recs] == [False, False, False, True, False, True]
    assert applicable(recs, 50, "female") == {"1", "2", "5"}
    assert applicable(recs, 75, "female") == {"1", "5"}  # 75 is inside 50-75, outside 50-74
    assert applicable(recs, 72, "male") == {"1", "3", "5"}
    assert applicable(recs, 72, "male", grades={"A", "B"}) == {"1", "5"}
    assert applicable(recs, 47, "male") == {"5"}


def test_age_on_birthdays() -> None:
    assert age_on(date(1970, 6, 30), date(2021, 6, 30)) == 51
    assert age_on(date(1970, 7, 1), date(2021, 6, 30)) == 50


def test_demographics_from_a_bundle(tmp_path: Path) -> None:
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": {"resourceType": "Encounter", "id": "e"}},
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "p1",
                    "gender": "female",
                    "birthDate": "1960-02-29",
                    "deceasedDateTime": "2020-01-01T00:00:00Z",
                }
            },
        ],
    }
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    demo = demographics(path)
    assert demo is not None and demo.patient_id == "p1" and demo.sex == "female"
    assert (
        demo.age(date(2019, 3, 1)) == 59 and demo.alive(date(2019, 3, 1)) and not demo.alive(date(2021, 1, 1))
    )


def test_shared_uspstf_file_loads_with_every_record() -> None:
    path = SHARED / "uspstf" / "uspstf-recommendations.json"
    if not path.is_file():
        pytest.skip(f"{path} is not in the shared data")
    recs = load_recommendations(path)
    assert len(recs) == 137 and {r.sex for r in recs} == {"any", "female", "male"}
    assert "331" in applicable(recs, 60, "male", grades={"A"})  # colorectal cancer screening 50-75


def test_surfaced_and_scored() -> None:
    result = {
        "citations": [
            {"kind": "guideline", "doc_id": "uspstf_331"},
            {"kind": "guideline", "doc_id": "ada_diabetes_2024"},
            {"kind": "guideline", "doc_id": "uspstf_414"},
            {"kind": "patient", "resource_type": "Observation"},
        ]
    }
    surfaced = surfaced_by_agent(result)
    assert surfaced == {"331", "414"}
    s = score_patient({"331", "302", "414"}, {"331", "302"}, surfaced)
    assert s["precision_applies"] == 1.0 and s["recall_due"] == 0.5 and s["precision_due"] == 0.5


# -- faithfulness ----------------------------------------------------------------------------------


def test_clinical_sentences_skip_headings_and_hedges() -> None:
    answer = (
        "**Guideline passages**\n"
        "- Start a high-intensity statin in adults aged 40 to 75 with LDL 190 or more [G1]\n"
        "- I cannot say more than this.\n"
        "Blood pressure was 142/90 on 2021-03-02 [P1]."
    )
    found = clinical_sentences(answer)
    assert [ids for _, ids in found] == [["G1"], ["P1"]]


def test_supported_needs_numbers_and_words() -> None:
    source = [
        "Adults aged 40 to 75 years with LDL-C 190 mg/dL or higher should receive a high-intensity statin."
    ]
    assert supported("Give a high-intensity statin to adults aged 40 to 75 with LDL 190 [G1]", source)
    assert not supported("Give a high-intensity statin to adults aged 40 to 80 with LDL 190 [G1]", source)
    assert not supported("Metformin is first line for type 2 diabetes in adults [G1]", source)
    assert not supported("Anything at all [G1]", [])


def test_score_answer_counts_invalid_citations_and_abstention() -> None:
    result = {
        "answer": "High-intensity statins reduce LDL by 50 percent or more in adults [G1]. Also see [G9].",
        "mode": "evidence",
        "evidence": [{"id": "G1"}, {"id": "G2"}],
        "citations": [
            {"id": "G1", "text": "High-intensity statins lower LDL by 50 percent or more in adults."}
        ],
    }
    s = score_answer(result, answerable=True)
    assert s["citations"] == 2 and s["citations_valid"] == 1
    assert s["clinical_sentences"] == 1 and s["supported_sentences"] == 1 and s["abstention_correct"]
    abstained = score_answer({"answer": "I cannot answer this.", "mode": "abstain"}, answerable=False)
    assert abstained["abstention_correct"] and abstained["clinical_sentences"] == 0
    assert not score_answer({"answer": "x", "mode": "abstain"}, answerable=True)["abstention_correct"]
    refused = score_answer({"answer": "I can't help", "mode": "refused"}, answerable=False)
    assert refused["refused"] and not refused["abstention_correct"]


def test_unanswerable_set_is_large_enough_and_unique() -> None:
    from evals.suite_faithfulness import load_jsonl

    qs = load_jsonl("unanswerable_questions.jsonl")
    assert len(qs) >= 30 and len({q["id"] for q in qs}) == len(qs) and all(q["q"].strip() for q in qs)


# -- MIRAGE ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"step_by_step_thinking": "because", "answer_choice": "B"}', "B"),
        ('```json\n{"step_by_step_thinking": "x", "answer_choice": "c"}\n```', "C"),
        ('{"step_by_step_thinking": "cut short", "answer_choice": "D', "D"),
        ("I think the answer is (A).", "A"),
        ('{"answer_choice": "E"}', None),  # not an option of this question
        ("no idea", None),
    ],
)
def test_parse_choice(raw: str, expected: str | None) -> None:
    assert parse_choice(raw, ["A", "B", "C", "D"]) == expected


def test_mirage_cases_are_seeded_samples_and_summary_has_cis() -> None:
    bench = {
        "medqa": {
            f"q{i}": {"question": f"Q{i}", "options": {"A": "a", "B": "b"}, "answer": "A"} for i in range(50)
        },
        "bioasq": {
            f"b{i}": {"question": f"B{i}", "options": {"A": "yes", "B": "no"}, "answer": "B"}
            for i in range(9)
        },
    }
    one = build_cases(bench, ["cot", "rag"], 5, 7, ["medqa", "bioasq"])
    assert one == build_cases(bench, ["cot", "rag"], 5, 7, ["medqa", "bioasq"])
    assert one != build_cases(bench, ["cot", "rag"], 5, 8, ["medqa", "bioasq"])
    assert len(one) == 20 and one[0].id.startswith("cot/medqa/")
    records = [
        {"inputs": c.inputs, "outputs": {"choice": "A"}, "scores": {"correct": c.inputs["answer"] == "A"}}
        for c in one
    ]
    rows = {r["config"]: r for r in summarize(records, ["cot", "rag"], ["medqa", "bioasq"])}
    assert rows["cot/medqa"]["accuracy"] == 1.0 and rows["cot/bioasq"]["accuracy"] == 0.0
    assert rows["cot/average"]["accuracy"] == 0.5 and rows["cot/medqa"]["ci_low"] < 1.0
    assert rows["rag/bioasq"]["chance"] == 0.5 and rows["rag/average"]["n"] == 10


def test_mirage_prompt_and_schema() -> None:
    msgs = messages_for("Which?", {"B": "two", "A": "one"}, ["doc one", "doc two"])
    assert "Document [2] doc two" in msgs[1]["content"] and msgs[1]["content"].index("A. one") < msgs[1][
        "content"
    ].index("B. two")
    assert messages_for("Which?", {"A": "x"}, None)[0]["content"].startswith(
        "You are a helpful medical expert"
    )
    assert schema_for(["A", "B"])["properties"]["answer_choice"]["enum"] == ["A", "B"]
