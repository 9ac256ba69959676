// A flow's graph as SVG, drawn from the Mermaid text the API serves (GET /flows/{id}/graph,
// written by water/graph.py). Only that small dialect is read:
//
//   flowchart TD
//   id["label"]  id{"label"}  id{{"label"}}  id(["label"])  id[/"label"/]  id(("label"))
//   id[["label"]]
//   a --> b      a -->|label| b
//   subgraph id["label"] ... end          (direction lines are ignored; drawn top-down)
//
// with & " < > in labels written #amp; #quot; #lt; #gt;. The layout is layered: ranks by
// longest path (a loop's edge back to its test is set aside and drawn beside the nodes),
// crossings reduced by barycentre sweeps that keep each subgraph's nodes together, and x
// positions that sit each node over its neighbours as closely as the order allows.

import { cssName, h } from "./dom.js";

const FONT = "13px system-ui, sans-serif"; // the same as `.graph text` in style.css
const RANK_GAP = 44;
const NODE_GAP = 26;
const PAD = 12; // a subgraph's border around its nodes
const TITLE = 18; // a subgraph's title line
const MARGIN = 8;

const NODE =
  /^([A-Za-z_][\w-]*)(\(\(|\{\{|\(\[|\[\/|\[\[|\[|\{)"(.*)"(\)\)|\}\}|\]\)|\/\]|\]\]|\]|\})$/;
const EDGE = /^([A-Za-z_][\w-]*)\s*-->\s*(?:\|(.*?)\|\s*)?([A-Za-z_][\w-]*)$/;
const SUBGRAPH = /^subgraph\s+([A-Za-z_][\w-]*)\s*(?:\["(.*)"\])?$/;
const SHAPES = {
  "((": "circle",
  "{{": "hexagon",
  "([": "stadium",
  "[/": "slanted",
  "[[": "subroutine",
  "[": "box",
  "{": "decision",
};
const ENTITIES = { amp: "&", quot: '"', lt: "<", gt: ">" };

function unescape(text) {
  return text.replace(/#(amp|quot|lt|gt|\d+);/g, (_, name) =>
    name in ENTITIES ? ENTITIES[name] : String.fromCodePoint(Number(name)),
  );
}

/** The nodes, edges and subgraphs of a flowchart; lines outside the dialect are skipped. */
export function parseMermaid(text) {
  const nodes = new Map();
  const edges = [];
  const clusters = new Map();
  const stack = [];
  const ensure = (id) => {
    if (!nodes.has(id))
      nodes.set(id, { id, label: id, shape: "box", cluster: stack.at(-1) ?? null });
  };
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("%%") || /^(flowchart|graph|direction)\b/.test(line)) continue;
    let match = SUBGRAPH.exec(line);
    if (match) {
      const label = unescape(match[2] ?? match[1]);
      clusters.set(match[1], { id: match[1], label, parent: stack.at(-1) ?? null });
      stack.push(match[1]);
      continue;
    }
    if (line === "end") {
      stack.pop();
      continue;
    }
    match = EDGE.exec(line);
    if (match) {
      ensure(match[1]);
      ensure(match[3]);
      edges.push({ from: match[1], to: match[3], label: match[2] ? unescape(match[2]) : null });
      continue;
    }
    match = NODE.exec(line);
    if (match) {
      const cluster = nodes.get(match[1])?.cluster ?? stack.at(-1) ?? null;
      nodes.set(match[1], {
        id: match[1],
        label: unescape(match[3]),
        shape: SHAPES[match[2]],
        cluster,
      });
    }
  }
  return { nodes, edges, clusters };
}

function measurer() {
  const context = document.createElement("canvas").getContext("2d");
  if (!context) return (text) => text.length * 7.5;
  context.font = FONT;
  return (text) => Math.ceil(context.measureText(text).width);
}

