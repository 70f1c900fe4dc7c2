"""Reading FHIR R4 files resource by resource, with bounded memory.

Bundles (transaction, collection, searchset, batch) are streamed entry by entry with ijson,
so a 200 MB bundle never sits in memory whole; Bulk Data NDJSON files are read line by line.
Each resource comes with its position in the file, so a report can point at a bad one. A problem
is told by where and what rule it breaks, never by quoting the file (the streaming parser's own
message shows the bytes around the error, which may be anyone's data).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ijson
import numpy as np

from patient_index.events import patient_ref

__all__ = ["SourceItem", "bundle_aliases", "expand_patient_paths", "iter_resources", "owner_of"]

_SUFFIXES = (".json", ".ndjson", ".jsonl")
# Bundles up to this size are parsed whole; larger ones are streamed entry by entry.
_LOAD_WHOLE_BYTES = 32_000_000
_TYPE_NAME = re.compile(r"[A-Za-z]{1,64}")
_MAX_DEPTH = 256  # FHIR content nests a few dozen levels at most
# byte -> change in nesting depth, as an int8 byte: "[" "{" +1, "]" "}" -1 (0xFF), anything else 0
_STEP = bytes(1 if b in b"[{" else 0xFF if b in b"]}" else 0 for b in range(256))
_TOO_DEEP = "JSON nested too deeply to read (a FHIR resource is never nested this deep)"
_NOT_FHIR = "give Bundles (transaction, collection, searchset) or Bulk Data NDJSON"


@dataclass
class SourceItem:
    """One resource read from a file, or a problem found at a position in it."""

    position: str  # "entry[12]" or "line 40"
    resource: dict[str, Any] | None
    error: str = ""
    full_url: str = ""


def expand_patient_paths(paths: list[str]) -> tuple[list[Path], list[dict[str, str]]]:
    """Files to read (folders walked in sorted order), and paths that do not exist."""
    files: list[Path] = []
    missing: list[dict[str, str]] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            files.extend(
                sorted(c for c in p.rglob("*") if c.is_file() and c.name.lower().endswith(_SUFFIXES))
            )
        elif p.is_file():
            files.append(p)
        else:
            missing.append({"source": raw, "reason": "no such file or folder"})
    return files, missing


def bundle_aliases(entries: list[Any]) -> dict[str, str]:
    """Map each Patient entry's ``fullUrl`` (and ``Patient/id``) to the Patient id."""
    aliases: dict[str, str] = {}
    for entry in entries:
        r = (entry or {}).get("resource") if isinstance(entry, dict) else None
        if isinstance(r, dict) and r.get("resourceType") == "Patient" and r.get("id"):
            pid = str(r["id"])
            aliases[f"Patient/{pid}"] = pid
            if entry.get("fullUrl"):
                aliases[str(entry["fullUrl"])] = pid
    return aliases


def owner_of(resource: dict[str, Any], aliases: dict[str, str] | None) -> str | None:
    """The Patient id a resource belongs to (itself for a Patient)."""
    if resource.get("resourceType") == "Patient":
        return str(resource["id"]) if resource.get("id") else None
    for key in ("subject", "patient"):
        pid = patient_ref(resource.get(key), aliases)
        if pid:
            return pid
    return None


def _is_ndjson(path: Path) -> bool:
    if path.suffix.lower() in (".ndjson", ".jsonl"):
        return True
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip()
    # A Bulk Data file starts with a complete resource on its first line.
    first = head.split(b"\n", 1)[0]
    try:
        obj = json.loads(first)
    except ValueError:
        return False
    return isinstance(obj, dict) and obj.get("resourceType") not in (None, "Bundle")


def _iter_ndjson(path: Path) -> Iterator[SourceItem]:
    with path.open("rb") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                yield SourceItem(f"line {n}", None, f"invalid JSON ({exc})")
                continue
            except RecursionError:
                yield SourceItem(f"line {n}", None, _TOO_DEEP)
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("resourceType"), str):
                yield SourceItem(f"line {n}", None, "not a FHIR resource (no resourceType)")
                continue
            yield SourceItem(f"line {n}", obj)


