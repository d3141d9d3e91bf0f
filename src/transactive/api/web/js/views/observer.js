// The validator's page (the ledger explorer and the market fund, the validators' health, the full slot results,
// contracts, events)
// and the recent-results panel the DSO and admin pages use too: charts of the clearing price and the traded
// energy, and each slot's trades (for the DSO only whitelisted trade fields: never an individual bid).

import { h, num, replace, table } from "../dom.js";
import { barChart, lineChart } from "../charts.js";
import { Panel } from "../panel.js";
import { recentSlots, showTime } from "../time.js";
import { clockPanel, coalesced, marketNow, reloadOnEvents } from "./common.js";
import { hideEmptyTabs, tabs } from "../tabs.js";
import { contractsPanel } from "./desk.js";
import { explorerPanel, fundPanel, validatorsPanel } from "./ledger.js";
import { negawattPanel } from "./negawatt.js";
import { detail, fetchResults, slotLabel, totals } from "./results.js";

const RECENT_SLOTS = 12;

/** Recent results, the look-up form and the charts for `getCommunity()`; used by the DSO, validator and admin views. */
export function resultsPanel(getCommunity, title) {
  const panel = new Panel(title, { wide: true });
  const detailArea = h("div", { class: "slot-detail", "aria-live": "polite" });
  panel.fixed.append(detailArea);
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

/** The validator's page (anyone in the consortium who checks the ledger), organised by task. */
export function observerView(session) {
  const getCommunity = () => session.community;
  const clock = clockPanel(getCommunity, { wide: true });
  const explorer = explorerPanel(getCommunity, { canName: true });
  const validators = validatorsPanel(getCommunity);
  const fund = fundPanel(getCommunity);
  const results = resultsPanel(getCommunity, "Slot results (full view)");
  const events = negawattPanel(getCommunity, { canOffer: false });
  const contracts = contractsPanel(getCommunity, session.me, { canSign: false });
  const panels = [clock, explorer, fund, validators, results, contracts, events];
  const onSlot = coalesced(() => results.load());
  const onLedger = coalesced(() => Promise.all([explorer.load(), fund.load(), validators.load()]));
  const onNegawatt = coalesced(() => events.load());
  const view = {
    node: h("div", { dataset: { view: session.role } }, tabs([
      { id: "explore", label: "Ledger explorer", sections: [explorer.section, fund.section] },
      { id: "validators", label: "Validators", sections: [validators.section] },
      { id: "results", label: "Slot results", sections: [clock.section, results.section] },
      { id: "other", label: "Contracts and events", sections: [contracts.section, events.section] },
    ], { label: "Validator tasks" })),
    clock,
    async load() {
      await Promise.all(panels.map((p) => p.load()));
      hideEmptyTabs(view.node);
    },
    /** A live event (main.js): a slot anchored or settled shows in the explorer; a cleared slot in the results. */
    onEvent: reloadOnEvents({ reload: () => view.load(), onSlot, onLedger, onNegawatt }),
  };
  return view;
}
