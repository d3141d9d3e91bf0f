// The order form, built from the API's own description of it (GET /communities/{c}/order-form): whatever the
// community's mechanism, its fields, labels, units, defaults and help come from the service, so a new mechanism
// needs no new JavaScript. Parts: "order" (side, slot, energy, price), "block" (energy and price inside each
// block where the mechanism takes block bids: a block editor), "preference" (standing values such as the
// distance preference, prefilled from the member's order defaults), "advanced" (optional, folded away).
// Also the member's order defaults (GET|PUT /communities/{c}/profile).

import { get, post, put, seg } from "./api.js";
import { h, num } from "./dom.js";
import { clearErrors, field, fillOptions as fillSlots, form, showError } from "./forms.js";
import { Panel } from "./panel.js";
import { showTime, timeZone, upcomingSlotOptions } from "./time.js";
import { marketNow, newIdempotencyKey } from "./views/common.js";

let counter = 0;

/** Plain words for a field's lower bound ("more than 0", "at least 0"). */
function boundText(f) {
  if (f.minimum === null || f.type === "key") return "";
  return f.exclusive_minimum ? `More than ${num(f.minimum)}.` : `At least ${num(f.minimum)}.`;
}

function helpOf(f, extra = "") {
  const unit = f.unit && !f.label.includes(`(${f.unit})`) ? `In ${f.unit}.` : "";
  return [f.help, unit, boundText(f), extra].filter(Boolean).join(" ");
}

// defaults a form shows filled in: the member's own, the service's suggestion, the member's registered bus; a
// mechanism's own default (e.g. price 0 where a price is optional) is left to the service
const SHOWN_DEFAULTS = new Set(["profile", "suggested", "member"]);

/** forms.js field spec for one described field; `api` are the names the API may use for it in errors. */
function specOf(f, { name = f.name, label = f.label, value, api = [], help } = {}) {
  const optional = !f.required && !SHOWN_DEFAULTS.has(f.default_source) && f.type !== "choice";
  const spec = { name, label: optional ? `${label} (optional)` : label, api, help: help ?? helpOf(f) };
  if (f.type === "choice") {
    return { ...spec, type: "select", value: value ?? f.default, options: f.choices.map((c) => [c, c]) };
  }
  const number = f.type === "number" || f.type === "integer";
  const shown = value ?? (SHOWN_DEFAULTS.has(f.default_source) ? f.default : null);
  return { ...spec, type: number ? "number" : "text", value: shown === null ? "" : String(shown) };
}

const upcomingSlots = async (slotMinutes) => upcomingSlotOptions(await marketNow(), slotMinutes);


/** The block editor: rows of energy and price, "Add block", "Remove block N". */
function blockEditor(formId, energy, price) {
  const rows = h("div", { class: "blocks" });
  const legend = h("legend", {}, "Blocks");
  const fieldset = h("fieldset", { class: "block-editor" }, legend,
    h("p", { class: "help" }, "Each block is an amount with its own price: e.g. 2 kWh at 0.10 and 1 kWh more at 0.15."),
    rows);
  const addButton = h("button", { type: "button", class: "secondary" }, "Add block");
  const renumber = () => {
    [...rows.children].forEach((row, i) => {
      const inputs = row.querySelectorAll("input");
      const labels = row.querySelectorAll("label"); // (input.labels is empty while the form is detached)
      [energy, price].forEach((f, k) => {
        inputs[k].name = `blocks.${i}.${f.name}`;
        inputs[k].dataset.field = [`blocks[${i}].${f.name}`, ...(i === 0 && k === 0 ? ["blocks"] : [])].join(" ");
        labels[k].textContent = `Block ${i + 1}: ${f.label}`;
      });
      const remove = row.querySelector("button");
      remove.textContent = `Remove block ${i + 1}`;
      remove.hidden = rows.children.length === 1;
    });
  };
  const add = () => {
    const id = `${formId}-b${++counter}`;
    const row = h("div", { class: "form-row block-row" },
      field(id, specOf(energy)), field(id, specOf(price)),
      h("button", { type: "button", class: "secondary remove-block", onclick: () => { row.remove(); renumber(); } }, ""));
    rows.append(row);
    renumber();
    return row;
  };
  addButton.addEventListener("click", () => add().querySelector("input").focus());
  add();
  fieldset.append(addButton);
  return {
    node: fieldset,
    /** The blocks as the API takes them (an empty input is left out: the API names what is missing). */
    blocks() {
      return [...rows.children].map((row) => {
        const block = {};
        for (const input of row.querySelectorAll("input")) {
          const key = input.name.split(".")[2];
          if (input.value.trim() !== "" && !Number.isNaN(input.valueAsNumber)) block[key] = input.valueAsNumber;
        }
        return block;
      });
    },
  };
}

