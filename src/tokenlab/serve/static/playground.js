// tokenlab playground: sends the textarea to /api/tokenize as the user types and draws one card per tokenizer.
"use strict";

const MAX_SHOWN_SPANS = 4000;  // drawing more makes typing lag; counts always cover the whole text
const COLOURS = 6;
const textBox = document.getElementById("text");
const results = document.getElementById("results");
const statusLine = document.getElementById("status");
const showIds = document.getElementById("show-ids");
let latest = 0;      // number of the newest request; older answers are dropped
let lastAnswer = null;
let timer = null;

function setStatus(message, isError) {
  statusLine.textContent = message;
  statusLine.classList.toggle("error", Boolean(isError));
  statusLine.classList.toggle("note", !isError);
}

async function postJSON(url, payload) {
  const response = await fetch(url, {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(payload),
  });
  let body;
  try {
    body = await response.json();
  } catch (err) {
    throw new Error(`server answered ${response.status} without JSON`);
  }
  if (!response.ok) throw new Error(body.error || `server answered ${response.status}`);
  return body;
}

function shown(piece) {
  // make line breaks and tabs visible while keeping the layout
  return piece.replace(/\n/g, "\u21b5\n").replace(/\t/g, "\u2192\t");
}

function card(result) {
  const box = document.createElement("section");
  box.className = "card";
  box.dataset.tokenizer = result.name;
  const title = document.createElement("h2");
  title.textContent = result.name;
  const stats = document.createElement("div");
  stats.className = "stats";
  const count = document.createElement("b");
  count.className = "count";
  count.textContent = String(result.count);
  const bpt = document.createElement("b");
  bpt.className = "bytes-per-token";
  bpt.textContent = result.bytes_per_token === null ? "-" : result.bytes_per_token.toFixed(3);
  stats.append(count, " tokens \u00b7 ", bpt, " bytes/token");
  const tokens = document.createElement("div");
  tokens.className = "tokens";
  const n = Math.min(result.pieces.length, MAX_SHOWN_SPANS);
  const withIds = showIds.checked;
  for (let k = 0; k < n; k++) {
    const ids = result.piece_ids[k];
    const span = document.createElement("span");
    span.className = `tok c${k % COLOURS}` + (ids.length > 1 ? " multi" : "");
    span.title = `id${ids.length > 1 ? "s" : ""} ${ids.join(", ")}`;
    span.textContent = shown(result.pieces[k]);
    if (withIds) {
      const small = document.createElement("span");
      small.className = "ids";
      small.textContent = ids.join(" ");
      span.append(small);
    }
    tokens.append(span);
  }
  if (result.pieces.length > n) {
    const more = document.createElement("div");
    more.className = "more";
    more.textContent = `\u2026 ${result.pieces.length - n} more spans not drawn (all are counted)`;
    tokens.append(more);
  }
  box.append(title, stats, tokens);
  return box;
}

function draw(answer) {
  results.replaceChildren(...answer.tokenizers.map(card));
  results.dataset.chars = String(answer.chars);
  setStatus(`${answer.chars} characters \u00b7 ${answer.bytes} UTF-8 bytes`);
}

async function tokenize() {
  const number = ++latest;
  results.dataset.pending = "1";
  try {
    const answer = await postJSON("/api/tokenize", {text: textBox.value});
    if (number !== latest) return;
    lastAnswer = answer;
    draw(answer);
  } catch (err) {
    if (number !== latest) return;
    setStatus(`error: ${err.message}`, true);
    results.dataset.chars = "";
  } finally {
    if (number === latest) results.dataset.pending = "0";
  }
}

function schedule() {
  results.dataset.pending = "1";
  clearTimeout(timer);
  timer = setTimeout(tokenize, 120);
}

async function openReport() {
  const corpus = document.getElementById("report-corpus").value;
  const link = document.getElementById("report-link");
  const button = document.getElementById("report-button");
  link.hidden = true;
  button.disabled = true;
  setStatus("building the compare report\u2026");
  try {
    const answer = await postJSON("/api/report", corpus ? {corpus} : {text: textBox.value});
    link.href = answer.url;
    link.hidden = false;
    setStatus("report ready");
  } catch (err) {
    setStatus(`error: ${err.message}`, true);
  } finally {
    button.disabled = false;
  }
}

async function start() {
  try {
    const response = await fetch("/api/tokenizers");
    const info = await response.json();
    const select = document.getElementById("report-corpus");
    for (const name of info.report_corpora) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = `the ${name} corpus`;
      select.append(option);
    }
    setStatus(`${info.tokenizers.length} tokenizers: ${info.tokenizers.map((t) => t.name).join(", ")}`);
  } catch (err) {
    setStatus(`error: cannot reach the server (${err.message})`, true);
  }
  textBox.addEventListener("input", schedule);
  showIds.addEventListener("change", () => { if (lastAnswer) draw(lastAnswer); });
  document.getElementById("report-button").addEventListener("click", openReport);
  await tokenize();
}

start();
