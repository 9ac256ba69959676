// Building the page: elements from data (text only, never HTML), and formatting.

/**
 * An element: h("a", {href: "#/"}, "text", child, ...). Attributes named on* are refused
 * (handlers are attached with `on`); `class`, `hidden` and `disabled` are handled as
 * expected; null/undefined/false attributes and children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const svg = SVG_TAGS.has(tag);
  const el = svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag)
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) throw new Error(`use on() for ${name}`);
    if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

const SVG_TAGS = new Set([
  "svg",
  "g",
  "path",
  "rect",
  "circle",
  "ellipse",
  "polygon",
  "text",
  "title",
  "desc",
  "defs",
  "marker",
]);

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Attach an event handler; returns the element. */
export function on(el, type, handler) {
  el.addEventListener(type, handler);
  return el;
}

export const TERMINAL = new Set(["completed", "failed", "cancelled"]);
export const STATUSES = [
  "pending",
  "running",
  "pausing",
  "paused",
  "waiting",
  "completed",
  "failed",
  "cancelled",
];

/** A status as a badge (its class only colours it; the text says it). */
export function badge(status, attrs = {}) {
  return h("span", { ...attrs, class: `badge st-${cssName(status)}` }, status);
}

export function cssName(value) {
  return String(value ?? "")
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, "-");
}

/**
 * An ISO 8601 time as local time, in a <time> element (the full time in its tooltip).
 * `short`: today's times as HH:MM:SS, others as YYYY-MM-DD HH:MM.
 */
export function time(iso, { short = false } = {}) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  let text = localTime(date);
  if (short) {
    const today = localTime(new Date()).slice(0, 10);
    text = text.startsWith(today) ? text.slice(11, 19) : text.slice(0, 16);
  }
  return h("time", { datetime: iso, title: iso }, text);
}

export function localTime(date) {
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `.${pad(date.getMilliseconds(), 3)}`
  );
}

/** Seconds as "12 ms", "1.25 s", "3 min 4 s", "2 h 3 min", "1 d 2 h". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, seconds);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  const hours = Math.floor(m / 60);
  if (hours < 24) return `${hours} h ${m % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** Seconds between two ISO times (the second defaults to now). */
export function between(start, end) {
  if (!start) return null;
  const t0 = Date.parse(start);
  const t1 = end ? Date.parse(end) : Date.now();
  return (t1 - t0) / 1000;
}

/** A JSON value, pretty-printed, in a <pre>. */
export function json(value, label) {
  return h("pre", { class: "json", tabindex: 0, "aria-label": label }, pretty(value));
}

export function pretty(value) {
  return value === undefined ? "" : JSON.stringify(value, null, 2);
}

/** The link to an execution's page (ids of nested executions contain "/"). */
export function executionHref(id) {
  return `#/executions/${encodeURIComponent(id)}`;
}

export function executionLink(id, text = id) {
  return h("a", { href: executionHref(id) }, h("code", {}, text));
}
