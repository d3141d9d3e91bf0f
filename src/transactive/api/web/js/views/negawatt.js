// Negawatt (demand-response) events: the list, an event's details as your role may see it, and (for trading
// members) an offer; for the aggregator: announcing an event (a form built from the API's own description of an
// event, the OpenAPI schema), watching its offers, clearing, recording deliveries, settling, and the verification
// of each delivery against the member's usual consumption (its baseline) as a chart.
// Endpoints: GET/POST /communities/{c}/negawatt-events[/{e}[/offers|/clear|/deliveries|/settle]] (docs/negawatt.md).

import { ApiError, api, get, post, seg } from "../api.js";
import { h, num, replace, table } from "../dom.js";
import { compareChart } from "../charts.js";
import { clearErrors, control, field, fillOptions, form } from "../forms.js";
import { Panel } from "../panel.js";
import { addSlots, isoSlot, parseTime, showTime, slotContaining } from "../time.js";
import { marketNow } from "./common.js";

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

// ---------------------------------------------------------------------------------------------- the aggregator
// plain words for the API's names; a field or an event type the API adds later is shown with the API's own title
const EVENT_TYPE_WORDS = {
  knapsack_vcg: "Knapsack VCG: the cheapest offers that reach the target, each paid what it made possible",
  dra_fixed_price: "Type I: a fixed price for every kWh reduced",
  p2p_average_price: "Type II: members buy and sell reductions among themselves at the average price",
};
const FIELD_WORDS = {
  id: ["Event name", "letters, digits, _ . - (unique in the community)"],
  event_type: ["Kind of event", null],
  target_kwh: ["Reduction wanted (kWh)", "over the whole window"],
  price_per_kwh: ["Price per kWh", "the most you pay per kWh (knapsack VCG) or the fixed price (Type I); none for Type II"],
  penalty_per_kwh: ["Penalty per kWh not delivered", "default: the price; required for Type II"],
  offers_close: ["Offers close at", "members may offer until then"],
  window_start: ["Reduction starts at", "when the chosen members start using less"],
  window_end: ["Reduction ends at", "within the same day (UTC)"],
  interval_minutes: ["Meter interval (minutes)", "how often the meters record; divides a day"],
  "baseline.x_days": ["Days averaged", "the usual consumption is the average of this many days…"],
  "baseline.y_days": ["…out of the most recent days", "considered (at least the days averaged)"],
  "baseline.adjustment": ["Same-day adjustment", "scale the usual consumption to the morning of the event day"],
  "baseline.cap": ["Adjustment cap", "the most the adjustment may change it (a fraction, e.g. 0.2)"],
};
const STATE_WORDS = {
  CLOSE: "announced", FOR_SALE: "taking offers", RESERVE_NOT_MET: "closed, clearing", CLEARED: "cleared: waiting for the meters",
  VERIFIED: "verified", SETTLED: "settled: payments made",
};
const eventState = (state) => STATE_WORDS[state] ?? state;

/** The OpenAPI schema of the service (GET /openapi.json): the API's own description of every request body. */
let schemaCache = null;
async function openApiSchemas() {
  if (!schemaCache) schemaCache = api("GET", "/openapi.json").then((doc) => doc.components.schemas);
  return schemaCache;
}

const isTime = (prop) => prop.type === "string" && /ISO 8601/.test(prop.description ?? "");
const numeric = (prop) => prop.type === "number" || prop.type === "integer"
  || (prop.anyOf ?? []).some((p) => p.type === "number" || p.type === "integer");

