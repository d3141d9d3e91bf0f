// A panel: a titled <section> whose content loads from the API. A 404 for the route itself (an endpoint this
// service does not have) hides the panel; any other error is shown in the panel.

import { ApiError } from "./api.js";
import { h, replace } from "./dom.js";

let panelCounter = 0;

export class Panel {
  constructor(title, { wide = false, intro = null } = {}) {
    const id = `panel-${++panelCounter}`;
    this.status = h("p", { class: "panel-status", role: "status" });
    this.body = h("div", { class: "panel-body" });
    this.fixed = h("div", { class: "panel-fixed" }); // forms: kept across reloads
    this.section = h("section", { class: wide ? "panel wide" : "panel", "aria-labelledby": `${id}-title` },
      h("h2", { id: `${id}-title` }, title),
      intro ? h("p", { class: "help" }, intro) : null,
      this.fixed, this.status, this.body);
    this.loader = null;
  }

  /** Set what (re)loading does: `render()` returns nodes for the body, or throws. */
  onLoad(render) {
    this.loader = render;
    return this;
  }

  async load() {
    if (!this.loader) return;
    this.status.textContent = "Loading…";
    this.status.classList.remove("error");
    this.section.setAttribute("aria-busy", "true");
    try {
      const content = await this.loader();
      if (content !== undefined) replace(this.body, content);
      this.status.textContent = "";
      this.section.hidden = false;
    } catch (error) {
      if (error instanceof ApiError && error.missingEndpoint) {
        this.section.hidden = true; // this service has no such endpoint: leave the panel out
      } else {
        this.status.textContent = `Could not load: ${error.message}`;
        this.status.classList.add("error");
      }
    } finally {
      this.section.removeAttribute("aria-busy");
    }
  }
}
