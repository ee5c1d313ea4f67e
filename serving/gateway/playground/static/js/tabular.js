// Tabular classification and regression: a form built from the signature's feature names, filled with the
// model's example row; the answer, and each feature's Integrated Gradients attribution as a signed bar.
import { explain, predict } from "./api.js";
import { cardSection } from "./card.js";
import { bars, el, outcome, panel, showError, uid } from "./dom.js";

const format = (v) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.001 && v !== 0) ? v.toExponential(2) : v.toFixed(3));

// The example rows are float32 values, shown to six significant digits; the page sends what the form shows.
const shown = (v) => String(Number(v.toPrecision(6)));

function modelPanel(model) {
  const example = model.example_request.features;
  const names = model.signature.feature_names || example.map((_, i) => `feature ${i}`);
  const labels = model.signature.labels;
  const section = panel(`panel-${model.name}`, model.name, [model]);
  const inputs = names.map((name, i) => el("input", { type: "number", step: "any", required: true,
    id: uid(`${model.name}-feature`), name: `f${i}`, value: shown(example[i]) }));
  const grid = el("div", { class: "form-grid" },
    inputs.map((input, i) => el("label", { for: input.id }, names[i], input)));
  const target = labels && el("select", { id: uid("target") },
    el("option", { value: "", text: "the predicted class" }), labels.map((l) => el("option", { value: l, text: l })));
  const submit = el("button", { type: "submit", text: labels ? "Classify and explain" : "Predict and explain" });
  const reset = el("button", { type: "button", class: "secondary", text: "Example row" });
  const form = el("form", { class: "tabular", "data-model": model.name }, grid,
    el("div", { class: "controls" }, target && el("label", { for: target.id, text: "Explain" }), target, submit, reset));
  const answer = el("p", { class: "answer", "aria-live": "polite" });
  const probabilities = el("div", { class: "probabilities" });
  const attributions = el("div", { class: "attributions" });
  const delta = el("p", { class: "muted delta" });
  const call = outcome();

  reset.addEventListener("click", () => inputs.forEach((input, i) => { input.value = shown(example[i]); }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(call.error);
    const features = inputs.map((input) => Number(input.value));
    const asked = target && target.value ? { target: target.value } : {};
    submit.disabled = true;
    try {
      const prediction = await predict(model.name, { features });
      const explanation = await explain(model.name, { features, ...asked });
      if (labels) {
        answer.textContent = prediction.data.label;
        probabilities.replaceChildren(bars(labels, prediction.data.probabilities,
          { highlight: labels.indexOf(prediction.data.label) }));
      } else {
        answer.textContent = `prediction ${format(prediction.data.prediction)}`;
      }
      attributions.replaceChildren(el("h3", { text: labels ? `Why ${explanation.data.target}` : "Why this value" }),
        bars(names, explanation.data.attributions, { signed: true, format }));
      delta.textContent = `Integrated Gradients from an all-zero row, ${explanation.data.steps} steps; `
        + `convergence delta ${explanation.data.convergence_delta.toExponential(1)}`;
      call.timing.textContent = `predict: ${prediction.ms.toFixed(1)} ms · explain: ${explanation.ms.toFixed(1)} ms`;
      form.dataset.state = "done";
    } catch (error) {
      answer.textContent = "";
      showError(call.error, error);
    } finally {
      submit.disabled = false;
    }
  });
  section.append(form, answer, probabilities, attributions, delta, call.node, cardSection(model));
  return section;
}

/** One panel per tabular model. */
export function build(models) {
  return models.map(modelPanel);
}
