"""Cold start: ``cra --help`` and ``cra info`` import none of the heavy libraries (fresh interpreters)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "torch",
    "sentence_transformers",
    "transformers",
    "guardrails",
    "llama_index",
    "langgraph",
    "presidio_analyzer",
)

# Runs the console script's main() with the given arguments, then reports which heavy modules it loaded.
PROBE = """
import json, sys
from service.cli import main
sys.argv = ["cra", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
sys.stderr.write("LOADED " + json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))) + "\\n")
"""


def _loaded(args: list[str], tmp_path: Path, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "CRA_SERVER_URL": "off",
        "CRA_DATA_DIR": str(tmp_path / "data"),
    }
    code = f"HEAVY = {list(heavy)!r}\n" + PROBE
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, env=env, timeout=120
    )
    line = next((x for x in done.stderr.splitlines() if x.startswith("LOADED ")), None)
    assert line is not None, done.stderr[-2000:]
    loaded: list[str] = json.loads(line.removeprefix("LOADED "))
    return loaded


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    # nor numpy, onnxruntime, the store or pydantic-settings: help needs only typer and rich
    assert (
        _loaded(["--help"], tmp_path, (*HEAVY, "numpy", "onnxruntime", "pydantic_settings", "qdrant_edge"))
        == []
    )


@pytest.mark.parametrize("args", [["search", "--help"], ["ask", "--help"], ["eval", "--help"]])
def test_command_help_imports_no_model_or_engine(args: list[str], tmp_path: Path) -> None:
    # the root options are read first (settings), but no encoder, store or agent is built for help
    assert _loaded(args, tmp_path, (*HEAVY, "numpy", "onnxruntime", "qdrant_edge")) == []


def test_info_imports_no_model_guard_or_agent_library(tmp_path: Path) -> None:
    assert _loaded(["info", "--json"], tmp_path) == []
