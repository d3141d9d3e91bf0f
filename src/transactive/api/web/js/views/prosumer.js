// The prosumer's own panels: the standing instruction (seed 004 Fig. 4.3: status light, program and settlement
// choice, activity, price range, fixed or automatic amount; GET|PUT .../members/me/standing-instruction), the
// balance over the settled slots as a chart (GET .../account and .../statements), and the Merkle inclusion
// proofs of a slot, downloadable and verified in the browser (GET .../slots/{s}/proofs; js/proofs.js).

import { ApiError, apiText, get, put, seg } from "../api.js";
import { h, num, replace, table } from "../dom.js";
import { barChart, lineChart } from "../charts.js";
import { control, field, fillOptions, form } from "../forms.js";
import { Panel } from "../panel.js";
import { parseExact, verifyProof } from "../proofs.js";
import { showTime } from "../time.js";
import { slotLabel } from "./results.js";

const MICRO = 1_000_000;
const LIGHT_TEXT = {
  green: "Green: your generation covers your use",
  red: "Red: you use more than you generate",
  unknown: "Unknown: no meter readings yet",
};

function describeOrder(order) {
  if (!order) return null;
  const blocks = order.blocks ?? [{ energy_kwh: order.energy_kwh, price_per_kwh: order.price_per_kwh }];
  return `${order.side} ${blocks.map((b) => `${num(b.energy_kwh)} kWh${b.price_per_kwh === undefined ? ""
    : ` at ${num(b.price_per_kwh)} per kWh`}`).join(" and ")} in the slot at ${showTime(order.slot_start)}`;
}

/** "My standing instruction": set once, the service places its order in every upcoming slot (like a thermostat). */
export function standingPanel(community, { onSaved } = {}) {
  const base = `/communities/${seg(community.name)}/members/me/standing-instruction`;
  const panel = new Panel("My standing instruction", {
    intro: "Set it once, like a thermostat: for every slot you have not ordered in yourself, the service places "
      + "this order for you shortly before the slot starts. An order you place yourself always wins." });
  panel.section.classList.add("main-task");
  const light = h("p", { class: "status-light", role: "status", dataset: { light: "unknown" } });
  const next = h("p", { class: "standing-next", role: "status" });
  panel.fixed.append(light, next);
  const yesNo = (yes, no) => [["true", yes], ["false", no]];
  const node = form({
    label: "My standing instruction",
    rows: [
      h("fieldset", { class: "choice-group" }, h("legend", {}, "Program"),
        h("div", { class: "form-row" })),
      [{ name: "activity", label: "Activity", type: "select", value: "none",
        options: [["none", "None"], ["sell", "Sell my surplus"], ["buy", "Buy what I need"]] },
      { name: "amount", label: "Amount", type: "select", value: "fixed",
        options: [["fixed", "I set the amount"], ["automatic", "Automatic, from my forecast"]],
        help: "Automatic: the average of your meter readings at this time on the last 3 days (else your latest 4 slots)." },
      { name: "energy_kwh", label: "Energy per slot (kWh)", type: "number", help: "When you set the amount." }],
      [{ name: "price_min_per_kwh", label: "Lowest price per kWh", type: "number",
        help: "Selling: you sell at this price or more." },
      { name: "price_max_per_kwh", label: "Highest price per kWh", type: "number",
        help: "Buying: you pay this price or less." }],
    ],
    submit: "Set values",
    onSubmit: async (values) => {
      const body = { trading: values.trading === "true", demand_response: values.demand_response === "true",
        activity: values.activity, amount: values.amount };
      for (const name of ["energy_kwh", "price_min_per_kwh", "price_max_per_kwh"]) {
        if (values[name] !== null) body[name] = values[name];
      }
      const view = await put(base, body);
      show(view);
      await onSaved?.(view);
      return "Saved: the service follows it from the next slot.";
    },
  });
  // the program choice: two selects inside the fieldset (forms.js builds them as fields of this form)
  const programRow = node.querySelector(".choice-group .form-row");
  programRow.append(
    field(node.id, { name: "trading", label: "Take part in trading", type: "select", value: "false",
      options: yesNo("Yes, trade for me", "No") }),
    field(node.id, { name: "demand_response", label: "Take part in demand response", type: "select", value: "false",
      options: yesNo("Yes, tell me about events", "No"), help: "Events are under Negawatt events; you decide each offer." }));
  panel.fixed.append(node);
  const energyField = control(node, "energy_kwh").closest(".field");
  // as in the seed's GUI: opting in to trading enables the activity, an activity enables the amount and prices
  const sync = () => {
    const trading = control(node, "trading").value === "true";
    const active = trading && control(node, "activity").value !== "none";
    control(node, "activity").disabled = !trading;
    for (const name of ["amount", "energy_kwh", "price_min_per_kwh", "price_max_per_kwh"]) control(node, name).disabled = !active;
    energyField.hidden = control(node, "amount").value === "automatic";
  };
  for (const name of ["trading", "activity", "amount"]) control(node, name).addEventListener("change", sync);
  sync();

  const show = (view) => {
    const status = view.status;
    light.dataset.light = status.light;
    replace(light, h("span", { class: "light-dot", "aria-hidden": "true" }), ` ${LIGHT_TEXT[status.light]}`,
      status.forecast_kwh === null ? "" : ` (forecast ${num(status.forecast_kwh)} kWh, + export; ${status.forecast_basis}).`);
    const last = status.last;
    replace(next,
      status.next_order ? `Next: ${describeOrder(status.next_order)}.` : `No order for the slot at ${showTime(status.next_slot)}: ${status.why_no_order}.`,
      last ? h("span", { class: "standing-last" }, ` Last: ${last.order_id ? `placed in the slot at ${showTime(last.slot_start)}`
        : `nothing placed in the slot at ${showTime(last.slot_start)} (${last.field ? `${last.field}: ` : ""}${last.message})`}.`) : "");
  };
  let filled = false;
  panel.onLoad(async () => {
    const view = await get(base);
    show(view);
    if (!filled) { // the form keeps what the member typed across reloads
      filled = true;
      const i = view.instruction;
      for (const [name, value] of Object.entries(i)) {
        const input = control(node, name);
        if (input) input.value = value === null ? "" : String(value);
      }
      sync();
    }
    return undefined;
  });
  return panel;
}

