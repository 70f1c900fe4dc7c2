"""``cra ask`` and ``cra chat`` as a clinician runs them: real processes over a real index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agent_world import World

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def run(world: World, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    world.store.close()  # the embedded engine allows one process at a time on a data dir
    try:
        return subprocess.run(
            [sys.executable, "-m", "service", "--data-dir", str(world.settings.data_dir), *args],
            capture_output=True,
            text=True,
            input=stdin,
            timeout=600,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "CRA_LLM_BASE_URL": ""},
        )
    finally:
        world.reopen()


def test_ask_json_and_a_follow_up_in_the_thread(world: World) -> None:
    pid = world.patient_ids[0]
    first = run(
        world,
        "ask",
        "What is the latest blood pressure and is it in the hypertension range?",
        "--patient",
        pid,
        "--json",
    )
    assert first.returncode == 0, first.stderr
    answer = json.loads(first.stdout)
    assert answer["mode"] == "evidence" and answer["patient_id"] == pid and answer["citations"]
    follow = run(world, "ask", "and at what dose?", "--thread", answer["thread_id"], "--json")
    assert follow.returncode == 0, follow.stderr
    assert json.loads(follow.stdout)["patient_id"] == pid


def test_ask_batch_writes_one_answer_per_line_and_reports_bad_lines(world: World, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"id": "a", "q": "Which statin dose counts as high intensity?"})
        + "\n{not json\n"
        + json.dumps({"id": "b", "q": "When should CKD be referred to nephrology?"})
        + "\n"
    )
    done = run(world, "ask", "--questions", str(questions))
    assert done.returncode == 1 and "could not be read" in done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", 2, "b"]
    assert rows[1]["error"].startswith("line 2") and rows[0]["citations"] and rows[2]["citations"]


def test_chat_answers_and_prints_citations(world: World) -> None:
    done = run(world, "chat", stdin="Which statin dose counts as high intensity?\n/quit\n")
    assert done.returncode == 0, done.stderr
    assert "Citations" in done.stdout and "[G1]" in done.stdout and "evidence mode" in done.stdout


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("ask",), 2, "give a QUESTION"),
        (("ask", "statin?", "--questions", "x.jsonl"), 2, "not both"),
        (("ask", "--questions", "/no/such.jsonl"), 2, "no such file"),
        (("ask", "statins?", "--thread", "bad id!"), 2, "malformed"),
        (("ask", "statins?", "--as-of", "2020-13-45"), 2, "YYYY-MM-DD"),
    ],
)
def test_ask_bad_input(world: World, args: tuple[str, ...], code: int, needle: str) -> None:
    done = run(world, *args)
    assert done.returncode == code and needle in done.stderr, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
