"""``cra index patients`` and ``cra patient summary|search|delete``."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Annotated, Any

import typer

from patient_index.events import parse_date
from retrieval.patients import SUMMARY_TYPES, patient_filter, patient_hit_json
from service.cli import _deps, app, fail, index_app, out, run_with_progress, user_errors

__all__ = ["patient_app"]

patient_app = typer.Typer(
    help="One patient's longitudinal record: summary, search, erasure.", no_args_is_help=True
)
app.add_typer(patient_app, name="patient")


@index_app.command("patients")
def index_patients(
    ctx: typer.Context,
    paths: Annotated[
        list[str], typer.Argument(help="FHIR R4 Bundles (.json), Bulk Data NDJSON files, or folders.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    validate: Annotated[
        bool, typer.Option("--validate/--no-validate", help="Validate with fhir.resources.")
    ] = True,
) -> None:
    """Index FHIR records as patient timelines (idempotent; newer resource versions replace older).

    Exits 1 when no file could be read (none found, or every one missing, empty, too large or not
    FHIR JSON), after printing the report; a run that read at least one file exits 0.
    """
    from patient_index.indexer import PatientIndexer
    from patient_index.pipeline import ReaderError

    deps = _deps(ctx)
    with user_errors():
        indexer = PatientIndexer(
            deps.store,
            deps.dense,
            deps.sparse,
            collection=deps.settings.patient_collection,
            validate=validate,
        )
        try:
            report = run_with_progress(lambda update: indexer.index(paths, update), enabled=not as_json)
        except ReaderError as exc:
            raise fail(f"reading the files failed ({exc}); run again (indexing is idempotent)") from exc
    data = report.as_json()
    nothing_read = data["files_read"] == 0
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        _print_index_report(data)
    if nothing_read:
        raise fail("nothing was indexed: no FHIR file could be read (see the reasons above)", code=1)


def _print_index_report(data: dict[str, Any]) -> None:
    out.print(
        f"files read {data['files_read']}, patients {data['patients']}, events {data['events_total']} "
        f"({data['events_written']} written, {data['events_unchanged']} unchanged), "
        f"resources skipped {data['resources_skipped']}, {data['seconds']:.1f} s",
        highlight=False,
    )
    for rtype, n in data["skipped_by_type"].items():
        out.print(f"  skipped {rtype}: {n}", highlight=False)
    for s in data["skipped"][:20]:
        out.print(
            f"  {s['source']} {s['position']} {s['type']}: {s['reason']}", highlight=False, markup=False
        )
    for s in data["files_skipped"]:
        out.print(f"  file skipped {s['source']}: {s['reason']}", highlight=False, markup=False)
    if data["unit_flags"]:
        out.print(f"  {data['unit_flags']} value(s) in units that could not be normalised (kept, flagged)")
    if data["conflicting_duplicates"]:
        out.print(
            f"  conflicting duplicates {data['conflicting_duplicates']} (same id and version, "
            "different content; the first copy is kept):",
            highlight=False,
        )
    for c in data["conflicts"][:20]:
        out.print(
            f"  conflict {c['resource']} at {c['source']}: {c['reason']}", highlight=False, markup=False
        )


def _day(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    _, ts = parse_date(value)
    if ts is None:
        raise fail(f"{option} {value!r} is not a date; use YYYY-MM-DD")
    return ts


def _require_patient(ctx: typer.Context, patient_id: str) -> None:
    deps = _deps(ctx)
    collection = deps.settings.patient_collection
    if (
        not deps.store.has_collection(collection)
        or deps.store.count(collection, patient_filter(patient_id)) == 0
    ):
        raise fail(f"no record for patient {patient_id!r}; index it first: cra index patients PATH")


@patient_app.command("list")
def list_patients(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The patients in the index: id, sex, birth date (no names are stored)."""
    from retrieval.types import Equals, Filter

    deps = _deps(ctx)
    collection = deps.settings.patient_collection
    with user_errors():
        rows = []
        if deps.store.has_collection(collection):
            where = Filter(must=(Equals("resource_type", "Patient"),))
            fields = ["patient_id", "gender", "birth_date", "deceased_date"]
            rows = sorted((p for _, p in deps.store.scroll(collection, where, fields=fields)),
                          key=lambda p: str(p.get("patient_id")))  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    for p in rows:
        died = f", died {str(p.get('deceased_date'))[:10]}" if p.get("deceased_date") else ""
        out.print(
            f"{p.get('patient_id')}  {p.get('gender')}  born {p.get('birth_date')}{died}", highlight=False
        )
    out.print(f"{len(rows)} patient(s)")


