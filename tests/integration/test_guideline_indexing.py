"""Guideline indexing end to end: real encoders, a real embedded Qdrant engine, small files written here.

Idempotent re-runs, edits, versions and supersession, bad files, interrupted runs, recommendation
sets with populations, and the payload every chunk must carry.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from guidelines_index.indexer import GuidelineIndexer, IndexReport
from retrieval.edge_store import EdgeStore
from retrieval.guidelines import GuidelineSearch, parse_filters
from retrieval.types import PointRecord

pytestmark = pytest.mark.integration

COLLECTION = "guidelines"
REQUIRED_FIELDS = (
    "doc_id",
    "title",
    "issuer",
    "published",
    "version",
    "section_path",
    "grade",
    "source",
    "content_hash",
    "superseded",
    "status",
    "text",
)


def _markdown(
    doc_id: str,
    title: str,
    body: str,
    *,
    version: str = "1",
    published: str = "2020-01-01",
    supersedes: Sequence[str] = (),
) -> str:
    front = [
        f"doc_id: {doc_id}",
        f"title: {title}",
        "issuer: Example Society",
        f"published: '{published}'",
        f"version: '{version}'",
    ]
    if supersedes:
        front.append(f"supersedes: [{', '.join(supersedes)}]")
    return "---\n" + "\n".join(front) + f"\n---\n# {title}\n\n{body}\n"


HTN_BODY = (
    "## Diagnosis\n\nConfirm raised office readings with home or ambulatory monitoring.\n\n"
    "## Treatment\n\nStart a thiazide-like diuretic or a calcium channel blocker (Class I, LOE A)."
)
ASTHMA_BODY = "## Control\n\nReview inhaler technique and adherence before stepping up treatment (1B)."
GOUT_BODY = "## Flares\n\nTreat a gout flare early with colchicine or a short course of an anti-inflammatory."


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _points(store: Any) -> dict[str, dict[str, Any]]:
    points = dict(store.scroll(COLLECTION))
    assert store.count(COLLECTION) == len(points)
    return points


def _texts(store: Any) -> str:
    return "\n".join(p["text"] for p in _points(store).values())


def _by_doc(points: dict[str, dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """(doc_id, version) -> the status values its chunks carry."""
    out: dict[tuple[str, str], set[str]] = {}
    for p in points.values():
        out.setdefault((p["doc_id"], p["version"]), set()).add(p["status"])
    return out


def _check_skipped_none(report: IndexReport) -> None:
    assert report.skipped == [], report.skipped


@pytest.fixture
def indexer(edge_store: Any, dense_encoder: Any, sparse_encoder: Any) -> GuidelineIndexer:
    return GuidelineIndexer(edge_store, dense_encoder, sparse_encoder, collection=COLLECTION)


@pytest.fixture
def search(edge_store: Any, dense_encoder: Any, sparse_encoder: Any) -> GuidelineSearch:
    return GuidelineSearch(edge_store, dense_encoder, sparse_encoder, collection=COLLECTION)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    _write(folder / "htn.md", _markdown("htn", "Adult Hypertension", HTN_BODY))
    _write(folder / "asthma.md", _markdown("asthma", "Asthma Control", ASTHMA_BODY))
    return folder


# -- idempotence and edits ------------------------------------------------------------------


def test_reindexing_unchanged_files_writes_nothing(
    indexer: GuidelineIndexer, edge_store: Any, docs: Path
) -> None:
    first = indexer.index([str(docs)])
    _check_skipped_none(first)
    assert first.files_read == 2 and first.documents == 2
    assert first.chunks_written == first.chunks_total > 0
    before = _points(edge_store)

    again = indexer.index([str(docs)])
    assert again.chunks_written == 0
    assert again.chunks_removed == 0
    assert again.chunks_unchanged == again.chunks_total == first.chunks_total
    after = _points(edge_store)
    assert after.keys() == before.keys()
    assert edge_store.count(COLLECTION) == first.chunks_total


def test_editing_a_file_replaces_only_its_chunks(
    indexer: GuidelineIndexer, edge_store: Any, docs: Path
) -> None:
    indexer.index([str(docs)])
    before = _points(edge_store)
    asthma_before = {i: p for i, p in before.items() if p["doc_id"] == "asthma"}

    edited = HTN_BODY.replace("home or ambulatory monitoring", "a week of home readings")
    _write(docs / "htn.md", _markdown("htn", "Adult Hypertension", edited))
    report = indexer.index([str(docs)])
    assert report.chunks_written == 1 and report.chunks_removed == 1

    after = _points(edge_store)
    texts = _texts(edge_store)
    assert "ambulatory monitoring" not in texts
    assert "a week of home readings" in texts
    assert "thiazide-like diuretic" in texts  # the unchanged section of the edited file stays
    assert len(after) == report.chunks_total == len(before)
    assert {i: p for i, p in after.items() if p["doc_id"] == "asthma"} == asthma_before


def test_the_same_file_named_another_way_is_not_indexed_twice(
    indexer: GuidelineIndexer, edge_store: Any, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BUG: the source string as typed is part of each point id and the key of the stale-chunk diff,
    # so "docs/htn.md" and "/abs/.../docs/htn.md" index the same file twice (every chunk duplicated).
    monkeypatch.chdir(docs.parent)
    first = indexer.index(["docs/htn.md"])
    again = indexer.index([str(docs / "htn.md")])
    assert again.chunks_written == 0
    assert edge_store.count(COLLECTION) == first.chunks_total


# -- versions and supersession -------------------------------------------------------------


def test_a_newer_version_supersedes_the_older_one(
    indexer: GuidelineIndexer, search: GuidelineSearch, edge_store: Any, tmp_path: Path
) -> None:
    old = _write(
        tmp_path / "htn_2017.md",
        _markdown("htn", "Adult Hypertension", HTN_BODY, version="1", published="2017-11-13"),
    )
    new_body = HTN_BODY.replace("calcium channel blocker", "calcium channel blocker in a single pill")
    new = _write(
        tmp_path / "htn_2025.md",
        _markdown("htn", "Adult Hypertension", new_body, version="2", published="2025-08-14"),
    )
    indexer.index([str(old)])
    assert _by_doc(_points(edge_store)) == {("htn", "1"): {"current"}}

    report = indexer.index([str(new)])
    assert report.superseded_documents == 1
    points = _points(edge_store)
    assert _by_doc(points) == {("htn", "1"): {"superseded"}, ("htn", "2"): {"current"}}
    assert all(p["superseded"] is (p["version"] == "1") for p in points.values())

    query = "first drug for high blood pressure calcium channel blocker"
    both = {(h.payload["version"], h.payload["status"]) for h in search.search(query, k=20)}
    assert both == {("1", "superseded"), ("2", "current")}
    current = search.search(query, k=20, where=parse_filters(["superseded=false"]))
    assert current and {h.payload["version"] for h in current} == {"2"}
    only_old = search.search(query, k=20, where=parse_filters(["superseded=true"]))
    assert only_old and {h.payload["version"] for h in only_old} == {"1"}

    # Touching the old file again does not make it current again.
    indexer.index([str(old)])
    assert _by_doc(_points(edge_store)) == {("htn", "1"): {"superseded"}, ("htn", "2"): {"current"}}


def test_a_declared_supersession_marks_the_other_document(
    indexer: GuidelineIndexer, edge_store: Any, tmp_path: Path
) -> None:
    replacement = _write(
        tmp_path / "new.md", _markdown("gout_2024", "Gout Care 2024", GOUT_BODY, supersedes=["gout_2012"])
    )
    old = _write(
        tmp_path / "old.md", _markdown("gout_2012", "Gout Care 2012", GOUT_BODY + " Use rest and ice.")
    )
    # The declaring document comes first: the declaration applies when its target arrives later.
    indexer.index([str(replacement)])
    indexer.index([str(old)])
    points = _points(edge_store)
    assert _by_doc(points) == {("gout_2024", "1"): {"current"}, ("gout_2012", "1"): {"superseded"}}
    assert all(p["supersedes"] == ["gout_2012"] for p in points.values() if p["doc_id"] == "gout_2024")


def test_withdrawing_a_supersedes_declaration_makes_the_target_current_again(
    indexer: GuidelineIndexer, edge_store: Any, tmp_path: Path
) -> None:
    old = _write(tmp_path / "old.md", _markdown("gout_2012", "Gout Care 2012", GOUT_BODY))
    replacement = _write(
        tmp_path / "new.md", _markdown("gout_2024", "Gout Care 2024", GOUT_BODY, supersedes=["gout_2012"])
    )
    indexer.index([str(old), str(replacement)])
    assert _by_doc(_points(edge_store))[("gout_2012", "1")] == {"superseded"}

    # BUG: re-indexing the edited declaring file only refreshes the ids it declares *now*, so the
    # document it used to declare superseded stays superseded although nothing supersedes it.
    _write(replacement, _markdown("gout_2024", "Gout Care 2024", GOUT_BODY))
    indexer.index([str(replacement)])
    assert _by_doc(_points(edge_store)) == {("gout_2024", "1"): {"current"}, ("gout_2012", "1"): {"current"}}


# -- bad files ------------------------------------------------------------------------------


def test_bad_files_are_reported_and_good_ones_indexed(
    indexer: GuidelineIndexer, edge_store: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    _write(folder / "good.md", _markdown("asthma", "Asthma Control", ASTHMA_BODY))
    _write(folder / "good.txt", "Gout Notes\n\n" + GOUT_BODY.split("\n\n", 1)[1])
    (folder / "empty.md").write_bytes(b"")
    (folder / "picture.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "latin.txt").write_bytes("Régime pauvre en sel\n\nMoins de sel.\n".encode("latin-1"))
    (folder / "broken.json").write_text('{"specificRecommendations": [')
    (folder / "ignored.docx").write_text("a folder walk ignores unsupported files")
    missing = str(tmp_path / "nowhere.md")

    report = indexer.index([str(folder), missing])
    reasons = {Path(s["source"]).name: s["reason"] for s in report.skipped}
    assert reasons.keys() == {"empty.md", "picture.md", "latin.txt", "broken.json", "nowhere.md"}
    assert reasons["empty.md"] == "empty file"
    assert "NUL bytes" in reasons["picture.md"]
    assert "not valid UTF-8" in reasons["latin.txt"]
    assert reasons["broken.json"].startswith("invalid JSON")
    assert reasons["nowhere.md"] == "no such file or folder"
    assert report.files_read == 2 and report.documents == 2
    assert {p["doc_id"] for p in _points(edge_store).values()} == {"asthma", "gout_notes"}
    assert report.as_json()["files_skipped"] == 5


# -- an interrupted run ----------------------------------------------------------------------


class CrashingStore:
    """The real store, except that ``upsert`` dies once after ``allowed`` points have been written."""

    def __init__(self, inner: EdgeStore, allowed: int) -> None:
        self.inner = inner
        self.allowed = allowed
        self.written = 0
        self.crashed = False

    def upsert(self, collection: str, points: Sequence[PointRecord]) -> None:
        if not self.crashed and self.written >= self.allowed:
            self.crashed = True
            raise RuntimeError("simulated crash: the process died while writing")
        self.inner.upsert(collection, points)
        self.written += len(points)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _final_files(folder: Path) -> None:
    """The end state both runs index: htn edited, asthma unchanged, gout added, htn v2 added."""
    edited = HTN_BODY.replace("home or ambulatory monitoring", "a week of home readings")
    _write(folder / "htn.md", _markdown("htn", "Adult Hypertension", edited))
    _write(
        folder / "htn_v2.md",
        _markdown(
            "htn", "Adult Hypertension", edited + " Recheck in a month.", version="2", published="2024-01-01"
        ),
    )
    _write(folder / "gout.md", _markdown("gout", "Gout Care", GOUT_BODY))


def test_an_interrupted_run_converges_on_rerun(
    edge_store: Any, dense_encoder: Any, sparse_encoder: Any, docs: Path, tmp_path: Path
) -> None:
    def indexer_for(store: Any, encode_batch: int = 1024) -> GuidelineIndexer:
        return GuidelineIndexer(
            store, dense_encoder, sparse_encoder, collection=COLLECTION, encode_batch=encode_batch
        )

    indexer_for(edge_store).index([str(docs)])
    _final_files(docs)

    crashing = CrashingStore(edge_store, allowed=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        indexer_for(crashing, encode_batch=2).index([str(docs)])  # upserts of two points each
    assert crashing.crashed and crashing.written == 2
    # Old chunks are removed only after their replacements are written: nothing is lost mid-way.
    assert "ambulatory monitoring" in _texts(edge_store)

    rerun = indexer_for(edge_store).index([str(docs)])
    _check_skipped_none(rerun)
    resumed = _points(edge_store)

    clean_store = EdgeStore(tmp_path / "clean")
    try:
        clean = indexer_for(clean_store).index([str(docs)])
        reference = _points(clean_store)
    finally:
        clean_store.close()

    assert resumed.keys() == reference.keys()
    assert len(resumed) == clean.chunks_total == rerun.chunks_total
    keys = Counter(
        (p["doc_id"], p["version"], tuple(p["section_path"]), p["content_hash"]) for p in resumed.values()
    )
    assert max(keys.values()) == 1
    assert "ambulatory monitoring" not in _texts(edge_store)
    for pid, payload in reference.items():
        assert (
            resumed[pid]["status"] == payload["status"]
            and resumed[pid]["superseded"] == payload["superseded"]
        )
    assert _by_doc(resumed) == {
        ("htn", "1"): {"superseded"},
        ("htn", "2"): {"current"},
        ("asthma", "1"): {"current"},
        ("gout", "1"): {"current"},
    }


# -- recommendation sets ----------------------------------------------------------------------------

RECOMMENDATIONS = {
    "specificRecommendations": [
        {
            "id": 201,
            "title": "Bowel Cancer: Screening -- Adults aged 45 to 75 years",
            "grade": "B",
            "sex": "men and women",
            "ageRange": [45, 75],
            "text": "<p>Offer bowel cancer screening to adults.</p>",
            "servFreq": "<p>Stool test every year</p>",
        },
        {
            "id": 202,
            "title": "Bone Density: Screening -- Women 65 years or older",
            "grade": "A",
            "sex": "female",
            "ageRange": [65, 100],
            "text": "Offer bone density screening to older women.",
        },
        {
            "id": 203,
            "title": "Aortic Aneurysm: Screening -- Men aged 65 to 75 who have smoked",
            "grade": "B",
            "sex": "male",
            "ageRange": [65, 75],
            "text": "Offer one aortic ultrasound screening to men who smoked.",
        },
        {
            "id": 204,
            "title": "Cervical Cancer: Screening -- Women aged 21 to 65 years",
            "grade": "A",
            "sex": "female",
            "ageRange": [21, 65],
            "text": "Offer cervical screening to women.",
        },
    ]
}


def test_recommendation_set_populations_are_filterable(
    indexer: GuidelineIndexer, search: GuidelineSearch, edge_store: Any, tmp_path: Path
) -> None:
    path = _write(tmp_path / "recs.json", json.dumps(RECOMMENDATIONS))
    report = indexer.index([str(path)])
    _check_skipped_none(report)
    assert report.documents == 4
    points = _points(edge_store)
    expected = {
        "uspstf_201": ("Grade B", 45.0, 75.0, "any"),
        "uspstf_202": ("Grade A", 65.0, 100.0, "female"),
        "uspstf_203": ("Grade B", 65.0, 75.0, "male"),
        "uspstf_204": ("Grade A", 21.0, 65.0, "female"),
    }
    for p in points.values():
        assert (p["grade"], p["age_min"], p["age_max"], p["sex"]) == expected[p["doc_id"]]
        assert p["kind"] == "recommendation" and p["issuer"] == "USPSTF"
        assert p["section_path"][0] == p["title"].split(" -- ")[0]
    assert {p["doc_id"] for p in points.values()} == expected.keys()

    def found(*filters: str) -> set[str]:
        return {
            h.payload["doc_id"] for h in search.search("screening", k=50, where=parse_filters(list(filters)))
        }

    assert found() == set(expected)
    assert found("age=45") == {"uspstf_201", "uspstf_204"}
    assert found("sex=male") == {"uspstf_201", "uspstf_203"}
    assert found("age=70", "sex=male") == {"uspstf_201", "uspstf_203"}
    assert found("age=70", "sex=female") == {"uspstf_201", "uspstf_202"}
    assert found("grade=Grade A") == {"uspstf_202", "uspstf_204"}


# -- payload ------------------------------------------------------------------------------------


def test_every_chunk_carries_its_provenance(indexer: GuidelineIndexer, edge_store: Any, docs: Path) -> None:
    _write(docs / "recs.json", json.dumps(RECOMMENDATIONS))
    _write(
        docs / "gout.html",
        "<html><head><title>Gout Page</title></head><body><h1>Gout Page</h1>"
        "<p>Lower urate over time.</p></body></html>",
    )
    _write(docs / "notes.txt", "Kidney Notes\n\nAvoid nephrotoxic drugs where possible.\n")
    report = indexer.index([str(docs)])
    _check_skipped_none(report)
    points = _points(edge_store)
    assert len(points) == report.chunks_total
    for payload in points.values():
        missing = [f for f in REQUIRED_FIELDS if f not in payload]
        assert not missing, (payload["source"], missing)
        assert payload["doc_id"] and payload["title"] and payload["source"] and payload["version"]
        assert isinstance(payload["section_path"], list) and payload["section_path"]
        assert payload["superseded"] is False and payload["status"] == "current"
        assert len(payload["content_hash"]) == 64
        assert Path(payload["source"]).parent == docs
    htn = [p for p in points.values() if p["doc_id"] == "htn"]
    assert {p["issuer"] for p in htn} == {"Example Society"} and {p["published"] for p in htn} == {
        "2020-01-01"
    }
    assert any(p["grade"] == "Class I, LOE A" for p in htn)
    assert {p["grade"] for p in points.values() if p["doc_id"] == "asthma"} == {"Grade 1B"}


# -- the shared USPSTF set ------------------------------------------------------------------------


@pytest.fixture
def uspstf(shared_data: Path) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    path = shared_data / "uspstf" / "uspstf-recommendations.json"
    if not path.is_file():
        pytest.skip(f"{path} is not in the shared data")
    yield path, json.loads(path.read_text(encoding="utf-8"))["specificRecommendations"]


@pytest.mark.slow
def test_index_the_uspstf_recommendations(
    indexer: GuidelineIndexer, edge_store: Any, uspstf: tuple[Path, list[dict[str, Any]]]
) -> None:
    path, records = uspstf
    report = indexer.index([str(path)])
    _check_skipped_none(report)
    assert report.documents == len(records) == 137
    points = _points(edge_store)
    by_doc: dict[str, dict[str, Any]] = {}
    for p in points.values():
        by_doc.setdefault(p["doc_id"], p)
    assert len(by_doc) == 137
    for rec in records:
        p = by_doc[f"uspstf_{rec['id']}"]
        assert p["grade"] == f"Grade {rec['grade']}"
        assert (p["age_min"], p["age_max"]) == (float(rec["ageRange"][0]), float(rec["ageRange"][1]))
        sex = {"female": "female", "male": "male"}.get(rec["sex"], "any")
        assert p["sex"] == sex, rec["sex"]
        assert p["title"] == " ".join(rec["title"].split())
    assert Counter(p["grade"] for p in by_doc.values()) == Counter(f"Grade {r['grade']}" for r in records)
    assert Counter(p["sex"] for p in by_doc.values()) == {"any": 83, "female": 47, "male": 7}
    assert all(p["status"] == "current" for p in points.values())


# -- what a search returns as a passage -------------------------------------------------------------

STATIN_BODY = """## Statin Intensity Definitions

