// Every request the dashboard makes goes through `api`: to the API that served the page
// (its own origin, under the same mount point), as JSON, with the token when one is set.
//
// The token is never in the page: with a token configured on the server, the page asks for
// it (sign-in form) and keeps it in this tab's sessionStorage, which ends with the tab and is
// never sent anywhere but in the Authorization header of these requests.

const TOKEN_KEY = "water.apiToken";

/** The API's root: the page is served at <root>/ui/. */
export const apiRoot = new URL("../", document.baseURI);

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details ?? null;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * Call the API: `api("sessions?limit=25")`, `api(sessionPath(id) + "/pause", {method: "POST"})`.
 * Answers the parsed JSON (null for 204); raises ApiError with the envelope's code and message.
 */
export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json" };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const init = { method, headers, signal, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(new URL(path, apiRoot), init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "unreachable", "the server did not answer; is it running?");
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data?.error ?? {};
    throw new ApiError(
      response.status,
      error.code ?? `http_${response.status}`,
      error.message ?? `${response.status} ${response.statusText}`,
      error.details,
    );
  }
  return data;
}

/**
 * Open a stream of server-sent events: answers the Response (its body not read yet), or null
 * when the server has nothing more to send (204); raises ApiError like `api`.
 */
export async function openStream(path, { signal } = {}) {
  const headers = { Accept: "text/event-stream" };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const init = { headers, signal, credentials: "omit", cache: "no-store" };
  let response;
  try {
    response = await fetch(new URL(path, apiRoot), init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "unreachable", "the server did not answer; is it running?");
  }
  if (response.status === 204) return null;
  if (!response.ok || !response.body) {
    throw new ApiError(response.status, `http_${response.status}`, response.statusText);
  }
  return response;
}

/** The path of an execution's resource; nested ids keep their "/" (the routes take it). */
export function sessionPath(executionId) {
  return `sessions/${executionId.split("/").map(encodeURIComponent).join("/")}`;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