/** Form field specs from a JSON schema object (nested objects: their fields named parent.child). */
function specsFromSchema(schemas, schema, prefix = "") {
  const required = new Set(schema.required ?? []);
  const out = [];
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const key = prefix + name;
    const ref = prop.$ref ?? (prop.anyOf ?? []).find((p) => p.$ref)?.$ref;
    if (ref) {
      out.push({ group: key, title: schemas[ref.split("/").pop()].title, specs: specsFromSchema(schemas, schemas[ref.split("/").pop()], `${key}.`) });
      continue;
    }
    const [label, help] = FIELD_WORDS[key] ?? [prop.title ?? name, null];
    const optional = !required.has(key.split(".").pop()) && prop.default === undefined && !prefix;
    const spec = { name: key, label: optional ? `${label} (optional)` : label,
      help: help ?? prop.description ?? null, value: prop.default === undefined ? "" : String(prop.default) };
    if (prop.enum) {
      spec.type = "select";
      spec.options = prop.enum.map((v) => [v, EVENT_TYPE_WORDS[v] ?? v]);
    } else if (isTime(prop)) {
      spec.type = "select";
      spec.options = [];
      spec.time = true;
    } else if (numeric(prop)) {
      spec.type = "number";
    }
    out.push(spec);
  }
  return out;
}

/** The request body from the form's values, following the specs (empty optional fields left out). */
function bodyFrom(specs, values) {
  const body = {};
  for (const spec of specs) {
    if (spec.group) {
      const nested = bodyFrom(spec.specs, values);
      if (Object.keys(nested).length) body[spec.group.split(".").pop()] = nested;
      continue;
    }
    const value = values[spec.name];
    if (value === null || value === "" || value === undefined) continue;
    body[spec.name.split(".").pop()] = value;
  }
  return body;
}

/** Times offered for the time fields: every `stepMinutes` boundary over the next day, from `from`. */
function timeOptions(from, stepMinutes, count = 96) {
  const first = addSlots(slotContaining(from, stepMinutes), 1, stepMinutes);
  return Array.from({ length: count }, (_, i) => {
    const t = addSlots(first, i, stepMinutes);
    return [isoSlot(t), showTime(t)];
  });
}

/**
 * Announce an event: the form is built from the API's description of an event (the OpenAPI schema of
 * POST .../negawatt-events), so a field the API adds appears without new code; times are picked from lists.
 */
export function announcePanel(getCommunity, { onAnnounced = async () => {} } = {}) {
  const panel = new Panel("Announce an event", { wide: true,
    intro: "Ask the community to use less electricity for a while: say how much, when, and what you pay. Members "
      + "offer reductions until offers close; then the event is cleared and the chosen members reduce." });
  let formNode = null;
  let specs = [];
  const fillTimes = async () => {
    const community = getCommunity();
    const now = await marketNow();
    const interval = Number(control(formNode, "interval_minutes")?.value) || 60;
    const close = control(formNode, "offers_close");
    const closes = timeOptions(now, community.slot_minutes);
    // every time field of the description: the community's slot boundaries of the next day (the window's below)
    const walk = (list) => list.flatMap((spec) => (spec.group ? walk(spec.specs) : [spec]));
    for (const spec of walk(specs).filter((sp) => sp.time && !["window_start", "window_end"].includes(sp.name))) {
      const select = control(formNode, spec.name);
      fillOptions(select, closes);
      if (!select.dataset.touched) select.value = closes[Math.min(1, closes.length - 1)][0];
    }
    // the window: interval boundaries from offers_close on (at most a day of them)
    const windows = timeOptions(new Date(parseTime(close.value).getTime() - 1), interval,
      Math.min(96, Math.ceil(1440 / interval)) + 1);
    const start = control(formNode, "window_start");
    const end = control(formNode, "window_end");
    fillOptions(start, windows);
    fillOptions(end, windows);
    if (!start.dataset.touched) start.value = windows[0][0];
    if (!end.dataset.touched || end.value <= start.value) { // the window ends after it starts
      end.value = windows[Math.min(windows.findIndex(([v]) => v === start.value) + 1, windows.length - 1)][0];
    }
  };
  panel.onLoad(async () => {
    if (formNode) {
      await fillTimes();
      return undefined;
    }
    const schemas = await openApiSchemas();
    specs = specsFromSchema(schemas, schemas.NegawattEventIn);
    const plain = specs.filter((sp) => !sp.group);
    const groups = specs.filter((sp) => sp.group);
    const rows = [];
    for (let i = 0; i < plain.length; i += 2) rows.push(plain.slice(i, i + 2));
    formNode = form({
      label: "Announce an event",
      rows,
      submit: "Announce",
      onSubmit: async (values) => {
        const community = getCommunity();
        const announced = await post(`/communities/${seg(community.name)}/negawatt-events`, bodyFrom(specs, values));
        await onAnnounced(announced);
        control(formNode, "id").value = "";
        return `Event ${announced.id} announced: ${eventState(announced.state)} until ${showTime(announced.offers_close)}.`;
      },
    });
    // nested objects of the description (the baseline rule) folded away, their fields named parent.child
    const errorLine = formNode.querySelector(".form-error");
    for (const group of groups) {
      formNode.insertBefore(h("details", { class: "advanced" },
        h("summary", {}, group.group === "baseline" ? "How usual consumption is estimated (the baseline)" : group.title),
        h("div", { class: "form-row" }, group.specs.map((sp) => field(formNode.id, sp)))), errorLine);
    }
    for (const name of specs.filter((sp) => sp.time).map((sp) => sp.name)) {
      control(formNode, name).addEventListener("change", (event) => {
        event.target.dataset.touched = "true";
        fillTimes();
      });
    }
    control(formNode, "interval_minutes")?.addEventListener("input", fillTimes);
    await fillTimes();
    return [formNode];
  });
  return panel;
}