def _as_of_day(as_of: str | None) -> date | None:
    """The ``--as-of`` option as a day; a clear error (exit 2) for one that is not."""
    if as_of is None:
        return None
    try:
        return date.fromisoformat(as_of)
    except ValueError as exc:
        raise fail(f"--as-of {as_of!r} is not a date; use YYYY-MM-DD (e.g. 2024-03-31)") from exc


@patient_app.command("summary")
def summary(
    ctx: typer.Context,
    patient_id: Annotated[str, typer.Argument(help="FHIR Patient id.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Summarise the record as it stood on this date.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Age, sex, problems, medications, allergies, latest values, trends and early-warning flags."""
    from patient_index.summary import build_summary

    deps = _deps(ctx)
    day = _as_of_day(as_of)
    with user_errors():
        _require_patient(ctx, patient_id)
        events = list(deps.patient_search.events(patient_id, patient_filter(patient_id, types=SUMMARY_TYPES)))
        result = build_summary(events, as_of=day)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
        return
    _print_summary(result)


def _show(value: Any) -> str:
    """A measured value the way a chart shows it (the JSON keeps full precision)."""
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def _print_summary(s: dict[str, Any]) -> None:
    out.print(
        f"[bold]Patient {s['patient_id']}[/]  age {s.get('age')}  sex {s.get('sex')}  as of {s.get('as_of')}"
    )
    for title, key, field in (("Problems", "problems", "onset"), ("Medications", "medications", "since"),
                              ("Allergies", "allergies", "since")):  # fmt: skip
        items = s.get(key) or []
        out.print(f"[bold]{title}[/] ({len(items)})")
        for item in items:
            out.print(
                f"  - {item.get('display')} ({field} {str(item.get(field) or '?')[:10]})", highlight=False
            )
    out.print("[bold]Trends[/]")
    for t in s.get("trends") or []:
        last = t.get("last") or {}
        slope = t.get("change_per_year")
        slope_text = f"{slope:+.2f}/yr" if isinstance(slope, int | float) else "n/a"
        out.print(
            f"  - {t.get('display')}: last {_show(last.get('value'))} {t.get('unit')} on {str(last.get('date'))[:10]}, "
            f"{slope_text}, {t.get('direction')}",
            highlight=False,
        )
    out.print("[bold]Flags[/]")
    for f in s.get("flags") or []:
        out.print(
            f"  - [{f.get('severity')}] {f.get('summary')} (source: {f.get('threshold_source')})",
            highlight=False,
            markup=False,
        )


@patient_app.command("assess")
def assess_patient(
    ctx: typer.Context,
    patient_id: Annotated[str, typer.Argument(help="FHIR Patient id.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Assess the record as it stood on this date (YYYY-MM-DD).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Computed guideline assessments: eGFR, CKD stage, risk scores, statin, BP, glycemic status."""
    from assessments import ASSESSMENT_TYPES

    deps = _deps(ctx)
    day = _as_of_day(as_of)
    with user_errors():
        _require_patient(ctx, patient_id)
        types = sorted({*SUMMARY_TYPES, *ASSESSMENT_TYPES})  # procedures too: revascularization is ASCVD
        events = list(deps.patient_search.events(patient_id, patient_filter(patient_id, types=types)))
        result = assess_json(patient_id, events, day)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
        return
    out.print(f"Patient {patient_id}  assessed as of {result['as_of']}", style="bold", markup=False)
    for a in result["assessments"]:
        shown = f"{_show(a['value'])} {a.get('unit') or ''}".strip() if "value" in a else ""
        value = f" ({shown})" if shown and shown.split()[0] not in a["verdict"] else ""
        out.print(
            f"{a['name']} [{a['id']}]: {a['verdict']}{value}", style="bold", highlight=False, markup=False
        )
        out.print(f"  {a['statement']}", highlight=False, markup=False)
        if a["missing"] and not all(m in a["statement"] for m in a["missing"]):
            out.print(f"  missing: {'; '.join(a['missing'])}", highlight=False, markup=False)
        src = a["source"]
        out.print(
            f"  source: {src['doc_id'] or src['title']} > {src['section']}", highlight=False, markup=False
        )


def assess_json(patient_id: str, events: list[dict[str, Any]], day: date | None) -> dict[str, Any]:
    """The ``cra patient assess --json`` document for one patient's events."""
    from assessments import assess
    from patient_index.summary import build_summary

    summary = build_summary(events, as_of=day)
    return {
        "patient_id": patient_id,
        "as_of": summary["as_of"],
        "assessments": [a.to_json() for a in assess(events, as_of=day, summary=summary)],
    }


@patient_app.command("search")
def search(
    ctx: typer.Context,
    patient_id: Annotated[str, typer.Argument(help="FHIR Patient id.")],
    query: Annotated[str, typer.Argument(help="What to look for in this patient's record.")],
    since: Annotated[str | None, typer.Option("--since", help="Only events on or after this date.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only events on or before this date.")] = None,
    types: Annotated[str | None, typer.Option("--types", help="Resource types, comma-separated.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=500)] = 10,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Hybrid search inside one patient's record (filtered by patient id inside Qdrant)."""
    deps = _deps(ctx)
    since_ts = _day(since, "--since")
    until_ts = _day(until, "--until")
    if until_ts is not None and until and len(until.strip()) == 10:
        until_ts += 86399.999  # the whole day
    type_list = [t.strip() for t in (types or "").split(",") if t.strip()]
    with user_errors():
        _require_patient(ctx, patient_id)
        where = patient_filter(patient_id, since_ts=since_ts, until_ts=until_ts, types=type_list)
        hits = deps.patient_search.search(patient_id, query, k=k, where=where)
    rows = [patient_hit_json(h) for h in hits]
    if as_json:
        sys.stdout.write(
            json.dumps({"patient_id": patient_id, "query": query, "hits": rows}, indent=2) + "\n"
        )
        return
    if not rows:
        out.print("no hits")
    for rank, h in enumerate(rows, 1):
        out.print(f"{rank}. {h['text']}  ({h['resource_type']}/{h['resource_id']}, score {h['score']:.4f})",
                  highlight=False, markup=False)  # fmt: skip


@patient_app.command("delete")
def delete(
    ctx: typer.Context,
    patient_id: Annotated[str, typer.Argument(help="FHIR Patient id whose data is erased.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Erase one patient (right to erasure): timeline events, threads, remembered answers and feedback."""
    from service.erasure import erase_patient

    deps = _deps(ctx)
    with user_errors():
        counts = erase_patient(deps, patient_id)
    if as_json:
        sys.stdout.write(
            json.dumps({"patient_id": patient_id, "deleted": counts["events"], "stores": counts}) + "\n"
        )
    else:
        out.print(
            f"deleted {counts['events']} event(s), {counts['threads']} thread(s), {counts['feedback_answers']} "
            f"remembered answer(s) and {counts['feedback_records']} feedback record(s) of patient {patient_id}",
            highlight=False,
        )
