// The page of `nmt serve`: translates as you type, lets you edit the translation (the
// model continues from the caret: interactive translation) and draws each hypothesis's
// attention (heatmap.js). Plain script, no libraries: everything it needs is served by
// the package.
"use strict";

const DEBOUNCE_MS = 300;

const $ = (id) => document.getElementById(id);
const source = $("source");
const field = $("translation"); // the editable translation
// A browser without contenteditable="plaintext-only" gets a plain contenteditable (the
// paste handler keeps it plain text).
const editable = field.isContentEditable ? "plaintext-only" : "true";
const beamInput = $("beam");
const nbestInput = $("nbest");
const statusLine = $("status");

let timer = null;
let latest = 0; // number of the newest request: answers to older ones are dropped
let inFlight = null;
let prefix = ""; // the start of the translation the user wrote: the model continues it
let composing = false; // an input method (e.g. Hangul's) is composing a character
let home = 0; // where the caret goes when the field gets the focus: after the prefix

function units() {
  return document.querySelector('input[name="units"]:checked').value;
}

// Any change makes the answers still to come stale: they are dropped even before the
// debounced request is sent, so they cannot overwrite what the user is typing.
function invalidate() {
  clearTimeout(timer);
  latest += 1;
  if (inFlight) inFlight.abort();
  inFlight = null;
}

function schedule(delay) {
  invalidate();
  timer = setTimeout(translate, delay);
}

async function translate() {
  const text = source.value;
  const number = ++latest;
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
  if (prefix.trim()) body.prefix = prefix;
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
    render(answer.translations[0], answer.words);
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

// The part of `text` (the model's translation) after `prefix` (what the user typed), or
// null if it does not start with it. The server normalizes the prefix as it tokenizes it
// (NFKC, spaces collapsed, a trailing space dropped), so the two are compared that way.
function continuationOf(text, prefix) {
  let i = 0;
  for (const char of prefix) {
    if (/\s/.test(char)) {
      while (/\s/.test(text[i] || "")) i += 1;
      continue;
    }
    const normal = char.normalize("NFKC");
    if (!text.startsWith(normal, i)) return null;
    i += normal.length;
  }
  return text.slice(i);
}

// The field's text as the user's part (`forced`) and the rest (`kind`: "continued" by the
// model, "stale": after the caret, to be replaced by the next answer, or "plain").
function fill(forced, rest, kind) {
  const part = (className, text) => {
    const span = document.createElement("span");
    span.className = className;
    span.textContent = text;
    return span;
  };
  field.replaceChildren(part("forced", forced), part(kind, rest));
}

// Characters from the start of the field to the caret.
function caretOffset() {
  const selection = getSelection();
  if (!selection.rangeCount || !field.contains(selection.focusNode)) {
    return field.textContent.length;
  }
  const range = document.createRange();
  range.selectNodeContents(field);
  range.setEnd(selection.focusNode, selection.focusOffset);
  return range.toString().length;
}

function setCaret(offset) {
  const walker = document.createTreeWalker(field, NodeFilter.SHOW_TEXT);
  let left = offset;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (left <= node.length) {
      getSelection().collapse(node, left);
      return;
    }
    left -= node.length;
  }
  getSelection().collapse(field, field.childNodes.length);
}

// The user edited the translation: what precedes the caret becomes the prefix, and the
// rest shows as stale until the model's continuation replaces it (`restyle`; not while
// an input method composes, or has just composed and may be starting the next one).
function edited(restyle) {
  const text = field.textContent;
  const caret = caretOffset();
  prefix = text.slice(0, caret);
  home = caret;
  if (restyle) {
    fill(prefix, text.slice(caret), "stale");
    setCaret(caret);
  }
  $("reset").hidden = !prefix.trim();
  schedule(DEBOUNCE_MS);
}

function dropPrefix() {
  prefix = "";
  schedule(0);
}

function showTranslation(translation) {
  if (composing && translation) return; // compositionend asks again
  const focused = document.activeElement === field;
  let rest = translation ? translation.text : "";
  let forced = translation && prefix.trim() ? prefix : "";
  if (forced) {
    rest = continuationOf(translation.text, forced);
    if (rest === null) [forced, rest] = ["", translation.text]; // show the model's text
  }
  if (!translation) field.replaceChildren();
  else fill(forced, rest, forced ? "continued" : "plain"); // all the model's: plain
  field.contentEditable = translation ? editable : "false"; // nothing to edit without
  field.setAttribute("aria-readonly", String(!translation));
  home = forced.length;
  if (focused) setCaret(home);
  field.dataset.prefix = forced;
  $("announce").textContent = forced ? `continued by the model: ${rest}` : rest;
}

function showLegend(translation) {
  const shown = {
    forced: Boolean(translation && translation.prefix_tokens),
    continued: Boolean(translation && translation.prefix_tokens),
    uncovered: Boolean(translation && translation.hypotheses.some((h) => h.uncovered.length)),
  };
  for (const key of $("legend").querySelectorAll(".key")) key.hidden = !shown[key.dataset.key];
  $("reset").hidden = !prefix.trim();
}

// One answer of the API (`translation`: an item of its translations; `words`: whether
// its tokens are words), or null for none.
function render(translation, words) {
  showError("");
  hideTooltip(); // its cell is about to go
  const list = $("hypotheses");
  list.replaceChildren();
  showTranslation(translation);
  showLegend(translation);
  document.body.dataset.state = translation ? "translated" : "empty";
  if (!translation) return;
  translation.hypotheses.forEach((h, rank) => {
    const item = document.createElement("li");
    item.className = "hypothesis";
    item.dataset.rank = String(rank);
    const head = document.createElement("div");
    head.className = "hypothesis-head";
    const text = document.createElement("span");
    text.className = "hypothesis-text";
    text.lang = "ko";
    text.textContent = h.text || "(empty)";
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = `score ${h.score.toFixed(3)} · log P ${h.log_prob.toFixed(3)}`;
    head.append(text, score);
    item.append(head);
    if (h.attention && h.tgt_tokens.length && translation.src_tokens.length) {
      item.append(heatmap(h, translation, Boolean(words)));
    }
    list.append(item);
  });
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

field.contentEditable = "false"; // until there is a translation to edit
source.addEventListener("input", () => {
  prefix = ""; // a new source: the old translation's start means nothing for it
  schedule(DEBOUNCE_MS);
});
// While an input method composes a character (Hangul's do, syllable by syllable), the
// page asks for translations but leaves the field alone until the character is done.
field.addEventListener("input", (event) => edited(!(event.isComposing || composing)));
field.addEventListener("compositionstart", () => {
  composing = true;
});
field.addEventListener("compositionend", () => {
  composing = false;
  edited(false);
});
field.addEventListener("focus", () => setCaret(home)); // a click then puts it elsewhere
field.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.isComposing) event.preventDefault(); // one line
  if (event.key === "Escape" && prefix) dropPrefix();
});
field.addEventListener("paste", (event) => {
  event.preventDefault();
  const text = event.clipboardData.getData("text/plain").replace(/\s+/g, " ");
  document.execCommand("insertText", false, text);
});
$("reset").addEventListener("click", () => {
  dropPrefix();
  field.focus(); // the button hides once the answer is in
});
for (const input of [beamInput, nbestInput]) {
  input.addEventListener("change", () => {
    if (Number(nbestInput.value) > Number(beamInput.value)) nbestInput.value = beamInput.value;
    schedule(0);
  });
}
$("units").addEventListener("change", () => schedule(0));
loadModel().then(() => source.value && schedule(0));
