// Text generation: a prompt, a temperature and a seed. Text is appended chunk by chunk as `textChunks` yields
// it (one chunk until the gateway streams).
import { textChunks } from "./api.js";
import { cardSection } from "./card.js";
import { el, field, outcome, panel, showError, uid } from "./dom.js";

function modelPanel(model) {
  const section = panel(`panel-${model.name}`, model.name, [model]);
  const promptId = uid("prompt");
  const prompt = el("textarea", { id: promptId, rows: 3, spellcheck: "false" });
  prompt.value = model.example_request.prompt;
  const [temperatureLabel, temperature] = field("Temperature", { type: "number", min: 0, max: 5, step: 0.05,
    value: model.signature.default_temperature ?? 0.8 });
  const [seedLabel, seed] = field("Seed", { type: "number", min: 0, step: 1, value: 7 });
  const [lengthLabel, length] = field("New characters", { type: "number", min: 1,
    max: model.signature.max_new_tokens ?? 256, step: 1, value: 120 });
  const submit = el("button", { type: "submit", text: "Generate" });
  const form = el("form", {}, el("label", { for: promptId, text: "Prompt" }), prompt,
    el("div", { class: "controls" }, temperatureLabel, temperature, seedLabel, seed, lengthLabel, length, submit));
  const shownPrompt = el("span", { class: "muted" });
  const generated = el("span", { class: "generated" });
  const output = el("pre", { class: "text", "aria-live": "polite", "data-state": "idle" }, shownPrompt, generated);
  const call = outcome();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(call.error);
    shownPrompt.textContent = prompt.value;
    generated.textContent = "";
    output.dataset.state = "busy";
    submit.disabled = true;
    const timing = {};
    try {
      const body = { prompt: prompt.value, temperature: Number(temperature.value), seed: Number(seed.value),
        max_new_tokens: Number(length.value) };
      for await (const chunk of textChunks(model.name, body, timing)) generated.textContent += chunk;
      call.timing.textContent = `latency: ${timing.ms.toFixed(1)} ms`;
      output.dataset.state = "done";
    } catch (error) {
      showError(call.error, error);
      output.dataset.state = "failed";
    } finally {
      submit.disabled = false;
    }
  });
  section.append(form, output, call.node, cardSection(model));
  return section;
}

/** One panel per text generator. */
export function build(models) {
  return models.map(modelPanel);
}
