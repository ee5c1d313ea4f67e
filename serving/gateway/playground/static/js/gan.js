// Image generation: a digit and a seed give a grid of generated digits, each labelled with what the image
// classifier (cnn_digits where it is served) reads back.
import { predict } from "./api.js";
import { cardSection } from "./card.js";
import { el, field, outcome, panel, showError, uid } from "./dom.js";

const READER = "cnn_digits";

function modelPanel(model, reader) {
  const section = panel(`panel-${model.name}`, model.name, [model]);
  const digitId = uid("digit");
  const digit = el("select", { id: digitId },
    model.signature.labels.map((label, i) => el("option", { value: i, text: label })));
  digit.value = String(model.example_request.digit ?? 3);
  const [seedLabel, seed] = field("Seed", { type: "number", min: 0, step: 1, value: 7 });
  const [countLabel, count] = field("Images", { type: "number", min: 1, max: 16, step: 1, value: 8 });
  const submit = el("button", { type: "submit", text: "Generate" });
  const form = el("form", { class: "controls" }, el("label", { for: digitId, text: "Digit" }), digit,
    seedLabel, seed, countLabel, count, submit);
  const grid = el("div", { class: "grid", "data-state": "idle" });
  const summary = el("p", { class: "answer", "aria-live": "polite" });
  const call = outcome();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(call.error);
    submit.disabled = true;
    try {
      const asked = Number(digit.value);
      const made = await predict(model.name, { digit: asked, count: Number(count.value), seed: Number(seed.value) });
      const images = made.data.images;
      const read = reader ? await predict(reader.name, { image: images }) : null;
      const labels = read ? read.data.label : images.map(() => "?");
      grid.replaceChildren(...images.map((png, i) => el("figure", {},
        el("img", { src: `data:image/png;base64,${png}`, alt: `generated ${asked}, read as ${labels[i]}` }),
        el("figcaption", { class: "read", text: reader ? `reads ${labels[i]}` : "" }))));
      const agree = labels.filter((l) => l === model.signature.labels[asked]).length;
      summary.textContent = reader ? `${agree} of ${images.length} read back as ${asked} by ${reader.name}` : "";
      call.timing.textContent = `generate: ${made.ms.toFixed(1)} ms`
        + (read ? ` · read back: ${read.ms.toFixed(1)} ms` : "");
      grid.dataset.state = "done";
    } catch (error) {
      showError(call.error, error);
    } finally {
      submit.disabled = false;
    }
  });
  section.append(form, summary, grid, call.node, cardSection(model));
  return section;
}

/** One panel per image generator, read back by cnn_digits (or the first image classifier served). */
export function build(models, context) {
  const classifiers = context.models.filter((m) => m.kind === "image-classification");
  const reader = classifiers.find((m) => m.name === READER) || classifiers[0];
  return models.map((model) => modelPanel(model, reader));
}
