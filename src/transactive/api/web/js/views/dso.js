// The DSO's page, organised by task: The grid now (the current slot; a slot's trades drawn on the feeder with
// buses, distances and grid charges; recent results), Listing reviews (decide with the power flow's voltages and
// loadings), My income (grid charges, the market fund), Ledger (the explorer, the validators), Demand response.
// The DSO channel carries results, distances and grid charges, never a bid (the API enforces it).

import { get, seg } from "../api.js";
import { h, num, replace, table } from "../dom.js";
import { feederDrawing } from "../feeder.js";
import { Panel } from "../panel.js";
import { hideEmptyTabs, tabs } from "../tabs.js";
import { recentSlots, showTime } from "../time.js";
import { clockPanel, coalesced, marketNow, reloadOnEvents } from "./common.js";
import { contractsPanel, reviewPanel } from "./desk.js";
import { explorerPanel, fundPanel, incomePanel, validatorsPanel } from "./ledger.js";
import { negawattPanel } from "./negawatt.js";
import { resultsPanel } from "./observer.js";
import { fetchResults } from "./results.js";

const PICKABLE_SLOTS = 24;

/** A slot's trades on the feeder: picked from the recent slots (those with trades first in words), drawn and listed. */
export function gridPanel(getCommunity) {
  const panel = new Panel("The slot's trades on the feeder", { wide: true,
    intro: "Who sold to whom, where they are on the feeder, how far the energy travelled and the grid charge for "
      + "it (the charge per km times the distance, paid half by each side). Bids and prices asked are never shown." });
  const picker = h("select", { id: "grid-slot" });
  const area = h("div", { class: "grid-detail", "aria-live": "polite" });
  const zoom = h("button", { type: "button", class: "secondary feeder-zoom", "aria-pressed": "true" }, "Close-up");
  let closeUp = true;
  zoom.addEventListener("click", () => {
    closeUp = !closeUp;
    zoom.setAttribute("aria-pressed", String(closeUp));
    show().catch((error) => replace(area, h("p", { class: "form-error" }, error.message)));
  });
  panel.fixed.append(h("div", { class: "inline grid-pick" },
    h("div", { class: "field" }, h("label", { for: "grid-slot" }, "Slot"), picker), zoom), area);
  let feeder = null;
  let results = new Map();

  const show = async () => {
    const entry = results.get(picker.value);
    if (!entry) return replace(area);
    if (!entry.result) return replace(area, h("p", { class: "empty" }, `No trades: ${entry.none}.`));
    const result = entry.result;
    const trades = result.grid_trades ?? [];
    if (feeder === null) {
      feeder = await get(`/communities/${seg(getCommunity().name)}/feeder`).catch((error) => {
        if (error.status === 404) return undefined; // a community without a feeder: the table only
        throw error;
      });
    }
    const marks = (result.trades ?? []).filter((t) => t.bus !== null && t.bus !== undefined)
      .map((t) => ({ bus: t.bus, label: t.id, side: t.side }));
    return replace(area,
      h("dl", { class: "facts" },
        h("dt", {}, "Clearing price"), h("dd", {}, `${num(result.price_per_kwh)} per kWh`),
        h("dt", {}, "Traded"), h("dd", {}, `${num(result.traded_kwh)} kWh`),
        result.charge_per_km !== null && result.charge_per_km !== undefined
          ? [h("dt", {}, "Grid charge"), h("dd", {}, `${num(result.charge_per_km, 6)} per km of a trade`)] : null,
        result.total_charge !== null && result.total_charge !== undefined
          ? [h("dt", {}, "Grid charges of the slot"), h("dd", { class: "total-charge" }, h("strong", {}, num(result.total_charge, 8)))] : null),
      feeder ? feederDrawing(feeder, trades, marks, `Trades of the slot at ${showTime(result.slot_start)} on the feeder`,
        { closeUp: closeUp && marks.length > 0 }) : null,
      trades.length ? table(`Trades of the slot at ${showTime(result.slot_start)}: distance and grid charge`, [
        { label: "Seller", value: (t) => `${t.seller} (bus ${t.seller_bus ?? "?"})` },
        { label: "Buyer", value: (t) => `${t.buyer} (bus ${t.buyer_bus ?? "?"})` },
        { label: "Energy (kWh)", num: true, value: (t) => num(t.energy_kwh) },
        { label: "Distance (m)", num: true, value: (t) => num(t.distance_m, 1) },
        { label: "Grid charge", num: true, value: (t) => num(t.charge, 8) },
      ], trades) : table(`Trades of the slot at ${showTime(result.slot_start)}`, [
        { label: "Member", value: (t) => t.id },
        { label: "Side", value: (t) => t.side },
        { label: "Bus", value: (t) => t.bus ?? "–" },
        { label: "Energy (kWh)", num: true, value: (t) => num(t.energy_kwh) },
        { label: "Payment", num: true, value: (t) => num(t.payment) },
      ], result.trades ?? [], "No trades in this slot."),
      trades.length ? null : h("p", { class: "help" }, "This community's mechanism does not match sellers to buyers, "
        + "so there are no distances or grid charges per trade."));
  };
  picker.addEventListener("change", () => show().catch((error) => replace(area, h("p", { class: "form-error" }, error.message))));
  panel.onLoad(async () => {
    const community = getCommunity();
    if (!community) return h("p", { class: "empty" }, "No community yet.");
    const now = await marketNow();
    const slots = recentSlots(now, community.slot_minutes, PICKABLE_SLOTS).reverse();
    results = await fetchResults(community, slots, now);
    const keep = picker.value;
    const withTrades = slots.filter((slot) => results.get(slot)?.result);
    replace(picker, slots.map((slot) => {
      const entry = results.get(slot);
      const words = entry.result ? `${num(entry.result.traded_kwh)} kWh traded` : entry.none;
      return h("option", { value: slot, selected: slot === keep }, `${showTime(slot)} · ${words}`);
    }));
    if (!keep && withTrades.length) picker.value = withTrades[0];
    await show();
    return undefined;
  });
  return panel;
}