function sizeOf(shape, textWidth) {
  switch (shape) {
    case "circle": {
      const d = Math.max(textWidth + 18, 44);
      return [d, d];
    }
    case "decision": // the label fits inside the diamond
      return [Math.max(textWidth * 1.5 + 24, 64), 56];
    case "hexagon":
    case "slanted":
      return [textWidth + 44, 36];
    case "stadium":
      return [textWidth + 36, 36];
    default:
      return [textWidth + 28, 36];
  }
}

/** The subgraphs around a node, outermost first. */
function clusterPath(clusters, id) {
  const path = [];
  for (let c = id; c; c = clusters.get(c)?.parent ?? null) path.unshift(c);
  return path;
}

function commonPrefix(a, b) {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n += 1;
  return a.slice(0, n);
}

/** Indexes of the edges that close a cycle (found by depth-first search in declared order). */
function backEdges(ids, edges) {
  const out = new Map(ids.map((id) => [id, []]));
  edges.forEach((e, i) => out.get(e.from).push(i));
  const state = new Map();
  const back = new Set();
  for (const root of ids) {
    if (state.has(root)) continue;
    const stack = [[root, 0]];
    state.set(root, 1);
    while (stack.length) {
      const top = stack.at(-1);
      const [v, next] = top;
      const list = out.get(v);
      if (next >= list.length) {
        state.set(v, 2);
        stack.pop();
        continue;
      }
      top[1] += 1;
      const w = edges[list[next]].to;
      if (state.get(w) === 1) back.add(list[next]);
      else if (!state.has(w)) {
        state.set(w, 1);
        stack.push([w, 0]);
      }
    }
  }
  return back;
}

/** Pool-adjacent-violators: the nondecreasing sequence closest to `values` (least squares). */
function isotonic(values) {
  const blocks = [];
  for (const value of values) {
    blocks.push({ sum: value, count: 1 });
    while (blocks.length > 1) {
      const last = blocks.at(-1);
      const prev = blocks.at(-2);
      if (prev.sum / prev.count <= last.sum / last.count) break;
      prev.sum += last.sum;
      prev.count += last.count;
      blocks.pop();
    }
  }
  return blocks.flatMap((b) => Array(b.count).fill(b.sum / b.count));
}

