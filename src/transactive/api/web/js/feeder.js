// The community's feeder drawn as SVG from its buses' coordinates (GET .../feeder), with a slot's trades on it:
// each trade follows the feeder's lines from the seller's bus to the buyer's. The SVG has role="img", a <title>
// and a <desc> listing every trade, so screen readers get the trades, not the picture.

import { h, num } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 420;
const PAD = 16;
let feederCounter = 0;

function s(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The buses on the feeder's path from bus `from` to bus `to` (breadth-first over the lines), or [from, to]. */
export function feederPath(feeder, from, to) {
  const next = new Map();
  for (const line of feeder.lines) {
    if (!next.has(line.from)) next.set(line.from, []);
    if (!next.has(line.to)) next.set(line.to, []);
    next.get(line.from).push(line.to);
    next.get(line.to).push(line.from);
  }
  const previous = new Map([[from, null]]);
  const queue = [from];
  while (queue.length) {
    const bus = queue.shift();
    if (bus === to) break;
    for (const other of next.get(bus) ?? []) {
      if (!previous.has(other)) {
        previous.set(other, bus);
        queue.push(other);
      }
    }
  }
  if (!previous.has(to)) return [from, to];
  const path = [];
  for (let bus = to; bus !== null; bus = previous.get(bus)) path.unshift(bus);
  return path;
}

/**
 * The feeder with `trades` ([{seller, buyer, seller_bus, buyer_bus, energy_kwh, distance_m, charge}]) and the
 * members' buses `marks` ([{bus, label}]) on it, as a <figure>.
 */
export function feederDrawing(feeder, trades, marks, title, { closeUp = false } = {}) {
  const id = `feeder-${++feederCounter}`;
  const at = new Map(feeder.buses.filter((b) => b.x_m !== null && b.y_m !== null).map((b) => [b.name, b]));
  const xs = [...at.values()].map((b) => b.x_m);
  const ys = [...at.values()].map((b) => b.y_m);
  const svg = s("svg", { class: closeUp ? "feeder close-up" : "feeder", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img",
    "aria-labelledby": `${id}-title ${id}-desc` });
  svg.append(s("title", { id: `${id}-title` }, title));
  const described = trades.map((t) => `${t.seller} (bus ${t.seller_bus}) to ${t.buyer} (bus ${t.buyer_bus}): `
    + `${num(t.energy_kwh)} kWh over ${num(t.distance_m, 1)} m`);
  svg.append(s("desc", { id: `${id}-desc` }, described.length ? described.join("; ") : "no trades in this slot"));
  if (!at.size) {
    svg.append(s("text", { x: WIDTH / 2, y: HEIGHT / 2, "text-anchor": "middle", class: "no-data" }, "the feeder has no coordinates"));
    return h("figure", { class: "feeder-figure" }, svg);
  }
  // the close-up: the traders' buses and the trades' paths, with a margin (at least 15 m)
  const focus = closeUp ? [...marks.map((m) => String(m.bus)), ...trades.flatMap((t) =>
    feederPath(feeder, String(t.seller_bus), String(t.buyer_bus)))].map((bus) => at.get(bus)).filter(Boolean) : [];
  const area = focus.length ? focus : [...at.values()];
  const fx = area.map((b) => b.x_m);
  const fy = area.map((b) => b.y_m);
  const margin = focus.length ? Math.max(15, 0.3 * Math.max(Math.max(...fx) - Math.min(...fx), Math.max(...fy) - Math.min(...fy))) : 0;
  const [x0, x1, y0, y1] = [Math.min(...fx) - margin, Math.max(...fx) + margin, Math.min(...fy) - margin, Math.max(...fy) + margin];
  const scale = Math.min((WIDTH - 2 * PAD) / Math.max(x1 - x0, 1e-9), (HEIGHT - 2 * PAD) / Math.max(y1 - y0, 1e-9));
  const px = (b) => (PAD + (b.x_m - x0) * scale).toFixed(1);
  const py = (b) => (HEIGHT - PAD - (b.y_m - y0) * scale).toFixed(1); // north up
  let d = "";
  for (const line of feeder.lines) {
    const a = at.get(line.from);
    const b = at.get(line.to);
    if (a && b) d += `M${px(a)},${py(a)}L${px(b)},${py(b)}`;
  }
  svg.append(s("path", { class: "feeder-line", d }));
  const source = at.get(feeder.source_bus);
  if (source) {
    svg.append(s("rect", { class: "feeder-source", x: Number(px(source)) - 6, y: Number(py(source)) - 6, width: 12, height: 12 },
    ));
  }
  const heaviest = Math.max(...trades.map((t) => t.energy_kwh), 1e-9);
  for (const t of trades) {
    const points = feederPath(feeder, String(t.seller_bus), String(t.buyer_bus)).map((bus) => at.get(bus)).filter(Boolean);
    if (points.length < 2) continue;
    const path = s("path", { class: "feeder-trade", d: points.map((b, i) => `${i ? "L" : "M"}${px(b)},${py(b)}`).join(""),
      "stroke-width": (2 + 4 * (t.energy_kwh / heaviest)).toFixed(1) });
    path.append(s("title", {}, `${t.seller} → ${t.buyer}: ${num(t.energy_kwh)} kWh, ${num(t.distance_m, 1)} m`));
    svg.append(path);
  }
  for (const mark of marks) {
    const b = at.get(String(mark.bus));
    if (!b) continue;
    const dot = s("circle", { class: `feeder-bus feeder-${mark.side ?? "member"}`, cx: px(b), cy: py(b), r: 5 });
    dot.append(s("title", {}, `${mark.label} (bus ${mark.bus})`));
    svg.append(dot, s("text", { class: "feeder-label", x: Number(px(b)) + 7, y: Number(py(b)) - 6 }, mark.label));
  }
  return h("figure", { class: "feeder-figure" }, svg,
    h("figcaption", { class: "help" }, `${feeder.name}: ${feeder.buses.length} buses${closeUp ? ", the traders' part" : ""}. `,
      "Thick green lines: the slot's trades along the feeder, from the seller to the buyer (thicker: more energy). "
      + "Square: the substation."));
}
