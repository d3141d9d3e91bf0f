// The ledger as each role may see it (docs/api.md "Ledger"): a member's token balance and settlement statements,
// a slot's anchoring and settlement on chain (roots, transaction hashes, states), and the DSO's income from grid
// charges. Amounts are integer micro-tokens in the API and shown in tokens (1 token = 1,000,000 micro-tokens).

import { get, seg } from "../api.js";
import { h, num, replace, table } from "../dom.js";
import { barChart } from "../charts.js";
import { form } from "../forms.js";
import { Panel } from "../panel.js";
import { showTime } from "../time.js";
import { slotLabel } from "./results.js";

const MICRO = 1_000_000;

/** Micro-tokens as tokens, exact (6 decimals at most, no trailing zeros). */
export function tokens(micro) {
  if (micro === null || micro === undefined) return "–";
  return num(Number(micro) / MICRO || 0, 6); // || 0: never "-0"
}

/** A long hex string (hash, root, address) shortened for a table, the whole value in the title and for copying. */
export function hex(value) {
  if (!value) return "–";
  const text = String(value);
  return h("code", { class: "hex", title: text }, text.length > 18 ? `${text.slice(0, 10)}…${text.slice(-6)}` : text);
}

/**
 * The member's token balance (GET .../account) and its settlement statements, one line per settled slot it traded
 * in (GET .../statements): energy, grid charge, penalty, total.
 */
export function statementsPanel(getCommunity, me) {
  const panel = new Panel("Tokens and statements", { wide: true,
    intro: "Your account on the community's chain is kept by the service (custodial). A statement line is a slot "
      + "settled on chain against your meter reading. Energy: price × agreed energy (+ received, − paid); the grid "
      + "charge and any penalty (for a deviation from the agreed energy) go to the DSO; the total is what your "
      + "balance moved by." });
  panel.onLoad(async () => {
    const base = `/communities/${seg(getCommunity().name)}`;
    const [account, lines] = await Promise.all([get(`${base}/account`), get(`${base}/statements`)]);
    const rows = [...lines].sort((a, b) => (a.slot_start < b.slot_start ? 1 : -1));
    return [
      h("dl", { class: "facts account" },
        h("dt", {}, "Balance"), h("dd", { class: "balance" }, h("strong", {}, `${tokens(account.balance_micro)} tokens`)),
        h("dt", {}, "Account"), h("dd", {}, h("code", { class: "hex-full" }, account.address),
          account.enrolled ? "" : " (not registered on the chain yet)"),
        me.registered_address && me.registered_address !== account.address
          ? [h("dt", {}, "Signing address"), h("dd", {}, h("code", { class: "hex-full" }, me.registered_address),
            " (yours, for contracts)")] : null),
      table("My settled slots", [
        { label: "Slot", value: (l) => showTime(l.slot_start) },
        { label: "Side", value: (l) => l.side ?? "no auction trade" },
        { label: "Price per kWh", num: true, value: (l) => num(l.price_per_kwh, 6) },
        { label: "Agreed (Wh)", num: true, value: (l) => num(l.agreed_wh, 0) },
        { label: "Metered (Wh)", num: true, value: (l) => num(l.metered_wh, 0) },
        { label: "Energy", num: true, value: (l) => tokens(sign(l) * l.energy_micro) },
        { label: "Grid charge", num: true, value: (l) => tokens(-l.tariff_micro) },
        { label: "Penalty", num: true, value: (l) => tokens(-l.penalty_micro) },
        { label: "Total (tokens)", num: true, value: (l) => h("strong", {}, tokens(l.balance_change_micro)) },
        { label: "Settlement tx", value: (l) => hex(l.settle_tx) },
      ], rows, "No settled slot yet: a slot is settled once it has ended and the meter readings are in."),
    ];
  });
  return panel;
}

// energy_micro is the energy's value: a seller receives it, a buyer pays it
const sign = (line) => (line.side === "seller" ? 1 : -1);