/** "1 2 3\n4 5 6" -> [[1, 2, 3], [4, 5, 6]] (numbers separated by spaces, commas or semicolons; one day a line). */
function parseDays(text, field) {
  const lines = text.split(/\n/).map((line) => line.trim()).filter(Boolean);
  return lines.map((line, k) => line.split(/[\s,;]+/).map((item) => {
    const value = Number(item);
    if (item === "" || Number.isNaN(value)) throw new ApiError(0, field, `line ${k + 1}: ${JSON.stringify(item)} is not a number`);
    return value;
  }));
}

function offersTable(event) {
  return table(`Offers in ${event.id}`, [
    { label: "Member", value: (o) => o.member },
    { label: "Side", value: (o) => (o.side === "sell" ? "reduce" : "buy a reduction") },
    { label: "Energy (kWh)", num: true, value: (o) => num(o.energy_kwh) },
    { label: "Price per kWh", num: true, value: (o) => num(o.price_per_kwh) },
    { label: "Received", value: (o) => showTime(o.received_at) },
  ], event.offers ?? [], "No offers yet.");
}

function verificationChart(event, delivery) {
  const per = event.interval_minutes;
  const base = delivery.baseline.baseline_kwh;
  const today = delivery.baseline.event_day_kwh ?? [];
  const start = parseTime(event.window_start);
  const first = Math.floor((start.getUTCHours() * 60 + start.getUTCMinutes()) / per);
  const count = Math.round((parseTime(event.window_end) - start) / (per * 60_000));
  // the window and as many intervals around it (at most a day)
  const around = Math.max(count, Math.round(120 / per)); // two hours on either side (at least the window's length)
  const from = Math.max(0, first - around);
  const to = Math.min(base.length, first + count + around);
  const labels = [];
  for (let i = from; i < to; i += 1) {
    const minutes = i * per;
    labels.push(`${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`);
  }
  return compareChart(`${delivery.member}: usual consumption and the event day (kWh per interval)`, labels, [
    { name: "usual consumption (baseline)", values: base.slice(from, to), className: "baseline" },
    { name: "event day", values: today.length ? today.slice(from, to) : labels.map(() => null), className: "actual" },
  ], "kWh");
}

function settlementPart(event) {
  const settlement = event.settlement;
  if (!settlement) return null;
  return [
    h("h4", {}, "Verified reductions"),
    table(`Verification of ${event.id}`, [
      { label: "Member", value: (r) => r.id },
      { label: "Sold (kWh)", num: true, value: (r) => num(r.sold_kwh) },
      { label: "Delivered (kWh)", num: true, value: (r) => num(r.delivered_kwh) },
      { label: "Short (kWh)", num: true, value: (r) => num(r.shortfall_kwh) },
      { label: "In words", value: (r) => (r.shortfall_kwh > 0
        ? `delivered ${num(r.delivered_kwh)} of ${num(r.sold_kwh)} kWh: the rest was bought from others or penalised`
        : "the reduction was verified against the usual consumption") },
    ], settlement.verification ?? [], "No reductions to verify."),
    table(`Payments of ${event.id} (tokens)`, [
      { label: "Account", value: (p) => p.account },
      { label: "Amount", num: true, value: (p) => num((p.amount_micro ?? 0) / 1e6, 6) },
    ], settlement.postings ?? [], "No payments."),
  ];
}

