// The chat page: no framework, no build step. Talks to the /v1 API with the key typed above.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { threadId: null, threadPatient: null };

function key() { return $("api-key").value.trim(); }

function headers(json = true) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  if (key()) h["Authorization"] = "Bearer " + key();
  return h;
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function failure(response) {
  try {
    const body = await response.json();
    return body.detail || body.error || response.statusText;
  } catch (_) {
    return response.status + " " + response.statusText;
  }
}

async function loadPatients() {
  sessionStorage.setItem("cra-key", key());
  const response = await fetch("/v1/patients", { headers: headers(false) });
  if (!response.ok) { setStatus(await failure(response), true); return; }
  const { patients } = await response.json();
  const select = $("patient");
  select.length = 1;
  for (const p of patients) {
    const option = document.createElement("option");
    option.value = p.patient_id;
    const born = p.birth_date ? ", born " + String(p.birth_date).slice(0, 4) : "";
    option.textContent = `${p.patient_id.slice(0, 8)}… (${p.gender || "?"}${born})`;
    select.append(option);
  }
  setStatus(`${patients.length} patient(s) available`);
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// A little Markdown (bold, bullets, line breaks) and [G1]/[P2] markers as buttons that open the source.
function render(text, citations) {
  const byId = new Map(citations.map((c) => [c.id, c]));
  let html = escapeHtml(text).replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>");
  html = html.replace(/\[((?:[GP]\d{1,3})(?:\s*[,;]\s*[GP]\d{1,3})*)\]/g, (_, group) =>
    group.split(/[,;]/).map((id) => id.trim()).map((id) =>
      byId.has(id) ? `<button type="button" class="cite" data-cite="${id}" data-testid="cite-${id}">${id}</button>` : `[${id}]`
    ).join(""));
  return html.split(/\n/).map((line) => line.startsWith("- ") ? `• ${line.slice(2)}` : line).join("<br>");
}

function showSource(c) {
  const meta = $("source-meta");
  meta.replaceChildren();
  const rows = c.kind === "guideline"
    ? [["Guideline", c.title], ["Issuer", c.issuer], ["Published", c.published], ["Section", (c.section_path || []).join(" › ")],
       ["Grade", c.grade], ["Status", c.superseded ? "SUPERSEDED" : "current"], ["Chunk", c.chunk_id]]
    : [["Record entry", c.resource_type], ["Date", c.date], ["Value", c.value !== "" && c.value != null ? `${c.value} ${c.unit || ""}` : ""],
       ["Code", c.code], ["Resource id", c.resource_id], ["Computed", c.computed ? "yes, from the entries it cites" : ""]];
  for (const [label, value] of rows) {
    if (value === undefined || value === null || value === "") continue;
    const dt = document.createElement("dt"); dt.textContent = label;
    const dd = document.createElement("dd"); dd.textContent = String(value);
    meta.append(dt, dd);
  }
  $("source-title").textContent = `[${c.id}] ${c.kind === "guideline" ? "Guideline passage" : "Patient record"}`;
  $("source-text").textContent = c.text;
  $("source").hidden = false;
}

function showAnswer(turn, answer) {
  const box = turn.querySelector(".answer");
  box.classList.remove("streaming");
  box.innerHTML = render(answer.answer, answer.citations);
  box.querySelectorAll(".cite").forEach((b) =>
    b.addEventListener("click", () => showSource(answer.citations.find((c) => c.id === b.dataset.cite))));
  const failed = answer.guard.checks.filter((c) => !c.passed).map((c) => c.name);
  const guard = answer.guard.passed ? '<span class="passed">safety checks passed</span>'
    : `<span class="failed">safety checks failed: ${escapeHtml(failed.join(", "))}</span>`;
  const modes = { llm: "model answer", evidence: "evidence only (no model reasoning)", abstain: "abstained", refused: "refused" };
  turn.querySelector(".meta").innerHTML = `${escapeHtml(modes[answer.mode] || answer.mode)} · ${guard}` +
    (answer.uncertainty ? ` · uncertain: ${escapeHtml(answer.uncertainty)}` : "") +
    (answer.abstain_reason ? ` · reason: ${escapeHtml(answer.abstain_reason)}` : "");
  const list = turn.querySelector(".citations");
  for (const c of answer.citations) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button"; b.className = "cite"; b.textContent = c.id;
    b.setAttribute("data-testid", "source-" + c.id);
    b.addEventListener("click", () => showSource(c));
    const label = c.kind === "guideline"
      ? `${c.title} (${c.issuer} ${c.published})${c.superseded ? " SUPERSEDED" : ""}`
      : `${c.resource_type} ${String(c.date || "").slice(0, 10)}: ${c.text.slice(0, 80)}`;
    li.append(b, " " + label);
    list.append(li);
  }
  if (answer.answer_id) wireFeedback(turn, answer.answer_id);
}

function wireFeedback(turn, answerId) {
  const form = turn.querySelector(".feedback");
  form.hidden = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const status = form.querySelector(".feedback-status");
    if (!data.get("rating")) { status.textContent = "Choose Yes or No first."; return; }
    const body = { answer_id: answerId, rating: data.get("rating"), correction: data.get("correction") || "" };
    if (data.get("outcome")) body.outcome = data.get("outcome");
    const response = await fetch("/v1/feedback", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    status.textContent = response.ok ? "Thank you, feedback recorded." : await failure(response);
    if (response.ok) form.querySelector("button").disabled = true;
  });
}

async function ensureThread() {
  const patient = $("patient").value || null;
  if (state.threadId && state.threadPatient === patient) return state.threadId;
  const response = await fetch("/v1/threads", { method: "POST", headers: headers(), body: JSON.stringify({ patient_id: patient }) });
  if (!response.ok) throw new Error(await failure(response));
  state.threadId = (await response.json()).thread_id;
  state.threadPatient = patient;
  return state.threadId;
}

// Server-sent events over fetch (EventSource cannot POST or send a key).
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message", data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      yield { name, data: JSON.parse(data) };
    }
  }
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  sessionStorage.setItem("cra-key", key());
  const turn = $("answer-template").content.firstElementChild.cloneNode(true);
  turn.querySelector(".question").textContent = question;
  const box = turn.querySelector(".answer");
  box.classList.add("streaming");
  $("conversation").append(turn);
  $("ask").disabled = true;
  setStatus("Thinking…");
  try {
    const threadId = await ensureThread();
    const response = await fetch(`/v1/threads/${threadId}/messages`, {
      method: "POST", headers: headers(), body: JSON.stringify({ question }),
    });
    if (!response.ok) throw new Error(await failure(response));
    let draft = "";
    for await (const e of events(response)) {
      if (e.name === "token") { draft += e.data.text; box.textContent = draft; }
      else if (e.name === "answer") showAnswer(turn, e.data);
      else if (e.name === "error") throw new Error(e.data.detail);
    }
    $("question").value = "";
    setStatus("");
  } catch (error) {
    box.classList.remove("streaming");
    box.innerHTML = `<span class="error">${escapeHtml(String(error.message || error))}</span>`;
    setStatus("The question could not be answered.", true);
  } finally {
    $("ask").disabled = false;
  }
}

$("api-key").value = sessionStorage.getItem("cra-key") || "";
$("load-patients").addEventListener("click", loadPatients);
$("new-thread").addEventListener("click", () => { state.threadId = null; $("conversation").replaceChildren(); setStatus("New conversation"); });
$("patient").addEventListener("change", () => { state.threadId = null; });
$("ask-form").addEventListener("submit", ask);
$("close-source").addEventListener("click", () => { $("source").hidden = true; });
if (key()) loadPatients();
