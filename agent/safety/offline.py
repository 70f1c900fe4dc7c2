"""Keep guardrails-ai, NLTK and Presidio off the network (and guardrails-ai from leaking event
loops): run before any of them is imported.

guardrails-ai exports usage telemetry unless its rc file says otherwise, asks NLTK to download
``punkt`` at import, and Presidio's e-mail recognizer asks ``tldextract`` for the public-suffix
list over the network. Its default validator service also installs a new uvloop event-loop policy
on every ``Guard.validate``, so every call gets a new event loop that is never closed (five file
descriptors, a thread pool for the validators, about 270 KB of heap): the service grew by about
0.9 MB of RSS per answer. Each trap is closed here, once per process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from functools import cache
from pathlib import Path

__all__ = ["GUARDRAILS_RUN_SYNC", "OFFLINE_RC", "guardrails_rc_path", "prepare_offline"]

log = logging.getLogger(__name__)

OFFLINE_RC = "enable_metrics=false\nuse_remote_inferencing=false\n"
GUARDRAILS_RUN_SYNC = "GUARDRAILS_RUN_SYNC"


def guardrails_rc_path() -> Path:
    """Where guardrails-ai reads its settings (it only looks in the home directory)."""
    return Path(os.path.expanduser("~")) / ".guardrailsrc"


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "clinical-reasoning-agent"


def _nltk_data() -> Path:
    """A folder holding llama-index's bundled ``punkt_tab`` and an empty ``punkt`` (so no download)."""
    # Found without importing llama_index.core, which costs a second of start-up for one path.
    spec = importlib.util.find_spec("llama_index.core")
    package = Path(next(iter(spec.submodule_search_locations or []), "")) if spec else Path()
    bundled = package / "_static" / "nltk_cache" / "tokenizers" / "punkt_tab"
    root = _cache_dir() / "nltk_data"
    tokenizers = root / "tokenizers"
    (tokenizers / "punkt").mkdir(parents=True, exist_ok=True)
    link = tokenizers / "punkt_tab"
    if not link.exists() and bundled.is_dir():
        with contextlib.suppress(FileExistsError):  # another process made it first
            link.symlink_to(bundled, target_is_directory=True)
    return root


def _write_rc() -> None:
    """Write the offline rc unless one exists; an existing rc that allows telemetry is overridden later."""
    path = guardrails_rc_path()
    if path.exists():
        return
    try:
        path.write_text(OFFLINE_RC, encoding="utf-8")
        log.info("wrote %s (guardrails telemetry and remote inference off)", path)
    except OSError as exc:  # a read-only home: settings are forced in process instead
        log.warning("could not write %s (%s); forcing telemetry off in process", path, exc)


@cache
def prepare_offline() -> None:
    """Close every network path the guard libraries open by default (idempotent)."""
    folders = [str(_nltk_data())]
    if os.environ.get("NLTK_DATA"):
        folders.append(os.environ["NLTK_DATA"])
    os.environ["NLTK_DATA"] = os.pathsep.join(folders)
    os.environ.setdefault("OTEL_SDK_DISABLED", "true")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # Forced, not defaulted: the sequential service runs the validators in the caller's thread (they
    # are CPU-bound Python, so the pool never ran them in parallel) and creates no event loop. Read
    # by guardrails at every validate call.
    os.environ[GUARDRAILS_RUN_SYNC] = "true"
    _write_rc()
    from guardrails.classes.rc import RC
    from guardrails.settings import settings

    settings.rc = RC(enable_metrics=False, use_remote_inferencing=False)
    settings.disable_tracing = True

    import tldextract.tldextract as tld

    # The bundled public-suffix snapshot; never fetch the list.
    tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=(), cache_dir=None)
