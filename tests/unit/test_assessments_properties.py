"""Properties every assessment keeps on generated records: missing, old and conflicting inputs.

* Sufficient or not: ``insufficient data`` always says what to measure (``missing``), and a
  verdict never comes with a ``missing`` list.
* Citations: every input cites events of this patient dated on or before ``as_of``.
* Missing: removing an input a computed result used turns it into ``insufficient data``
  naming that input.
* Old: moving ``as_of`` past an input's staleness limit does the same.
* Conflicting: the order of events, duplicated entries and a contradicting laboratory eGFR do
  not change a result; of two values the later one decides; a value in a unit that cannot be
  converted is never used.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install hypothesis)")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assessments import ASSESSMENT_IDS, INSUFFICIENT, assess
from tests.unit.test_assessments_factory import Patient

AS_OF = date(2024, 6, 30)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONDITIONS = [
    ("Ischemic heart disease", "414545008"),
    ("Diabetes", "44054006"),
    ("Hypertension", "38341003"),
    ("Atrial Fibrillation", "49436004"),
    ("Chronic congestive heart failure (disorder)", "88805009"),
    ("Stroke", "230690007"),
    ("Prediabetes", "15777000"),
]
days = st.integers(min_value=0, max_value=6 * 365).map(lambda n: (AS_OF - timedelta(days=n)).isoformat())


@st.composite
def records(draw: st.DrawFn) -> Patient:
    born = draw(
        st.dates(date(1925, 1, 1), date(2004, 1, 1)) | st.dates(date(1946, 1, 1), date(1983, 1, 1))
    ).isoformat()
    p = Patient(born, draw(st.sampled_from(["male", "female", "other", ""])))
    for code, lo, hi in (("38483-4", 0.4, 9.0), ("4548-4", 4.5, 11.0), ("2093-3", 120, 330), ("2085-9", 20, 100),
                         ("18262-6", 40, 250), ("14959-1", 1, 2000), ("39156-5", 15, 50), ("33914-3", 5, 130),
                         ("1920-8", 10, 200), ("1742-6", 5, 200), ("777-3", 50, 450)):  # fmt: skip
        for _ in range(draw(st.integers(0, 3))):
            p.obs(code, draw(st.floats(lo, hi, allow_nan=False)), draw(days))
    for _ in range(draw(st.integers(0, 3))):
        p.bp(draw(st.integers(85, 210)), draw(st.integers(50, 130)), draw(days))
    if draw(st.booleans()):
        p.smoking(draw(st.sampled_from(["Never smoker", "Former smoker", "Current every day smoker", "Unknown"])),
                  draw(days))  # fmt: skip
    if draw(st.booleans()):  # a full, current risk-factor set, so the risk scores get computed often
        recent = st.integers(0, 300).map(lambda n: (AS_OF - timedelta(days=n)).isoformat())
        for code, lo, hi in (
            ("2093-3", 130, 320),
            ("2085-9", 20, 100),
            ("18262-6", 40, 189),
            ("38483-4", 0.5, 3),
        ):
            p.obs(code, draw(st.floats(lo, hi)), draw(recent))
        p.bp(
            draw(st.integers(90, 200)), draw(st.integers(50, 120)), (AS_OF - timedelta(days=400)).isoformat()
        )
        p.bp(draw(st.integers(90, 200)), draw(st.integers(50, 120)), draw(recent))
        p.smoking(draw(st.sampled_from(["Never smoker", "Current every day smoker"])), draw(recent))
    for display, code in draw(st.lists(st.sampled_from(CONDITIONS), max_size=3, unique=True)):
        p.condition(display, draw(days), code)
    if draw(st.booleans()):
        p.medication(
            draw(st.sampled_from(["Lisinopril 10 MG", "Atorvastatin 40 MG", "Metformin 500 MG"])), draw(days)
        )
    return p


def _signature(p: Patient, as_of: date = AS_OF) -> list[tuple[str, str, float | None]]:
    return [(a.id, a.verdict, a.value) for a in assess(p.events, as_of=as_of)]


@SETTINGS
@given(records())
def test_insufficient_says_what_to_measure_and_inputs_cite_this_record(p: Patient) -> None:
    ids = {e["event_id"] for e in p.events}
    out = assess(p.events, as_of=AS_OF)
    assert [a.id for a in out] == list(ASSESSMENT_IDS)
    for a in out:
        assert (a.verdict == INSUFFICIENT) == bool(a.missing), (a.id, a.verdict, a.missing)
        assert a.statement
        for item in a.inputs:
            assert set(item.event_ids) <= ids, (a.id, item)
            if item.date is not None and item.name not in ("age", "sex"):
                assert item.date <= AS_OF.isoformat(), (a.id, item)
        a.to_json()  # JSON-ready


@SETTINGS
@given(records(), st.randoms(use_true_random=False))
def test_event_order_and_duplicates_do_not_change_results(p: Patient, rnd: random.Random) -> None:
    before = _signature(p)
    shuffled = list(p.events)
    rnd.shuffle(shuffled)
    p.events = shuffled
    assert _signature(p) == before
    p.events = shuffled + [dict(e) for e in shuffled if e["resource_type"] == "Condition"]
    assert _signature(p) == before


_NEEDS = {  # an assessment, the observation codes it reads, and the word its ``missing`` uses for them
    "egfr_ckd_epi_2021": (("38483-4",), "creatinine"),
    "albuminuria": (("14959-1",), "ACR"),
    "bmi_class": (("39156-5",), "BMI"),
    "bp_category": (("8480-6", "8462-4"), "BP"),
    "ascvd_pce_10y": (("2085-9",), "HDL"),
}


@SETTINGS
@given(records())
def test_removing_a_used_input_gives_insufficient_data_naming_it(p: Patient) -> None:
    for aid, (codes, word) in _NEEDS.items():
        (a,) = assess(p.events, as_of=AS_OF, only=[aid])
        if a.value is None and a.verdict in (INSUFFICIENT, "not applicable"):
            continue
        kept = [e for e in p.events if e.get("code") not in codes]
        (b,) = assess(kept, as_of=AS_OF, only=[aid])
        assert b.verdict == INSUFFICIENT and any(word in m for m in b.missing), (aid, b.missing)


@SETTINGS
@given(records())
def test_inputs_past_their_staleness_limit_are_not_used(p: Patient) -> None:
    later = AS_OF + timedelta(days=6 * 365)  # past every limit (the longest is 5 years)
    for a in assess(p.events, as_of=later):
        if a.id in ("egfr_ckd_epi_2021", "ckd_stage", "albuminuria", "kfre", "bmi_class", "bp_category",
                    "fib4", "news2", "ascvd_pce_10y", "prevent_10y"):  # fmt: skip
            assert a.verdict in (INSUFFICIENT, "not applicable"), (a.id, a.statement)
        if a.id == "glycemic_status" and a.verdict != INSUFFICIENT:
            assert a.details.get("by") == "diagnosis", a.statement


@SETTINGS
@given(st.floats(0.5, 8.0), st.floats(0.5, 8.0), st.floats(5, 150))
def test_of_two_creatinines_the_later_decides_and_a_lab_egfr_does_not_override(
    first: float, second: float, lab: float
) -> None:
    p = Patient("1960-01-01", "female")
    p.obs("38483-4", first, "2024-05-01T08:00:00Z")
    p.obs("38483-4", second, "2024-05-01T17:30:00Z")
    expected = Patient("1960-01-01", "female")
    expected.obs("38483-4", second, "2024-05-01T17:30:00Z")
    (a,) = assess(p.events, as_of=AS_OF, only=["egfr_ckd_epi_2021"])
    (b,) = assess(expected.events, as_of=AS_OF, only=["egfr_ckd_epi_2021"])
    assert a.value == b.value
    p.obs("33914-3", lab, "2024-05-01T17:30:00Z")
    (c,) = assess(p.events, as_of=AS_OF, only=["egfr_ckd_epi_2021"])
    assert c.value == b.value and c.details["reported_egfr"] == lab
    (stage,) = assess(p.events, as_of=AS_OF, only=["ckd_stage"])
    assert stage.details["method"] == "CKD-EPI 2021"


@SETTINGS
@given(st.floats(0.5, 8.0))
def test_a_value_in_an_unconvertible_unit_is_never_used(creatinine: float) -> None:
    p = Patient("1960-01-01", "male")
    e = p.obs("38483-4", creatinine, "2024-05-01", unit="mg/L")
    next(x for x in p.events if x["event_id"] == e)["unit_flag"] = "unit 'mg/L' cannot be converted"
    (a,) = assess(p.events, as_of=AS_OF, only=["egfr_ckd_epi_2021"])
    assert a.verdict == INSUFFICIENT


@SETTINGS
@given(st.sampled_from(["entered-in-error", "cancelled"]))
def test_a_voided_observation_is_never_used(status: str) -> None:
    p = Patient("1960-01-01", "male")
    p.obs("4548-4", 7.2, "2024-05-01", status=status)
    (a,) = assess(p.events, as_of=AS_OF, only=["glycemic_status"])
    assert a.verdict == INSUFFICIENT
