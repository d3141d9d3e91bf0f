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
    const shown = buttons.filter((button) => !button.hidden); // a tab left empty is hidden (hideEmptyTabs)
    const current = shown.indexOf(document.activeElement);
    if (current < 0) return;
    const next = { ArrowRight: current + 1, ArrowLeft: current - 1, Home: 0, End: shown.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    select(buttons.indexOf(shown[(next + shown.length) % shown.length]), true);
  });
  list.append(...buttons);
  select(0, false);
  return h("div", { class: "tabbed" }, list, panels);
}

/**
 * Hide the tabs whose panels all hid themselves (a service without those endpoints, e.g. `--no-chain`: the
 * ledger's); when the chosen tab is hidden, the first tab still shown is chosen. Call after the panels loaded.
 */
export function hideEmptyTabs(root) {
  for (const list of root.querySelectorAll("[role=tablist]")) {
    const buttons = [...list.querySelectorAll(":scope > [role=tab]")];
    for (const button of buttons) {
      const panel = document.getElementById(button.getAttribute("aria-controls"));
      const sections = panel ? [...panel.querySelectorAll(":scope > section.panel")] : [];
      button.hidden = sections.length > 0 && sections.every((section) => section.hidden);
    }
    if (buttons.find((button) => button.getAttribute("aria-selected") === "true")?.hidden) {
      buttons.find((button) => !button.hidden)?.click();
    }
  }
}
