"""Patient summary and early-warning flags: each rule at its boundaries, on hand-built events."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

import pytest

from patient_index.flags import MixedPatientsError, clinical_time, early_warning_flags
from patient_index.model import Event
from patient_index.summary import WATCHED, build_summary
from patient_index.units import canonical_unit

AS_OF = date(2024, 6, 15)
_ids = itertools.count()

SUMMARY_KEYS = {
    "patient_id",
    "age",
    "sex",
    "as_of",
    "problems",
    "medications",
    "allergies",
    "latest",
    "trends",
    "flags",
    "out_of_range",
    "unit_warnings",
}


# -- event factory -------------------------------------------------------------


def event(resource_type: str = "Observation", *, pid: str = "p1", **fields: Any) -> Event:
    """One timeline event with every always-present key, overridden by ``fields``."""
    n = next(_ids)
    base: dict[str, Any] = {
        "event_id": f"ev-{n}",
        "patient_id": pid,
        "resource_type": resource_type,
        "resource_id": f"r-{n}",
        "part": "",
        "version": "",
        "code_system": "http://loinc.org" if resource_type == "Observation" else "http://snomed.info/sct",
        "code": "",
        "display": "",
        "category": "",
        "value": None,
        "unit": "",
        "reference_range": None,
        "interpretation": "",
        "date": "",
        "date_ts": None,
        "end_date": None,
        "status": "final" if resource_type == "Observation" else "active",
        "text": "",
    }
    base.update(fields)
    return cast(Event, base)


def day(offset_days: int, base: date = AS_OF) -> str:
    """An ISO date ``offset_days`` from ``base`` (negative is earlier)."""
    return (base + timedelta(days=offset_days)).isoformat()


def obs(code: str, value: float, when: str, unit: str | None = None, **fields: Any) -> Event:
    if unit is None:
        unit = canonical_unit(code) or ""
    return event(code=code, display=f"LOINC {code}", value=value, unit=unit, date=when, **fields)


def patient(birth: str = "1970-01-01", gender: str = "female", died: str | None = None, **kw: Any) -> Event:
    return event("Patient", gender=gender, birth_date=birth, deceased_date=died, date=birth, **kw)


def condition(code: str, onset: str, status: str = "active", end: str | None = None) -> Event:
    return event("Condition", code=code, display=f"Condition {code}", date=onset, status=status, end_date=end)


def medication(code: str, authored: str, status: str = "active", end: str | None = None) -> Event:
    return event(
        "MedicationRequest",
        code=code,
        code_system="http://www.nlm.nih.gov/research/umls/rxnorm",
        display=f"Drug {code}",
        date=authored,
        status=status,
        end_date=end,
    )


def bp(when: str, systolic: float, diastolic: float, **kw: Any) -> list[Event]:
    return [obs("8480-6", systolic, when, **kw), obs("8462-4", diastolic, when, **kw)]


def flags_of(events: list[Event], as_of: date = AS_OF) -> dict[str, dict[str, Any]]:
    flags = early_warning_flags(events, as_of)
    ids = [f["id"] for f in flags]
    assert len(ids) == len(set(ids)), "each flag appears at most once"
    return {f["id"]: f for f in flags}


def trend(summary: dict[str, Any], code: str) -> dict[str, Any]:
    return next(t for t in summary["trends"] if t["code"] == code)


# -- shape, isolation, empty input -----------------------------------------------


def test_refuses_events_of_more_than_one_patient() -> None:
    events = [patient(), obs("4548-4", 6.0, day(-10)), obs("4548-4", 6.1, day(-5), pid="p2")]
    with pytest.raises(ValueError, match="exactly one patient") as info:
        build_summary(events, as_of=AS_OF)
    assert isinstance(info.value, MixedPatientsError)
    assert info.value.patient_count == 2
    assert "p2" not in str(info.value)  # identifiers stay out of messages that may be logged
    with pytest.raises(MixedPatientsError):
        early_warning_flags(events, AS_OF)


def test_an_event_without_patient_id_counts_as_another_patient() -> None:
    with pytest.raises(MixedPatientsError):
        build_summary([patient(), obs("4548-4", 6.0, day(-1), pid="")], as_of=AS_OF)


def test_empty_input_gives_an_empty_summary_as_of_today() -> None:
    summary = build_summary([])
    assert set(summary) == SUMMARY_KEYS
    assert summary == {
        "patient_id": None,
        "age": None,
        "sex": None,
        "as_of": date.today().isoformat(),
        "problems": [],
        "medications": [],
        "allergies": [],
        "latest": {},
        "trends": [],
        "flags": [],
        "out_of_range": [],
        "unit_warnings": [],
    }
    assert early_warning_flags([], AS_OF) == []


def test_summary_is_json_ready_with_exact_keys() -> None:
    events = [
        patient(),
        condition("44054006", day(-400)),
        medication("860975", day(-300)),
        obs("4548-4", 6.8, day(-200)),
        obs("4548-4", 7.1, day(-10)),
        *bp(day(-20), 150, 95),
        *bp(day(-5), 150, 95),
    ]
    summary = build_summary(events, as_of=AS_OF)
    assert set(summary) == SUMMARY_KEYS
    assert json.loads(json.dumps(summary)) == summary
    assert summary["patient_id"] == "p1"


def test_as_of_defaults_to_the_latest_event_day_and_accepts_a_datetime() -> None:
    events = [patient(birth="1980-01-01"), obs("4548-4", 6.0, "2023-03-01T08:00:00+01:00")]
    assert build_summary(events)["as_of"] == "2023-03-01"
    assert build_summary(events, as_of=datetime(2023, 2, 1, 12, 0))["as_of"] == "2023-02-01"


# -- demographics ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "as_of", "age"),
    [
        ("2000-06-15", date(2024, 6, 14), 23),  # the day before the birthday
        ("2000-06-15", date(2024, 6, 15), 24),  # the birthday itself
        ("2000-02-29", date(2023, 2, 28), 22),  # leap-day birthday in a common year: not yet
        ("2000-02-29", date(2023, 3, 1), 23),
        ("2000-02-29", date(2024, 2, 29), 24),
        ("2024-06-15", date(2024, 6, 15), 0),
    ],
)
def test_age_in_whole_years_at_the_birthday_boundary(birth: str, as_of: date, age: int) -> None:
    assert build_summary([patient(birth=birth)], as_of=as_of)["age"] == age


def test_age_stops_at_death_and_is_unknown_without_birth_date_or_before_birth() -> None:
    assert build_summary([patient(birth="1950-05-01", died="2010-04-30T10:00:00Z")], as_of=AS_OF)["age"] == 59
    assert build_summary([patient(birth="")], as_of=AS_OF)["age"] is None
    assert build_summary([patient(birth="2030-01-01")], as_of=AS_OF)["age"] is None
    assert build_summary([obs("4548-4", 6.0, day(-1))], as_of=AS_OF)["age"] is None


def test_sex_comes_from_the_patient_gender() -> None:
    assert build_summary([patient(gender="male")], as_of=AS_OF)["sex"] == "male"
    assert build_summary([patient(gender="")], as_of=AS_OF)["sex"] is None


# -- as_of cut-off and latest values ----------------------------------------------------


def test_as_of_excludes_later_data_everywhere() -> None:
    later = [
        obs("4548-4", 9.0, day(1)),
        obs("18262-6", 250, day(1)),
        condition("38341003", day(1)),
        medication("197361", day(1)),
        event("AllergyIntolerance", code="300913006", display="Shellfish", date=day(1)),
    ]
    events = [patient(), obs("4548-4", 5.2, day(-30)), obs("4548-4", 5.3, day(0)), *later]
    summary = build_summary(events, as_of=AS_OF)
    assert summary["latest"]["4548-4"]["value"] == 5.3
    assert "18262-6" not in summary["latest"]
    assert trend(summary, "4548-4")["n"] == 2
    assert summary["problems"] == summary["medications"] == summary["allergies"] == []
    assert summary["flags"] == []


def test_the_as_of_day_uses_the_clinical_day_as_recorded() -> None:
    # 23:30 at UTC-5 on the as_of day is already the next day in UTC; it still belongs to as_of
    late = obs("29463-7", 80.0, f"{AS_OF}T23:30:00-05:00")
    summary = build_summary([patient(), obs("29463-7", 79.0, day(-3)), late], as_of=AS_OF)
    assert summary["latest"]["29463-7"] == {
        "display": "LOINC 29463-7",
        "value": 80.0,
        "unit": "kg",
        "date": AS_OF.isoformat(),
        "cite": [late["event_id"]],
    }


def test_latest_takes_the_last_reading_of_a_day_and_skips_undated_void_and_text_values() -> None:
    morning = obs("8867-4", 88, f"{AS_OF}T08:00:00+00:00", unit="/min")
    evening = obs("8867-4", 72, f"{AS_OF}T18:00:00+00:00", unit="/min")
    events = [
        patient(),
        evening,
        morning,
        obs("8867-4", 120, "", unit="/min"),  # undated: cannot be placed in time
        obs("8867-4", 130, day(-1), unit="/min", status="entered-in-error"),
        event(code="72166-2", display="Tobacco smoking status", value="Never smoker", date=day(0)),
    ]
    latest = build_summary(events, as_of=AS_OF)["latest"]
    assert latest["8867-4"]["value"] == 72
    assert latest["8867-4"]["cite"] == [evening["event_id"]]
    assert "72166-2" not in latest


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-15", date(2024, 6, 15)),
        ("2024-06", date(2024, 6, 1)),
        ("2024", date(2024, 1, 1)),
        ("2024-06-15T10:20:30Z", date(2024, 6, 15)),
        ("2024-06-15T10:20:30.123+02:00", date(2024, 6, 15)),
        ("2024-06-15T10:20:30", date(2024, 6, 15)),
    ],
)
def test_dates_are_parsed_robustly(text: str, expected: date) -> None:
    parsed = clinical_time(text)
    assert parsed is not None and parsed[0] == expected


@pytest.mark.parametrize("text", ["", "not a date", "2024-13-01", None, 20240615])
def test_unreadable_dates_give_none(text: Any) -> None:
    assert clinical_time(text) is None


# -- problems, medications, allergies --------------------------------------------------


def test_problems_active_at_as_of() -> None:
    active = condition("44054006", day(-900))
    resolved_before = condition("10509002", day(-100), status="resolved", end=day(-10))
    resolved_on_as_of = condition("195662009", day(-100), status="resolved", end=day(0))
    resolved_after = condition("36971009", day(-100), status="resolved", end=day(1))
    resolved_undated = condition("65363002", day(-100), status="resolved")
    active_but_ended = condition("283371005", day(-100), status="active", end=day(-1))
    onset_after = condition("40055000", day(1))
    onset_on_as_of = condition("59621000", f"{AS_OF}T16:00:00-07:00")
    inactive = condition("162864005", day(-50), status="inactive")
    events = [
        patient(),
        active,
        resolved_before,
        resolved_on_as_of,
        resolved_after,
        resolved_undated,
        active_but_ended,
        onset_after,
        inactive,
        onset_on_as_of,
    ]
    problems = build_summary(events, as_of=AS_OF)["problems"]
    assert [p["code"] for p in problems] == ["44054006", "36971009", "59621000"]
    assert problems[0] == {
        "display": "Condition 44054006",
        "code": "44054006",
        "code_system": "http://snomed.info/sct",
        "onset": day(-900),
        "cite": [active["event_id"]],
    }


def test_a_repeated_problem_is_listed_once_from_its_first_onset_citing_every_entry() -> None:
    first, again = condition("44054006", "2015-03-01T10:00:00-04:00"), condition("44054006", "2020-01-01")
    problems = build_summary([patient(), again, first], as_of=AS_OF)["problems"]
    assert len(problems) == 1
    assert problems[0]["onset"] == "2015-03-01"
    assert problems[0]["cite"] == [first["event_id"], again["event_id"]]


def test_recurrence_counts_as_active_and_an_undated_active_problem_is_kept() -> None:
    events = [patient(), condition("1", day(-5), status="recurrence"), condition("2", "")]
    problems = build_summary(events, as_of=AS_OF)["problems"]
    assert [(p["code"], p["onset"]) for p in problems] == [("1", day(-5)), ("2", None)]


def test_medications_in_force_at_as_of() -> None:
    active = medication("860975", day(-400))
    stopped = medication("310798", day(-300), status="stopped")
    stopped_after = medication("314076", day(-300), status="stopped", end=day(30))
    stopped_on_as_of = medication("197361", day(-300), status="completed", end=day(0))
    active_but_ended = medication("308136", day(-300), status="active", end=day(-1))
    authored_after = medication("849574", day(2))
    void = medication("313782", day(-20), status="entered-in-error", end=day(30))
    statement = event(
        "MedicationStatement", code="1049630", display="Acetaminophen", date=day(-3), status="active"
    )
    events = [
        patient(),
        active,
        stopped,
        stopped_after,
        stopped_on_as_of,
        active_but_ended,
        authored_after,
        void,
        statement,
    ]
    meds = build_summary(events, as_of=AS_OF)["medications"]
    assert [m["code"] for m in meds] == ["860975", "314076", "1049630"]
    assert meds[0] == {
        "display": "Drug 860975",
        "code": "860975",
        "since": day(-400),
        "cite": [active["event_id"]],
    }


def test_allergies_active_at_as_of() -> None:
    peanut = event("AllergyIntolerance", code="91935009", display="Peanut", date=day(-800))
    inactive = event(
        "AllergyIntolerance", code="300913006", display="Shellfish", date=day(-5), status="inactive"
    )
    later = event("AllergyIntolerance", code="419474003", display="Mould", date=day(5))
    allergies = build_summary([patient(), peanut, inactive, later], as_of=AS_OF)["allergies"]
    assert allergies == [
        {"display": "Peanut", "code": "91935009", "since": day(-800), "cite": [peanut["event_id"]]}
    ]


# -- units -----------------------------------------------------------------------------------


def test_unit_flagged_values_are_reported_and_left_out_of_latest_trends_and_flags() -> None:
    good = [obs("4548-4", 5.4, day(-400)), obs("4548-4", 5.5, day(-30))]
    flagged = obs("4548-4", 48.0, day(-1), unit="mmol/mol?", unit_flag="unit 'mmol/mol?' cannot be converted")
    events = [patient(), *good, flagged]
    summary = build_summary(events, as_of=AS_OF)
    assert summary["latest"]["4548-4"]["value"] == 5.5
    assert trend(summary, "4548-4")["n"] == 2
    assert flagged["event_id"] not in trend(summary, "4548-4")["cite"]
    assert summary["flags"] == []  # 48 would be far into the diabetes range if it were mixed in
    assert summary["unit_warnings"] == [
        {
            "code": "4548-4",
            "display": "LOINC 4548-4",
            "value": 48.0,
            "unit": "mmol/mol?",
            "unit_flag": "unit 'mmol/mol?' cannot be converted",
            "date": day(-1),
            "cite": [flagged["event_id"]],
        }
    ]


def test_a_value_outside_its_series_unit_is_never_mixed_in_even_without_a_flag() -> None:
    stray = obs("29463-7", 176.0, day(-1), unit="[lb_av]")
    summary = build_summary([patient(), obs("29463-7", 80.0, day(-100)), stray], as_of=AS_OF)
    assert summary["latest"]["29463-7"]["value"] == 80.0
    assert [w["cite"] for w in summary["unit_warnings"]] == [[stray["event_id"]]]
    assert "not the series unit kg" in summary["unit_warnings"][0]["unit_flag"]


def test_watched_series_each_have_one_canonical_unit() -> None:
    for spec in WATCHED:
        units = {canonical_unit(code) for code in spec.codes}
        assert len(units) == 1 and None not in units, spec


# -- trends ------------------------------------------------------------------------------------


def test_trend_fields_slope_and_cited_points() -> None:
    base = date(2022, 1, 1)
    values = [(-1500, 5.0), (-600, 5.4), (-300, 5.6), (0, 5.8), (300, 6.0), (600, 6.2), (900, 6.4)]
    events = [patient(), *[obs("4548-4", v, day(d, base)) for d, v in values]]
    as_of = base + timedelta(days=900)
    t = trend(build_summary(events, as_of=as_of), "4548-4")
    assert t["code"] == "4548-4" and t["display"] == "Hemoglobin A1c" and t["unit"] == "%"
    assert t["n"] == 7
    assert t["first"] == {"value": 5.0, "date": day(-1500, base)}
    assert t["last"] == {"value": 6.4, "date": day(900, base)}
    assert [p["value"] for p in t["last_values"]] == [5.6, 5.8, 6.0, 6.2, 6.4]
    # the window is the 3 years before as_of (day -196 on): days 0..900, 0.2 % every 300 days
    assert t["change_per_year"] == pytest.approx(0.2 * 365.25 / 300, abs=1e-4)
    assert t["direction"] == "rising"
    ids = [e["event_id"] for e in events[1:]]
    assert t["cite"] == [ids[0], *ids[2:]]  # first, window (0..900) and last five (-300..900)


def test_trend_groups_alternate_codes_of_a_series() -> None:
    events = [patient(), obs("2339-0", 95, day(-400)), obs("2345-7", 105, day(-10))]
    t = trend(build_summary(events, as_of=AS_OF), "2339-0")
    assert t["n"] == 2 and t["last"]["value"] == 105


def _two_point_trend(code: str, first: float, second: float, days: float) -> dict[str, Any]:
    start = datetime(2023, 1, 1, 0, 0)
    end = start + timedelta(days=days)
    events = [
        patient(),
        obs(code, first, f"{start.isoformat()}+00:00"),
        obs(code, second, f"{end.isoformat()}+00:00"),
    ]
    return trend(build_summary(events, as_of=end.date()), code)


@pytest.mark.parametrize(
    ("code", "first", "second", "direction"),
    [
        ("29463-7", 70.0, 72.0, "rising"),  # exactly the 2 kg/yr threshold
        ("29463-7", 70.0, 71.9, "stable"),
        ("29463-7", 70.0, 68.0, "falling"),
        ("33914-3", 80.0, 78.5, "stable"),  # eGFR threshold 2 per year
        ("33914-3", 80.0, 78.0, "falling"),
        ("8480-6", 120.0, 123.0, "rising"),  # SBP 3 mmHg per year
        ("8480-6", 120.0, 122.5, "stable"),
        ("18262-6", 100.0, 110.0, "rising"),  # LDL 10 mg/dL per year
        ("18262-6", 100.0, 95.0, "stable"),
        ("39156-5", 25.0, 25.5, "rising"),  # BMI 0.5 per year
        ("39156-5", 25.0, 25.25, "stable"),
    ],
)
def test_direction_thresholds_per_year(code: str, first: float, second: float, direction: str) -> None:
    t = _two_point_trend(code, first, second, days=365.25)  # exactly one year apart
    assert t["change_per_year"] == pytest.approx(second - first)
    assert t["direction"] == direction


def test_slope_needs_two_points_spanning_30_days_within_three_years() -> None:
    assert _two_point_trend("29463-7", 70, 71, days=29)["change_per_year"] is None
    short = _two_point_trend("29463-7", 70, 71, days=29)
    assert short["direction"] is None and short["n"] == 2
    assert _two_point_trend("29463-7", 70, 71, days=30)["change_per_year"] == pytest.approx(365.25 / 30)
    old = [patient(), obs("29463-7", 60.0, day(-3 * 366)), obs("29463-7", 80.0, day(-5))]
    t = trend(build_summary(old, as_of=AS_OF), "29463-7")
    assert t["n"] == 2 and t["change_per_year"] is None and t["first"]["value"] == 60.0
    single = trend(build_summary([patient(), obs("29463-7", 80.0, day(-5))], as_of=AS_OF), "29463-7")
    assert single["n"] == 1 and single["first"] == single["last"] and single["direction"] is None


def test_unwatched_series_have_latest_values_but_no_trend() -> None:
    summary = build_summary([patient(), obs("8867-4", 70, day(-1), unit="/min")], as_of=AS_OF)
    assert "8867-4" in summary["latest"] and summary["trends"] == []


# -- out of range ------------------------------------------------------------------------------


def test_out_of_range_uses_the_reference_range_and_interpretation_of_latest_values() -> None:
    high = obs(
        "2947-0",
        150.0,
        day(-1),
        unit="mmol/L",
        reference_range={"low": 136.0, "high": 145.0, "unit": "mmol/L"},
    )
    low = obs(
        "6298-4", 3.1, day(-1), unit="mmol/L", reference_range={"low": 3.5, "high": 5.1, "unit": "mmol/L"}
    )
    edge = obs(
        "2069-3",
        107.0,
        day(-1),
        unit="mmol/L",
        reference_range={"low": 98.0, "high": 107.0, "unit": "mmol/L"},
    )
    flagged = obs("718-7", 11.0, day(-1), unit="g/dL", interpretation="L")
    earlier_high = obs(
        "2951-2", 150.0, day(-50), unit="mmol/L", reference_range={"low": 136.0, "high": 145.0}
    )
    now_normal = obs("2951-2", 140.0, day(-1), unit="mmol/L", reference_range={"low": 136.0, "high": 145.0})
    normal_interp = obs("777-3", 250.0, day(-1), unit="10*3/uL", interpretation="N")
    events = [patient(), high, low, edge, flagged, earlier_high, now_normal, normal_interp]
    out = {o["code"]: o for o in build_summary(events, as_of=AS_OF)["out_of_range"]}
    assert set(out) == {"2947-0", "6298-4", "718-7"}
    assert out["2947-0"]["reason"] == "above reference range high 145"
    assert out["2947-0"]["cite"] == [high["event_id"]]
    assert out["6298-4"]["reason"] == "below reference range low 3.5"
    assert out["718-7"]["reason"] == "interpretation L" and out["718-7"]["cite"] == [flagged["event_id"]]


def test_a_converted_value_is_compared_with_its_range_in_the_recorded_unit() -> None:
    # glucose recorded as 5.0 mmol/L (normalised to 90.08 mg/dL) with its range in mmol/L
    converted = obs(
        "2345-7",
        90.08,
        day(-1),
        original_value=5.0,
        original_unit="mmol/L",
        reference_range={"low": 3.9, "high": 5.5, "unit": "mmol/L"},
    )
    unitless_range = obs(
        "2093-3",
        232.0,
        day(-1),
        original_value=6.0,
        original_unit="mmol/L",
        reference_range={"low": None, "high": 5.2},
    )
    foreign_unit = obs("2160-0", 1.0, day(-1), reference_range={"low": 60.0, "high": 110.0, "unit": "umol/L"})
    events = [patient(), converted, unitless_range, foreign_unit]
    out = build_summary(events, as_of=AS_OF)["out_of_range"]
    assert [o["code"] for o in out] == ["2093-3"]
    assert out[0]["reason"] == "above reference range high 5.2"


# -- flags: eGFR -------------------------------------------------------------------------------


def egfr(value: float, when: str) -> Event:
    return obs("33914-3", value, when)


def test_egfr_rapid_decline_needs_more_than_5_per_year_over_90_days() -> None:
    start, year = datetime(2023, 6, 1), timedelta(days=365.25)

    def at(t: datetime) -> str:
        return f"{t.isoformat()}+00:00"

    falling_6 = [egfr(80, at(start)), egfr(74, at(start + year))]
    assert "egfr-rapid-decline" in flags_of(falling_6, (start + year).date())
    flag = flags_of(falling_6, (start + year).date())["egfr-rapid-decline"]
    assert flag["severity"] == "warning" and flag["cite"] == [e["event_id"] for e in falling_6]
    assert "KDIGO" in flag["threshold_source"]
    falling_5 = [egfr(80, at(start)), egfr(75, at(start + year))]
    assert "egfr-rapid-decline" not in flags_of(falling_5, (start + year).date())
    steep_but_short = [egfr(80, day(-89)), egfr(70, day(0))]
    assert "egfr-rapid-decline" not in flags_of(steep_but_short)
    assert "egfr-rapid-decline" in flags_of([egfr(80, day(-90)), egfr(70, day(0))])


def test_egfr_below_60_must_persist_90_days_for_the_ckd_criterion() -> None:
    persistent = [egfr(58, day(-90)), egfr(55, day(0))]
    flag = flags_of(persistent)["egfr-below-60-persistent"]
    assert flag["severity"] == "warning" and "G3a" in flag["summary"]
    assert flag["cite"] == [e["event_id"] for e in persistent]
    short = flags_of([egfr(58, day(-89)), egfr(55, day(0))])
    assert "egfr-below-60-persistent" not in short
    assert short["egfr-below-60-unconfirmed"]["severity"] == "info"
    assert flags_of([egfr(12, day(0))])["egfr-below-60-unconfirmed"]["severity"] == "critical"
    # a value back above 60 in between restarts the count
    interrupted = flags_of([egfr(55, day(-200)), egfr(65, day(-100)), egfr(50, day(-30)), egfr(48, day(0))])
    assert "egfr-below-60-unconfirmed" in interrupted and "egfr-below-60-persistent" not in interrupted
    assert "egfr-below-60-persistent" not in flags_of([egfr(60, day(-200)), egfr(60, day(0))])
    back_at_60 = flags_of([egfr(59, day(-200)), egfr(60, day(-100)), egfr(59, day(0))])
    assert "egfr-below-60-persistent" not in back_at_60 and "egfr-below-60-unconfirmed" in back_at_60


@pytest.mark.parametrize(
    ("latest", "stage", "severity"),
    [(59.9, "G3a", "warning"), (44.9, "G3b", "warning"), (29, "G4", "warning"), (14.9, "G5", "critical")],
)
def test_egfr_category_and_severity(latest: float, stage: str, severity: str) -> None:
    flag = flags_of([egfr(latest + 0.05, day(-120)), egfr(latest, day(0))])["egfr-below-60-persistent"]
    assert stage in flag["summary"] and flag["severity"] == severity


# -- flags: HbA1c ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "flag_id"),
    [
        (5.69, None),
        (5.7, "hba1c-prediabetes-range"),
        (6.49, "hba1c-prediabetes-range"),
        (6.5, "hba1c-diabetes-range"),
        (9.0, "hba1c-diabetes-range"),
    ],
)
def test_hba1c_ranges(value: float, flag_id: str | None) -> None:
    flags = flags_of([obs("4548-4", value, day(-1))])
    hba1c = {k: v for k, v in flags.items() if k.startswith("hba1c")}
    assert list(hba1c) == ([flag_id] if flag_id else [])


def test_hba1c_crossing_cites_the_previous_value_below_the_threshold() -> None:
    before, after = obs("4548-4", 6.1, day(-180)), obs("4548-4", 6.7, day(-1))
    flag = flags_of([before, after])["hba1c-diabetes-range"]
    assert "crossing the 6.5% diabetes threshold" in flag["summary"]
    assert flag["cite"] == [before["event_id"], after["event_id"]]
    assert flag["severity"] == "warning" and "ADA Standards of Care 2024" in flag["threshold_source"]
    already, still = obs("4548-4", 6.9, day(-180)), obs("4548-4", 6.7, day(-1))
    flag = flags_of([already, still])["hba1c-diabetes-range"]
    assert "crossing" not in flag["summary"] and flag["cite"] == [still["event_id"]]
    down = flags_of([obs("4548-4", 7.0, day(-180)), obs("4548-4", 6.0, day(-1))])
    assert (
        set(down) == {"hba1c-prediabetes-range"}
        and "crossing" not in down["hba1c-prediabetes-range"]["summary"]
    )
    up = flags_of([obs("4548-4", 5.5, day(-180)), obs("4548-4", 5.9, day(-1))])["hba1c-prediabetes-range"]
    assert "crossing the 5.7% prediabetes threshold" in up["summary"] and up["severity"] == "info"


def test_hba1c_flag_ignores_values_after_as_of() -> None:
    assert flags_of([obs("4548-4", 5.4, day(-10)), obs("4548-4", 7.0, day(1))]) == {}


# -- flags: blood pressure ---------------------------------------------------------------------


def bp_flag(readings: Sequence[tuple[int, float, float]], birth: str = "1970-01-01") -> dict[str, Any] | None:
    events = [patient(birth=birth)] + [e for d, s, dia in readings for e in bp(day(d), s, dia)]
    found = [f for f in early_warning_flags(events, AS_OF) if f["id"].startswith("bp-")]
    assert len(found) <= 1
    return found[0] if found else None


@pytest.mark.parametrize(
    ("readings", "flag_id"),
    [
        ([(-60, 129, 79), (-1, 129, 79)], None),  # elevated at most
        ([(-60, 132, 78), (-1, 128, 82)], "bp-stage-1"),  # mean 130/80: stage 1 by both
        ([(-60, 139, 70), (-1, 140, 70)], "bp-stage-1"),  # mean 139.5: still stage 1
        ([(-60, 140, 85), (-1, 140, 85)], "bp-stage-2"),
        ([(-60, 120, 90), (-1, 120, 90)], "bp-stage-2"),  # diastolic alone decides
        ([(-1, 150, 95)], None),  # one visit day is not enough to stage
        ([(-400, 150, 95), (-1, 150, 95)], None),  # the other reading is older than a year
        (
            [(-90, 170, 100), (-60, 120, 70), (-30, 120, 70), (-1, 120, 70)],
            None,
        ),  # only the last 3 days count
        ([(-30, 150, 95), (-1, 180, 100)], "bp-severe"),
        ([(-1, 150, 120)], "bp-severe"),  # severe on a single day
        ([(-1, 179, 119)], None),
    ],
)
def test_blood_pressure_classes(readings: list[tuple[int, float, float]], flag_id: str | None) -> None:
    flag = bp_flag(readings)
    assert (flag["id"] if flag else None) == flag_id
    if flag:
        severity = {"bp-stage-1": "info", "bp-stage-2": "warning", "bp-severe": "critical"}
        assert flag["severity"] == severity[flag["id"]]
        assert flag["threshold_source"].startswith("2017 ACC/AHA hypertension guideline")


def test_blood_pressure_averages_readings_of_one_day_first_and_cites_them() -> None:
    events = [
        patient(),
        *bp(day(-30), 150, 95),
        *bp(f"{AS_OF}T08:00:00Z", 150, 95),
        *bp(f"{AS_OF}T09:00:00Z", 110, 65),
    ]
    (flag,) = [f for f in early_warning_flags(events, AS_OF) if f["id"].startswith("bp-")]
    # day means 150/95 and 130/80: mean 140/87.5, stage 2 by the systolic
    assert flag["id"] == "bp-stage-2" and "140/87.5" in flag["summary"]
    assert flag["cite"] == [e["event_id"] for e in events[1:] if e["code"] == "8480-6"] + [
        e["event_id"] for e in events[1:] if e["code"] == "8462-4"
    ]


def test_blood_pressure_window_is_the_year_up_to_as_of_inclusive() -> None:
    a_year_ago = (AS_OF - date(2023, 6, 15)).days  # 2023-06-15 is the first day of the window
    assert bp_flag([(-a_year_ago, 150, 95), (-1, 150, 95)]) is not None
    assert bp_flag([(-a_year_ago - 1, 150, 95), (-1, 150, 95)]) is None


def test_blood_pressure_stages_are_for_adults_but_severe_is_always_raised() -> None:
    readings = [(-60, 150, 95), (-1, 150, 95)]  # the last on 2024-06-14
    assert bp_flag(readings, birth="2010-01-01") is None
    assert bp_flag(readings, birth="2006-06-15") is None  # 17 on the last reading day
    assert bp_flag(readings, birth="2006-06-14") is not None  # 18 that day
    severe = bp_flag([(-1, 185, 110)], birth="2010-01-01")
    assert severe is not None and severe["id"] == "bp-severe"


# -- flags: LDL, BMI ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "value", "raised"), [("18262-6", 189.9, False), ("18262-6", 190, True), ("13457-7", 210, True)]
)
def test_ldl_190(code: str, value: float, raised: bool) -> None:
    flags = flags_of([obs(code, value, day(-3))])
    assert ("ldl-190" in flags) is raised
    if raised:
        assert flags["ldl-190"]["threshold_source"].startswith("2018 ACC/AHA cholesterol guideline")


def test_ldl_flag_reads_only_the_latest_value() -> None:
    assert flags_of([obs("18262-6", 200, day(-300)), obs("18262-6", 150, day(-3))]) == {}


@pytest.mark.parametrize(
    ("value", "obesity_class", "severity"),
    [
        (29.9, None, None),
        (30.0, "I", "info"),
        (34.9, "I", "info"),
        (35.0, "II", "info"),
        (40.0, "III", "warning"),
    ],
)
def test_bmi_obesity_classes(value: float, obesity_class: str | None, severity: str | None) -> None:
    flag = flags_of([patient(), obs("39156-5", value, day(-2))]).get("bmi-obesity")
    if obesity_class is None:
        assert flag is None
    else:
        assert flag is not None
        assert flag["summary"].endswith(f"obesity class {obesity_class}") and flag["severity"] == severity
        assert flag["threshold_source"].startswith("WHO/NIH BMI classes")


def test_bmi_classes_apply_to_adults_and_to_unknown_age_with_a_note() -> None:
    assert flags_of([patient(birth=day(-19 * 365)), obs("39156-5", 33, day(-2))]) == {}
    unknown = flags_of([obs("39156-5", 33, day(-2))])["bmi-obesity"]
    assert "Age unknown" in unknown["detail"]


# -- flags: general ----------------------------------------------------------------------------


def test_flags_are_sorted_by_severity_short_and_cite_real_events() -> None:
    events = [
        patient(),
        egfr(40, day(-400)),
        egfr(12, day(-1)),
        obs("4548-4", 5.5, day(-200)),
        obs("4548-4", 6.6, day(-2)),
        *bp(day(-40), 135, 85),
        *bp(day(-2), 133, 84),
        obs("18262-6", 195, day(-2)),
        obs("39156-5", 41, day(-2)),
    ]
    flags = early_warning_flags(events, AS_OF)
    order = {"critical": 0, "warning": 1, "info": 2}
    assert [order[f["severity"]] for f in flags] == sorted(order[f["severity"]] for f in flags)
    assert {f["id"] for f in flags} == {
        "egfr-rapid-decline",
        "egfr-below-60-persistent",
        "hba1c-diabetes-range",
        "bp-stage-1",
        "ldl-190",
        "bmi-obesity",
    }
    ids = {e["event_id"] for e in events}
    for f in flags:
        assert set(f) == {"id", "severity", "summary", "detail", "threshold_source", "cite"}
        assert len(f["summary"]) <= 140, f["summary"]
        assert f["cite"] and set(f["cite"]) <= ids
        assert f["detail"] and f["threshold_source"]


def test_unit_flagged_values_never_raise_flags() -> None:
    events = [
        obs("33914-3", 20, day(-200), unit="mL/min", unit_flag="not per 1.73 m2"),
        obs("33914-3", 20, day(-1), unit="mL/min", unit_flag="not per 1.73 m2"),
        obs("18262-6", 5.5, day(-1), unit="mmol/L?", unit_flag="unknown unit"),
    ]
    assert early_warning_flags(events, AS_OF) == []
