// Small DOM helpers: every text goes in through textContent, never innerHTML.

/** An element with attributes (`class`, `for`, aria-*, …) and children (nodes or strings). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

let counter = 0;
/** A unique id for tying a label to its control. */
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A labelled control: [label, input]. */
export function field(labelText, attributes) {
  const id = attributes.id || uid("field");
  return [el("label", { for: id, text: labelText }), el("input", { ...attributes, id })];
}

/** Horizontal bars (label, bar, value) for probabilities; with `signed`, diverging from a centre line
 * (attributions: positive to the right, negative to the left), scaled to the largest magnitude. */
export function bars(labels, values, { highlight = -1, format = (v) => v.toFixed(3), signed = false } = {}) {
  const scale = signed ? Math.max(...values.map((v) => Math.abs(v)), 1e-12) : 1;
  const grid = el("div", { class: signed ? "bars signed" : "bars" });
  values.forEach((value, i) => {
    const bar = el("div", { class: value < 0 ? "bar negative" : "bar", role: "img",
      "aria-label": `${labels[i]}: ${format(value)}` });
    const share = Math.min(1, Math.abs(value) / scale);
    bar.style.width = `${(signed ? 50 : 100) * share}%`;
    const cell = signed ? el("div", { class: "track" }, bar) : bar;
    grid.append(el("span", { class: i === highlight ? "top" : undefined, text: labels[i] }), cell,
      el("span", { class: "value", text: format(value) }));
  });
  return grid;
}

/** "<ms> ms" for a call (or "" while none has run). */
export function latency(node, ms, what = "latency") {
  node.textContent = ms === undefined ? "" : `${what}: ${ms.toFixed(1)} ms`;
}

/** Show the API's error message in `node`; clear it with `message` undefined. */
export function showError(node, error) {
  if (!error) {
    node.textContent = "";
    node.classList.remove("error");
    return;
  }
  node.textContent = error.status ? `${error.status}: ${error.message}` : error.message;
  node.classList.add("error");
}

/** A model panel: a section with its heading, kind, version and readiness; `extra` goes after the heading. */
export function panel(id, title, models) {
  const headingId = uid("heading");
  const meta = models.map((m) => `${m.name} ${m.version} · ${m.kind} · ${m.ready ? "ready" : "not ready"}`).join("  |  ");
  return el("section", { class: "panel", id, "aria-labelledby": headingId },
    el("h2", { id: headingId, text: title }), el("p", { class: "meta", text: meta }));
}

/** A status line for a call: its error and its latency. */
export function outcome() {
  const node = el("div", {});
  const error = el("p", { class: "call-error", role: "alert" });
  const timing = el("p", { class: "latency" });
  node.append(error, timing);
  return { node, error, timing };
}
