"""The chat page in headless Chromium (Debian's /usr/bin/chromium driven by Playwright), as a clinician uses it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.agent_world import World
from tests.scripted_llm import scripted_llm
from tests.service_server import live_server, world_deps

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
REPORTS = Path(__file__).resolve().parents[2] / "reports" / "e2e"
Q = "Which statin and dose counts as high-intensity therapy?"
GOOD = json.dumps(
    {
        "answer": "High-intensity statin therapy is atorvastatin 40--80 mg or rosuvastatin 20--40 mg daily [G1].",
        "claims": [{"text": "atorvastatin 40--80 mg", "citations": ["G1"]}],
        "uncertainty": "",
        "abstain": False,
        "abstain_reason": "",
    }
)

# Records what the answer box showed while the answer was still streaming.
WATCH = """() => {
  window.__drafts = [];
  new MutationObserver(() => {
    const box = document.querySelector('.answer.streaming');
    if (box && box.textContent) window.__drafts.push(box.textContent);
  }).observe(document.getElementById('conversation'), {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def test_clinician_asks_watches_the_stream_opens_a_citation_and_gives_feedback(
    world: World,
    browser,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    patient = world.patient_ids[0]
    with scripted_llm([("json", GOOD)] * 3) as llm:
        deps = world_deps(world, tmp_path / "service", llm_base_url=llm.base_url, llm_retries=0)
        with live_server(deps) as server:
            key = server.key(patients=(patient,), name="e2e clinician")
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(server.url + "/")
            page.get_by_test_id("api-key").fill(key)
            page.get_by_test_id("load-patients").click()
            page.get_by_text("1 patient(s) available").wait_for()
            options = page.get_by_test_id("patient-select").locator("option")
            assert options.count() == 2  # "no patient" and the one patient this key may see
            page.get_by_test_id("patient-select").select_option(patient)
            page.evaluate(WATCH)
            page.get_by_test_id("question").fill(Q)
            page.get_by_test_id("ask").click()

            page.get_by_test_id("feedback").wait_for(state="visible", timeout=60_000)
            drafts = page.evaluate("window.__drafts")
            answer = page.get_by_test_id("answer").inner_text()
            meta = page.get_by_test_id("answer-meta").inner_text()
            assert drafts and drafts[0] != answer.strip(), "the answer did not arrive token by token"
            assert "atorvastatin 40--80 mg" in answer
            assert "model answer" in meta and "safety checks passed" in meta
            page.get_by_test_id("cite-G1").click()
            panel = page.get_by_test_id("source-panel")
            panel.wait_for(state="visible")
            assert "Guideline passage" in page.get_by_test_id("source-title").inner_text()
            provenance = page.get_by_test_id("source-meta").inner_text()
            assert "Issuer" in provenance and "Published" in provenance
            assert len(page.get_by_test_id("source-text").inner_text()) > 40
            page.screenshot(path=str(tmp_path / "chat-page.png"), full_page=True)

            page.get_by_test_id("rate-down").check()
            page.get_by_test_id("outcome").select_option("modified")
            page.get_by_test_id("correction").fill("Add the LDL-C reduction target of 50% or more.")
            page.get_by_test_id("send-feedback").click()
            page.get_by_text("Thank you, feedback recorded.").wait_for()
            rows = list(server.app.state.feedback.training_rows())
            assert rows and rows[-1]["outcome"] == "modified" and rows[-1]["question"] == Q
    REPORTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "chat-page.png", REPORTS / "chat-page.png")