/** Positions and sizes of everything to draw. */
export function layout(graph, measure = measurer()) {
  const { clusters } = graph;
  const ids = [...graph.nodes.keys()];
  const at = new Map(); // id -> {w, h, x, y, rank, path, dummy}
  for (const node of graph.nodes.values()) {
    const [w, height] = sizeOf(node.shape, measure(node.label));
    at.set(node.id, {
      w,
      h: height,
      x: 0,
      y: 0,
      rank: 0,
      path: clusterPath(clusters, node.cluster),
      dummy: false,
    });
  }
  const edges = graph.edges.filter((e) => e.from !== e.to);
  const back = backEdges(ids, edges);
  const forward = edges.map((e, i) => (back.has(i) ? [e.to, e.from] : [e.from, e.to]));

  // ranks: the longest path from a source
  const indegree = new Map(ids.map((id) => [id, 0]));
  const next = new Map(ids.map((id) => [id, []]));
  for (const [u, v] of forward) {
    indegree.set(v, indegree.get(v) + 1);
    next.get(u).push(v);
  }
  const ready = ids.filter((id) => indegree.get(id) === 0);
  while (ready.length) {
    const u = ready.shift();
    for (const v of next.get(u)) {
      at.get(v).rank = Math.max(at.get(v).rank, at.get(u).rank + 1);
      indegree.set(v, indegree.get(v) - 1);
      if (indegree.get(v) === 0) ready.push(v);
    }
  }

  // long edges pass through one invisible point per rank they cross
  const chains = forward.map(([u, v], i) => {
    const chain = [u];
    const path = commonPrefix(at.get(u).path, at.get(v).path);
    for (let r = at.get(u).rank + 1; r < at.get(v).rank; r += 1) {
      const id = `~${i}.${r}`;
      at.set(id, { w: 6, h: 0, x: 0, y: 0, rank: r, path, dummy: true });
      chain.push(id);
    }
    chain.push(v);
    return chain;
  });
  // a labelled edge's label sits on its first segment: the node it reaches there takes room for it
  chains.forEach((chain, i) => {
    if (back.has(i) || !edges[i].label) return;
    const n = at.get(chain[1]);
    n.room = Math.max(n.room ?? n.w, measure(edges[i].label) + 16);
  });
  const above = new Map([...at.keys()].map((id) => [id, []]));
  const below = new Map([...at.keys()].map((id) => [id, []]));
  chains.forEach((chain, i) => {
    if (back.has(i)) return; // drawn beside the nodes; it must not pull them around
    for (let k = 1; k < chain.length; k += 1) {
      below.get(chain[k - 1]).push(chain[k]);
      above.get(chain[k]).push(chain[k - 1]);
    }
  });
  const rankCount = Math.max(0, ...[...at.values()].map((n) => n.rank)) + 1;
  const layers = Array.from({ length: rankCount }, () => []);
  for (const [id, n] of at) layers[n.rank].push(id);

  // order within ranks: barycentre sweeps, each subgraph's members kept together
  const index = new Map();
  const reindex = () => layers.forEach((layer) => layer.forEach((id, i) => index.set(id, i)));
  reindex();
  const grouped = (items, key, depth) => {
    const units = [];
    const byCluster = new Map();
    for (const id of items) {
      const cluster = at.get(id).path[depth];
      if (cluster === undefined) {
        units.push({ key: key(id), items: [id] });
        continue;
      }
      let unit = byCluster.get(cluster);
      if (!unit) {
        unit = { items: [] };
        byCluster.set(cluster, unit);
        units.push(unit);
      }
      unit.items.push(id);
    }
    for (const unit of units) {
      if (unit.key !== undefined) continue;
      unit.items = grouped(unit.items, key, depth + 1);
      unit.key = unit.items.reduce((sum, id) => sum + key(id), 0) / unit.items.length;
    }
    units.sort((a, b) => a.key - b.key);
    return units.flatMap((unit) => unit.items);
  };
  for (let sweep = 0; sweep < 8; sweep += 1) {
    const down = sweep % 2 === 0;
    const neighbours = down ? above : below;
    const order = down ? layers.keys() : [...layers.keys()].reverse();
    for (const r of order) {
      const key = (id) => {
        const near = neighbours.get(id);
        if (!near.length) return index.get(id);
        return near.reduce((sum, n) => sum + index.get(n), 0) / near.length;
      };
      layers[r] = grouped(layers[r], key, 0);
      layers[r].forEach((id, i) => index.set(id, i));
    }
  }

  // x: as close to the neighbours' mean as the order and the gaps allow
  const gap = (a, b) => {
    const pa = at.get(a).path;
    const pb = at.get(b).path;
    const shared = commonPrefix(pa, pb).length;
    const borders = pa.length - shared + (pb.length - shared);
    const space = at.get(a).dummy || at.get(b).dummy ? NODE_GAP / 2 : NODE_GAP;
    const width = (id) => Math.max(at.get(id).w, at.get(id).room ?? 0);
    return (width(a) + width(b)) / 2 + space + PAD * borders;
  };
  const place = (layer, wanted) => {
    const offsets = [0];
    for (let i = 1; i < layer.length; i += 1)
      offsets.push(offsets[i - 1] + gap(layer[i - 1], layer[i]));
    const fit = isotonic(layer.map((id, i) => wanted(id) - offsets[i]));
    layer.forEach((id, i) => {
      at.get(id).x = fit[i] + offsets[i];
    });
  };
  for (const layer of layers) place(layer, () => 0);
  for (const layer of layers) place(layer, (id) => at.get(id).x); // spread evenly from 0
  const mean = (list, own) =>
    list.length ? list.reduce((sum, n) => sum + at.get(n).x, 0) / list.length : own;
  for (let sweep = 0; sweep < 12; sweep += 1) {
    const down = sweep % 2 === 0;
    const order = down ? [...layers.keys()] : [...layers.keys()].reverse();
    for (const r of order) {
      const neighbours =
        sweep >= 10
          ? (id) => [...above.get(id), ...below.get(id)]
          : (id) => (down ? above : below).get(id);
      place(layers[r], (id) => mean(neighbours(id), at.get(id).x));
    }
  }

  // y: ranks stacked, with room for the borders and titles of the subgraphs that open or close
  const span = new Map(); // cluster -> [first rank, last rank]
  for (const id of ids) {
    for (const c of at.get(id).path) {
      const [first, last] = span.get(c) ?? [Infinity, -Infinity];
      span.set(c, [Math.min(first, at.get(id).rank), Math.max(last, at.get(id).rank)]);
    }
  }
  const opening = Array(rankCount).fill(0);
  const closing = Array(rankCount).fill(0);
  for (const id of ids) {
    const { rank, path } = at.get(id);
    opening[rank] = Math.max(opening[rank], path.filter((c) => span.get(c)[0] === rank).length);
    closing[rank] = Math.max(closing[rank], path.filter((c) => span.get(c)[1] === rank).length);
  }
  let top = opening[0] * (PAD + TITLE);
  layers.forEach((layer, r) => {
    const height = Math.max(0, ...layer.map((id) => at.get(id).h));
    for (const id of layer) at.get(id).y = top + height / 2;
    top += height + RANK_GAP + closing[r] * PAD + (opening[r + 1] ?? 0) * (PAD + TITLE);
  });

  // subgraph boxes, innermost first
  const boxes = new Map();
  const depth = (c) => clusterPath(clusters, c).length;
  for (const c of [...clusters.keys()].sort((a, b) => depth(b) - depth(a))) {
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const id of ids) {
      const n = at.get(id);
      if (n.path.at(-1) !== c) continue;
      [x0, y0] = [Math.min(x0, n.x - n.w / 2), Math.min(y0, n.y - n.h / 2)];
      [x1, y1] = [Math.max(x1, n.x + n.w / 2), Math.max(y1, n.y + n.h / 2)];
    }
    for (const [inner, box] of boxes) {
      if (clusters.get(inner).parent !== c) continue;
      [x0, y0] = [Math.min(x0, box.x), Math.min(y0, box.y)];
      [x1, y1] = [Math.max(x1, box.x + box.w), Math.max(y1, box.y + box.h)];
    }
    if (x0 === Infinity) continue;
    boxes.set(c, {
      x: x0 - PAD,
      y: y0 - PAD - TITLE,
      w: x1 - x0 + 2 * PAD,
      h: y1 - y0 + 2 * PAD + TITLE,
    });
  }

  // a label: on the first segment, halfway between the source and the top of what the edge
  // enters there (the subgraphs it enters included, so that it never covers their titles)
  const labelSpot = (points, chain) => {
    const [p, q] = points;
    const source = at.get(chain[0]);
    const target = at.get(chain[1]);
    let top = q.y;
    for (const c of target.path) {
      if (!source.path.includes(c) && boxes.has(c)) top = Math.min(top, boxes.get(c).y);
    }
    const wanted = (p.y + Math.max(p.y, top)) / 2;
    const bend = (q.y - p.y) / 2;
    let best = { x: p.x, y: p.y };
    for (let k = 0; k <= 40; k += 1) {
      const t = k / 40;
      const u = 1 - t;
      const y =
        u * u * u * p.y +
        3 * u * u * t * (p.y + bend) +
        3 * u * t * t * (q.y - bend) +
        t * t * t * q.y;
      if (Math.abs(y - wanted) < Math.abs(best.y - wanted)) {
        const x = u * u * u * p.x + 3 * u * u * t * p.x + 3 * u * t * t * q.x + t * t * t * q.x;
        best = { x, y };
      }
    }
    return best;
  };

  // edges: down through their points; a loop's edge back up curves round the nodes, on the
  // side of its rank where nothing stands in its way
  const drawn = edges.map((e, i) => {
    const s = at.get(e.from);
    const t = at.get(e.to);
    if (back.has(i)) {
      const [r0, r1] = [Math.min(s.rank, t.rank), Math.max(s.rank, t.rank)];
      const row = layers[s.rank].filter((id) => !at.get(id).dummy);
      const side = row[0] === e.from && row.length > 1 ? -1 : 1; // -1: the left, +1: the right
      // the outermost edge, on that side, of the loop's nodes and of those beside them
      const outer = (n) => side * (n.x + (side * n.w) / 2);
      const inner = side * Math.min(side * s.x, side * t.x);
      let reach = Math.max(outer(s), outer(t));
      for (let r = r0; r <= r1; r += 1) {
        for (const id of layers[r]) {
          if (side * at.get(id).x >= inner) reach = Math.max(reach, outer(at.get(id)));
        }
      }
      const cx = side * (reach + 36);
      const from = { x: s.x + (side * s.w) / 2, y: s.y };
      const to = { x: t.x + (side * t.w) / 2, y: t.y };
      return {
        edge: e,
        d: `M${from.x},${from.y} C${cx},${from.y} ${cx},${to.y} ${to.x},${to.y}`,
        label: { x: 0.75 * cx + 0.125 * (from.x + to.x), y: (from.y + to.y) / 2 },
        extent: cx,
      };
    }
    const points = chains[i].map((id, k, all) => {
      const n = at.get(id);
      if (k === 0) return { x: n.x, y: n.y + n.h / 2 };
      if (k === all.length - 1) return { x: n.x, y: n.y - n.h / 2 };
      return { x: n.x, y: n.y };
    });
    let d = `M${points[0].x},${points[0].y}`;
    for (let k = 1; k < points.length; k += 1) {
      const [p, q] = [points[k - 1], points[k]];
      const bend = (q.y - p.y) / 2;
      d += ` C${p.x},${p.y + bend} ${q.x},${q.y - bend} ${q.x},${q.y}`;
    }
    return { edge: e, d, label: labelSpot(points, chains[i], i), extent: null };
  });

  // the drawing's bounds
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const id of ids) {
    const n = at.get(id);
    [x0, y0] = [Math.min(x0, n.x - n.w / 2), Math.min(y0, n.y - n.h / 2)];
    [x1, y1] = [Math.max(x1, n.x + n.w / 2), Math.max(y1, n.y + n.h / 2)];
  }
  for (const box of boxes.values()) {
    [x0, y0] = [Math.min(x0, box.x), Math.min(y0, box.y)];
    [x1, y1] = [Math.max(x1, box.x + box.w), Math.max(y1, box.y + box.h)];
  }
  for (const { edge, label, extent } of drawn) {
    if (extent !== null) [x0, x1] = [Math.min(x0, extent), Math.max(x1, extent)];
    if (edge.label) {
      const half = measure(edge.label) / 2 + 6;
      [x0, x1] = [Math.min(x0, label.x - half), Math.max(x1, label.x + half)];
    }
  }
  if (x0 === Infinity) [x0, y0, x1, y1] = [0, 0, 0, 0];
  return {
    nodes: ids.map((id) => ({ ...graph.nodes.get(id), ...at.get(id) })),
    clusters: [...boxes].map(([id, box]) => ({
      ...clusters.get(id),
      ...box,
      path: clusterPath(clusters, id),
    })),
    edges: drawn,
    bounds: { x: x0 - MARGIN, y: y0 - MARGIN, w: x1 - x0 + 2 * MARGIN, h: y1 - y0 + 2 * MARGIN },
    measure,
  };
}

