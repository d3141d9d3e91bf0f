// The REST API of the service that served this page, with the member's API key (Authorization: Bearer).
// Every error of the API is {"error": {"field", "message"}} with a 4xx status (docs/api.md); it is thrown as
// an ApiError carrying both, so forms can show the message next to the field it names.

const KEY_STORAGE = "transactive.apiKey";
// the API lives one level above the app (the app is served at <service>/app/)
const BASE = new URL("../", document.baseURI);

export class ApiError extends Error {
  constructor(status, field, message) {
    super(message);
    this.name = "ApiError";
    this.status = status; // 0: the service could not be reached
    this.field = field;
  }

  /** A 404 for the route itself (not for a missing record): this service has no such endpoint. */
  get missingEndpoint() {
    return this.status === 404 && this.field === "(path)";
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function setApiKey(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function clearApiKey() {
  sessionStorage.removeItem(KEY_STORAGE);
}

/** Encode one path segment. */
export const seg = (value) => encodeURIComponent(String(value));

export async function api(method, path, body) {
  const text = await apiText(method, path, body);
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** The answer's text as sent (e.g. to keep integers beyond 2^53 exact, or to save it unchanged). */
export async function apiText(method, path, body) {
  const headers = { Accept: "application/json" };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(new URL(path.replace(/^\//, ""), BASE), init);
  } catch (error) {
    throw new ApiError(0, null, `cannot reach the service (${error.message})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const err = data && typeof data === "object" && data.error ? data.error : {};
    throw new ApiError(response.status, err.field ?? null, err.message ?? `HTTP ${response.status}`);
  }
  return text;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body ?? {});
export const put = (path, body) => api("PUT", path, body ?? {});
