"""Grade extraction: every style of strength/evidence statement comes out in one normal form."""

from __future__ import annotations

import pytest

from guidelines_index.grades import extract_grades


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ACC/AHA class of recommendation with level of evidence, in the spellings guidelines use.
        ("Start an ACE inhibitor (Class I, Level of Evidence A).", "Class I, LOE A"),
        ("Class IIa, Level of Evidence B-R", "Class IIa, LOE B-R"),
        ("Class IIb; LOE: C-LD", "Class IIb, LOE C-LD"),
        ("COR I, LOE B-NR", "Class I, LOE B-NR"),
        ("COR IIa LOE C-EO", "Class IIa, LOE C-EO"),
        ("Class III: No Benefit, LOE B-R", "Class III: No Benefit, LOE B-R"),
        ("Class III: Harm, Level of Evidence A", "Class III: Harm, LOE A"),
        # A class alone, in parentheses.
        ("Avoid routine use (Class III: Harm).", "Class III: Harm"),
        ("Consider a trial of therapy (Class IIb).", "Class IIb"),
        # GRADE: strength with certainty, capitalisation normalised.
        ("Give early antibiotics (Strong, Moderate).", "Strong recommendation, moderate certainty"),
        ("(strong, high)", "Strong recommendation, high certainty"),
        ("(Conditional, Very low certainty)", "Conditional recommendation, very low certainty"),
        ("Weak recommendation, Low quality of evidence", "Weak recommendation, low certainty"),
        ("(Strong recommendation, moderate-quality evidence)", "Strong recommendation, moderate certainty"),
        ("Offer counselling (Strong recommendation).", "Strong recommendation"),
        ("(Conditional recommendation)", "Conditional recommendation"),
        # KDIGO-style numeric grades.
        ("We recommend a lower protein intake (1B).", "Grade 1B"),
        ("We suggest bicarbonate supplementation (2C).", "Grade 2C"),
        ("Grade 2D", "Grade 2D"),
        ("(Grade 1A)", "Grade 1A"),
        # USPSTF letter grades.
        ("The task force gives this a Grade B.", "Grade B"),
        ("Grade I statement: evidence is insufficient.", "Grade I"),
        ("Grade D", "Grade D"),
        # Brain Trauma Foundation levels.
        ("Level IIA", "Level IIA"),
        ("Level IIB", "Level IIB"),
        ("Level III", "Level III"),
    ],
)
def test_normal_forms(text: str, expected: str) -> None:
    assert extract_grades(text) == [expected]


def test_specific_pattern_wins_over_a_general_one_on_the_same_span() -> None:
    # "Class I, LOE A" must not also come out as a bare class, and "Grade 1B" not as "Grade B".
    assert extract_grades("Use it (Class I, LOE A).") == ["Class I, LOE A"]
    assert extract_grades("Grade 1B") == ["Grade 1B"]
    assert extract_grades("Class IIa, Level of Evidence B-R") == ["Class IIa, LOE B-R"]


def test_order_of_first_appearance_across_styles() -> None:
    text = (
        "Level IIA: monitor pressure. Then (Strong, Low) for fluids. "
        "KDIGO says (2C). ACC/AHA: Class I, LOE A. USPSTF: Grade B."
    )
    assert extract_grades(text) == [
        "Level IIA",
        "Strong recommendation, low certainty",
        "Grade 2C",
        "Class I, LOE A",
        "Grade B",
    ]


def test_repeats_are_removed_after_normalisation() -> None:
    text = (
        "Class I, LOE A for statins. Class I; Level of Evidence A for aspirin. "
        "Grade D for one test, Grade A for another, Grade D again. (1B) and later Grade 1B."
    )
    assert extract_grades(text) == ["Class I, LOE A", "Grade D", "Grade A", "Grade 1B"]


def test_no_grade_in_empty_text() -> None:
    assert extract_grades("") == []


@pytest.mark.parametrize(
    "text",
    [
        "The clinic aims to deliver first-class care to every patient.",
        "Patients with grade 3 hypertension need prompt treatment.",
        "Grade 1 hypertension is often managed in primary care.",
        "Class I obesity is defined by body mass index.",
        "Stage 2B disease is described elsewhere.",
        "The level of evidence was not assessed.",
        "This recommendation is not graded.",
        "An appendix table lists HbA1c targets.",
        "Grade A- students are not a clinical matter.",
        "Discuss the class of drug and the level of care with the family.",
    ],
)
def test_ordinary_text_has_no_grade(text: str) -> None:
    assert extract_grades(text) == []


@pytest.mark.parametrize(
    "text",
    [
        # BUG: the GRADE pattern is case-insensitive and needs no parentheses or "recommendation", so
        # any "strong, low..." / "weak, low..." phrase in prose becomes a graded recommendation.
        "Smoking cessation is a strong, low-cost intervention.",
        "Patients with weak, low-grade fever can be observed.",
        # BUG: "(2D)" as in two-dimensional echocardiography is read as KDIGO "Grade 2D".
        "Obtain transthoracic echocardiography (2D) at baseline.",
        # BUG: a trauma centre's designation is read as a Brain Trauma Foundation evidence level.
        "Transfer the patient to a Level I trauma center.",
    ],
)
def test_clinical_prose_that_only_looks_like_a_grade(text: str) -> None:
    assert extract_grades(text) == []
