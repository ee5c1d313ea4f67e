// The one way the page talks to the gateway: same origin, the key from sessionStorage, the API's own error
// message on failure, and the call's latency.

const KEY = "torchserve-stack.api-key";

/** The key the user gave in this tab (sessionStorage: gone when the tab closes, never in localStorage). */
export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

/** A failed call: the HTTP status and the API's `{"error": ...}` message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(json) {
  const out = {};
  if (json) out["Content-Type"] = "application/json";
  if (apiKey()) out.Authorization = `Bearer ${apiKey()}`;
  return out;
}

async function failure(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === "string") return new ApiError(response.status, body.error);
  } catch (_) { /* not JSON: the text itself is the message */ }
  return new ApiError(response.status, text || response.statusText);
}

/** GET or POST JSON; resolves to {data, ms} or rejects with an ApiError. */
export async function call(method, path, body) {
  const started = performance.now();
  let response;
  try {
    response = await fetch(path, {
      method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, `the gateway could not be reached (${err.message})`);
  }
  if (!response.ok) throw await failure(response);
  const data = await response.json();
  return { data, ms: performance.now() - started };
}

/** A model's prediction. */
export function predict(name, body) {
  return call("POST", `/v1/models/${encodeURIComponent(name)}/predict`, body);
}

/** A model's explanation (Integrated Gradients, computed in its handler). */
export function explain(name, body) {
  return call("POST", `/v1/models/${encodeURIComponent(name)}/explain`, body);
}

/**
 * Generated text as a sequence of chunks. The gateway has no streaming route yet, so this yields the whole
 * answer at once; when one lands, only this function changes (an SSE reader yielding each event's text).
 */
export async function* textChunks(name, body, timing) {
  const { data, ms } = await predict(name, body);
  timing.ms = ms;
  yield data.text;
}