function shape(node) {
  const { x, y, w } = node;
  const height = node.h;
  const [l, r, t, b] = [x - w / 2, x + w / 2, y - height / 2, y + height / 2];
  const polygon = (points) => h("polygon", { points: points.map((p) => p.join(",")).join(" ") });
  switch (node.shape) {
    case "circle":
      return h("circle", { cx: x, cy: y, r: w / 2 });
    case "decision":
      return polygon([
        [x, t],
        [r, y],
        [x, b],
        [l, y],
      ]);
    case "hexagon":
      return polygon([
        [l + 14, t],
        [r - 14, t],
        [r, y],
        [r - 14, b],
        [l + 14, b],
        [l, y],
      ]);
    case "slanted":
      return polygon([
        [l + 12, t],
        [r, t],
        [r - 12, b],
        [l, b],
      ]);
    case "stadium":
      return h("rect", { x: l, y: t, width: w, height, rx: height / 2 });
    default:
      return h("rect", { x: l, y: t, width: w, height, rx: 4 });
  }
}

let drawings = 0;

/**
 * The SVG of a Mermaid flowchart. `statusOf(label)` may colour the nodes and subgraphs that
 * are not inside another subgraph (the steps of this execution): see `colour`.
 */
export function drawGraph(text, { title, statusOf } = {}) {
  const graph = layout(parseMermaid(text));
  drawings += 1;
  const arrow = `graph-arrow-${drawings}`;
  const { x, y, w, h: height } = graph.bounds;
  const svg = h(
    "svg",
    {
      class: "graph",
      viewBox: `${x} ${y} ${w} ${height}`,
      width: Math.ceil(w),
      height: Math.ceil(height),
      role: "img",
      "aria-label": title ?? "Flow graph",
    },
    h("title", {}, title ?? "Flow graph"),
    h(
      "defs",
      {},
      h(
        "marker",
        {
          id: arrow,
          viewBox: "0 0 10 10",
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          orient: "auto-start-reverse",
        },
        h("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }),
      ),
    ),
  );
  for (const c of graph.clusters) {
    svg.append(
      h(
        "g",
        { class: "cluster", "data-label": c.label, "data-top": c.path.length === 1 ? "1" : null },
        h("rect", { x: c.x, y: c.y, width: c.w, height: c.h, rx: 6 }),
        h("text", { x: c.x + 8, y: c.y + TITLE - 4 }, c.label),
      ),
    );
  }
  for (const e of graph.edges) {
    svg.append(h("path", { class: "edge", d: e.d, "marker-end": `url(#${arrow})` }));
  }
  for (const e of graph.edges) {
    if (!e.edge.label) continue;
    const width = graph.measure(e.edge.label) + 8;
    svg.append(
      h(
        "g",
        { class: "edge-label" },
        h("rect", { x: e.label.x - width / 2, y: e.label.y - 9, width, height: 18, rx: 3 }),
        h("text", { x: e.label.x, y: e.label.y }, e.edge.label),
      ),
    );
  }
  for (const n of graph.nodes) {
    if (n.dummy) continue;
    svg.append(
      h(
        "g",
        {
          class: `node shape-${n.shape}`,
          "data-label": n.label,
          "data-top": n.path.length === 0 ? "1" : null,
        },
        shape(n),
        h("text", { x: n.x, y: n.y }, n.label),
      ),
    );
  }
  if (statusOf) colour(svg, statusOf);
  return svg;
}

/** Colour the top-level nodes and subgraphs of a drawing by `statusOf(label)` (or none). */
export function colour(svg, statusOf) {
  for (const el of svg.querySelectorAll("[data-top]")) {
    for (const name of [...el.classList]) if (name.startsWith("st-")) el.classList.remove(name);
    const status = statusOf(el.getAttribute("data-label"));
    if (status) el.classList.add(`st-${cssName(status)}`);
  }
}
