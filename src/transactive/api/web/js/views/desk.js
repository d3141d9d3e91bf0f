// The multi-settlement desk (docs/multi-settlement.md, docs/api.md): the community's listing board, orders from
// listings and the DSO's review of them, and bilateral contracts. Contracts are signed with the member's own key
// outside the browser (`transactive sign contract ...`): this page never sees a private key. It shows the exact
// command and the EIP-712 typed data to sign, and takes the signature pasted back.

import { get, post, seg } from "../api.js";
import { announce, h, num, replace, table } from "../dom.js";
import { control, fillOptions, form } from "../forms.js";
import { Panel } from "../panel.js";
import { showTime, timeZone, upcomingSlotOptions } from "../time.js";
import { marketNow, newIdempotencyKey } from "./common.js";
import { hex } from "./ledger.js";

const ORDER_STATE_TEXT = { pending: "pending (DSO review)", accepted: "accepted by the DSO", rejected: "rejected by the DSO" };
const newId = (prefix) => `${prefix}-${newIdempotencyKey().slice(4, 12)}`;

function reasons(order) {
  return order.reason?.length ? order.reason.join("; ") : "–";
}

/** Listing board + list surplus + order from a listing + own listing orders (prosumers and aggregators). */
export function listingsPanel(getCommunity, me, { defaultSlot = async () => "" } = {}) {
  const panel = new Panel("Listings", { wide: true,
    intro: "Surplus energy listed by members of your community at a fixed price. An order from a listing waits for "
      + "the DSO's review (it checks the feeder's limits); accepted orders are settled with the slot." });
  const base = () => `/communities/${seg(getCommunity().name)}`;
  let board = [];

  const listForm = form({
    label: "List surplus energy",
    rows: [[
      { name: "id", label: "Listing id", value: newId("l"), help: "unique in the community" },
      { name: "slot_start", label: `Slot start (${timeZone()})`, type: "select", options: [], help: "a slot still taking orders" }],
    [{ name: "energy_kwh", label: "Energy (kWh)", type: "number" },
      { name: "price_per_kwh", label: "Price per kWh", type: "number", help: "what buyers pay" }]],
    submit: "List energy",
    onSubmit: async (values) => {
      const listing = await post(`${base()}/listings`, values);
      control(listForm, "id").value = newId("l");
      await panel.load();
      return `Listing ${listing.id} is for sale: ${num(listing.energy_kwh)} kWh at ${num(listing.price_per_kwh)} per kWh for the slot at ${showTime(listing.slot_start)}.`;
    },
  });
  const orderForm = form({
    label: "Order from a listing",
    rows: [
      { name: "listing", label: "Listing", type: "select", options: [] },
      [{ name: "id", label: "Order id", value: newId("o"), help: "unique in the community" },
        { name: "energy_kwh", label: "Energy (kWh)", type: "number", help: "at most what remains" }]],
    submit: "Order",
    onSubmit: async (values) => {
      const order = await post(`${base()}/listings/${seg(values.listing)}/orders`, { id: values.id, energy_kwh: values.energy_kwh });
      control(orderForm, "id").value = newId("o");
      await panel.load();
      return `Order ${order.id} placed: ${num(order.energy_kwh)} kWh from ${order.listing_id}, ${order.state}.`;
    },
  });
  const forms = h("div", { class: "two-forms" },
    h("div", {}, h("h3", {}, "List surplus"), listForm),
    h("div", {}, h("h3", {}, "Order from a listing"), orderForm));
  panel.fixed.append(forms);

  panel.onLoad(async () => {
    const slotField = control(listForm, "slot_start");
    const first = !slotField.value;
    fillOptions(slotField, upcomingSlotOptions(await marketNow(), getCommunity().slot_minutes));
    if (first) slotField.value = await defaultSlot();
    const [listings, orders] = await Promise.all([get(`${base()}/listings`), get(`${base()}/listing-orders`)]);
    board = [...listings].sort((a, b) => (a.slot_start < b.slot_start ? 1 : -1));
    const open = board.filter((l) => l.state === "FOR_SALE" && l.seller !== me.id && l.remaining_kwh > 0);
    const select = control(orderForm, "listing");
    const keep = select.value;
    replace(select, open.length ? open.map((l) => h("option", { value: l.id, selected: l.id === keep },
      `${l.id}: ${num(l.remaining_kwh)} kWh at ${num(l.price_per_kwh)} (${l.seller}, ${showTime(l.slot_start)})`))
      : h("option", { value: "" }, "no listing open to you"));
    const mine = [...orders].sort((a, b) => (a.received_at < b.received_at ? 1 : -1));
    return [
      table("Listings of the community", [
        { label: "Listing", value: (l) => l.id },
        { label: "Seller", value: (l) => (l.seller === me.id ? `${l.seller} (you)` : l.seller) },
        { label: "Slot", value: (l) => showTime(l.slot_start) },
        { label: "Energy (kWh)", num: true, value: (l) => num(l.energy_kwh) },
        { label: "Remaining (kWh)", num: true, value: (l) => num(l.remaining_kwh) },
        { label: "Price per kWh", num: true, value: (l) => num(l.price_per_kwh) },
        { label: "State", value: (l) => l.state },
      ], board, "No listings yet."),
      table("My listing orders (placed or received)", [
        { label: "Order", value: (o) => o.id },
        { label: "Listing", value: (o) => o.listing_id },
        { label: "Seller → buyer", value: (o) => `${o.seller} → ${o.buyer}` },
        { label: "Slot", value: (o) => showTime(o.slot_start) },
        { label: "Energy (kWh)", num: true, value: (o) => num(o.energy_kwh) },
        { label: "Price per kWh", num: true, value: (o) => num(o.price_per_kwh) },
        { label: "DSO decision", value: (o) => h("span", { class: `state-${o.state}` }, ORDER_STATE_TEXT[o.state] ?? o.state) },
        { label: "Reason", value: reasons },
      ], mine, "No listing orders yet."),
    ];
  });
  return panel;
}

