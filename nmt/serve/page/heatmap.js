// The attention heatmaps of the page of `nmt serve` (page.js calls `heatmap`): target
// tokens down, source tokens across, the rows a prefix forced and the source words that
// got little attention marked. Plain script, no libraries.
"use strict";

const CELL = 26; // px per heatmap cell
const SVG_NS = "http://www.w3.org/2000/svg";
const END_TOKEN = "</s>";
const WORD_START = "\u2581"; // SentencePiece's "▁": a piece that starts a word
const BYTE_PIECE = /^<0x[0-9A-Fa-f]{2}>$/;
const SPECIAL_PIECE = /^<[^<>\s]+>$/;

const tooltip = document.getElementById("tooltip");

function showTooltip(text, event) {
  tooltip.textContent = text;
  tooltip.hidden = false;
  moveTooltip(event);
}

function moveTooltip(event) {
  // Below right of the pointer, or left of it where the window ends.
  const width = tooltip.offsetWidth;
  const right = event.clientX + 12;
  const x = right + width > innerWidth ? event.clientX - 12 - width : right;
  tooltip.style.left = `${Math.max(0, x)}px`;
  tooltip.style.top = `${event.clientY + 12}px`;
}

function hideTooltip() {
  tooltip.hidden = true;
}

// The index into src_words of each column's word, or -1 for the end token, by the rules
// of nmt.viz.pieces.piece_words: a piece starting with "▁" starts a word, other pieces
// (byte pieces too) continue it, and a special token such as </s> is a word of its own.
// With `words` the columns are words already.
function columnWords(tokens, words) {
  let word = -1;
  let special = false; // whether the current word is a special token
  const index = tokens.map((piece) => {
    const isSpecial = SPECIAL_PIECE.test(piece) && !BYTE_PIECE.test(piece);
    if (words || word < 0 || special || isSpecial || piece.startsWith(WORD_START)) {
      word += 1;
      special = isSpecial;
    }
    return word;
  });
  const end = new Set(index.filter((_, i) => tokens[i] === END_TOKEN));
  const real = new Map(); // word number -> its index among the real words
  for (const w of index) if (!end.has(w) && !real.has(w)) real.set(w, real.size);
  return index.map((w) => (end.has(w) ? -1 : real.get(w)));
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

// One hypothesis `h` of `translation` (an item of the API's translations; `words` as
// asked): rows sum to 1 (one decoder step each), the first prefix_tokens rows were forced.
function heatmap(h, translation, words) {
  const srcTokens = translation.src_tokens;
  const tgtTokens = h.tgt_tokens;
  const forced = Math.min(translation.prefix_tokens || 0, tgtTokens.length);
  const wordOf = columnWords(srcTokens, words);
  const uncovered = new Set(h.uncovered || []);
  const coverage = (i) => {
    const k = wordOf[i];
    if (k < 0 || h.coverage[k] === undefined) return "";
    const word = translation.src_words[k];
    const note = uncovered.has(k) ? " (little attention: possibly untranslated)" : "";
    return `\n“${word}” got ${h.coverage[k].toFixed(2)} of the attention in all${note}`;
  };
  const left = Math.ceil(Math.max(...tgtTokens.map(textWidth))) + 16;
  const slant = Math.ceil(Math.max(...srcTokens.map(textWidth)) * 0.75); // labels at 45°
  const top = slant + 18;
  const width = left + CELL * srcTokens.length + slant + 8;
  const height = top + CELL * tgtTokens.length + 4;
  const flagged = translation.src_words.filter((_, k) => uncovered.has(k));
  const root = svg("svg", {
    class: "heatmap",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    "data-rows": tgtTokens.length,
    "data-cols": srcTokens.length,
    "data-forced": forced,
    role: "img",
    "aria-label":
      `attention of ${tgtTokens.length} target over ${srcTokens.length} source tokens` +
      (forced ? `; the first ${forced} forced by your prefix` : "") +
      (flagged.length ? `; little attention to: ${flagged.join(", ")}` : ""),
  });
  const colLabels = srcTokens.map((token, i) => {
    const x = left + CELL * i + CELL / 2;
    const label = svg("text", {
      class: uncovered.has(wordOf[i]) ? "col-label uncovered" : "col-label",
      x,
      y: top - 6,
      transform: `rotate(-45 ${x} ${top - 6})`,
      "data-col": i,
    });
    label.textContent = token;
    label.addEventListener("mouseenter", (event) => showTooltip(token + coverage(i), event));
    label.addEventListener("mousemove", moveTooltip);
    label.addEventListener("mouseleave", hideTooltip);
    root.append(label);
    if (uncovered.has(wordOf[i])) {
      const mark = { class: "uncovered-mark", x: left + CELL * i + 2, y: top - 4 };
      root.append(svg("rect", { ...mark, width: CELL - 4, height: 3 }));
    }
    return label;
  });
  tgtTokens.forEach((token, j) => {
    const row = svg("g", { class: j < forced ? "row forced" : "row", "data-row": j });
    const label = svg("text", {
      class: j < forced ? "row-label forced" : "row-label",
      x: left - 10,
      y: top + CELL * j + CELL / 2 + 4,
      "text-anchor": "end",
      lang: "ko",
    });
    label.textContent = token;
    row.append(label);
    if (j < forced) {
      const bar = { class: "forced-bar", x: left - 5, y: top + CELL * j + 1 };
      row.append(svg("rect", { ...bar, width: 3, height: CELL - 2 }));
    }
    srcTokens.forEach((srcToken, i) => {
      const weight = h.attention[j][i];
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
      cell.addEventListener("mouseenter", (event) => {
        label.classList.add("active");
        colLabels[i].classList.add("active");
        showTooltip(`${token} ← ${srcToken}: ${weight.toFixed(3)}${coverage(i)}`, event);
      });
      cell.addEventListener("mousemove", moveTooltip);
      cell.addEventListener("mouseleave", () => {
        label.classList.remove("active");
        colLabels[i].classList.remove("active");
        hideTooltip();
      });
      row.append(cell);
    });
    root.append(row);
  });
  if (forced && forced < tgtTokens.length) {
    const y = top + CELL * forced;
    const line = { class: "prefix-line", x1: left - 6, x2: left + CELL * srcTokens.length };
    root.append(svg("line", { ...line, y1: y, y2: y }));
  }
  return root;
}
