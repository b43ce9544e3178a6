// The page of `nmt serve`: translates as you type and draws each hypothesis's attention.
// Plain script, no libraries: everything it needs is served by the package.
"use strict";

const DEBOUNCE_MS = 300;
const CELL = 26; // px per heatmap cell
const SVG_NS = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);
const source = $("source");
const beamInput = $("beam");
const nbestInput = $("nbest");
const statusLine = $("status");
const tooltip = $("tooltip");

let timer = null;
let latest = 0; // number of the newest request: answers to older ones are dropped
let inFlight = null;

function units() {
  return document.querySelector('input[name="units"]:checked').value;
}

function schedule(delay) {
  clearTimeout(timer);
  timer = setTimeout(translate, delay);
}

async function translate() {
  const text = source.value;
  const number = ++latest;
  if (inFlight) inFlight.abort();
  if (!text.trim()) {
    render(null);
    statusLine.textContent = "";
    return;
  }
  inFlight = new AbortController();
  const body = {
    text,
    beam: Number(beamInput.value) || 1,
    n_best: Number(nbestInput.value) || 1,
    attention: true,
    words: units() === "words",
  };
  statusLine.textContent = "translating…";
  const started = performance.now();
  try {
    const response = await fetch("/translate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: inFlight.signal,
    });
    const answer = await response.json();
    if (number !== latest) return;
    if (!response.ok) throw new Error(answer.error || response.statusText);
    statusLine.textContent = `${Math.round(performance.now() - started)} ms`;
    render(answer.translations[0]);
  } catch (error) {
    if (error.name === "AbortError" || number !== latest) return;
    statusLine.textContent = "";
    showError(error.message);
  }
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function render(translation) {
  showError("");
  const list = $("hypotheses");
  list.replaceChildren();
  $("translation").textContent = translation ? translation.text : "";
  document.body.dataset.state = translation ? "translated" : "empty";
  if (!translation) return;
  translation.hypotheses.forEach((h, rank) => {
    const item = document.createElement("li");
    item.className = "hypothesis";
    item.dataset.rank = String(rank);
    const head = document.createElement("div");
    head.className = "hypothesis-head";
    const words = document.createElement("span");
    words.className = "hypothesis-text";
    words.lang = "ko";
    words.textContent = h.text || "(empty)";
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = `score ${h.score.toFixed(3)} · log P ${h.log_prob.toFixed(3)}`;
    head.append(words, score);
    item.append(head);
    if (h.attention && h.tgt_tokens.length && translation.src_tokens.length) {
      item.append(heatmap(h.attention, translation.src_tokens, h.tgt_tokens));
    }
    list.append(item);
  });
}

const measure = document.createElement("canvas").getContext("2d");

function textWidth(text) {
  measure.font = `13px ${getComputedStyle(document.body).fontFamily}`;
  return measure.measureText(text).width;
}

function svg(name, attributes) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  return node;
}

function color(weight) {
  // White to deep blue; lightness falls with the weight so 0 stays invisible.
  const w = Math.max(0, Math.min(1, weight));
  return `hsl(220, ${40 + 35 * w}%, ${97 - 62 * w}%)`;
}

// Target tokens down, source tokens across: rows sum to 1 (one decoder step each).
function heatmap(weights, srcTokens, tgtTokens) {
  const left = Math.ceil(Math.max(...tgtTokens.map(textWidth))) + 12;
  const slant = Math.ceil(Math.max(...srcTokens.map(textWidth)) * 0.75); // labels at 45°
  const top = slant + 18;
  const width = left + CELL * srcTokens.length + slant + 8;
  const height = top + CELL * tgtTokens.length + 4;
  const root = svg("svg", {
    class: "heatmap",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    "data-rows": tgtTokens.length,
    "data-cols": srcTokens.length,
    role: "img",
    "aria-label": `attention of ${tgtTokens.length} target over ${srcTokens.length} source tokens`,
  });
  const colLabels = srcTokens.map((token, i) => {
    const x = left + CELL * i + CELL / 2;
    const label = svg("text", {
      class: "col-label",
      x,
      y: top - 6,
      transform: `rotate(-45 ${x} ${top - 6})`,
    });
    label.textContent = token;
    root.append(label);
    return label;
  });
  tgtTokens.forEach((token, j) => {
    const row = svg("g", { class: "row", "data-row": j });
    const label = svg("text", {
      class: "row-label",
      x: left - 8,
      y: top + CELL * j + CELL / 2 + 4,
      "text-anchor": "end",
      lang: "ko",
    });
    label.textContent = token;
    row.append(label);
    srcTokens.forEach((srcToken, i) => {
      const weight = weights[j][i];
      const cell = svg("rect", {
        class: "cell",
        x: left + CELL * i,
        y: top + CELL * j,
        width: CELL,
        height: CELL,
        fill: color(weight),
        "data-col": i,
        "data-weight": weight,
      });
      cell.addEventListener("mouseenter", () => {
        label.classList.add("active");
        colLabels[i].classList.add("active");
        tooltip.textContent = `${token} ← ${srcToken}: ${weight.toFixed(3)}`;
        tooltip.hidden = false;
      });
      cell.addEventListener("mousemove", (event) => {
        tooltip.style.left = `${event.clientX + 12}px`;
        tooltip.style.top = `${event.clientY + 12}px`;
      });
      cell.addEventListener("mouseleave", () => {
        label.classList.remove("active");
        colLabels[i].classList.remove("active");
        tooltip.hidden = true;
      });
      row.append(cell);
    });
    root.append(row);
  });
  return root;
}

async function loadModel() {
  try {
    const info = await (await fetch("/models")).json();
    const server = info.server;
    beamInput.value = server.beam;
    beamInput.max = server.max_beam;
    nbestInput.value = server.n_best;
    const names = info.models.map((dir) => dir.split("/").filter(Boolean).pop()).join(" + ");
    $("model").textContent =
      `${names} · vocabularies ${info.src_vocab_size} / ${info.tgt_vocab_size}` +
      (info.ensemble_size > 1 ? ` · ensemble of ${info.ensemble_size}` : "");
  } catch (error) {
    $("model").textContent = "model information unavailable";
  }
}

source.addEventListener("input", () => schedule(DEBOUNCE_MS));
for (const input of [beamInput, nbestInput]) {
  input.addEventListener("change", () => {
    if (Number(nbestInput.value) > Number(beamInput.value)) nbestInput.value = beamInput.value;
    schedule(0);
  });
}
$("units").addEventListener("change", () => schedule(0));
loadModel().then(() => source.value && schedule(0));