/** The DSO's (or admin's) review of listing orders: accept, reject, or decide by the feeder's power flow. */
export function reviewPanel(getCommunity) {
  const panel = new Panel("Listing orders to review", { wide: true,
    intro: "Orders from listings wait for your decision until bidding closes for their slot. Check the grid shows the "
      + "power flow with the order (voltages and line loadings against your limits); Power flow accepts an order "
      + "unless the slot's accepted trades plus this one violate the feeder's limits. Prices are not shown." });
  const reasonId = "review-reason";
  const reason = h("input", { id: reasonId, type: "text", autocomplete: "off", "aria-describedby": `${reasonId}-help` });
  const outcome = h("p", { class: "form-ok", role: "status" });
  const failure = h("p", { class: "form-error", role: "alert" });
  const flowArea = h("div", { class: "power-flow", "aria-live": "polite" });
  panel.fixed.append(h("div", { class: "field review-reason" }, h("label", { for: reasonId }, "Reason (optional)"), reason,
    h("p", { id: `${reasonId}-help`, class: "help" }, "sent with the next decision; shown to the buyer and the seller")),
  failure, outcome, flowArea);

  // the power flow with the order (GET .../listing-orders/{id}/power-flow; read only): what "Power flow" decides on
  const checkGrid = async (order, button) => {
    button.disabled = true;
    replace(flowArea, h("p", {}, "Running the power flow…"));
    try {
      const flow = await get(`/communities/${seg(getCommunity().name)}/listing-orders/${seg(order.id)}/power-flow`);
      const limits = flow.limits;
      replace(flowArea, h("div", { class: flow.violations.length ? "verdict verdict-bad" : "verdict verdict-ok",
        dataset: { order: order.id } },
      h("h3", {}, `Order ${order.id} on the feeder`),
      h("p", {}, h("strong", {}, flow.violations.length
        ? `With this order the feeder would break its limits: ${flow.violations.join("; ")}.`
        : "With this order the feeder stays within its limits.")),
      h("dl", { class: "facts" },
        h("dt", {}, "Trades already accepted"), h("dd", {}, num(flow.accepted_trades, 0)),
        h("dt", {}, "Lowest voltage"), h("dd", { class: "flow-vmin" }, `${num(flow.min_vm_pu, 4)} pu (limit ${num(limits.v_min_pu)})`),
        h("dt", {}, "Highest voltage"), h("dd", {}, `${num(flow.max_vm_pu, 4)} pu (limit ${num(limits.v_max_pu)})`),
        h("dt", {}, "Most loaded line"), h("dd", { class: "flow-loading" },
          `${num(flow.max_line_loading_percent, 1)} % (limit ${num(limits.max_line_loading_percent)} %)`),
        flow.buses.map((b) => [h("dt", {}, `${b.role === "seller" ? "Seller" : "Buyer"} ${b.member}`),
          h("dd", {}, `bus ${b.bus}: ${num(b.vm_pu, 4)} pu`)])),
      table(`Most loaded lines with order ${order.id}`, [
        { label: "Line", value: (l) => l.line },
        { label: "Loading (%)", num: true, value: (l) => num(l.loading_percent, 1) },
      ], flow.lines)));
    } catch (error) {
      replace(flowArea, h("p", { class: "form-error" }, `Order ${order.id}: ${error.message}`));
    } finally {
      button.disabled = false;
    }
  };

  const decide = async (order, decision, button) => {
    failure.textContent = "";
    outcome.textContent = "";
    button.disabled = true;
    const body = { decision };
    if (reason.value.trim()) body.reason = reason.value.trim();
    try {
      const decided = await post(`/communities/${seg(getCommunity().name)}/listing-orders/${seg(order.id)}/review`, body);
      reason.value = "";
      outcome.textContent = `Order ${decided.id}: ${decided.state}${decided.reason?.length ? ` (${reasons(decided)})` : ""}.`;
      await panel.load();
    } catch (error) {
      failure.textContent = `Order ${order.id}: ${error.message}`;
      button.disabled = false;
    }
  };
  panel.onLoad(async () => {
    const community = getCommunity();
    if (!community) return h("p", { class: "empty" }, "No community yet.");
    const orders = [...await get(`/communities/${seg(community.name)}/listing-orders`)]
      .sort((a, b) => (a.state === b.state ? (a.received_at < b.received_at ? 1 : -1) : a.state === "pending" ? -1 : 1));
    const buttons = (o) => (o.state !== "pending" ? "–" : h("div", { class: "inline review-buttons" },
      h("button", { type: "button", class: "secondary", "aria-label": `Check the grid for order ${o.id}`,
        onclick: (event) => checkGrid(o, event.currentTarget) }, "Check the grid"),
      [["accept", "Accept"], ["reject", "Reject"], ["power_flow", "Power flow"]].map(([decision, label]) =>
        h("button", { type: "button", class: decision === "accept" ? null : "secondary",
          "aria-label": `${label} order ${o.id}`, onclick: (event) => decide(o, decision, event.currentTarget) }, label))));
    return table("Listing orders", [
      { label: "Order", value: (o) => o.id },
      { label: "Listing", value: (o) => o.listing_id },
      { label: "Seller → buyer", value: (o) => `${o.seller} → ${o.buyer}` },
      { label: "Slot", value: (o) => showTime(o.slot_start) },
      { label: "Energy (kWh)", num: true, value: (o) => num(o.energy_kwh) },
      { label: "State", value: (o) => h("span", { class: `state-${o.state}` }, o.state) },
      { label: "Reason", value: reasons },
      { label: "Decide", value: buttons },
    ], orders, "No listing orders.");
  });
  return panel;
}

