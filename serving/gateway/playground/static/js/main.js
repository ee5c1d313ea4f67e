// The playground: built from GET /v1/models and each model's page, one panel per kind. A model added the
// bring-your-own way appears with its kind's panel, with no change here.
import { ApiError, apiKey, call, setApiKey } from "./api.js";
import { cardSection } from "./card.js";
import { el, panel, showError } from "./dom.js";
import * as cartpole from "./cartpole.js";
import * as gan from "./gan.js";
import * as image from "./image.js";
import * as tabular from "./tabular.js";
import * as text from "./text.js";

// The order panels appear in, and the module that builds each kind's panel(s).
const PANELS = [
  ["image-classification", image],
  ["tabular-classification", tabular],
  ["regression", tabular],
  ["image-generation", gan],
  ["text-generation", text],
  ["policy", cartpole],
];

const status = document.getElementById("status");
const panels = document.getElementById("panels");
const keyInput = document.getElementById("api-key");

async function modelPage(name) {
  return (await call("GET", `/v1/models/${encodeURIComponent(name)}`)).data;
}

function unknownKind(model) {
  const section = panel(`panel-${model.name}`, model.name, [model]);
  section.append(el("p", { class: "muted", text: `The playground has no panel for ${model.kind} models yet.` }),
    cardSection(model));
  return section;
}

async function load() {
  panels.replaceChildren();
  showError(status);
  status.textContent = "Loading the models…";
  let models;
  try {
    const listing = (await call("GET", "/v1/models")).data;
    models = await Promise.all(listing.map((m) => modelPage(m.name)));
  } catch (error) {
    showError(status, error instanceof ApiError ? error : new ApiError(0, String(error)));
    if (error.status === 401) keyInput.focus();
    return;
  }
  const context = { models };
  const known = new Set(PANELS.map(([kind]) => kind));
  for (const [kind, module] of PANELS) {
    const ofKind = models.filter((m) => m.kind === kind);
    if (ofKind.length) panels.append(...module.build(ofKind, context));
  }
  panels.append(...models.filter((m) => !known.has(m.kind)).map(unknownKind));
  status.textContent = `${models.length} models served.`;
  document.body.dataset.loaded = "true";
}

document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  setApiKey(keyInput.value.trim());
  keyInput.value = "";
  load();
});
document.getElementById("forget-key").addEventListener("click", () => {
  setApiKey("");
  load();
});
keyInput.placeholder = apiKey() ? "a key is set for this tab" : keyInput.placeholder;
load();
