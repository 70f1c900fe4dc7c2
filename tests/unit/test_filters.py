"""Command-line guideline filters: what each KEY=VALUE becomes, and what it keeps in a real store."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from retrieval.errors import FilterError
from retrieval.guidelines import guideline_spec, parse_filters
from retrieval.types import AnyOf, Equals, Filter, PointRecord, Range, SparseVec


@pytest.mark.parametrize("key", ["doc_id", "version", "issuer", "grade", "source", "kind", "content_hash"])
def test_keyword_fields(key: str) -> None:
    assert parse_filters([f"{key}=abc"]) == Filter(must=(Equals(key, "abc"),))


def test_comma_means_any_of_and_values_are_trimmed() -> None:
    assert parse_filters(["grade=Grade A, Grade B"]) == Filter(must=(AnyOf("grade", ("Grade A", "Grade B")),))
    assert parse_filters(["doc_id=a,,b,"]) == Filter(must=(AnyOf("doc_id", ("a", "b")),))


def test_key_is_case_insensitive_value_is_kept() -> None:
    assert parse_filters(["  Issuer = ACC/AHA "]) == Filter(must=(Equals("issuer", "ACC/AHA"),))


def test_value_may_contain_an_equals_sign() -> None:
    assert parse_filters(["source=a=b.md"]) == Filter(must=(Equals("source", "a=b.md"),))


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("true", "superseded"),
        ("Yes", "superseded"),
        ("1", "superseded"),
        ("false", "current"),
        ("NO", "current"),
        ("0", "current"),
    ],
)
def test_superseded_maps_to_status(value: str, status: str) -> None:
    assert parse_filters([f"superseded={value}"]) == Filter(must=(Equals("status", status),))


def test_year() -> None:
    assert parse_filters(["year=2018"]) == Filter(must=(Equals("published_year", 2018),))
    assert parse_filters(["published_year=2018"]) == Filter(must=(Equals("published_year", 2018),))
    assert parse_filters(["year=2018,2020"]) == Filter(must=(AnyOf("published_year", (2018, 2020)),))


def test_age_excludes_populations_that_do_not_include_it() -> None:
    flt = parse_filters(["age=45"])
    assert flt is not None and not flt.must
    (low, high) = flt.must_not
    assert isinstance(low, Range) and low.key == "age_min" and low.gte is not None and 45 < low.gte < 45.001
    assert (
        isinstance(high, Range) and high.key == "age_max" and high.lte is not None and 44.999 < high.lte < 45
    )


@pytest.mark.parametrize(("value", "excluded"), [("female", "male"), ("Male", "female"), ("FEMALE", "male")])
def test_sex_excludes_the_other_sex_only(value: str, excluded: str) -> None:
    assert parse_filters([f"sex={value}"]) == Filter(must_not=(Equals("sex", excluded),))


def test_several_items_combine() -> None:
    flt = parse_filters(["issuer=USPSTF", "superseded=false", "sex=female", "age=50"])
    assert flt is not None
    assert flt.must == (Equals("issuer", "USPSTF"), Equals("status", "current"))
    assert Equals("sex", "male") in flt.must_not and len(flt.must_not) == 3


def test_no_items_means_no_filter() -> None:
    assert parse_filters([]) is None


def test_unknown_key_lists_the_known_ones() -> None:
    with pytest.raises(FilterError) as info:
        parse_filters(["colour=red"])
    err = info.value
    assert "Unknown filter field 'colour'" in err.message
    for word in ("doc_id", "grade", "superseded", "year", "age", "sex", "KEY=A,B"):
        assert word in err.hint
    assert err.hint in str(err)


@pytest.mark.parametrize("item", ["doc_id", "=abc", "doc_id=", "doc_id=   ", ""])
def test_item_that_is_not_key_value(item: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filters([item])
    assert "is not KEY=VALUE" in info.value.message
    assert "Use KEY=VALUE" in info.value.hint


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("superseded=maybe", "expected true or false"),
        ("year=last", "expected a four-digit year"),
        ("age=old", "expected a number"),
        ("age=40,50", "expected a number"),
        ("sex=other", "expected female or male"),
    ],
)
def test_malformed_values(item: str, message: str) -> None:
    with pytest.raises(FilterError, match=message) as info:
        parse_filters([item])
    assert item.split("=")[0] in info.value.message


@pytest.mark.parametrize(
    "item",
    [
        # BUG: only commas: values is empty, so the filter is AnyOf(..., ()) and silently matches nothing.
        "doc_id=,",
        "year= , ",
        # BUG: float("nan") is accepted, giving NaN range bounds.
        "age=nan",
    ],
)
def test_values_that_hold_nothing_usable_are_rejected(item: str) -> None:
    with pytest.raises(FilterError):
        parse_filters([item])


# -- what the filters keep, in the real embedded engine -------------------------------------

POPULATIONS: dict[str, dict[str, Any]] = {
    "adults_45_75_any": {"age_min": 45.0, "age_max": 75.0, "sex": "any"},
    "women_65_up": {"age_min": 65.0, "age_max": 100.0, "sex": "female"},
    "men_65_75": {"age_min": 65.0, "age_max": 75.0, "sex": "male"},
    "children_0_17": {"age_min": 0.0, "age_max": 17.0, "sex": "any"},
    "no_population": {},
}


@pytest.fixture
def population_store(edge_store: Any) -> Any:
    edge_store.ensure_collection(guideline_spec(4, "guidelines"))
    points = []
    for i, (name, fields) in enumerate(POPULATIONS.items()):
        payload = {"doc_id": name, "status": "superseded" if name == "men_65_75" else "current", **fields}
        dense = [1.0 if j == i % 4 else 0.0 for j in range(4)]
        points.append(PointRecord(str(uuid.uuid4()), dense, SparseVec([i], [1.0]), payload))
    edge_store.upsert("guidelines", points)
    return edge_store


def _kept(store: Any, *items: str) -> set[str]:
    return {p["doc_id"] for _, p in store.scroll("guidelines", parse_filters(list(items)), fields=["doc_id"])}


@pytest.mark.parametrize(
    ("age", "kept"),
    [
        ("45", {"adults_45_75_any", "no_population"}),  # lower bound is inclusive
        ("75", {"adults_45_75_any", "women_65_up", "men_65_75", "no_population"}),  # upper bound too
        ("75.5", {"women_65_up", "no_population"}),
        ("30", {"no_population"}),
        ("17", {"children_0_17", "no_population"}),
        ("0", {"children_0_17", "no_population"}),
    ],
)
def test_age_keeps_populations_that_include_it(population_store: Any, age: str, kept: set[str]) -> None:
    assert _kept(population_store, f"age={age}") == kept


def test_sex_keeps_the_sex_any_and_unknown(population_store: Any) -> None:
    assert _kept(population_store, "sex=male") == {
        "adults_45_75_any",
        "men_65_75",
        "children_0_17",
        "no_population",
    }
    assert _kept(population_store, "sex=female") == {
        "adults_45_75_any",
        "women_65_up",
        "children_0_17",
        "no_population",
    }


def test_filters_combine_in_the_store(population_store: Any) -> None:
    assert _kept(population_store, "age=70", "sex=male") == {"adults_45_75_any", "men_65_75", "no_population"}
    assert _kept(population_store, "age=70", "sex=male", "superseded=false") == {
        "adults_45_75_any",
        "no_population",
    }
    assert _kept(population_store, "superseded=true") == {"men_65_75"}
    assert _kept(population_store, "doc_id=women_65_up,children_0_17") == {"women_65_up", "children_0_17"}