export function dsoView(session) {
  const getCommunity = () => session.community;
  const clock = clockPanel(getCommunity, { wide: true });
  const grid = gridPanel(getCommunity);
  const results = resultsPanel(getCommunity, "Recent slots");
  const review = reviewPanel(getCommunity);
  const income = incomePanel(getCommunity);
  const fund = fundPanel(getCommunity);
  const explorer = explorerPanel(getCommunity, { canName: true });
  const validators = validatorsPanel(getCommunity);
  const contracts = contractsPanel(getCommunity, session.me, { canSign: false });
  const events = negawattPanel(getCommunity, { canOffer: false });
  const panels = [clock, grid, results, review, contracts, income, fund, explorer, validators, events];
  const onSlot = coalesced(() => Promise.all([grid.load(), results.load()]));
  const onLedger = coalesced(() => Promise.all([income.load(), fund.load(), explorer.load()]));
  const onNegawatt = coalesced(() => events.load());
  const view = {
    node: h("div", { dataset: { view: "dso" } }, tabs([
      { id: "grid", label: "The grid now", sections: [clock.section, grid.section, results.section] },
      { id: "reviews", label: "Listing reviews", sections: [review.section, contracts.section] },
      { id: "income", label: "My income", sections: [income.section, fund.section] },
      { id: "ledger", label: "Ledger", sections: [explorer.section, validators.section] },
      { id: "events", label: "Demand response", sections: [events.section] },
    ], { label: "DSO tasks" })),
    clock,
    async load() {
      await Promise.all(panels.map((p) => p.load()));
      hideEmptyTabs(view.node);
    },
    /** A live event (main.js): a cleared slot adds its trades; a slot on chain updates the income and ledger. */
    onEvent: reloadOnEvents({ reload: () => view.load(), onSlot, onLedger, onNegawatt }),
  };
  return view;
}