/** The EIP-712 typed data of a contract (what both parties sign), from the service's signing domain. */
export function typedData(contract, signing) {
  return {
    types: signing.types.BilateralContract ? { EIP712Domain: signing.types.EIP712Domain, BilateralContract: signing.types.BilateralContract } : signing.types,
    primaryType: "BilateralContract",
    domain: signing.domain,
    message: {
      seller: contract.seller_address,
      buyer: contract.buyer_address,
      slots: contract.slots,
      energyWh: Math.round(contract.energy_kwh_per_slot * 1000),
      priceMicroPerKwh: Math.round(contract.price_per_kwh * 1_000_000),
      nonce: contract.nonce,
    },
  };
}

/** The `transactive sign contract` command a party runs with its own key, and the terms file it reads. */
export function signCommand(contract) {
  const terms = { slot_starts: contract.slot_starts, energy_kwh_per_slot: contract.energy_kwh_per_slot,
    price_per_kwh: contract.price_per_kwh, nonce: contract.nonce };
  const command = `transactive sign contract --key-file my.key --terms ${contract.id}.json --domain domain.json `
    + `--seller-address ${contract.seller_address} --buyer-address ${contract.buyer_address}`;
  return { terms, command };
}

function copyBlock(label, text, id) {
  return h("div", { class: "copy-block" },
    h("p", { class: "copy-label", id: `${id}-label` }, label),
    h("pre", { class: "mono", tabindex: "0", "aria-labelledby": `${id}-label` }, text));
}