Statin therapy is classified by the expected percentage reduction in LDL-C:

### High-Intensity Statin Therapy (LDL-C Reduction >= 50%)

| Drug | Daily Dose |
|---|---|
| **Atorvastatin** | 40--80 mg |
| **Rosuvastatin** | 20--40 mg |

### Moderate-Intensity Statin Therapy (LDL-C Reduction 30--49%)

| Drug | Daily Dose |
|---|---|
| **Atorvastatin** | 10--20 mg |

### Low-Intensity Statin Therapy (LDL-C Reduction < 30%)

| Drug | Daily Dose |
|---|---|
| **Simvastatin** | 10 mg |

---

## Monitoring

Check a fasting lipid panel 4 to 12 weeks after starting a statin."""


def test_a_dose_question_gets_the_right_table_and_never_a_bare_heading(
    indexer: GuidelineIndexer, search: GuidelineSearch, tmp_path: Path
) -> None:
    folder = tmp_path / "statins"
    _write(folder / "statins.md", _markdown("statins", "Statin Therapy", STATIN_BODY))
    _check_skipped_none(indexer.index([str(folder)]))
    question = "Which statin dose counts as high intensity?"
    hits = search.search(question, k=5)
    assert hits[0].payload["section_path"][-1].startswith("High-Intensity")
    for hit in hits:
        text, heading = hit.payload["text"], hit.payload["section_path"][-1]
        assert text.strip().rstrip(":") != heading
        assert len(text.split()) > len(heading.split()) + 2, text
        assert not [line for line in text.splitlines() if line.strip() and set(line.strip()) <= {"-"}]
    again = [[h.id for h in search.search(question, k=5)] for _ in range(3)]
    assert all(order == [h.id for h in hits] for order in again)  # ties are broken, not left to chance
