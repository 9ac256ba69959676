// The dashboard: a list of executions (#/?flow=&status=&offset=) and an execution's page
// (#/executions/<id>). Routes live in the URL's fragment, so the server serves one page and
// ids of nested executions (which contain "/") need no special route.

import { ApiError, api, clearToken, setToken, token } from "./api.js";
import { fill, h, on } from "./dom.js";
import { executionView } from "./execution.js";
import { listView } from "./list.js";

const main = document.getElementById("main");
const notice = document.getElementById("notice");
const signOut = document.getElementById("sign-out");

let cleanup = null;
let generation = 0;
let noticeTimer = null;

function parseRoute() {
  const hash = location.hash;
  const prefix = "#/executions/";
  if (hash.startsWith(prefix)) {
    return { view: "execution", id: decodeURIComponent(hash.slice(prefix.length)) };
  }
  const at = hash.indexOf("?");
  return { view: "list", params: new URLSearchParams(at >= 0 ? hash.slice(at + 1) : "") };
}

function stopView() {
  generation += 1;
  clearTimeout(noticeTimer);
  notice.textContent = "";
  cleanup?.();
  cleanup = null;
}

function notify(text) {
  clearTimeout(noticeTimer);
  notice.textContent = text;
  noticeTimer = setTimeout(() => {
    notice.textContent = "";
  }, 5000);
}

/** What a view needs from the shell. */
function context(mine) {
  return {
    current: () => mine === generation,
    notify,
    /** Show a built view (unless the user has moved on) and move focus to its heading. */
    show(view) {
      if (mine !== generation) return false;
      fill(main, view);
      main.querySelector("h1")?.focus({ preventScroll: true });
      return true;
    },
    /** Report a failed request in `where` (a 401 asks for the token instead). */
    failed(error, where) {
      if (error instanceof ApiError && error.status === 401) {
        if (mine === generation) signIn(token() ? "The token was refused." : null);
        return;
      }
      fill(where, error.message ?? String(error));
    },
  };
}

async function render() {
  if (location.hash && !location.hash.startsWith("#/")) return; // an anchor within the page
  stopView();
  const mine = generation;
  const ctx = context(mine);
  signOut.hidden = !token();
  const route = parseRoute();
  try {
    const stop =
      route.view === "execution"
        ? await executionView(route.id, ctx)
        : await listView(route.params, ctx);
    if (mine === generation) cleanup = stop;
    else stop?.();
  } catch (error) {
    if (mine !== generation) return;
    if (error instanceof ApiError && error.status === 401) {
      signIn(token() ? "The token was refused." : null);
      return;
    }
    const retry = on(h("button", { type: "button" }, "Try again"), "click", render);
    ctx.show(
      h(
        "section",
        { class: "failure" },
        h(
          "h1",
          { tabindex: -1 },
          route.view === "execution" ? "Execution not shown" : "Executions not shown",
        ),
        h("p", { role: "alert" }, error.message ?? String(error)),
        h("p", {}, retry, " ", h("a", { href: "#/" }, "All executions")),
      ),
    );
  }
}

function signIn(problem) {
  stopView();
  clearToken();
  signOut.hidden = true;
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
  });
  const error = h("p", { class: "error", role: "alert" }, problem ?? "");
  const form = h(
    "form",
    { class: "sign-in panel", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title", tabindex: -1 }, "Sign in"),
    h(
      "p",
      {},
      "This server asks for its API token (the one it was started with, WATER_API_TOKEN). ",
      "It is kept in this browser tab only and sent to this server only.",
    ),
    h("label", { for: "token" }, "API token"),
    input,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Sign in")),
    error,
  );
  on(form, "submit", async (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    try {
      await api("flows");
    } catch (failure) {
      clearToken();
      fill(error, failure.status === 401 ? "That token was refused." : failure.message);
      input.focus();
      return;
    }
    render();
  });
  fill(main, form);
  input.focus();
}

on(signOut, "click", () => {
  clearToken();
  notify("Signed out.");
  render();
});
window.addEventListener("hashchange", render);
render();