const STATE_TEXT = {
  batched: "orders signed, waiting to be committed",
  anchored: "anchored: the order root and the endorsed result root are on chain",
  settled: "settled: tokens moved on chain",
};

function stage(title, part) {
  if (!part) return h("div", { class: "ledger-stage" }, h("h4", {}, title), h("p", { class: "empty" }, "not yet"));
  const txs = Object.entries(part.txs ?? {});
  return h("div", { class: "ledger-stage", dataset: { state: part.state } },
    h("h4", {}, title),
    h("dl", { class: "facts" },
      h("dt", {}, "State"), h("dd", { class: "ledger-state" }, STATE_TEXT[part.state] ?? part.state),
      h("dt", {}, "On-chain slot"), h("dd", {}, hex(part.chain_slot)),
      h("dt", {}, "Order root"), h("dd", {}, hex(part.order_root)),
      h("dt", {}, "Result root"), h("dd", {}, hex(part.result_root)),
      part.mode ? [h("dt", {}, "Mode"), h("dd", {}, part.mode)] : null,
      part.note ? [h("dt", {}, "Note"), h("dd", {}, part.note)] : null,
      txs.map(([name, tx]) => [h("dt", {}, name.replaceAll("_", " ")), h("dd", {}, hex(tx))])));
}

const DESK_STAGES = [["bilateral", "Bilateral contracts"], ["listings", "Listings"], ["auction", "Community auction"],
  ["grid", "Grid (the rest)"]];

/**
 * The member's statement of the slot from the multi-settlement desk (GET .../multi-settlements/{s}): one line per
 * stage (sold and bought Wh, money), and the total. Nothing when this service has no desk (404 for the route).
 */
async function deskStatementOf(base, slotStart) {
  let view;
  try {
    view = await get(`${base}/multi-settlements/${seg(slotStart)}`);
  } catch (error) {
    if (error.missingEndpoint) return null;
    if (error.status === 404) return h("p", { class: "empty desk-statement" }, "Not settled through the multi-settlement desk (yet).");
    throw error;
  }
  const own = view.statement;
  if (!own) return h("p", { class: "empty desk-statement" }, "You had no energy or money in this slot's multi-settlement.");
  const known = new Set(DESK_STAGES.map(([key]) => key));
  const stages = [...DESK_STAGES, ...Object.keys(own.stages).filter((k) => !known.has(k)).map((k) => [k, k])]
    .filter(([key]) => own.stages[key]).map(([key, label]) => ({ label, ...own.stages[key] }));
  const total = { label: "Total", sold_wh: stages.reduce((a, r) => a + r.sold_wh, 0),
    bought_wh: stages.reduce((a, r) => a + r.bought_wh, 0), money_micro: own.money_micro, total: true };
  return h("div", { class: "desk-statement" },
    table("My statement by stage (multi-settlement)", [
      { label: "Stage", value: (r) => (r.total ? h("strong", {}, r.label) : r.label) },
      { label: "Sold (Wh)", num: true, value: (r) => num(r.sold_wh, 0) },
      { label: "Bought (Wh)", num: true, value: (r) => num(r.bought_wh, 0) },
      { label: "Money (tokens)", num: true, value: (r) => (r.total ? h("strong", {}, tokens(r.money_micro)) : tokens(r.money_micro)) },
    ], [...stages, total]),
    h("p", { class: "help" }, `Net ${num(own.net_wh, 0)} Wh (+ exported); money + received, − paid. `,
      view.auction?.price_per_kwh != null ? `Auction price ${num(view.auction.price_per_kwh, 6)} per kWh. ` : "",
      "The desk settles the metered energy through four stages on its own; it is independent of the on-chain settlement above."));
}