/** Bilateral contracts: own (parties) or all (DSO, admin, validator); parties can countersign with a pasted signature. */
export function contractsPanel(getCommunity, me, { canSign }) {
  const panel = new Panel(canSign ? "My bilateral contracts" : "Bilateral contracts", { wide: true,
    intro: canSign
      ? "Contracts you proposed or were offered. Both parties sign the same EIP-712 typed data with their own key, "
        + "outside this page (this page never handles a private key); a signed contract delivers its energy at its "
        + "price in each of its slots."
      : "Every bilateral contract of the community and its state (proposed: one signature; signed: both)." });
  const detailArea = h("div", { class: "contract-detail", "aria-live": "polite" });
  panel.section.append(detailArea); // below the table (the body), kept across reloads
  let signing = null;

  const showSigning = async (contract) => {
    signing = signing ?? await get(`/communities/${seg(getCommunity().name)}/signing`);
    const { terms, command } = signCommand(contract);
    const signForm = form({
      label: `Countersign ${contract.id}`,
      rows: [{ name: "signature", label: "Your signature", help: "0x + 130 hex digits: the \"signature\" printed by the command" }],
      submit: "Countersign",
      onSubmit: async (values) => {
        const signed = await post(`/communities/${seg(getCommunity().name)}/bilateral-contracts/${seg(contract.id)}/sign`,
          { signature: values.signature });
        replace(detailArea, h("p", { class: "form-ok", role: "status" }, `Contract ${signed.id} is ${signed.state}.`));
        announce(`Contract ${signed.id} is ${signed.state}.`);
        await panel.load();
        return undefined;
      },
    });
    replace(detailArea,
      h("h3", {}, `Sign contract ${contract.id}`),
      h("ol", { class: "steps" },
        h("li", {}, `Save the terms below as ${contract.id}.json and the domain as domain.json.`),
        h("li", {}, "Run the command with your private key file (the key of your registered address ",
          me.registered_address ? h("code", {}, me.registered_address) : "— none registered yet", ")."),
        h("li", {}, "Paste the signature it prints and countersign.")),
      copyBlock("Command", command, `cmd-${contract.id}`),
      copyBlock(`${contract.id}.json (the terms)`, JSON.stringify(terms, null, 2), `terms-${contract.id}`),
      copyBlock("domain.json", JSON.stringify(signing.domain, null, 2), `domain-${contract.id}`),
      copyBlock("The EIP-712 typed data both parties sign (for any EIP-712 wallet)",
        JSON.stringify(typedData(contract, signing), null, 2), `typed-${contract.id}`),
      signForm);
    signForm.elements.namedItem("signature").focus();
  };

  panel.onLoad(async () => {
    const community = getCommunity();
    if (!community) return h("p", { class: "empty" }, "No community yet.");
    const contracts = await get(`/communities/${seg(community.name)}/bilateral-contracts`);
    const mySide = (c) => (c.seller === me.id ? "seller" : c.buyer === me.id ? "buyer" : null);
    const needsMe = (c) => canSign && c.state === "proposed" && mySide(c) && !c[`${mySide(c)}_signature`];
    return table(canSign ? "My contracts" : "Contracts of the community", [
      { label: "Contract", value: (c) => c.id },
      { label: "Seller → buyer", value: (c) => `${c.seller} → ${c.buyer}` },
      { label: "Slots", value: (c) => `${c.slot_starts.length}: ${showTime(c.slot_starts[0])}${c.slot_starts.length > 1 ? " …" : ""}` },
      { label: "kWh per slot", num: true, value: (c) => num(c.energy_kwh_per_slot) },
      { label: "Price per kWh", num: true, value: (c) => num(c.price_per_kwh) },
      { label: "State", value: (c) => h("span", { class: `state-${c.state}` }, c.state) },
      { label: "Signatures", value: (c) => [c.seller_signature ? "seller ✓" : "seller –", " ", c.buyer_signature ? "buyer ✓" : "buyer –"] },
      { label: "Seller address", value: (c) => hex(c.seller_address) },
      ...(canSign ? [{ label: "Action", value: (c) => (needsMe(c) ? h("button", { type: "button", class: "secondary",
        "aria-label": `Sign contract ${c.id}`, onclick: () => showSigning(c) }, "Sign…") : "–") }] : []),
    ], contracts, canSign ? "No contracts: propose one through the API (docs/api.md)." : "No contracts.");
  });
  return panel;
}
