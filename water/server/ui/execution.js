// One execution: status and steering, its steps as a timeline, input, output and error,
// nested executions both ways, the flow's graph and the journal of events.

import { api, query, sessionPath } from "./api.js";
import {
  TERMINAL,
  badge,
  between,
  cssName,
  duration,
  executionHref,
  executionLink,
  fill,
  h,
  json,
  on,
  time,
} from "./dom.js";
import { colour, drawGraph } from "./graph.js";
import { follow } from "./live.js";

/**
 * The steering buttons, in order. `when(snapshot)` says whether the command applies now;
 * a command may send a body and ask for confirmation first. (Fork, which needs a step, has
 * its own form.)
 */
export const ACTIONS = [
  {
    name: "Pause",
    path: "pause",
    when: (s) => s.status === "running" || s.status === "waiting",
  },
  {
    name: "Resume",
    path: "resume",
    when: (s) => s.status === "paused" || s.status === "pausing",
  },
  {
    name: "Cancel",
    path: "cancel",
    when: (s) => !TERMINAL.has(s.status),
    confirm: "Cancel this execution for good? Running steps are cancelled too.",
  },
  {
    name: "Retry",
    path: "retry",
    when: (s) => s.status === "failed",
  },
];

const MAX_EVENTS = 2000; // rows kept on the page (the newest)

