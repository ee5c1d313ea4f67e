// Image classification: draw a digit (mouse, touch or pen), every image classifier reads it, and each shows
// its probabilities and its Integrated Gradients heatmap over the drawing.
import { explain, predict } from "./api.js";
import { cardSection } from "./card.js";
import { bars, el, latency, outcome, panel, showError } from "./dom.js";

const SIZE = 224; // the drawing canvas, in canvas pixels
const STROKE = 22;
const SENT = 32; // the crop sent to the models (each handler resizes it to its own input, 8x8 here)
const HEAT = 160; // each model's heatmap canvas
const STEPS = 32; // integration steps for the page's explanations

function blank(context) {
  context.fillStyle = "#000";
  context.fillRect(0, 0, SIZE, SIZE);
}

/** The drawing's bounding square with a margin, or null for an empty drawing. */
function inkBox(context) {
  const { data } = context.getImageData(0, 0, SIZE, SIZE);
  let [left, top, right, bottom] = [SIZE, SIZE, -1, -1];
  for (let y = 0; y < SIZE; y += 1) {
    for (let x = 0; x < SIZE; x += 1) {
      if (data[(y * SIZE + x) * 4] > 32) {
        left = Math.min(left, x); right = Math.max(right, x);
        top = Math.min(top, y); bottom = Math.max(bottom, y);
      }
    }
  }
  if (right < 0) return null;
  // The digits data set centres each digit and scales its larger side to the frame; a small margin as there.
  const side = Math.max(right - left + 1, bottom - top + 1) * 1.1;
  return { x: (left + right + 1) / 2 - side / 2, y: (top + bottom + 1) / 2 - side / 2, side };
}

/** The ink box of the drawing as a SENT x SENT PNG data URL. */
function crop(canvas, box) {
  const out = el("canvas", { width: SENT, height: SENT });
  const context = out.getContext("2d");
  context.fillStyle = "#000";
  context.fillRect(0, 0, SENT, SENT);
  context.imageSmoothingQuality = "high";
  context.drawImage(canvas, box.x, box.y, box.side, box.side, 0, 0, SENT, SENT);
  return out.toDataURL("image/png");
}

/** The drawing with the attributions over it: red where a pixel raised the explained class, blue where it
 * lowered it. The attribution grid covers the ink box; its hottest cell is recorded for the tests. */
function heatmap(target, drawing, box, attributions) {
  const context = target.getContext("2d");
  const scale = HEAT / SIZE;
  context.drawImage(drawing, 0, 0, HEAT, HEAT);
  const rows = attributions.length;
  const cols = attributions[0].length;
  const peak = Math.max(...attributions.flat().map(Math.abs), 1e-12);
  let hottest = { value: -Infinity };
  attributions.forEach((row, r) => row.forEach((value, c) => {
    const cell = { x: box.x + (c * box.side) / cols, y: box.y + (r * box.side) / rows, w: box.side / cols,
      h: box.side / rows };
    if (value > hottest.value) hottest = { value, ...cell };
    if (value === 0) return;
    context.fillStyle = value > 0 ? `rgba(255, 64, 48, ${(0.8 * value) / peak})`
      : `rgba(64, 160, 255, ${(-0.8 * value) / peak})`;
    context.fillRect(cell.x * scale, cell.y * scale, cell.w * scale, cell.h * scale);
  }));
  target.dataset.peak = [hottest.x, hottest.y, hottest.w, hottest.h].map((v) => v.toFixed(2)).join(",");
}

function resultCard(model) {
  const label = el("p", { class: "answer", "aria-live": "polite" });
  const probabilities = el("div", {});
  const heat = el("canvas", { class: "heatmap", width: HEAT, height: HEAT, role: "img",
    "aria-label": `${model.name}: Integrated Gradients heatmap over the drawing` });
  const delta = el("p", { class: "muted delta" });
  const call = outcome();
  const node = el("div", { class: "result", "data-model": model.name }, el("h3", { text: model.name }), label,
    probabilities, heat, delta, call.node);
  return { node, label, probabilities, heat, delta, call, model };
}

