// The DSO view (also used by validators): recent slot results with the trades, a look-up of any slot, charts of
// the clearing price and the traded energy, the DSO's income from grid charges, the review of listing orders,
// bilateral contracts, negawatt events. The DSO channel carries results, distances and grid
// charges, never an individual bid (the API enforces it; this view also shows only whitelisted trade fields).

import { h, num, replace, table } from "../dom.js";
import { barChart, lineChart } from "../charts.js";
import { form } from "../forms.js";
import { Panel } from "../panel.js";
import { recentSlots, showTime } from "../time.js";
import { clockPanel, marketNow } from "./common.js";
import { contractsPanel, reviewPanel } from "./desk.js";
import { incomePanel } from "./ledger.js";
import { negawattPanel } from "./negawatt.js";
import { detail, fetchResults, slotLabel, totals } from "./results.js";
import { get, seg } from "../api.js";

const RECENT_SLOTS = 12;

/** Recent results, the look-up form and the charts for `getCommunity()`; used by the DSO, validator and admin views. */
export function resultsPanel(getCommunity, title) {
  const panel = new Panel(title, { wide: true });
  const detailArea = h("div", { class: "slot-detail", "aria-live": "polite" });
  const lookup = form({
    label: "Look up a slot",
    rows: [{ name: "slot_start", label: "Slot start (UTC)", help: "ISO 8601, e.g. 2026-03-01T10:15:00Z" }],
    submit: "Show slot",
    onSubmit: async (values) => {
      const community = getCommunity();
      const result = await get(`/communities/${seg(community.name)}/slots/${seg(values.slot_start)}/result`);
      replace(detailArea, h("h3", {}, `Slot ${showTime(result.slot_start)}`), detail(result));
      return `Result of the slot at ${showTime(result.slot_start)} shown below.`;
    },
  });
  panel.fixed.append(lookup, detailArea);
  panel.onLoad(async () => {
    const community = getCommunity();
    if (!community) return h("p", { class: "empty" }, "No community yet.");
    const now = await marketNow();
    const slots = recentSlots(now, community.slot_minutes, RECENT_SLOTS);
    const results = await fetchResults(community, slots, now);
    const rows = slots.map((slot) => ({ slot, ...results.get(slot) }));
    const points = (value) => rows.map((r) => ({ label: slotLabel(r.slot), value: r.result ? value(totals(r.result)) : null }));
    const show = (r) => replace(detailArea, h("h3", {}, `Slot ${showTime(r.slot)}`), detail(r.result));
    return [
      h("div", { class: "charts" },
        lineChart("Clearing price per slot (per kWh)", points((t) => t.price), "per kWh"),
        barChart("Energy traded per slot (kWh)", points((t) => t.traded_kwh), "kWh")),
      table(`Recent slots of ${community.name}`, [
        { label: "Slot", value: (r) => showTime(r.slot) },
        { label: "Result", value: (r) => (r.result ? "cleared" : r.none) },
        { label: "Clearing price", num: true, value: (r) => (r.result ? num(totals(r.result).price) : "–") },
        { label: "Traded (kWh)", num: true, value: (r) => (r.result ? num(totals(r.result).traded_kwh) : "–") },
        { label: "Buyers paid", num: true, value: (r) => (r.result ? num(totals(r.result).buyers_paid) : "–") },
        { label: "Trades", value: (r) => (r.result ? h("button", { type: "button", class: "secondary",
          "aria-label": `Trades of the slot at ${showTime(r.slot)}`, onclick: () => show(r) }, "Show") : "–") },
      ], [...rows].reverse()),
    ];
  });
  return panel;
}

export function observerView(session) {
  const getCommunity = () => session.community;
  const clock = clockPanel(getCommunity, { wide: true });
  const results = resultsPanel(getCommunity, session.role === "dso" ? "Slot results (DSO view)" : "Slot results (full view)");
  const events = negawattPanel(getCommunity, { canOffer: false });
  // the DSO's income and reviews (the API refuses both to validators); everyone here sees all contracts
  const dsoPanels = session.role === "dso" ? [incomePanel(getCommunity), reviewPanel(getCommunity)] : [];
  const contracts = contractsPanel(getCommunity, session.me, { canSign: false });
  const panels = [clock, results, ...dsoPanels, contracts, events];
  return {
    node: h("div", { class: "view-grid", dataset: { view: session.role } }, panels.map((p) => p.section)),
    clock,
    async load() {
      await Promise.all(panels.map((p) => p.load()));
    },
  };
}