/** "My balance": the balance after each settled slot, from today's balance back through the statements. */
export function balancePanel(community) {
  const base = `/communities/${seg(community.name)}`;
  const panel = new Panel("My balance over time", { wide: true,
    intro: "Your token balance after each slot settled on chain, and what each slot added (+) or took (−)." });
  panel.onLoad(async () => {
    const [account, lines] = await Promise.all([get(`${base}/account`), get(`${base}/statements`)]);
    const rows = [...lines].sort((a, b) => (a.slot_start < b.slot_start ? -1 : 1)).slice(-24);
    let after = Number(account.balance_micro);
    const balances = [];
    for (let i = rows.length - 1; i >= 0; i--) { // walk back from today's balance
      balances[i] = after;
      after -= Number(rows[i].balance_change_micro);
    }
    const points = (value) => rows.map((r, i) => ({ label: slotLabel(r.slot_start), value: value(r, i) }));
    return [
      h("p", {}, "Balance now: ", h("strong", { class: "balance-now" }, `${num(Number(account.balance_micro) / MICRO, 6)} tokens`)),
      rows.length ? h("div", { class: "charts" },
        lineChart("Balance after each settled slot (tokens)", points((r, i) => balances[i] / MICRO), "tokens"),
        barChart("Change per settled slot (tokens, + received, − paid)", points((r) => r.balance_change_micro / MICRO), "tokens"))
        : h("p", { class: "empty" }, "No settled slot yet."),
    ];
  });
  return panel;
}

/** "Check my trade on the ledger": a slot's inclusion proofs, verified here and downloadable. */
export function proofsPanel(community, { slotOptions, onChain = true }) {
  const base = `/communities/${seg(community.name)}`;
  const panel = new Panel("Check my trade on the ledger", { wide: true,
    intro: "Proof that your order and your result are part of what was anchored on the community's chain. Your "
      + "browser recomputes each proof (keccak-256 Merkle paths) and compares it with the roots stored on chain; "
      + "download the proofs to check them elsewhere (transactive ledger proof --verify, which also checks the "
      + "order's signature)." });
  const output = h("div", { class: "proof-results" });
  let downloadUrl = null;
  const node = form({
    label: "Check my proofs",
    rows: [[{ name: "slot_start", label: "Slot", type: "select", options: [], help: "One of your slots; its proofs exist once it is anchored, shortly after it clears." }]],
    submit: "Check proofs",
    onSubmit: async (values) => {
      const text = await apiText("GET", `${base}/slots/${seg(values.slot_start)}/proofs`);
      const answer = parseExact(text); // the chain's 64-bit slot numbers stay exact
      const checks = answer.proofs.map((doc) => ({ doc,
        result: verifyProof(doc, doc.kind === "result" ? answer.result_root : answer.order_root) }));
      if (downloadUrl) URL.revokeObjectURL(downloadUrl);
      downloadUrl = URL.createObjectURL(new Blob([text], { type: "application/json" }));
      const file = `proofs-${answer.slot_start.replaceAll(":", "")}.json`;
      replace(output,
        table("My proofs", [
          { label: "What", value: (c) => c.result.what },
          { label: "Checked in your browser", value: (c) => h("span", { class: c.result.ok ? "proof-ok" : "proof-bad" },
            c.result.ok ? "verified" : `NOT verified: ${c.result.error}`) },
          { label: "How", value: (c) => c.result.steps.join("; ") },
        ], checks),
        h("p", { class: "help" }, `Order root on chain ${answer.order_root}; result root ${answer.result_root}.`),
        h("a", { href: downloadUrl, download: file, class: "download" }, `Download the proofs (${file})`));
      const good = checks.filter((c) => c.result.ok).length;
      return `${good} of ${checks.length} proofs verified in your browser.`;
    },
  });
  panel.fixed.append(node, output);
  panel.onLoad(async () => {
    if (!onChain) { // a service without the ledger (GET /me gives no chain account): hidden like a missing route
      throw new ApiError(404, "(path)", "this service runs no ledger");
    }
    const options = await slotOptions();
    fillOptions(control(node, "slot_start"), options.map((s) => [s, showTime(s)]));
    return options.length ? undefined : h("p", { class: "empty" }, "No slot of yours yet.");
  });
  return panel;
}
