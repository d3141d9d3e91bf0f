// Slot results as each role may see them (docs/api.md "Slots and results"): `member` (own rows only),
// `dso` (trades: who, side, bus, energy, payment; never an order or a bid) and `full` (admin, validator).

import { get, seg } from "../api.js";
import { h, num, sideLabel, table } from "../dom.js";
import { parseTime, showClock, showTime } from "../time.js";

/**
 * The results of `slots` in `community` ({name, slot_minutes}) at market time `now`: Map slot -> {result} or
 * {none: "why"} (no result: open, void...). A 404 for the route itself propagates (the panel hides), any other
 * error too.
 */
export async function fetchResults(community, slots, now) {
  const entries = await Promise.all(slots.map(async (slot) => {
    try {
      return [slot, { result: await get(`/communities/${seg(community.name)}/slots/${seg(slot)}/result`) }];
    } catch (error) {
      if (error.status === 404 && !error.missingEndpoint) {
        const ended = parseTime(slot).getTime() + community.slot_minutes * 60_000 <= now.getTime();
        return [slot, { none: noResultText(error.message, ended) }];
      }
      throw error;
    }
  }));
  return new Map(entries);
}

/**
 * "no result for this slot (state void: no buyers)" -> "void: no buyers". The API answers "state open" also for
 * a slot nobody ordered in (it has no record); once such a slot has ended (the cycle clears a slot when its
 * quotation closes, long before) that means "no orders".
 */
function noResultText(message, ended) {
  const match = /\(state (.*)\)$/.exec(message);
  const state = match ? match[1] : message;
  return state === "open" && ended ? "no orders" : state;
}

/** Totals of a DSO or full view: {price, traded_kwh, sellers_received, buyers_paid}. */
export function totals(result) {
  if (result.view === "full") {
    const doc = result.result;
    const sum = (rows, key) => rows.reduce((acc, r) => acc + (r[key] ?? 0), 0);
    return { price: doc.price_per_kwh, traded_kwh: sum(doc.sellers, "energy_kwh"),
      sellers_received: sum(doc.sellers, "payment"), buyers_paid: sum(doc.buyers, "payment") };
  }
  return { price: result.price_per_kwh, traded_kwh: result.traded_kwh, sellers_received: result.sellers_received,
    buyers_paid: result.buyers_paid };
}

/** A member's own energy in a result: + sold, - bought (kWh), and the money: + received, - paid. */
export function ownFlows(result) {
  let energy = 0;
  let money = 0;
  for (const row of result.sellers ?? []) {
    energy += row.energy_kwh;
    money += row.payment;
  }
  for (const row of result.buyers ?? []) {
    energy -= row.energy_kwh;
    money -= row.payment;
  }
  return { energy_kwh: energy, money };
}

// Extra per-trade or per-slot figures a grid layer may add to the DSO view (distances, grid charges).
// Anything that could be a bid is never shown, whatever the API sends.
const NEVER = /bid|ask|offer|order|block|reserv|limit|price/i;
const GRID = /distance|charge|loss/i;

function gridKeys(rows) {
  const keys = new Set();
  for (const row of rows) {
    for (const [key, value] of Object.entries(row)) {
      if (GRID.test(key) && !NEVER.test(key) && (typeof value === "number" || typeof value === "string")) keys.add(key);
    }
  }
  return [...keys].sort();
}

const label = (key) => key.replaceAll("_", " ");

/** One slot in detail for the DSO: totals, grid figures when the service provides them, the trades. */
export function dsoDetail(result) {
  const trades = result.trades ?? [];
  const extra = gridKeys(trades);
  const slotExtra = gridKeys([result]);
  return [
    h("dl", { class: "facts" },
      h("dt", {}, "Slot"), h("dd", {}, showTime(result.slot_start)),
      h("dt", {}, "Mechanism"), h("dd", {}, result.mechanism),
      h("dt", {}, "Clearing price"), h("dd", {}, `${num(result.price_per_kwh)} per kWh`),
      h("dt", {}, "Traded"), h("dd", {}, `${num(result.traded_kwh)} kWh`),
      h("dt", {}, "Sellers received"), h("dd", {}, num(result.sellers_received)),
      h("dt", {}, "Buyers paid"), h("dd", {}, num(result.buyers_paid)),
      h("dt", {}, "Participants"), h("dd", {}, num(result.participants, 0)),
      slotExtra.map((key) => [h("dt", {}, label(key)), h("dd", {}, typeof result[key] === "number" ? num(result[key]) : result[key])])),
    table(`Trades in the slot starting ${showTime(result.slot_start)}`, [
      { label: "Member", value: (t) => t.id },
      { label: "Side", value: (t) => sideLabel(t.side) },
      { label: "Bus", value: (t) => t.bus ?? "–" },
      { label: "Energy (kWh)", num: true, value: (t) => num(t.energy_kwh) },
      { label: "Payment", num: true, value: (t) => num(t.payment) },
      ...extra.map((key) => ({ label: label(key), num: true, value: (t) => (typeof t[key] === "number" ? num(t[key]) : t[key] ?? "–") })),
    ], trades, "No trades in this slot."),
    extra.length || slotExtra.length ? null
      : h("p", { class: "help" }, "This service reports no grid distances or charges for this slot."),
  ];
}

/** One slot in detail for an admin or validator: every row of the stored result. */
export function fullDetail(result) {
  const doc = result.result;
  const rows = [...doc.sellers.map((r) => ({ ...r, side: "sell" })), ...doc.buyers.map((r) => ({ ...r, side: "buy" }))];
  const t = totals(result);
  return [
    h("dl", { class: "facts" },
      h("dt", {}, "Slot"), h("dd", {}, showTime(result.slot_start)),
      h("dt", {}, "Mechanism"), h("dd", {}, doc.mechanism),
      h("dt", {}, "Clearing price"), h("dd", {}, `${num(doc.price_per_kwh)} per kWh`),
      h("dt", {}, "Traded"), h("dd", {}, `${num(t.traded_kwh)} kWh`)),
    table(`Result rows of the slot starting ${showTime(result.slot_start)}`, [
      { label: "Member", value: (r) => r.id },
      { label: "Side", value: (r) => sideLabel(r.side) },
      { label: "Energy (kWh)", num: true, value: (r) => num(r.energy_kwh) },
      { label: "Payment", num: true, value: (r) => num(r.payment) },
    ], rows, "No rows."),
  ];
}

export function detail(result) {
  if (result.view === "dso") return dsoDetail(result);
  if (result.view === "full") return fullDetail(result);
  const flows = ownFlows(result);
  return h("dl", { class: "facts" },
    h("dt", {}, "Slot"), h("dd", {}, showTime(result.slot_start)),
    h("dt", {}, "Clearing price"), h("dd", {}, `${num(result.price_per_kwh)} per kWh`),
    h("dt", {}, "My energy"), h("dd", {}, `${num(flows.energy_kwh)} kWh (+ sold, − bought)`),
    h("dt", {}, "My money"), h("dd", {}, `${num(flows.money)} (+ received, − paid)`));
}

export const slotLabel = (slot) => showClock(slot);
