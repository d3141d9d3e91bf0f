// Pieces shared by the views: the market clock panel and the role names.

import { get, seg } from "../api.js";
import { h, num } from "../dom.js";
import { Panel } from "../panel.js";
import { isoSlot, parseTime, showTime, slotContaining } from "../time.js";

export const PHASES = ["quotation", "matching", "feedback", "settlement"];

/** The market clock's time (the service may run an accelerated clock: never the browser's time). */
export async function marketNow() {
  const health = await get("/health");
  return parseTime(health.now);
}

/** Market time, the current slot, its phase and window (GET /health, GET .../slots/{slot}). */
export function clockPanel(getCommunity, { wide = false } = {}) {
  const panel = new Panel("Current slot", { wide });
  panel.onLoad(async () => {
    const community = getCommunity();
    if (!community) return h("p", { class: "empty" }, "No community yet.");
    const now = await marketNow();
    const start = isoSlot(slotContaining(now, community.slot_minutes));
    const slot = await get(`/communities/${seg(community.name)}/slots/${seg(start)}`);
    const end = new Date(parseTime(start).getTime() + community.slot_minutes * 60_000);
    // the slot's phases to scale (the text above says the same for screen readers)
    const bar = h("div", { class: "phase-bar", "aria-hidden": "true" });
    const legend = h("div", { class: "phase-bar-legend", "aria-hidden": "true" });
    for (const phase of PHASES) {
      const [from, to] = slot.phases[phase];
      const grow = String(parseTime(to) - parseTime(from));
      const span = h("span", { class: phase === slot.phase ? "current" : null, title: phase });
      const name = h("span", {}, phase);
      span.style.flexGrow = grow; // CSSOM, not a style attribute: allowed by the CSP
      name.style.flexGrow = grow;
      bar.append(span);
      legend.append(name);
    }
    return [
      h("dl", { class: "facts" },
        h("dt", {}, "Market time"), h("dd", {}, showTime(now)),
        h("dt", {}, "Community"), h("dd", {}, `${community.name} (${community.mechanism}, ${community.slot_minutes}-minute slots)`),
        h("dt", {}, "Slot"), h("dd", { class: "current-slot" }, `${showTime(start)} – ${showTime(end)}`),
        h("dt", {}, "Phase"), h("dd", { class: "current-phase" }, slot.phase,
          slot.phase_closes_at ? ` until ${showTime(slot.phase_closes_at)}` : ""),
        h("dt", {}, "Orders taken"), h("dd", {}, `until ${showTime(slot.phases.quotation[1])}`),
        h("dt", {}, "State"), h("dd", {}, slot.state, slot.note ? ` (${slot.note})` : "",
          `, ${num(slot.orders, 0)} order${slot.orders === 1 ? "" : "s"}`)),
      bar,
      legend,
    ];
  });
  return panel;
}

/** Random idempotency key (crypto.getRandomValues works on plain http too, unlike randomUUID). */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A select listing communities (value: name). */
export function communityOptions(communities) {
  return communities.map((c) => [c.name, `${c.name} (${c.mechanism})`]);
}

/**
 * `load` (an async function) coalesced: while a call runs, further calls share one more call after it, so a burst
 * of live events (a slot every 0.5 s on an accelerated clock) costs at most one reload in flight and one queued.
 */
export function coalesced(load) {
  let running = null;
  let queued = null;
  const call = () => {
    if (!running) {
      running = Promise.resolve().then(load).finally(() => { running = null; });
      return running;
    }
    if (!queued) {
      queued = running.catch(() => {}).then(() => {
        queued = null;
        return call();
      });
    }
    return queued;
  };
  return call;
}

/**
 * The live-event handler (main.js) of a page made of panels: `reload()` on a resync, `onSlot()` when a slot
 * cleared (a void slot changes no trade), `onLedger()` when a slot was anchored or settled on chain and, when
 * given, `onNegawatt()` on a demand-response event; any other event changes nothing on the page.
 */
export function reloadOnEvents({ reload, onSlot, onLedger, onNegawatt = null }) {
  return async (name, data) => {
    if (name === "resync") await reload();
    else if (name === "slot" && data?.state === "cleared") await onSlot();
    else if (name === "ledger") await onLedger();
    else if (name === "negawatt" && onNegawatt) await onNegawatt();
  };
}
