// Tiny DOM helpers. Text always goes in as text nodes (never as HTML), so data from the API cannot inject markup.

/**
 * h("p", {class: "x", onclick: fn}, "text", child) -> element. Attributes: `class`, `for`, `hidden`,
 * `dataset` (object), on* (listeners); `null`/`undefined`/`false` values are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** Say something to screen-reader users (the page's polite live region). */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // a new text node after a tick is announced even when the text repeats
  setTimeout(() => { region.textContent = message; }, 50);
}

/** A number for display: up to `digits` decimals, no trailing zeros. */
export function num(value, digits = 4) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits, useGrouping: false });
}

/**
 * A table from rows and column specs {label, value: row => text|Node, num?: bool}; an empty-state line when
 * there are no rows.
 */
export function table(caption, columns, rows, emptyText = "Nothing yet.") {
  if (!rows.length) return h("p", { class: "empty" }, emptyText);
  return scrollable(h("div", { class: "table-wrap", dataset: { caption } },
    h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
      h("tbody", {}, rows.map((row) => h("tr", {},
        columns.map((c, i) => h(i === 0 ? "th" : "td", { scope: i === 0 ? "row" : null, class: c.num ? "num" : null },
          c.value(row)))))))));
}

// a wrapper that scrolls sideways (a wide table on a phone) takes the keyboard focus, named by the table's
// caption, so that it can be scrolled without a mouse (WCAG 2.1.1; axe's scrollable-region-focusable); one that
// fits stays out of the tab order
const scrollWatch = typeof ResizeObserver === "function" ? new ResizeObserver((entries) => {
  for (const { target } of entries) {
    if (target.scrollWidth > target.clientWidth) {
      target.setAttribute("tabindex", "0");
      target.setAttribute("role", "region");
      target.setAttribute("aria-label", `${target.dataset.caption} (scrolls sideways)`);
    } else {
      for (const name of ["tabindex", "role", "aria-label"]) target.removeAttribute(name);
    }
  }
}) : null;

function scrollable(node) {
  scrollWatch?.observe(node);
  return node;
}

export function sideLabel(side) {
  return h("span", { class: side === "sell" ? "side-sell" : "side-buy" }, side);
}
