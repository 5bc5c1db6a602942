// datagen serve: keyboard review, review writes, citation highlights. No inline script.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
const byId = (id) => document.getElementById(id);

async function postJSON(path, data) {
  const response = await fetch(path, {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf()},
    body: JSON.stringify(data),
    credentials: "same-origin",
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function changedEdits(panel) {
  const edits = {};
  panel.querySelectorAll("#edits textarea").forEach((area) => {
    if (area.value !== area.dataset.original) edits[area.name] = area.value;
  });
  return edits;
}

async function saveReview(panel, decision) {
  const reviewer = byId("reviewer").value.trim();
  const message = byId("review-message");
  if (!reviewer) { message.textContent = "Enter your name as reviewer first."; byId("reviewer").focus(); return; }
  localStorage.setItem("datagen-reviewer", reviewer);
  const chosen = decision === undefined ? panel.dataset.decision : decision;
  try {
    const result = await postJSON(panel.dataset.api, {
      row_id: panel.dataset.row, decision: chosen || null, reviewer,
      label: byId("label").value, note: byId("note").value, edits: changedEdits(panel),
    });
    panel.dataset.decision = result.review.decision || "";
    byId("review-state").textContent = result.review.decision || "no decision";
    const p = result.progress;
    message.textContent = `saved · ${p.reviewed} of ${p.rows} reviewed`;
    const next = byId("row-next");
    if (decision && next) window.location.href = next.href;
  } catch (error) {
    message.textContent = "not saved: " + error.message;
  }
}

function typing(event) {
  const t = event.target;
  return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT");
}

function reviewKeys(panel) {
  const actions = {
    a: () => saveReview(panel, "accept"),
    r: () => saveReview(panel, "reject"),
    s: () => saveReview(panel),
    l: () => byId("label").focus(),
    n: () => byId("note").focus(),
    e: () => { const d = byId("edits"); d.open = !d.open; if (d.open) d.querySelector("textarea")?.focus(); },
    j: () => byId("row-next")?.click(),
    k: () => byId("row-prev")?.click(),
  };
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && typing(event)) { event.target.blur(); return; }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && typing(event)) {
      event.preventDefault(); saveReview(panel); return;
    }
    if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
    const action = actions[event.key];
    if (action) { event.preventDefault(); action(); }
  });
  byId("accept").addEventListener("click", () => saveReview(panel, "accept"));
  byId("reject").addEventListener("click", () => saveReview(panel, "reject"));
  byId("save").addEventListener("click", () => saveReview(panel));
}

function setupReview() {
  const panel = byId("review-panel");
  if (!panel) return;
  const reviewer = byId("reviewer");
  if (!reviewer.value) reviewer.value = localStorage.getItem("datagen-reviewer") || "";
  reviewKeys(panel);
}

function setupCommit() {
  const button = byId("commit-review");
  if (!button) return;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const result = await postJSON(button.dataset.url, {});
      window.location.href = result.url;
    } catch (error) {
      button.disabled = false;
      button.textContent = "commit failed: " + error.message;
    }
  });
}

function setupCitations() {
  document.querySelectorAll("mark.cite").forEach((mark) => {
    const sentence = () => byId("sentence-" + mark.dataset.tag);
    mark.addEventListener("mouseenter", () => sentence()?.classList.add("focus"));
    mark.addEventListener("mouseleave", () => sentence()?.classList.remove("focus"));
    mark.addEventListener("click", () => sentence()?.scrollIntoView({block: "center"}));
  });
}

function setupSqlBox() {
  const box = byId("sql");
  if (!box) return;
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) box.form.submit();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupReview(); setupCommit(); setupCitations(); setupSqlBox();
});