/** "Place an order" panel from the community's order form; `onPlaced(stored)` after an order is stored. */
export function orderPanel(community, { onPlaced }) {
  const base = `/communities/${seg(community.name)}`;
  const panel = new Panel("Place an order");
  panel.section.classList.add("main-task"); // two columns wide on a wide screen
  let idempotencyKey = newIdempotencyKey(); // kept when sending fails, so a retry cannot place the order twice
  let formNode = null;
  let slotSelect = null;

  const build = (desc) => {
    const formId = `of${++counter}`;
    const byPart = (part) => desc.fields.filter((f) => f.part === part);
    const order = byPart("order").filter((f) => f.type !== "key");
    const blockFields = byPart("block");
    const editor = desc.block_bids ? blockEditor(formId, ...["energy_kwh", "price_per_kwh"].map(
      (name) => blockFields.find((f) => f.name === name))) : null;
    const rows = [];
    const sideField = order.find((f) => f.name === "side");
    const slotField = order.find((f) => f.name === "slot_start");
    rows.push([specOf(sideField, { label: "Side" }),
      { ...specOf(slotField, { label: `Slot start (${timeZone()})` }), type: "select", options: [] }]);
    const simple = [...order.filter((f) => f !== sideField && f !== slotField), ...(editor ? [] : blockFields)];
    if (simple.length) rows.push(simple.map((f) => specOf(f)));
    if (editor) rows.push(editor.node);
    const preferences = byPart("preference");
    const prefNodes = preferences.map((f) => {
      const source = f.default_source === "profile" ? "Your setting." : f.default_source === "suggested"
        ? "The service's suggestion; change it under My order settings." : "";
      const node = field(formId, specOf(f, { help: helpOf(f, source) }));
      node.dataset.sides = f.sides.join(" ");
      return node;
    });
    if (prefNodes.length) {
      rows.push(h("fieldset", { class: "preferences" },
        h("legend", {}, "Your preferences for this order"),
        h("p", { class: "help" }, "Prefilled from your order settings; change them here for this order only."),
        h("div", { class: "form-row" }, prefNodes)));
    }
    const advanced = byPart("advanced");
    if (advanced.length) {
      const nodes = advanced.map((f) => {
        const node = field(formId, specOf(f));
        node.dataset.sides = f.sides.join(" ");
        return node;
      });
      rows.push(h("details", { class: "advanced" }, h("summary", {}, "More fields (rarely needed)"),
        h("div", { class: "form-row" }, nodes)));
    }
    const nextButton = h("button", { type: "button", class: "secondary" }, "Next slot");
    const node = form({
      label: "Place an order",
      rows,
      submit: "Place order",
      extra: nextButton,
      onSubmit: async (values) => {
        const side = values.side;
        const body = { side, slot_start: values.slot_start, idempotency_key: idempotencyKey };
        for (const f of desc.fields) {
          if (f.name in body || !f.sides.includes(side) || (editor && f.part === "block")) continue;
          const value = values[f.name];
          if (value !== null && value !== undefined && value !== "") body[f.name] = value;
        }
        if (editor) body.blocks = editor.blocks();
        const stored = await post(`${base}/orders`, body);
        idempotencyKey = newIdempotencyKey(); // the next order is a new one
        await onPlaced?.(stored);
        const blocks = stored.blocks ?? [{ energy_kwh: stored.energy_kwh, price_per_kwh: stored.price_per_kwh }];
        const what = blocks.map((b) => `${num(b.energy_kwh)} kWh${b.price_per_kwh === undefined ? ""
          : ` at ${num(b.price_per_kwh)} per kWh`}`).join(", ");
        return `${stored.status === "duplicate" ? "Already stored" : "Order stored"}: ${stored.side} ${what} for the slot at ${showTime(stored.slot_start)}.`;
      },
    });
    // fields of the other side are hidden (and not sent)
    const showSide = () => {
      const side = node.elements.namedItem("side").value;
      for (const wrapper of node.querySelectorAll("[data-sides]")) {
        wrapper.hidden = !wrapper.dataset.sides.split(" ").includes(side);
      }
    };
    node.elements.namedItem("side").addEventListener("change", showSide);
    showSide();
    slotSelect = node.elements.namedItem("slot_start");
    nextButton.addEventListener("click", async () => {
      fillSlots(slotSelect, await upcomingSlots(desc.slot_minutes));
      slotSelect.value = slotSelect.options[0].value;
    });
    return node;
  };

  // built once from the description (typed values survive a refresh); rebuilt when the defaults change
  let built = null;
  panel.onLoad(async () => {
    if (!built) {
      const desc = await get(`${base}/order-form`);
      const side = formNode?.elements.namedItem("side")?.value;
      formNode = build(desc);
      built = [h("p", { class: "help" }, `One order per slot. ${desc.mechanism}: ${desc.summary}.`), formNode];
      if (side) {
        formNode.elements.namedItem("side").value = side;
        formNode.elements.namedItem("side").dispatchEvent(new Event("change"));
      }
      fillSlots(slotSelect, await upcomingSlots(desc.slot_minutes));
      return built;
    }
    fillSlots(slotSelect, await upcomingSlots(community.slot_minutes));
    return undefined; // the form stays as it is
  });
  panel.rebuild = () => {
    built = null;
    return panel.load();
  };
  return panel;
}

