// Policy: the DQN balances a CartPole live. The physics run here (cartpole-env.js); every action is the
// API's answer to the current observation.
import { predict } from "./api.js";
import { cardSection } from "./card.js";
import { CartPole, THETA_THRESHOLD, X_THRESHOLD } from "./cartpole-env.js";
import { el, field, outcome, panel, showError } from "./dom.js";

const WIDTH = 480;
const HEIGHT = 200;

function draw(canvas, env) {
  const context = canvas.getContext("2d");
  const [x, , theta] = env.state;
  const scale = WIDTH / (2 * X_THRESHOLD * 1.2);
  const cartX = WIDTH / 2 + x * scale;
  const trackY = HEIGHT - 40;
  context.fillStyle = "#000";
  context.fillRect(0, 0, WIDTH, HEIGHT);
  context.strokeStyle = "#666";
  context.beginPath();
  context.moveTo(WIDTH / 2 - X_THRESHOLD * scale, trackY);
  context.lineTo(WIDTH / 2 + X_THRESHOLD * scale, trackY);
  context.stroke();
  context.fillStyle = "#7cc4ff";
  context.fillRect(cartX - 25, trackY - 15, 50, 30);
  const pole = 2 * 0.5 * scale; // the pole is twice gymnasium's half-length
  context.strokeStyle = Math.abs(theta) > THETA_THRESHOLD ? "#ff8a80" : "#ffd54f";
  context.lineWidth = 8;
  context.lineCap = "round";
  context.beginPath();
  context.moveTo(cartX, trackY - 15);
  context.lineTo(cartX + pole * Math.sin(theta), trackY - 15 - pole * Math.cos(theta));
  context.stroke();
  context.lineWidth = 1;
}

function modelPanel(model) {
  const section = panel(`panel-${model.name}`, model.name, [model]);
  const canvas = el("canvas", { class: "cartpole", width: WIDTH, height: HEIGHT, role: "img",
    "aria-label": "The cart and its pole" });
  const [seedLabel, seed] = field("Episode seed", { type: "number", min: 0, step: 1, value: 1 });
  const start = el("button", { type: "submit", text: "Run an episode" });
  const stop = el("button", { type: "button", class: "secondary", text: "Stop", disabled: true });
  const form = el("form", { class: "controls" }, seedLabel, seed, start, stop);
  const readout = el("p", { class: "answer cartpole-readout", "aria-live": "polite", "data-state": "idle" });
  const call = outcome();
  let stopping = false;
  stop.addEventListener("click", () => { stopping = true; });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(call.error);
    const env = new CartPole(Number(seed.value));
    let total = 0;
    stopping = false;
    start.disabled = true;
    stop.disabled = false;
    readout.dataset.state = "running";
    draw(canvas, env);
    try {
      while (!env.terminated && !env.truncated && !stopping) {
        const answer = await predict(model.name, { observation: env.observation() });
        total += answer.ms;
        env.step(answer.data.action);
        draw(canvas, env);
        readout.textContent = `step ${env.steps} · return ${env.episodeReturn}`;
      }
      const why = env.truncated ? "time limit reached" : env.terminated ? "the pole fell" : "stopped";
      readout.textContent = `step ${env.steps} · return ${env.episodeReturn} · ${why}`;
      readout.dataset.return = String(env.episodeReturn);
      readout.dataset.state = "done";
      call.timing.textContent = `mean latency per action: ${(total / Math.max(1, env.steps)).toFixed(1)} ms`;
    } catch (error) {
      showError(call.error, error);
      readout.dataset.state = "failed";
    } finally {
      start.disabled = false;
      stop.disabled = true;
    }
  });
  draw(canvas, new CartPole(1));
  section.append(form, canvas, readout, call.node, cardSection(model));
  return section;
}

/** One panel per policy. */
export function build(models) {
  return models.map(modelPanel);
}
