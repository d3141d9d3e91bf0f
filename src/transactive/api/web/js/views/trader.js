// The prosumer view (prosumers and aggregators), organised by task in tabs: Trade now (the current slot, the
// standing instruction, the order form, feedback on the latest orders, the listing board, negawatt events), My
// money (balance chart, tokens and statements, proofs verified in the browser, a slot's ledger state, bilateral
// contracts), My history (own orders, slot results with charts, meter readings), My settings (order defaults).
// Live: the community's events (js/live.js via main.js) reload what a cleared slot or a placed order changes.

import { get, post, seg } from "../api.js";
import { announce, h, num, sideLabel, table } from "../dom.js";
import { control, fillOptions, form } from "../forms.js";
import { barChart, lineChart } from "../charts.js";
import { Panel } from "../panel.js";
import { tabs } from "../tabs.js";
import { addSlots, isoSlot, recentSlots, showTime, slotContaining, timeZone } from "../time.js";
import { clockPanel, marketNow } from "./common.js";
import { defaultsPanel, orderPanel } from "../orderform.js";
import { contractsPanel, listingsPanel } from "./desk.js";
import { slotLedgerPanel, statementsPanel } from "./ledger.js";
import { negawattPanel } from "./negawatt.js";
import { balancePanel, proofsPanel, standingPanel } from "./prosumer.js";
import { fetchResults, ownFlows, slotLabel } from "./results.js";

const RECENT_SLOTS = 8;
const OWN_SLOTS = 8;
const SHOWN_ORDERS = 20;
const RECENT_ENDED = 24; // slots offered for a meter reading

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
    feedbackPanel.load();
  } });
  const settings = defaultsPanel(community, { onSaved: () => orderForm.rebuild() });

  // ------------------------------------------------------------------ feedback on the latest orders
  const feedbackPanel = new Panel("How my last orders went", { wide: true,
    intro: "Won or not, and why; the price the slot settled at and how far your price was from it (the gap: "
      + "how much higher a bid or lower an ask would have been needed; 0 or less: your price was good enough)." });
  feedbackPanel.onLoad(async () => {
    const rows = await get(`${base}/feedback?last=${OWN_SLOTS}`);
    return table("How my latest orders went", [
      { label: "Slot", value: (f) => showTime(f.slot_start) },
      { label: "Side", value: (f) => sideLabel(f.side) },
      { label: "Outcome", value: (f) => h("span", { class: `outcome-${f.outcome.replace(" ", "-")}` }, f.outcome) },
      { label: "Traded (kWh)", num: true, value: (f) => `${num(f.traded_kwh)} of ${num(f.asked_kwh)}` },
      { label: "My price", num: true, value: (f) => num(f.price_per_kwh) },
      { label: "Slot price", num: true, value: (f) => num(f.clearing_price_per_kwh) },
      { label: "Gap", num: true, value: (f) => num(f.gap_per_kwh) },
      { label: "Why", value: (f) => f.reason },
    ], rows, "No orders in slots that have started yet.");
  });

  // ------------------------------------------------------------------ meter reading
  const meterPanel = new Panel("Meter reading", { intro: "Your net metered energy over a slot that has ended." });
  const meterForm = form({
    label: "Submit a meter reading",
    rows: [[
      { name: "slot_start", label: `Slot start (${timeZone()})`, type: "select", options: [], help: "a slot that has ended" },
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

  const standing = standingPanel(community, { onSaved: () => ordersPanel.load() });
  const balance = balancePanel(community);
  // the slots of the member's orders that have started, newest first (their proofs exist once anchored, soon
  // after the slot clears; before that the API says so beside the slot)
  const startedOrderSlots = async () => {
    const now = await marketNow();
    const started = orders.map((o) => o.slot_start).filter((s) => new Date(s) <= now);
    return [...new Set(started)].sort().reverse().slice(0, SHOWN_ORDERS);
  };
  const proofs = proofsPanel(community, { slotOptions: startedOrderSlots, onChain: Boolean(session.me.chain_address) });
  const events = negawattPanel(getCommunity, { canOffer: true });
  const statements = statementsPanel(getCommunity, session.me);
  const previousSlot = async () => isoSlot(addSlots(slotContaining(await marketNow(), community.slot_minutes), -1, community.slot_minutes));
  const ledger = slotLedgerPanel(getCommunity, { slotOptions: async () => [await previousSlot()], deskStatement: true });
  const followingSlot = async () => isoSlot(addSlots(slotContaining(await marketNow(), community.slot_minutes), 2, community.slot_minutes));
  const listings = listingsPanel(getCommunity, session.me, { defaultSlot: followingSlot });
  const contracts = contractsPanel(getCommunity, session.me, { canSign: true });

  // the slots that have ended, newest first (picked, not typed)
  const fillEnded = async () => {
    const now = await marketNow();
    const current = slotContaining(now, community.slot_minutes);
    fillOptions(control(meterForm, "slot_start"), Array.from({ length: RECENT_ENDED }, (_, i) => {
      const start = addSlots(current, -1 - i, community.slot_minutes);
      return [isoSlot(start), showTime(start)];
    }));
  };
  const prefill = fillEnded;

  // organised by task, not one long page (issue 11)
  const node = tabs([
    { id: "trade", label: "Trade now", sections: [clock.section, standing.section, orderForm.section,
      feedbackPanel.section, listings.section, events.section] },
    { id: "money", label: "My money", sections: [balance.section, statements.section, proofs.section,
      ledger.section, contracts.section] },
    { id: "history", label: "My history", sections: [ordersPanel.section, resultsPanel.section, meterPanel.section] },
    { id: "settings", label: "My settings", sections: [settings.section] },
  ], { label: "What do you want to do?" });
  node.dataset.view = "prosumer";

  const view = {
    node,
    clock,
    init: prefill,
    async load() {
      await Promise.all([fillEnded(), clock.load(), standing.load(), orderForm.load(), settings.load(),
        feedbackPanel.load(), ordersPanel.load(), events.load(), statements.load(), balance.load(), ledger.load(),
        listings.load(), contracts.load()]);
      await Promise.all([resultsPanel.load(), proofs.load()]); // after the orders: their slots are used too
    },
    /** A live event of the community (main.js): reload what it changes. */
    async onEvent(name, data) {
      if (name === "resync") {
        await view.load();
      } else if (name === "order") {
        if (data.standing) announce(`The service placed your standing order for the slot at ${showTime(data.slot_start)}.`);
        await Promise.all([ordersPanel.load(), standing.load()]);
        await Promise.all([resultsPanel.load(), proofs.load()]);
      } else if (name === "slot") {
        await Promise.all([ordersPanel.load(), feedbackPanel.load(), standing.load(), fillEnded()]);
        await Promise.all([resultsPanel.load(), proofs.load(), statements.load(), balance.load()]);
      } else if (name === "ledger") { // anchored or settled on chain
        await Promise.all([statements.load(), balance.load(), ledger.load(), proofs.load()]);
      } else if (name === "phase") {
        await orderForm.load(); // the upcoming slots move on
      }
    },
  };
  return view;
}
