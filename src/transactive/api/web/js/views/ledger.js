// The ledger as each role may see it (docs/api.md "Ledger"): a member's token balance and settlement statements,
// a slot's anchoring and settlement on chain (roots, transaction hashes, states), the DSO's income from grid
// charges, and the ledger explorer (every slot on the ledger, who endorsed it, "verify this slot"), the market
// fund and the validators' health. Amounts are integer micro-tokens in the API and shown in tokens (1 token = 1,000,000 micro-tokens).

import { get, post, seg } from "../api.js";
import { h, num, replace, table } from "../dom.js";
import { barChart } from "../charts.js";
import { control, fillOptions, form } from "../forms.js";
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

// the ledger states in words (a slot's ledger boxes and the explorer)
const STATE_TEXT = {
  batched: "orders signed, waiting to be committed",
  anchored: "anchored: the order root and the endorsed result root are on chain",
  settled: "settled: tokens moved on chain",
  unsupported: "not anchored: the orders cannot be signed as a batch",
  refused: "not anchored: refused by the Registry",
  failed: "failed: the root on chain differs from the recomputation",
  blocked: "blocked: the chain refused a transfer",
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
    rows: [{ name: "slot_start", label: "Slot", type: "select", options: [],
      help: "the slots on the community's ledger, newest first" }],
    submit: "Show on the ledger",
    onSubmit: async (values) => {
      const view = await show(values.slot_start);
      return `Ledger state of the slot at ${showTime(view.slot_start)} shown below.`;
    },
  });
  panel.fixed.append(lookup, area);
  // loading lists the slots on the ledger (GET .../ledger/slots, with slotOptions' first, at first the one
  // chosen) and shows the one chosen; a service without the ledger routes answers 404 and the panel hides
  panel.onLoad(async () => {
    const field = control(lookup, "slot_start");
    const [preferred, onLedger] = await Promise.all([slotOptions(),
      get(`/communities/${seg(getCommunity().name)}/ledger/slots`)]);
    const starts = [...new Set([...preferred, ...onLedger.map((s) => s.slot_start)])]
      .sort((a, b) => (a < b ? 1 : -1));
    const words = new Map(onLedger.map((s) => [s.slot_start, stateWords(s.settlement ?? s.clearing)]));
    const keep = field.value || preferred[0] || starts[0] || "";
    fillOptions(field, starts.map((start) => [start, `${showTime(start)}${words.has(start) ? ` · ${words.get(start)}` : ""}`]));
    if (keep) field.value = keep;
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

// ---------------------------------------------------------------------------------------------- ledger explorer
const stateWords = (part) => (part ? STATE_TEXT[part.state] ?? part.state : "not on the ledger");

/** "validator 2" for a known validator's address (from GET .../validators when the role may read it), else short hex. */
function whoIs(names, address) {
  const name = names.get(String(address).toLowerCase());
  return name ? h("span", { title: address }, name) : hex(address);
}

function listOf(names, addresses, none) {
  if (!addresses?.length) return none;
  return addresses.flatMap((a, i) => [i ? ", " : "", whoIs(names, a)]);
}

function explorerStage(title, part, names, validatorCount) {
  if (!part) return h("div", { class: "ledger-stage" }, h("h4", {}, title), h("p", { class: "empty" }, "not yet"));
  const txs = Object.entries(part.txs ?? {});
  return h("div", { class: "ledger-stage", dataset: { state: part.state } },
    h("h4", {}, title),
    h("dl", { class: "facts" },
      h("dt", {}, "State"), h("dd", { class: "ledger-state" }, stateWords(part)),
      h("dt", {}, "On-chain slot"), h("dd", {}, hex(part.chain_slot)),
      part.orders !== null && part.orders !== undefined ? [h("dt", {}, "Signed orders"), h("dd", {}, num(part.orders, 0))] : null,
      h("dt", {}, "Order root"), h("dd", {}, hex(part.order_root)),
      h("dt", {}, "Result root"), h("dd", {}, hex(part.result_root)),
      h("dt", {}, "Endorsed by"), h("dd", { class: "endorsed-by" },
        listOf(names, part.endorsed_by, "nobody yet"),
        validatorCount ? ` (${part.endorsed_by.length} of ${validatorCount})` : ""),
      h("dt", {}, "Dissented"), h("dd", { class: "dissenters" }, listOf(names, part.dissenters, "nobody")),
      part.miner ? [h("dt", {}, "Submitted by"), h("dd", {}, whoIs(names, part.miner))] : null,
      part.note ? [h("dt", {}, "Note"), h("dd", {}, part.note)] : null,
      txs.map(([name, tx]) => [h("dt", {}, `Transaction: ${name.replaceAll("_", " ")}`), h("dd", {}, hex(tx))])));
}

function outcomeText(part) {
  if (!part.checked) return `not checked: ${part.message}`;
  return part.ok ? "checks out" : `does NOT check out: ${part.message}`;
}

/**
 * The ledger explorer: the community's slots on the ledger (GET .../ledger/slots), newest first, one picked from
 * the list (never typed) and shown in full, and "Verify this slot" (POST .../ledger/slots/{s}/verify), the audit's
 * recomputation, read only. `canName`: the role may read GET .../validators (names for addresses).
 */
export function explorerPanel(getCommunity, { canName = false, title = "Ledger explorer" } = {}) {
  const panel = new Panel(title, { wide: true,
    intro: "Each slot that cleared with trades goes on the community's chain twice. Anchoring: its signed orders are "
      + "committed as one fingerprint (the order root); the validators each recompute the clearing and sign the "
      + "fingerprint of the result (the result root); once enough agree, it is recorded. Settlement: after the meter "
      + "readings the payments are committed and endorsed the same way, and the tokens move. \"Verify this slot\" "
      + "redoes the validators' work here and now and compares it with the chain." });
  const picker = h("select", { id: "explorer-slot", "aria-describedby": "explorer-slot-help" });
  const verifyButton = h("button", { type: "button", class: "verify-slot" }, "Verify this slot");
  const verdict = h("div", { class: "verify-outcome", role: "status" });
  const detail = h("div", { class: "explorer-detail" });
  let slots = [];
  let names = new Map();
  let validatorCount = 0;
  const slotField = h("div", { class: "inline explorer-pick" },
    h("div", { class: "field" }, h("label", { for: "explorer-slot" }, "Slot"), picker,
      h("p", { id: "explorer-slot-help", class: "help" }, "the slots on the ledger, newest first")),
    verifyButton);
  panel.fixed.append(slotField, verdict, detail);
  const showSlot = () => {
    const slot = slots.find((s) => s.slot_start === picker.value);
    if (!slot) {
      replace(detail);
      return;
    }
    replace(detail, h("div", { class: "ledger-stages" },
      explorerStage("Clearing (anchoring)", slot.clearing, names, validatorCount),
      explorerStage("Settlement", slot.settlement, names, validatorCount)));
  };
  picker.addEventListener("change", () => {
    verdict.replaceChildren(); // the verdict was of another slot
    showSlot();
  });
  verifyButton.addEventListener("click", async () => {
    if (!picker.value || verifyButton.disabled) return;
    verifyButton.disabled = true; // one request for a double click
    replace(verdict, h("p", {}, "Recomputing…"));
    try {
      const out = await post(`/communities/${seg(getCommunity().name)}/ledger/slots/${seg(picker.value)}/verify`);
      replace(verdict, h("div", { class: out.ok ? "verdict verdict-ok" : "verdict verdict-bad", dataset: { ok: String(out.ok) } },
        h("p", {}, h("strong", {}, out.ok
          ? `Slot ${showTime(out.slot_start)} checks out: recomputed here, it agrees with the chain.`
          : `Slot ${showTime(out.slot_start)}: something does not agree with the chain.`)),
        h("ul", {},
          h("li", {}, `Clearing: ${outcomeText(out.clearing)}.`),
          h("li", {}, `Settlement: ${outcomeText(out.settlement)}.`)),
        h("p", { class: "help" }, "Checked: every order's signature, the order root, the result recomputed with the "
          + "community's mechanism, the result root, the validators' endorsements and that no money was created; "
          + "for a settled slot the payments recomputed from the published meter input. The same checks as "
          + "`transactive ledger verify`.")));
    } catch (error) {
      replace(verdict, h("p", { class: "form-error" }, error.message));
    } finally {
      verifyButton.disabled = false;
    }
  });
  panel.onLoad(async () => {
    const community = getCommunity();
    if (!community) return h("p", { class: "empty" }, "No community yet.");
    const base = `/communities/${seg(community.name)}`;
    const [list, health] = await Promise.all([get(`${base}/ledger/slots`),
      canName ? get(`${base}/validators`).catch(() => null) : null]);
    slots = list;
    if (health) {
      names = new Map(health.validators.map((v) => [v.address.toLowerCase(), v.name]));
      validatorCount = health.validators.length;
    }
    const keep = picker.value;
    replace(picker, slots.length ? slots.map((s) => h("option", { value: s.slot_start, selected: s.slot_start === keep },
      `${showTime(s.slot_start)} · ${s.settlement ? stateWords(s.settlement) : stateWords(s.clearing)}`))
      : h("option", { value: "" }, "no slot on the ledger yet"));
    verifyButton.disabled = !slots.length;
    showSlot();
    return table(`Slots of ${community.name} on the ledger`, [
      { label: "Slot", value: (s) => showTime(s.slot_start) },
      { label: "Clearing", value: (s) => stateWords(s.clearing) },
      { label: "Orders", num: true, value: (s) => num(s.clearing?.orders, 0) },
      { label: "Endorsements", num: true, value: (s) => num(s.clearing?.endorsed_by?.length, 0) },
      { label: "Settlement", value: (s) => stateWords(s.settlement) },
      { label: "Details", value: (s) => h("button", { type: "button", class: "secondary",
        "aria-label": `Details of the slot at ${showTime(s.slot_start)}`, onclick: () => {
          picker.value = s.slot_start;
          verdict.replaceChildren();
          showSlot();
          picker.focus();
        } }, "Show") },
    ], slots, "No slot on the ledger yet: a slot is anchored once it has cleared with trades.");
  });
  return panel;
}

/** The community market fund (GET .../fund; DSO and admin): balance, and its row of every anchored clearing. */
export function fundPanel(getCommunity) {
  const panel = new Panel("Market fund", { wide: true,
    intro: "The community's own account on the chain: it keeps what a clearing leaves over (e.g. a pay-as-bid "
      + "spread) and pays what a clearing owes (e.g. energy it bought)." });
  panel.onLoad(async () => {
    const community = getCommunity();
    if (!community) return h("p", { class: "empty" }, "No community yet.");
    const fund = await get(`/communities/${seg(community.name)}/fund`);
    const rows = [...fund.slots].reverse();
    return [
      h("dl", { class: "facts" },
        h("dt", {}, "Balance"), h("dd", { class: "fund-balance" }, h("strong", {}, `${tokens(fund.balance_micro)} tokens`)),
        h("dt", {}, "From clearings"), h("dd", {}, `${tokens(fund.total_micro)} tokens over ${fund.slots.length} slot(s)`),
        h("dt", {}, "Account"), h("dd", {}, hex(fund.account))),
      fund.slots.length ? h("div", { class: "charts" }, barChart("The fund's row per slot (tokens)",
        fund.slots.slice(-24).map((r) => ({ label: slotLabel(r.slot_start), value: r.fund_micro / MICRO })), "tokens")) : null,
      table("The fund's row per slot", [
        { label: "Slot", value: (r) => showTime(r.slot_start) },
        { label: "Received (+) / paid (−)", num: true, value: (r) => tokens(r.fund_micro) },
        { label: "Energy taken (Wh)", num: true, value: (r) => num(r.energy_wh, 0) },
        { label: "State", value: (r) => r.state },
      ], rows, "Nothing yet: no anchored clearing moved money through the fund."),
    ];
  });
  return panel;
}

/** The validators' health (GET .../validators): registered on chain, gas, endorsements of recent slots. */
export function validatorsPanel(getCommunity) {
  const panel = new Panel("Validators", { wide: true,
    intro: "The validators recompute every slot and sign the result. A healthy validator is registered on the "
      + "chain, has gas to send transactions, and endorsed the recent slots without dissenting." });
  panel.onLoad(async () => {
    const community = getCommunity();
    if (!community) return h("p", { class: "empty" }, "No community yet.");
    const health = await get(`/communities/${seg(community.name)}/validators`);
    const status = (v) => {
      if (!v.registered) return "not registered";
      if (v.gas_wei <= 0) return "out of gas";
      if (v.dissented) return "dissented";
      if (v.slots_seen && !v.endorsed) return "silent";
      return "healthy";
    };
    return [
      h("p", {}, `A result needs ${health.threshold} of ${health.validators.length} signatures.`),
      table("The validators' health", [
        { label: "Validator", value: (v) => v.name },
        { label: "Status", value: (v) => h("span", { class: `health health-${status(v).replace(" ", "-")}` }, status(v)) },
        { label: "Address", value: (v) => hex(v.address) },
        { label: "Endorsed", num: true, value: (v) => `${v.endorsed} of ${v.slots_seen}` },
        { label: "Dissented", num: true, value: (v) => num(v.dissented, 0) },
        { label: "Last endorsed", value: (v) => (v.last_endorsed ? showTime(v.last_endorsed) : "–") },
        { label: "Gas (ETH)", num: true, value: (v) => num(v.gas_wei / 1e18, 3) },
      ], health.validators, "No validators."),
    ];
  });
  return panel;
}