/** "My order settings": the member's order defaults (e.g. distance preference, welfare parameters). */
export function defaultsPanel(community, { onSaved }) {
  const base = `/communities/${seg(community.name)}`;
  const panel = new Panel("My order settings", {
    intro: "Values your orders use when you do not give them, like a thermostat setting: set them once." });
  panel.onLoad(async () => {
    const profile = await get(`${base}/profile`);
    if (!profile.fields.length) return h("p", { class: "empty" }, `Orders in ${profile.mechanism} need no settings.`);
    const save = async (body) => {
      const saved = await put(`${base}/profile`, body);
      await panel.load(); // the form again, with where each value now comes from
      panel.status.textContent = "Settings saved."; // a live region, kept until the next load
      await onSaved?.(saved);
    };
    const reset = h("button", { type: "button", class: "secondary" }, "Use the suggestions");
    const node = form({
      label: "My order settings",
      rows: [profile.fields.map((f) => {
        const whose = f.default_source === "profile" ? "Your setting." : "The service's suggestion.";
        const sides = f.sides.length === 1 ? (f.sides[0] === "sell" ? "When you sell." : "When you buy.") : "";
        return specOf(f, { api: [`order_defaults.${f.name}`], help: helpOf(f, `${sides} ${whose}`.trim()) });
      })],
      submit: "Save settings",
      extra: reset,
      onSubmit: async (values) => {
        const defaults = {};
        for (const f of profile.fields) if (values[f.name] !== null) defaults[f.name] = values[f.name];
        return save({ order_defaults: defaults });
      },
    });
    reset.addEventListener("click", async () => {
      clearErrors(node);
      try {
        await save({ order_defaults: {} });
      } catch (error) {
        showError(node, error);
      }
    });
    return node;
  });
  return panel;
}