class _DepthLimited:
    """A binary file whose ``read`` fails once brackets nest deeper than ``_MAX_DEPTH``.

    The streaming parser tracks the path of every value, so a file nested 100,000 deep costs it
    memory quadratic in the depth; this stops such a file after reading it once. Brackets inside
    strings count too, which only ever errs towards depth: real FHIR stays far below the limit.
    """

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.depth = 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        opens = data.count(b"[") + data.count(b"{")
        if self.depth + opens > _MAX_DEPTH:  # only then can this chunk go too deep: look closely
            levels = np.frombuffer(data.translate(_STEP), dtype=np.int8).cumsum(dtype=np.int32)
            if self.depth + int(levels.max()) > _MAX_DEPTH:
                raise ValueError(_TOO_DEEP)
        self.depth += opens - data.count(b"]") - data.count(b"}")
        return data

    def seek(self, offset: int) -> None:
        self.fh.seek(offset)
        self.depth = 0


def _iter_bundle(path: Path) -> Iterator[SourceItem]:
    with path.open("rb") as raw:
        fh = _DepthLimited(raw)
        # Peek at the top-level type without loading the file.
        kind = None
        for prefix, event, value in ijson.parse(fh):
            # Keys may come in any order (sorted-key writers put "entry" first): read until the
            # top-level resourceType shows up, which for the usual layout is the first key.
            if prefix == "resourceType" and event == "string":
                kind = value
                break
        if kind != "Bundle":
            raise ValueError(_not_a_bundle(kind))
        fh.seek(0)
        for i, entry in enumerate(ijson.items(fh, "entry.item", use_float=True)):
            r = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(r, dict) or not isinstance(r.get("resourceType"), str):
                yield SourceItem(f"entry[{i}]", None, "entry without a FHIR resource")
                continue
            yield SourceItem(f"entry[{i}]", r, full_url=str(entry.get("fullUrl") or ""))


def _iter_loaded_bundle(path: Path) -> Iterator[SourceItem]:
    """A small Bundle parsed in one go (the C JSON parser is several times faster than streaming)."""
    try:
        bundle = json.loads(path.read_bytes())
    except ValueError as exc:
        raise ValueError(f"invalid JSON ({exc})") from exc
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        kind = bundle.get("resourceType") if isinstance(bundle, dict) else type(bundle).__name__
        raise ValueError(_not_a_bundle(kind))
    for i, entry in enumerate(bundle.get("entry") or []):
        r = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(r, dict) or not isinstance(r.get("resourceType"), str):
            yield SourceItem(f"entry[{i}]", None, "entry without a FHIR resource")
            continue
        yield SourceItem(f"entry[{i}]", r, full_url=str(entry.get("fullUrl") or ""))


def _not_a_bundle(kind: object) -> str:
    shown = repr(kind) if isinstance(kind, str) and _TYPE_NAME.fullmatch(kind) else "not a type name"
    return f"not a FHIR Bundle or NDJSON file (resourceType {shown}); {_NOT_FHIR}"


def iter_resources(path: Path) -> Iterator[SourceItem]:
    """Every resource in a Bundle or NDJSON file, in file order.

    Raises ``ValueError`` when the file as a whole is not FHIR JSON (the caller reports it).
    """
    if _is_ndjson(path):
        yield from _iter_ndjson(path)
        return
    if path.stat().st_size <= _LOAD_WHOLE_BYTES:
        yield from _iter_loaded_bundle(path)
        return
    try:
        yield from _iter_bundle(path)
    except ijson.JSONError as exc:
        # yajl's message is "lexical error: ..." then the bytes around the error: keep the first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"invalid JSON ({first.strip()})") from None
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None
