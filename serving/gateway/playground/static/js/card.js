// Model cards are markdown written at training time. They are rendered here from a small subset (headings,
// paragraphs, lists, tables, **bold**, `code`) straight into DOM nodes with textContent: no markdown library and
// no innerHTML, so no HTML in a card can run or load anything.
import { el } from "./dom.js";

function inline(text) {
  // `code` and **bold** spans; everything else stays literal text (links show as their text and address).
  const parts = [];
  const pattern = /(`[^`]+`|\*\*[^*]+\*\*)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    const token = match[0];
    parts.push(token.startsWith("`") ? el("code", { text: token.slice(1, -1) }) : el("strong", { text: token.slice(2, -2) }));
    last = match.index + token.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

function cells(line) {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
}

function table(lines) {
  const [head, , ...body] = lines;
  return el("table", {},
    el("thead", {}, el("tr", {}, cells(head).map((c) => el("th", {}, inline(c))))),
    el("tbody", {}, body.map((row) => el("tr", {}, cells(row).map((c) => el("td", {}, inline(c)))))));
}

/** The card's markdown as a DOM fragment. */
export function renderCard(markdown) {
  const out = document.createDocumentFragment();
  const lines = String(markdown).split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i += 1; continue; }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      out.append(el(`h${Math.min(6, heading[1].length + 2)}`, {}, inline(heading[2])));
      i += 1;
    } else if (line.startsWith("```")) {
      const code = [];
      for (i += 1; i < lines.length && !lines[i].startsWith("```"); i += 1) code.push(lines[i]);
      out.append(el("pre", {}, el("code", { text: code.join("\n") })));
      i += 1;
    } else if (line.trim().startsWith("|")) {
      const rows = [];
      for (; i < lines.length && lines[i].trim().startsWith("|"); i += 1) rows.push(lines[i]);
      out.append(table(rows));
    } else if (/^\s*[-*]\s+/.test(line)) {
      const items = [];
      for (; i < lines.length && /^\s*[-*]\s+/.test(lines[i]); i += 1) items.push(lines[i].replace(/^\s*[-*]\s+/, ""));
      out.append(el("ul", {}, items.map((item) => el("li", {}, inline(item)))));
    } else {
      const text = [line];
      for (i += 1; i < lines.length && lines[i].trim() && !/^(#|```|\||\s*[-*]\s)/.test(lines[i]); i += 1) text.push(lines[i]);
      out.append(el("p", {}, inline(text.join(" "))));
    }
  }
  return out;
}

/** A collapsible "Model card" section for a model page. */
export function cardSection(model) {
  return el("details", { class: "card" }, el("summary", { text: `Model card: ${model.name} ${model.version}` }),
    renderCard(model.model_card || ""));
}