async function classify(card, image, drawing, box, current) {
  showError(card.call.error);
  const labels = card.model.signature.labels;
  try {
    // One after the other: on a model's one worker, an explanation beside the prediction would inflate the
    // prediction's latency.
    const prediction = await predict(card.model.name, { image });
    const explanation = await explain(card.model.name, { image, steps: STEPS });
    if (!current()) return; // a newer stroke's reading is under way: this one is out of date
    card.label.textContent = `reads ${prediction.data.label}`;
    card.probabilities.replaceChildren(bars(labels, prediction.data.probabilities,
      { highlight: labels.indexOf(prediction.data.label) }));
    heatmap(card.heat, drawing, box, explanation.data.attributions);
    card.delta.textContent = `explained: ${explanation.data.target}; convergence delta `
      + `${explanation.data.convergence_delta.toExponential(1)}`;
    latency(card.call.timing, prediction.ms, "predict");
    card.call.timing.textContent += ` · explain: ${explanation.ms.toFixed(1)} ms`;
  } catch (error) {
    card.label.textContent = "";
    showError(card.call.error, error);
  }
}

/** One panel for every image classifier: they all read the same drawing. */
export function build(models) {
  const section = panel("panel-image-classification", "Draw a digit", models);
  const drawing = el("canvas", { class: "drawing", id: "digit-canvas", width: SIZE, height: SIZE, tabindex: 0,
    role: "img", "aria-label": "Drawing area: draw a digit with a mouse, a finger or a pen" });
  const context = drawing.getContext("2d", { willReadFrequently: true });
  blank(context);
  const cards = models.map(resultCard);
  const results = el("div", { class: "row results", "data-state": "idle" }, cards.map((c) => c.node));
  const note = el("p", { class: "muted", role: "status" });
  let generation = 0;

  async function readAll() {
    const box = inkBox(context);
    if (!box) {
      note.textContent = "Draw a digit first (or load the example).";
      return;
    }
    note.textContent = "";
    generation += 1;
    const mine = generation;
    results.dataset.state = "busy";
    const image = crop(drawing, box);
    await Promise.all(cards.map((card) => classify(card, image, drawing, box, () => mine === generation)));
    if (mine === generation) results.dataset.state = "done";
  }

  let last = null;
  const point = (event) => {
    const rect = drawing.getBoundingClientRect();
    return [((event.clientX - rect.left) * SIZE) / rect.width, ((event.clientY - rect.top) * SIZE) / rect.height];
  };
  drawing.addEventListener("pointerdown", (event) => {
    drawing.setPointerCapture(event.pointerId);
    last = point(event);
    context.fillStyle = "#fff";
    context.beginPath();
    context.arc(last[0], last[1], STROKE / 2, 0, 2 * Math.PI);
    context.fill();
  });
  drawing.addEventListener("pointermove", (event) => {
    if (!last) return;
    const next = point(event);
    Object.assign(context, { strokeStyle: "#fff", lineWidth: STROKE, lineCap: "round", lineJoin: "round" });
    context.beginPath();
    context.moveTo(...last);
    context.lineTo(...next);
    context.stroke();
    last = next;
  });
  const end = () => {
    if (!last) return;
    last = null;
    readAll(); // each finished stroke is read at once
  };
  drawing.addEventListener("pointerup", end);
  drawing.addEventListener("pointercancel", end);

  const clear = el("button", { type: "button", class: "secondary", text: "Clear" });
  clear.addEventListener("click", () => {
    blank(context);
    results.dataset.state = "idle";
  });
  const example = el("button", { type: "button", class: "secondary", text: "Load the example digit" });
  example.addEventListener("click", () => {
    const picture = new Image();
    picture.addEventListener("load", () => {
      blank(context);
      context.imageSmoothingEnabled = false;
      context.drawImage(picture, SIZE * 0.1, SIZE * 0.1, SIZE * 0.8, SIZE * 0.8);
      readAll();
    });
    picture.src = `data:image/png;base64,${models[0].example_request.image}`;
  });
  const read = el("button", { type: "button", text: "Read it" });
  read.addEventListener("click", readAll);

  section.append(el("div", { class: "row" },
    el("div", {}, drawing, el("div", { class: "controls" }, read, clear, example), note), results),
  ...models.map(cardSection));
  return [section];
}
