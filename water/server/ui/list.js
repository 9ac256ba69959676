// The executions of every flow, newest first: filters, paging, live refresh.

import { api, query } from "./api.js";
import { STATUSES, badge, executionLink, fill, h, on, time } from "./dom.js";
import { live } from "./live.js";

export const PAGE_SIZE = 25;

export async function listView(params, ctx) {
  const state = {
    flow: params.get("flow") ?? "",
    status: params.get("status") ?? "",
    offset: Math.max(0, Number.parseInt(params.get("offset") ?? "0", 10) || 0),
  };
  document.title = "Executions · Water";
  const flows = (await api("flows")).flows.map((f) => f.id);
  if (state.flow && !flows.includes(state.flow)) flows.push(state.flow); // e.g. not registered here

  const flowSelect = h(
    "select",
    { id: "filter-flow", name: "flow" },
    h("option", { value: "" }, "All flows"),
    flows.map((id) => h("option", { value: id }, id)),
  );
  flowSelect.value = state.flow;
  const statusSelect = h(
    "select",
    { id: "filter-status", name: "status" },
    h("option", { value: "" }, "Any status"),
    STATUSES.map((s) => h("option", { value: s }, s)),
  );
  statusSelect.value = STATUSES.includes(state.status) ? state.status : "";
  const liveBox = h("input", { type: "checkbox", id: "filter-live", name: "live", checked: true });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter executions" },
    h("div", { class: "field" }, h("label", { for: "filter-flow" }, "Flow"), flowSelect),
    h("div", { class: "field" }, h("label", { for: "filter-status" }, "Status"), statusSelect),
    h("div", { class: "field check" }, liveBox, h("label", { for: "filter-live" }, "Live refresh")),
  );
  const rows = h("tbody");
  const table = h(
    "table",
    { class: "list" },
    h("caption", { class: "visually-hidden" }, "Executions, newest first"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Execution", "Flow", "Status", "Started", "Updated", "Parent", "Error"].map((c) =>
          h("th", { scope: "col" }, c),
        ),
      ),
    ),
    rows,
  );
  const summary = h("span", { class: "muted", id: "page-summary" });
  const previous = h("button", { type: "button" }, "Previous page");
  const next = h("button", { type: "button" }, "Next page");
  const error = h("p", { class: "error", role: "alert" });
  const view = h(
    "section",
    { "aria-labelledby": "list-title" },
    h("h1", { id: "list-title", tabindex: -1 }, "Executions"),
    form,
    error,
    h("div", { class: "scroll" }, table),
    h("nav", { class: "pager", "aria-label": "Pages" }, previous, summary, next),
  );

  const row = (item) =>
    h(
      "tr",
      {},
      h("td", {}, executionLink(item.execution_id)),
      h("td", {}, h("a", { href: `#/${query({ flow: item.flow_id })}` }, item.flow_id)),
      h("td", {}, badge(item.status)),
      h("td", {}, time(item.created_at, { short: true })),
      h("td", {}, time(item.updated_at, { short: true })),
      h("td", {}, item.parent_id ? executionLink(item.parent_id) : "—"),
      h("td", { class: "error-text" }, item.error ?? ""),
    );

  async function refresh() {
    try {
      const filters = { flow_id: state.flow, status: state.status, limit: PAGE_SIZE };
      let page = await api(`sessions${query({ ...filters, offset: state.offset })}`);
      if (!page.items.length && state.offset > 0 && page.total > 0) {
        state.offset = Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE; // past the end
        page = await api(`sessions${query({ ...filters, offset: state.offset })}`);
      }
      fill(
        rows,
        page.items.length
          ? page.items.map(row)
          : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No executions match.")),
      );
      const last = state.offset + page.items.length;
      fill(summary, page.total ? `${state.offset + 1}–${last} of ${page.total}` : "No executions");
      previous.disabled = state.offset === 0;
      next.disabled = last >= page.total;
      fill(error);
    } catch (failure) {
      ctx.failed(failure, error);
    }
  }

  function changed() {
    const hash = `#/${query({ flow: state.flow, status: state.status, offset: state.offset || "" })}`;
    history.replaceState(null, "", hash); // no hashchange: the view stays, only the rows change
    refresh();
  }
  on(form, "submit", (event) => event.preventDefault());
  on(flowSelect, "change", () => {
    state.flow = flowSelect.value;
    state.offset = 0;
    changed();
  });
  on(statusSelect, "change", () => {
    state.status = statusSelect.value;
    state.offset = 0;
    changed();
  });
  on(previous, "click", () => {
    state.offset = Math.max(0, state.offset - PAGE_SIZE);
    changed();
  });
  on(next, "click", () => {
    state.offset += PAGE_SIZE;
    changed();
  });

  await refresh();
  if (!ctx.show(view)) return null;
  let stop = live(refresh);
  on(liveBox, "change", () => {
    stop?.();
    stop = liveBox.checked ? live(refresh) : null;
  });
  return () => stop?.();
}
