// The prosumer view (prosumers and aggregators): the current slot, an order form, own orders, slot results with
// charts, a meter reading form, the token balance and settlement statements, a slot's ledger state, the listing
// board, bilateral contracts and negawatt events.

import { get, post, seg } from "../api.js";
import { h, num, sideLabel, table } from "../dom.js";
import { control, form } from "../forms.js";
import { barChart, lineChart } from "../charts.js";
import { Panel } from "../panel.js";
import { addSlots, isoSlot, recentSlots, showTime, slotContaining } from "../time.js";
import { clockPanel, marketNow } from "./common.js";
import { defaultsPanel, orderPanel } from "../orderform.js";
import { contractsPanel, listingsPanel } from "./desk.js";
import { slotLedgerPanel, statementsPanel } from "./ledger.js";
import { negawattPanel } from "./negawatt.js";
import { fetchResults, ownFlows, slotLabel } from "./results.js";

const RECENT_SLOTS = 8;
const OWN_SLOTS = 8;
const SHOWN_ORDERS = 20;

export function traderView(session) {
  const community = session.community;
  const base = `/communities/${seg(community.name)}`;
  const getCommunity = () => community;
  let orders = [];

  const clock = clockPanel(getCommunity);

  // ------------------------------------------------------------------ own orders
  const ordersPanel = new Panel("My orders", { wide: true });
  ordersPanel.onLoad(async () => {
    orders = await get(`${base}/orders`);
    const recent = [...orders].sort((a, b) => (a.slot_start < b.slot_start ? 1 : -1)).slice(0, SHOWN_ORDERS);
    return table(`My latest orders (${recent.length} of ${orders.length})`, [
      { label: "Slot", value: (o) => showTime(o.slot_start) },
      { label: "Side", value: (o) => sideLabel(o.side) },
      { label: "Energy (kWh)", num: true, value: (o) => num(o.energy_kwh ?? (o.blocks ?? []).reduce((a, b) => a + b.energy_kwh, 0)) },
      { label: "Price per kWh", num: true, value: (o) => num(o.price_per_kwh ?? o.blocks?.[0]?.price_per_kwh) },
      { label: "Received", value: (o) => showTime(o.received_at) },
    ], recent, "No orders yet.");
  });

  // ------------------------------------------------------------------ results and charts
  const resultsPanel = new Panel("Slot results", { wide: true,
    intro: "The clearing price of recent slots and of the slots you ordered in, and what you sold (+) or bought (−)." });
  resultsPanel.onLoad(async () => {
    const now = await marketNow();
    const own = [...new Set(orders.map((o) => o.slot_start))].sort().slice(-OWN_SLOTS);
    const slots = [...new Set([...recentSlots(now, community.slot_minutes, RECENT_SLOTS), ...own])].sort();
    const results = await fetchResults(community, slots, now);
    const rows = slots.map((slot) => ({ slot, ...results.get(slot) }));
    const points = (value) => rows.map((r) => ({ label: slotLabel(r.slot), value: r.result ? value(r.result) : null }));
    return [
      h("div", { class: "charts" },
        lineChart("Clearing price per slot (per kWh)", points((r) => r.price_per_kwh), "per kWh"),
        barChart("My energy per slot (kWh, + sold, − bought)", points((r) => ownFlows(r).energy_kwh), "kWh")),
      table("Results by slot", [
        { label: "Slot", value: (r) => showTime(r.slot) },
        { label: "Result", value: (r) => (r.result ? "cleared" : r.none) },
        { label: "Clearing price", num: true, value: (r) => (r.result ? num(r.result.price_per_kwh) : "–") },
        { label: "My energy (kWh)", num: true, value: (r) => (r.result ? num(ownFlows(r.result).energy_kwh) : "–") },
        { label: "My money", num: true, value: (r) => (r.result ? num(ownFlows(r.result).money) : "–") },
      ], [...rows].reverse()),
    ];
  });

  // ------------------------------------------------------------------ order form and order settings
  // built from the API's description of the community's order form (js/orderform.js): no per-mechanism code
  const orderForm = orderPanel(community, { onPlaced: async () => {
    await ordersPanel.load();
    resultsPanel.load();
  } });
  const settings = defaultsPanel(community, { onSaved: () => orderForm.rebuild() });

  // ------------------------------------------------------------------ meter reading
  const meterPanel = new Panel("Meter reading", { intro: "Your net metered energy over a slot that has ended." });
  const meterForm = form({
    label: "Submit a meter reading",
    rows: [[
      { name: "slot_start", label: "Slot start (UTC)", help: "a slot that has ended" },
      { name: "energy_kwh", label: "Net energy (kWh)", type: "number", help: "+ exported, − imported" },
    ]],
    submit: "Submit reading",
    onSubmit: async (values) => {
      const body = { slot_start: values.slot_start };
      if (values.energy_kwh !== null) body.energy_kwh = values.energy_kwh;
      const stored = await post(`${base}/meter-readings`, body);
      return `${stored.status === "duplicate" ? "Already stored" : "Reading stored"}: ${num(stored.energy_kwh)} kWh for the slot at ${showTime(stored.slot_start)}.`;
    },
  });
  meterPanel.fixed.append(meterForm);

  const events = negawattPanel(getCommunity, { canOffer: true });
  const statements = statementsPanel(getCommunity, session.me);
  const previousSlot = async () => isoSlot(addSlots(slotContaining(await marketNow(), community.slot_minutes), -1, community.slot_minutes));
  const ledger = slotLedgerPanel(getCommunity, { slotOptions: async () => [await previousSlot()], deskStatement: true });
  const followingSlot = async () => isoSlot(addSlots(slotContaining(await marketNow(), community.slot_minutes), 2, community.slot_minutes));
  const listings = listingsPanel(getCommunity, session.me, { defaultSlot: followingSlot });
  const contracts = contractsPanel(getCommunity, session.me, { canSign: true });

  const prefill = async () => {
    const now = await marketNow();
    control(meterForm, "slot_start").value = isoSlot(addSlots(slotContaining(now, community.slot_minutes), -1, community.slot_minutes));
  };

  return {
    node: h("div", { class: "view-grid", dataset: { view: "prosumer" } },
      clock.section, orderForm.section, settings.section, meterPanel.section, ordersPanel.section, resultsPanel.section,
      statements.section, ledger.section, listings.section, contracts.section, events.section),
    clock,
    init: prefill,
    async load() {
      await Promise.all([clock.load(), orderForm.load(), settings.load(), ordersPanel.load(), events.load(), statements.load(),
        ledger.load(), listings.load(), contracts.load()]);
      await resultsPanel.load(); // after the orders: their slots are charted too
    },
  };
}
