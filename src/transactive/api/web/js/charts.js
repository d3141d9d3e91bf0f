// Small SVG charts drawn by hand: a line (e.g. the clearing price per slot) and bars around zero (e.g. energy
// sold (+) and bought (-) per slot). Each is a <figure> with a caption; the SVG has role="img", a <title> and a
// <desc> that lists every value, so screen readers get the numbers, not the picture.

import { h } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 440;
const HEIGHT = 190;
const PAD = { left: 48, right: 12, top: 12, bottom: 30 };
let chartCounter = 0;

function s(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** About `count` round tick values covering [low, high] (1, 2 or 5 times a power of ten apart). */
export function niceTicks(low, high, count = 4) {
  if (!(high > low)) {
    const pad = Math.abs(low) > 0 ? Math.abs(low) * 0.5 : 1;
    return niceTicks(low - pad, high + pad, count);
  }
  const raw = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= raw);
  const ticks = [];
  for (let v = Math.floor(low / step) * step; v <= high + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < high) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

function frame(title, points, unit, includeZero) {
  const values = points.map((p) => p.value).filter((v) => v !== null && v !== undefined);
  const id = `chart-${++chartCounter}`;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img",
    "aria-labelledby": `${id}-title ${id}-desc` });
  svg.append(s("title", { id: `${id}-title` }, title));
  const listed = points.map((p) => `${p.label}: ${p.value === null || p.value === undefined ? "no value" : `${p.value} ${unit}`}`);
  svg.append(s("desc", { id: `${id}-desc` }, listed.length ? listed.join("; ") : "no data"));
  if (!values.length) {
    svg.setAttribute("viewBox", `0 0 ${WIDTH} 40`); // a line, not an empty frame
    svg.append(s("text", { x: WIDTH / 2, y: 24, "text-anchor": "middle", class: "no-data" }, "no data yet"));
    return { svg, x: null, y: null, values };
  }
  let low = Math.min(...values);
  let high = Math.max(...values);
  if (includeZero) {
    low = Math.min(low, 0);
    high = Math.max(high, 0);
  }
  const ticks = niceTicks(low, high);
  const yMin = ticks[0];
  const yMax = ticks[ticks.length - 1];
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const y = (v) => PAD.top + plotH - ((v - yMin) / (yMax - yMin)) * plotH;
  const slot = plotW / Math.max(points.length, 1);
  const x = (i) => PAD.left + slot * (i + 0.5);
  for (const t of ticks) {
    svg.append(s("line", { class: "grid", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(t), y2: y(t) }));
    svg.append(s("text", { class: "tick", x: PAD.left - 6, y: y(t) + 4, "text-anchor": "end" }, String(t)));
  }
  svg.append(s("line", { class: "axis", x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: PAD.top + plotH }));
  svg.append(s("line", { class: "axis", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(Math.max(yMin, Math.min(0, yMax))),
    y2: y(Math.max(yMin, Math.min(0, yMax))) }));
  // at most ~6 x labels, evenly spaced back from the last (most recent) point
  const every = Math.max(1, Math.ceil(points.length / 6));
  points.forEach((p, i) => {
    if ((points.length - 1 - i) % every === 0) {
      svg.append(s("text", { class: "tick", x: x(i), y: HEIGHT - 10, "text-anchor": "middle" }, p.label));
    }
  });
  return { svg, x, y, slot, values };
}

function figure(title, svg) {
  return h("figure", { class: "chart" }, h("figcaption", { "aria-hidden": "true" }, title), svg);
}

/** A line with a dot per value; points without a value leave a gap. points: [{label, value|null}]. */
export function lineChart(title, points, unit) {
  const { svg, x, y, values } = frame(title, points, unit, false);
  if (!values.length) return figure(title, svg);
  let path = "";
  let pen = false;
  points.forEach((p, i) => {
    if (p.value === null || p.value === undefined) {
      pen = false;
      return;
    }
    path += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(p.value).toFixed(1)} `;
    pen = true;
  });
  svg.append(s("path", { class: "series", d: path.trim() }));
  points.forEach((p, i) => {
    if (p.value === null || p.value === undefined) return;
    const dot = s("circle", { class: "dot", cx: x(i).toFixed(1), cy: y(p.value).toFixed(1), r: 3.5 });
    dot.append(s("title", {}, `${p.label}: ${p.value} ${unit}`));
    svg.append(dot);
  });
  return figure(title, svg);
}

/** Bars from zero: positive up (class bar-pos), negative down (bar-neg). points: [{label, value|null}]. */
export function barChart(title, points, unit) {
  const { svg, x, y, slot, values } = frame(title, points, unit, true);
  if (!values.length) return figure(title, svg);
  const width = Math.max(2, Math.min(28, slot * 0.6));
  points.forEach((p, i) => {
    if (p.value === null || p.value === undefined) return;
    const top = Math.min(y(p.value), y(0));
    const height = Math.max(1, Math.abs(y(p.value) - y(0)));
    const bar = s("rect", { class: p.value >= 0 ? "bar-pos" : "bar-neg", x: (x(i) - width / 2).toFixed(1),
      y: top.toFixed(1), width: width.toFixed(1), height: height.toFixed(1) });
    bar.append(s("title", {}, `${p.label}: ${p.value} ${unit}`));
    svg.append(bar);
  });
  return figure(title, svg);
}

/**
 * Several lines over the same x labels, from zero (e.g. the usual consumption against the event day's).
 * series: [{name, values: [number|null], className}]; a legend names them.
 */
export function compareChart(title, labels, series, unit) {
  const scale = labels.map((label, i) => ({ label,
    value: Math.max(...series.map((line) => line.values[i] ?? -Infinity)) }))
    .map((p) => (p.value === -Infinity ? { label: p.label, value: null } : p));
  const { svg, x, y, values } = frame(title, scale, unit, true);
  svg.querySelector("desc").textContent = series.map((line) => `${line.name}: ${labels.map((label, i) =>
    `${label} ${line.values[i] ?? "no value"}`).join(", ")} ${unit}`).join("; ");
  if (!values.length) return figure(title, svg);
  for (const line of series) {
    let path = "";
    let pen = false;
    line.values.forEach((value, i) => {
      if (value === null || value === undefined) {
        pen = false;
        return;
      }
      path += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(value).toFixed(1)} `;
      pen = true;
    });
    svg.append(s("path", { class: `series ${line.className ?? ""}`.trim(), d: path.trim() }));
  }
  const legend = h("ul", { class: "legend", "aria-hidden": "true" },
    series.map((line) => h("li", { class: line.className ?? "" }, line.name)));
  const node = figure(title, svg);
  node.append(legend);
  return node;
}