/** A slot's anchoring and settlement on chain (GET .../slots/{s}/ledger), with what the fields mean. */
export function slotLedgerPanel(getCommunity, { slotOptions = async () => [], deskStatement = false } = {}) {
  const panel = new Panel("A slot on the ledger", { wide: true,
    intro: "Anchoring: after clearing, the slot's orders are signed and committed on chain as an order root; the "
      + "validators recompute the clearing and, once enough of them agree, the result root is submitted. Settlement: "
      + "after the meter readings, a second on-chain slot commits to every payment (its result root) and moves "
      + "the tokens. Anyone can check a statement against these roots." });
  const area = h("div", { class: "slot-ledger", "aria-live": "polite" });
  const show = async (slotStart) => {
    const base = `/communities/${seg(getCommunity().name)}`;
    const view = await get(`${base}/slots/${seg(slotStart)}/ledger`);
    const desk = deskStatement ? await deskStatementOf(base, view.slot_start) : null;
    replace(area, h("h3", {}, `Slot ${showTime(view.slot_start)}`),
      !view.clearing && !view.settlement ? h("p", { class: "empty" },
        "Not on the ledger: a slot is anchored once it has cleared with trades.") : null,
      h("div", { class: "ledger-stages" }, stage("Clearing (anchored)", view.clearing), stage("Settlement", view.settlement)),
      desk);
    return view;
  };
  const lookup = form({
    label: "Show a slot on the ledger",
    rows: [{ name: "slot_start", label: "Slot start (UTC)", help: "ISO 8601, e.g. 2026-03-01T10:15:00Z" }],
    submit: "Show on the ledger",
    onSubmit: async (values) => {
      const view = await show(values.slot_start);
      return `Ledger state of the slot at ${showTime(view.slot_start)} shown below.`;
    },
  });
  panel.fixed.append(lookup, area);
  // loading shows the slot in the field (default: the first of slotOptions); a service without the ledger
  // routes answers 404 for the route and the panel hides
  panel.onLoad(async () => {
    const field = lookup.elements.namedItem("slot_start");
    if (!field.value) field.value = (await slotOptions())[0] ?? "";
    if (field.value) await show(field.value);
    return undefined;
  });
  return panel;
}

/** The DSO's income per settled slot (GET .../dso/income): grid charges, penalties, imbalance, net; never a bid. */
export function incomePanel(getCommunity) {
  const panel = new Panel("Income from grid charges", { wide: true,
    intro: "Per slot settled on chain: the grid charges (network tariff on the traded energy), the penalties for "
      + "deviations from the agreed energy, the imbalance the DSO absorbed, and the net amount credited to its account." });
  panel.onLoad(async () => {
    const community = getCommunity();
    if (!community) return h("p", { class: "empty" }, "No community yet.");
    const rows = [...await get(`/communities/${seg(community.name)}/dso/income`)]
      .sort((a, b) => (a.slot_start < b.slot_start ? -1 : 1));
    const total = rows.reduce((sum, r) => sum + r.amount_micro, 0);
    return [
      h("div", { class: "charts" },
        barChart("Net income per slot (tokens)", rows.slice(-24).map((r) => ({ label: slotLabel(r.slot_start),
          value: r.amount_micro / MICRO })), "tokens"),
        barChart("Grid charges per slot (tokens)", rows.slice(-24).map((r) => ({ label: slotLabel(r.slot_start),
          value: r.tariffs_micro / MICRO })), "tokens")),
      rows.length ? h("p", { class: "income-total" }, `Total over ${rows.length} settled slot${rows.length === 1 ? "" : "s"}: `,
        h("strong", {}, `${tokens(total)} tokens`)) : null,
      table("Income by slot", [
        { label: "Slot", value: (r) => showTime(r.slot_start) },
        { label: "Grid charges", num: true, value: (r) => tokens(r.tariffs_micro) },
        { label: "Penalties", num: true, value: (r) => tokens(r.penalties_micro) },
        { label: "Imbalance", num: true, value: (r) => tokens(r.imbalance_micro) },
        { label: "Net (tokens)", num: true, value: (r) => h("strong", {}, tokens(r.amount_micro)) },
        { label: "Settlement tx", value: (r) => hex(r.settle_tx) },
        { label: "Result root", value: (r) => hex(r.result_root) },
      ], [...rows].reverse(), "No settled slot yet."),
    ];
  });
  return panel;
}