/**
 * The aggregator's own events: picked from a list, its offers as they arrive, "Clear now", recording the meters
 * of the members who reduce (deliveries), "Settle now", and each delivery against the usual consumption.
 */
export function myEventsPanel(getCommunity, me) {
  const panel = new Panel("My events", { wide: true,
    intro: "Pick one of your events. While it takes offers you see them arrive (Refresh); once offers close it is "
      + "cleared (by the service, or now with Clear now). After the window, record each chosen member's meter data: "
      + "their reduction is verified against their usual consumption. Then settle: the payments are made." });
  const picker = h("select", { id: "my-event" });
  const actions = h("div", { class: "inline event-actions" });
  const failure = h("p", { class: "form-error", role: "alert" });
  const done = h("p", { class: "form-ok", role: "status" });
  const area = h("div", { class: "my-event" });
  const deliveryArea = h("div", { class: "delivery" });
  panel.fixed.append(h("div", { class: "field" }, h("label", { for: "my-event" }, "Event"), picker), actions, failure, done, area, deliveryArea);
  let events = [];
  let current = null;
  const base = () => `/communities/${seg(getCommunity().name)}/negawatt-events`;

  const act = async (button, path, words) => {
    if (button.disabled) return;
    button.disabled = true; // one request for a double click
    failure.textContent = "";
    done.textContent = "";
    try {
      const event = await post(`${base()}/${seg(current.id)}/${path}`);
      done.textContent = `${event.id} ${words}: ${eventState(event.state)}.`;
      await panel.load();
    } catch (error) {
      failure.textContent = error.message;
    } finally {
      button.disabled = false;
    }
  };
  const clearButton = h("button", { type: "button", class: "event-clear" }, "Clear now");
  const settleButton = h("button", { type: "button", class: "event-settle" }, "Settle now");
  clearButton.addEventListener("click", () => act(clearButton, "clear", "was cleared"));
  settleButton.addEventListener("click", () => act(settleButton, "settle", "was settled"));
  actions.append(clearButton, settleButton);

  const deliveryForm = form({
    label: "Record a delivery",
    rows: [
      { name: "member", label: "Member", type: "select", options: [] },
      { name: "history_kwh", label: "Past days' consumption (kWh per interval)", type: "textarea",
        help: "one line per day, oldest first; the values of the day's intervals separated by spaces" },
      { name: "event_day_kwh", label: "The event day's consumption (kWh per interval)", type: "textarea",
        help: "one line: the values of the event day's intervals" },
    ],
    submit: "Record delivery",
    onSubmit: async (values) => {
      if (!current) throw new Error("pick an event first");
      const days = parseDays(values.history_kwh, "history_kwh");
      const [today] = parseDays(values.event_day_kwh, "event_day_kwh");
      const stored = await post(`${base()}/${seg(current.id)}/deliveries`,
        { member: values.member, history_kwh: days, event_day_kwh: today ?? [] });
      await panel.load();
      return `${stored.member} reduced by ${num(stored.delivered_kwh)} kWh against the usual consumption.`;
    },
  });
  deliveryArea.append(h("h3", {}, "Record a delivery"), deliveryForm);
  picker.addEventListener("change", () => {
    clearErrors(deliveryForm);
    panel.load();
  });

  // shows `current` (the event's full view); re-run when it changes
  const render = () => {
    actions.hidden = false;
    clearButton.hidden = !["FOR_SALE", "RESERVE_NOT_MET"].includes(current.state);
    settleButton.hidden = current.state !== "CLEARED";
    const sellers = (current.clearing?.sellers ?? []).filter((r) => r.energy_kwh > 0);
    deliveryArea.hidden = current.state !== "CLEARED";
    fillOptions(control(deliveryForm, "member"), sellers.map((r) => [r.id, `${r.id} (${num(r.energy_kwh)} kWh to reduce)`]));
    const perDay = Math.round(1440 / current.interval_minutes);
    control(deliveryForm, "event_day_kwh").placeholder = `${perDay} values`;
    replace(area,
      h("dl", { class: "facts" },
        h("dt", {}, "State"), h("dd", { class: "event-state" }, eventState(current.state)),
        h("dt", {}, "Kind"), h("dd", {}, EVENT_TYPE_WORDS[current.event_type] ?? current.event_type),
        h("dt", {}, "Reduction wanted"), h("dd", {}, `${num(current.target_kwh)} kWh`),
        h("dt", {}, "Offers close"), h("dd", {}, showTime(current.offers_close)),
        h("dt", {}, "Window"), h("dd", {}, `${showTime(current.window_start)} – ${showTime(current.window_end)}`),
        h("dt", {}, "Meter values"), h("dd", {}, `${perDay} per day (every ${current.interval_minutes} minutes)`)),
      h("h3", {}, `Offers (${(current.offers ?? []).length})`),
      offersTable(current),
      current.clearing ? [h("h3", {}, "Cleared"),
        h("p", {}, current.clearing.price_per_kwh === null || current.clearing.price_per_kwh === undefined
          ? "Each chosen member is paid as the event's kind says (no single price)."
          : `Price ${num(current.clearing.price_per_kwh)} per kWh.`),
        rowsTable("Chosen reductions", sellers)] : null,
      (current.deliveries ?? []).length ? [h("h3", {}, "Deliveries against the usual consumption"),
        h("div", { class: "charts deliveries" }, current.deliveries.map((d) => verificationChart(current, d))),
        table("Recorded deliveries", [
          { label: "Member", value: (d) => d.member },
          { label: "Reduced (kWh)", num: true, value: (d) => num(d.delivered_kwh) },
          { label: "Usual consumption from", value: (d) => `${d.baseline.days?.length ?? "?"} days` },
        ], current.deliveries)] : null,
      settlementPart(current));
  };
  // watching: while the event is open, its offers appear as they arrive (checked with the page's clock, every
  // 5 s; the event is redrawn only when its offers or state changed, so nothing moves under the keyboard focus)
  panel.watch = async () => {
    if (!current || !["FOR_SALE", "RESERVE_NOT_MET", "CLEARED"].includes(current.state)) return;
    const fresh = await get(`${base()}/${seg(current.id)}`);
    if (fresh.state !== current.state || (fresh.offers ?? []).length !== (current.offers ?? []).length) {
      current = fresh;
      render();
    }
  };

  panel.onLoad(async () => {
    events = (await get(base())).filter((e) => e.aggregator === me.id);
    const keep = picker.value;
    replace(picker, events.length ? [...events].reverse().map((e) => h("option", { value: e.id, selected: e.id === keep },
      `${e.id} · ${num(e.target_kwh)} kWh · ${eventState(e.state)}`)) : h("option", { value: "" }, "no event yet: announce one"));
    if (!events.length) {
      current = null;
      actions.hidden = true;
      deliveryArea.hidden = true;
      return replace(area);
    }
    current = await get(`${base()}/${seg(picker.value || events[events.length - 1].id)}`);
    render();
    return undefined;
  });
  return panel;
}

/** The aggregator's page: run an event (announce, my events), the events list, and the trading page. */
export function aggregatorTabs(getCommunity, me) {
  const events = myEventsPanel(getCommunity, me);
  const announce = announcePanel(getCommunity, { onAnnounced: async (event) => {
    await events.load();
    const picker = document.getElementById("my-event");
    picker.value = event.id;
    await events.load();
  } });
  const all = negawattPanel(getCommunity, { canOffer: false });
  return { panels: [announce, events, all], announce, events, all };
}
