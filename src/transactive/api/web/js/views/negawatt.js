// Negawatt (demand-response) events: the list, an event's details as your role may see it, and (for trading
// members) an offer. Endpoints: GET/POST /communities/{c}/negawatt-events[/{e}[/offers]] (docs/negawatt.md).

import { get, post, seg } from "../api.js";
import { h, num, replace, table } from "../dom.js";
import { control, form } from "../forms.js";
import { Panel } from "../panel.js";
import { showTime } from "../time.js";

const OPEN = "FOR_SALE";

function rowsTable(caption, rows) {
  return table(caption, [
    { label: "Member", value: (r) => r.id ?? r.member },
    { label: "Energy (kWh)", num: true, value: (r) => num(r.energy_kwh) },
    { label: "Payment", num: true, value: (r) => num(r.payment) },
  ], rows, "None.");
}

/** The event's details from GET .../negawatt-events/{e}: own offer and rows (member), winners (dso), all (full). */
function eventDetail(event) {
  const parts = [h("p", {}, `Event ${event.id}: ${event.state}${event.note ? ` (${event.note})` : ""}, view ${event.view}.`)];
  if (event.view === "member") {
    parts.push(event.offer
      ? h("p", {}, `My offer: ${event.offer.side} ${num(event.offer.energy_kwh)} kWh`,
        event.offer.price_per_kwh === null || event.offer.price_per_kwh === undefined ? "" : ` at ${num(event.offer.price_per_kwh)} per kWh`)
      : h("p", { class: "empty" }, "I have not offered in this event."));
    if (event.clearing) {
      parts.push(h("p", {}, `Cleared at ${num(event.clearing.price_per_kwh)} per kWh.`),
        rowsTable("My cleared rows", event.clearing.rows));
    }
  } else if (event.view === "dso") {
    if (event.winners) parts.push(rowsTable("Accepted reductions", event.winners));
  } else if (event.clearing) {
    parts.push(rowsTable("Cleared sellers", event.clearing.sellers ?? []), rowsTable("Cleared buyers", event.clearing.buyers ?? []));
  }
  if (event.settlement && event.settlement.postings) {
    parts.push(table("Settlement postings (micro-tokens)", [
      { label: "Account", value: (p) => p.account },
      { label: "Amount", num: true, value: (p) => num(p.amount_micro ?? p.amount, 0) },
    ], event.settlement.postings, "No postings."));
  }
  return parts;
}

/** The events panel; `canOffer`: show the offer form (prosumers and aggregators). */
export function negawattPanel(getCommunity, { canOffer }) {
  const panel = new Panel("Negawatt events", { wide: true,
    intro: "Demand-response events announced by an aggregator: offer a reduction of your consumption while it is for sale." });
  const details = h("div", { class: "event-detail", "aria-live": "polite" });
  let offerForm = null;
  if (canOffer) {
    offerForm = form({
      label: "Offer a reduction",
      rows: [[
        { name: "event", label: "Event", type: "select", options: [], api: ["offers_close", "member", "state"] },
        { name: "side", label: "Side", type: "select", value: "sell",
          options: [["sell", "sell (reduce my consumption)"], ["buy", "buy (p2p events only)"]] }],
        [{ name: "energy_kwh", label: "Energy (kWh)", type: "number" },
        { name: "price_per_kwh", label: "Price per kWh (optional)", type: "number" },
      ]],
      submit: "Offer",
      onSubmit: async (values) => {
        if (!values.event) throw new Error("no event is for sale");
        const body = { side: values.side, energy_kwh: values.energy_kwh };
        if (values.price_per_kwh !== null) body.price_per_kwh = values.price_per_kwh;
        const community = getCommunity();
        const stored = await post(`/communities/${seg(community.name)}/negawatt-events/${seg(values.event)}/offers`, body);
        await panel.load();
        return `Offer stored in ${stored.event}: ${stored.side} ${num(stored.energy_kwh)} kWh.`;
      },
    });
    panel.fixed.append(h("h3", {}, "Offer a reduction"), offerForm);
  }
  panel.onLoad(async () => {
    const community = getCommunity();
    const events = await get(`/communities/${seg(community.name)}/negawatt-events`);
    if (offerForm) {
      const select = control(offerForm, "event");
      const previous = select.value;
      const open = events.filter((e) => e.state === OPEN);
      replace(select, open.length ? open.map((e) => h("option", { value: e.id, selected: e.id === previous }, `${e.id} (${num(e.target_kwh)} kWh)`))
        : h("option", { value: "" }, "no event is for sale"));
    }
    const show = async (event) => {
      replace(details, h("p", {}, "Loading…"));
      try {
        replace(details, eventDetail(await get(`/communities/${seg(community.name)}/negawatt-events/${seg(event.id)}`)));
      } catch (error) {
        replace(details, h("p", { class: "form-error" }, error.message));
      }
    };
    return [
      h("h3", {}, "Events"),
      table("Negawatt events of the community", [
        { label: "Event", value: (e) => e.id },
        { label: "Type", value: (e) => e.event_type },
        { label: "Target (kWh)", num: true, value: (e) => num(e.target_kwh) },
        { label: "Price per kWh", num: true, value: (e) => num(e.price_per_kwh) },
        { label: "Offers close", value: (e) => showTime(e.offers_close) },
        { label: "Window", value: (e) => `${showTime(e.window_start)} – ${showTime(e.window_end).slice(11)}` },
        { label: "State", value: (e) => e.state },
        { label: "Details", value: (e) => h("button", { type: "button", class: "secondary", "aria-label": `Details of ${e.id}`,
          onclick: () => show(e) }, "Details") },
      ], events, "No negawatt events in this community."),
      details,
    ];
  });
  return panel;
}
