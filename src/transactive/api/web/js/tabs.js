// A page organised by task: a row of tabs (WAI-ARIA tabs pattern: role tablist/tab/tabpanel, arrow keys, Home,
// End), each showing its group of panels. The first tab is chosen after signing in.

import { h } from "./dom.js";

/** tabs([{id, label, sections: [Node]}]) -> a node: the tab list and one tab panel per group. */
export function tabs(groups, { label = "Tasks", className = "view-grid" } = {}) {
  const list = h("div", { role: "tablist", "aria-label": label, class: "tabs" });
  const panels = [];
  const buttons = groups.map((group, i) => {
    const button = h("button", { type: "button", role: "tab", id: `tab-${group.id}`, "aria-controls": `tabpanel-${group.id}`,
      class: "tab" }, group.label);
    const panel = h("div", { role: "tabpanel", id: `tabpanel-${group.id}`, "aria-labelledby": `tab-${group.id}`,
      class: className, dataset: { tab: group.id } }, group.sections);
    button.addEventListener("click", () => select(i, false));
    panels.push(panel);
    return button;
  });
  const select = (index, focus) => {
    buttons.forEach((button, i) => {
      const chosen = i === index;
      button.setAttribute("aria-selected", String(chosen));
      button.tabIndex = chosen ? 0 : -1;
      panels[i].hidden = !chosen;
    });
    if (focus) buttons[index].focus();
  };
  list.addEventListener("keydown", (event) => {
    const current = buttons.indexOf(document.activeElement);
    if (current < 0) return;
    const next = { ArrowRight: current + 1, ArrowLeft: current - 1, Home: 0, End: buttons.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    select((next + buttons.length) % buttons.length, true);
  });
  list.append(...buttons);
  select(0, false);
  return h("div", { class: "tabbed" }, list, panels);
}