export async function executionView(id, ctx) {
  const path = sessionPath(id);
  let snapshot = await api(path);
  document.title = `${id} · Water`;

  // -- the page's parts, built once; update() refills the ones that change --------------
  const status = h("span", { id: "execution-status", class: "badge" });
  const crumbs = h("nav", { class: "crumbs", "aria-label": "Breadcrumb" });
  const summary = h("dl", { class: "summary" });
  const steerError = h("p", { class: "error", role: "alert" });
  const buttons = ACTIONS.map((action) => {
    const button = h("button", { type: "button", "data-action": action.path }, action.name);
    on(button, "click", () => steer(action));
    return button;
  });
  const signalForm = buildSignalForm();
  const forkForm = buildForkForm();
  const suspendedArea = h("div", { class: "suspended" });
  let suspendedKeys = null;
  const steps = h("tbody");
  const stepsEmpty = h("p", { class: "muted" }, "No step has started yet.");
  const children = h("ul", { class: "children" });
  const childrenSection = h(
    "section",
    { class: "panel", "aria-labelledby": "children-title", hidden: true },
    h("h2", { id: "children-title" }, "Nested executions"),
    children,
  );
  const input = h("div");
  const output = h("div");
  const errorArea = h("div");
  const graphArea = h(
    "div",
    { class: "graph-area" },
    h("p", { class: "muted" }, "Loading the graph…"),
  );
  const events = h("tbody");
  const eventsNote = h("p", { class: "muted" });
  let lastSeq = 0;
  let graph = null;
  let recorded = false; // the graph is what this execution recorded (a code-first workflow)

  const view = h(
    "article",
    { class: "execution" },
    crumbs,
    h("h1", { tabindex: -1 }, "Execution ", h("code", {}, id)),
    h(
      "div",
      { class: "top" },
      h(
        "section",
        { class: "panel", "aria-labelledby": "summary-title" },
        h("h2", { id: "summary-title" }, "Summary"),
        summary,
      ),
      h(
        "section",
        { class: "panel steer", "aria-labelledby": "steer-title" },
        h("h2", { id: "steer-title" }, "Steer"),
        h("div", { class: "actions", role: "group", "aria-label": "Commands" }, buttons),
        steerError,
        signalForm.element,
        suspendedArea,
        forkForm.element,
      ),
    ),
    h(
      "section",
      { class: "panel", "aria-labelledby": "steps-title" },
      h("h2", { id: "steps-title" }, "Steps"),
      h(
        "div",
        { class: "scroll" },
        h(
          "table",
          { class: "steps" },
          h("caption", { class: "visually-hidden" }, "Steps in the order they started"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Step", "Task", "Status", "Attempts", "Started", "Duration", "Timeline"].map((c) =>
                h("th", { scope: "col" }, c),
              ),
            ),
          ),
          steps,
        ),
      ),
      stepsEmpty,
    ),
    childrenSection,
    h(
      "div",
      { class: "columns" },
      h(
        "section",
        { class: "panel", "aria-labelledby": "input-title" },
        h("h2", { id: "input-title" }, "Input"),
        input,
      ),
      h(
        "section",
        { class: "panel", "aria-labelledby": "output-title" },
        h("h2", { id: "output-title" }, "Output"),
        output,
      ),
      h(
        "section",
        { class: "panel", "aria-labelledby": "error-title" },
        h("h2", { id: "error-title" }, "Error"),
        errorArea,
      ),
    ),
    h(
      "section",
      { class: "panel", "aria-labelledby": "graph-title" },
      h("h2", { id: "graph-title" }, "Graph"),
      graphArea,
    ),
    h(
      "section",
      { class: "panel", "aria-labelledby": "events-title" },
      h("h2", { id: "events-title" }, "Events"),
      eventsNote,
      h(
        "div",
        { class: "scroll events" },
        h(
          "table",
          { class: "events" },
          h("caption", { class: "visually-hidden" }, "The execution's journal, oldest first"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Seq", "Time", "Event", "Details"].map((c) => h("th", { scope: "col" }, c)),
            ),
          ),
          events,
        ),
      ),
    ),
  );

  // -- filling ---------------------------------------------------------------------------
  function update(next) {
    snapshot = next;
    status.textContent = snapshot.status;
    status.className = `badge st-${cssName(snapshot.status)}`;
    fill(
      crumbs,
      h("a", { href: "#/" }, "Executions"),
      " › ",
      snapshot.parent_id ? [executionLink(snapshot.parent_id), " › "] : null,
      h("span", { "aria-current": "page" }, id),
    );
    const end = TERMINAL.has(snapshot.status) ? snapshot.updated_at : null;
    const rows = [
      ["Status", status],
      ["Flow", h("a", { href: `#/${query({ flow: snapshot.flow_id })}` }, snapshot.flow_id)],
      ["Parent", snapshot.parent_id ? executionLink(snapshot.parent_id) : null],
      ["Forked from", snapshot.forked_from ? executionLink(snapshot.forked_from) : null],
      ["Started", time(snapshot.created_at)],
      ["Updated", time(snapshot.updated_at)],
      ["Duration", duration(between(snapshot.created_at, end))],
      ["Running", snapshot.running_steps?.length ? snapshot.running_steps.join(", ") : null],
      ["Waiting for", snapshot.waiting_for?.length ? snapshot.waiting_for.join(", ") : null],
      ["Wakes at", snapshot.wake_at ? time(snapshot.wake_at) : null],
    ];
    fill(
      summary,
      rows
        .filter(([, value]) => value !== null)
        .map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
    );
    buttons.forEach((button, i) => {
      button.disabled = !ACTIONS[i].when(snapshot);
    });
    signalForm.update(snapshot);
    forkForm.update(snapshot);
    updateSuspended();
    updateSteps();
    fill(input, json(snapshot.input, "Input"));
    fill(
      output,
      snapshot.status === "completed"
        ? json(snapshot.output, "Output")
        : h("p", { class: "muted" }, "—"),
    );
    fill(errorArea, snapshot.error ? errorBlock(snapshot.error) : h("p", { class: "muted" }, "—"));
    if (graph) colour(graph, statusOfLabel());
  }

  function updateSteps() {
    const list = [...(snapshot.steps ?? [])].sort(
      (a, b) =>
        (Date.parse(a.started_at ?? "") || Infinity) - (Date.parse(b.started_at ?? "") || Infinity),
    );
    stepsEmpty.hidden = list.length > 0;
    const start = Date.parse(snapshot.created_at);
    const finish = TERMINAL.has(snapshot.status) ? Date.parse(snapshot.updated_at) : Date.now();
    const ends = list.map((s) => (s.finished_at ? Date.parse(s.finished_at) : finish));
    const span = Math.max(1, Math.max(finish, ...ends) - start);
    fill(
      steps,
      list.map((step, i) => {
        const began = step.started_at ? Date.parse(step.started_at) : null;
        const bar = h("div", { class: `bar st-${cssName(step.status)}` });
        if (began !== null) {
          bar.style.left = `${((began - start) / span) * 100}%`;
          bar.style.width = `${Math.max(0.6, ((ends[i] - began) / span) * 100)}%`;
        } else {
          bar.hidden = true;
        }
        const took = began === null ? null : (ends[i] - began) / 1000;
        return h(
          "tr",
          {},
          h(
            "th",
            { scope: "row" },
            h("code", {}, step.key),
            step.child_execution_id
              ? [
                  h("br"),
                  h("a", { href: executionHref(step.child_execution_id) }, "nested execution"),
                ]
              : null,
          ),
          h("td", {}, step.task_id),
          h(
            "td",
            {},
            badge(step.status),
            step.error
              ? h("div", { class: "error-text" }, `${step.error.type}: ${step.error.message}`)
              : null,
          ),
          h("td", { class: "num" }, String(step.attempts)),
          h("td", {}, time(step.started_at)),
          h(
            "td",
            { class: "num" },
            step.finished_at ? duration(took) : took === null ? "—" : `${duration(took)} so far`,
          ),
          h("td", { class: "timeline" }, h("div", { class: "track", "aria-hidden": "true" }, bar)),
        );
      }),
    );
    const nested = list.filter((s) => s.child_execution_id);
    childrenSection.hidden = nested.length === 0;
    fill(
      children,
      nested.map((s) =>
        h(
          "li",
          {},
          h("code", {}, s.key),
          " → ",
          executionLink(s.child_execution_id),
          " ",
          badge(s.status),
        ),
      ),
    );
  }

  function updateSuspended() {
    const keys = Object.keys(snapshot.suspended ?? {});
    const signature = keys.join("\n");
    if (signature === suspendedKeys) return; // keep what the user is typing
    suspendedKeys = signature;
    fill(
      suspendedArea,
      keys.map((key, i) => suspendedForm(key, snapshot.suspended[key], i)),
    );
  }

  function suspendedForm(key, payload, i) {
    const field = h("textarea", {
      id: `resume-data-${i}`,
      name: "data",
      rows: 3,
      spellcheck: "false",
    });
    const form = h(
      "form",
      { class: "resume-step", "aria-label": `Resume step ${key}` },
      h("h3", {}, "Suspended: ", h("code", {}, key)),
      json(payload, `What step ${key} asks`),
      h("label", { for: `resume-data-${i}` }, `Data for ${key} (JSON)`),
      field,
      h("div", { class: "actions" }, h("button", { type: "submit" }, `Resume step ${key}`)),
    );
    on(form, "submit", (event) => {
      event.preventDefault();
      const data = parseJson(field.value, `data for ${key}`);
      if (data.error) return fill(steerError, data.error);
      send(`Resume step ${key}`, `${path}/resume`, { data: data.value, step: key });
    });
    return form;
  }

  function buildSignalForm() {
    const name = h("input", {
      id: "signal-name",
      name: "name",
      list: "signal-names",
      required: true,
      autocomplete: "off",
      spellcheck: "false",
    });
    const names = h("datalist", { id: "signal-names" });
    const payload = h("textarea", {
      id: "signal-payload",
      name: "payload",
      rows: 3,
      placeholder: "null",
      spellcheck: "false",
    });
    const submit = h("button", { type: "submit" }, "Send signal");
    let typed = false;
    on(name, "input", () => {
      typed = true;
    });
    const element = h(
      "form",
      { class: "signal", "aria-labelledby": "signal-title" },
      h("h3", { id: "signal-title" }, "Send a signal"),
      h("label", { for: "signal-name" }, "Signal name"),
      name,
      names,
      h("label", { for: "signal-payload" }, "Payload (JSON)"),
      payload,
      h("div", { class: "actions" }, submit),
    );
    on(element, "submit", async (event) => {
      event.preventDefault();
      const value = parseJson(payload.value, "the payload");
      if (value.error) return fill(steerError, value.error);
      const signal = name.value.trim();
      const ok = await send(
        `Signal ${signal}`,
        `${path}/signal/${encodeURIComponent(signal)}`,
        value.value,
      );
      if (ok) {
        payload.value = "";
        typed = false;
      }
    });
    return {
      element,
      update(s) {
        const waiting = (s.waiting_for ?? [])
          .filter((w) => w.startsWith("signal:"))
          .map((w) => w.slice(7));
        fill(
          names,
          waiting.map((w) => h("option", { value: w })),
        );
        if (!typed && waiting.length === 1) name.value = waiting[0];
        submit.disabled = TERMINAL.has(s.status);
      },
    };
  }

  /** Fork: a new execution of the same flow and input that runs from the chosen step on. */
  function buildForkForm() {
    const step = h("select", { id: "fork-step", name: "from_step" });
    const submit = h("button", { type: "submit" }, "Fork");
    let keys = "";
    const element = h(
      "form",
      { class: "fork", "aria-labelledby": "fork-title" },
      h("h3", { id: "fork-title" }, "Fork"),
      h(
        "p",
        { class: "muted" },
        "A new execution of the same input: the steps that completed before the chosen one keep their outputs, and it runs from there on.",
      ),
      h("label", { for: "fork-step" }, "From step"),
      step,
      h("div", { class: "actions" }, submit),
    );
    on(element, "submit", async (event) => {
      event.preventDefault();
      fill(steerError);
      submit.disabled = true;
      try {
        const fork = await api(`${path}/fork`, { method: "POST", body: { from_step: step.value } });
        ctx.notify(`Forked from step ${step.value}: execution ${fork.execution_id}.`);
        window.location.hash = executionHref(fork.execution_id);
      } catch (failure) {
        ctx.failed(failure, steerError);
        submit.disabled = false;
      }
    });
    return {
      element,
      update(s) {
        const list = (s.steps ?? []).map((row) => row.key);
        const signature = list.join("\n");
        if (signature !== keys) {
          keys = signature;
          const chosen = step.value;
          fill(
            step,
            list.map((key) => h("option", { value: key }, key)),
          );
          if (list.includes(chosen)) step.value = chosen;
        }
        submit.disabled = list.length === 0;
      },
    };
  }

  function parseJson(text, what) {
    if (!text.trim()) return { value: null };
    try {
      return { value: JSON.parse(text) };
    } catch (error) {
      return { error: `${what} is not valid JSON: ${error.message}` };
    }
  }

  function errorBlock(error) {
    return h(
      "div",
      { class: "error-block" },
      h(
        "p",
        {},
        h("strong", {}, error.type),
        error.step ? [" in step ", h("code", {}, error.step)] : null,
      ),
      h("pre", { class: "json", tabindex: 0, "aria-label": "Error message" }, error.message),
      error.details ? json(error.details, "Error details") : null,
    );
  }

  /** The status of the step that ran a graph node's task or nested flow (by its label). */
  function statusOfLabel() {
    const byTask = new Map();
    for (const step of snapshot.steps ?? []) byTask.set(step.task_id, step.status);
    const waiting = new Set(snapshot.waiting_for ?? []);
    return (label) => {
      const signal = /^wait for signal '(.*)'/.exec(label);
      if (signal) return waiting.has(`signal:${signal[1]}`) ? "waiting" : null;
      const name = label.replace(/^for each item[^:]*: /, "").replace(/^(flow|dag) /, "");
      return byTask.get(name) ?? null;
    };
  }

  // -- commands --------------------------------------------------------------------------
  async function send(what, url, body) {
    fill(steerError);
    for (const b of buttons) b.disabled = true;
    try {
      const answer = await api(url, { method: "POST", body });
      if (answer) update(answer);
      ctx.notify(`${what}: the execution is ${snapshot.status}.`);
      await refreshEvents();
      if (stop === null) stop = watch(); // retried: follow it again
      return true;
    } catch (failure) {
      ctx.failed(failure, steerError);
      buttons.forEach((button, i) => {
        button.disabled = !ACTIONS[i].when(snapshot);
      });
      return false;
    }
  }

  async function steer(action) {
    if (action.confirm && !window.confirm(action.confirm)) return;
    await send(action.name, `${path}/${action.path}`, action.body?.(snapshot));
  }

  // -- loading ---------------------------------------------------------------------------
  async function refreshEvents() {
    const answer = await api(`${path}/events${query({ after_seq: lastSeq || "" })}`);
    const rows = answer.events.map((event) => {
      lastSeq = Math.max(lastSeq, event.seq);
      const { seq, ts, type, ...rest } = event;
      const details = JSON.stringify(rest);
      return h(
        "tr",
        {},
        h("td", { class: "num" }, String(seq)),
        h("td", {}, time(ts)),
        h("td", {}, h("code", {}, type)),
        h(
          "td",
          { class: "details", title: details.length > 200 ? details : null },
          details.length > 200 ? `${details.slice(0, 199)}…` : details,
        ),
      );
    });
    events.append(...rows);
    while (events.rows.length > MAX_EVENTS) events.deleteRow(0);
    fill(
      eventsNote,
      lastSeq > MAX_EVENTS
        ? `The newest ${MAX_EVENTS} of ${lastSeq} events.`
        : `${lastSeq} events.`,
    );
  }

  async function loadGraph() {
    try {
      const answer = await api(
        `flows/${encodeURIComponent(snapshot.flow_id)}/graph${query({ execution_id: id })}`,
      );
      recorded = Boolean(answer.execution_id);
      graph = drawGraph(answer.mermaid, {
        title: recorded
          ? `Graph of workflow ${snapshot.flow_id} as this execution recorded it`
          : `Graph of flow ${snapshot.flow_id}`,
        statusOf: statusOfLabel(),
      });
      fill(
        graphArea,
        h("div", { class: "scroll" }, graph),
        h(
          "details",
          {},
          h("summary", {}, "Mermaid text"),
          h("pre", { class: "json", tabindex: 0 }, answer.mermaid),
        ),
      );
    } catch (failure) {
      if (failure.status === 404) {
        fill(
          graphArea,
          h(
            "p",
            { class: "muted" },
            `No graph: flow ${snapshot.flow_id} is not registered with this server.`,
          ),
        );
      } else {
        ctx.failed(failure, graphArea);
      }
    }
  }

  const failures = h("p", { class: "error", role: "alert" });
  view.insertBefore(failures, view.children[2]);

  async function refresh() {
    try {
      update(await api(path));
      await refreshEvents();
      if (recorded) await loadGraph(); // a workflow's graph grows with what it records
      fill(failures);
    } catch (failure) {
      ctx.failed(failure, failures);
    }
    const again = ctx.current() && !TERMINAL.has(snapshot.status); // until a retry
    if (!again) stop = null;
    return again;
  }

  // pushed: each event the execution commits (read from `lastSeq` on) refreshes the view
  function watch() {
    if (TERMINAL.has(snapshot.status)) return null;
    return follow(`${path}/events${query({ follow: "true", after_seq: lastSeq })}`, refresh);
  }

  let stop = null; // stops following the execution (null: not followed)
  update(snapshot);
  await refreshEvents();
  if (!ctx.show(view)) return null;
  loadGraph();
  stop = watch();
  return () => stop?.();
}
