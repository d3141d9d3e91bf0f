// Accessible forms whose errors come from the API: each field has a label, an optional help line and an error
// line tied to the input by aria-describedby. An ApiError naming a field ({"error": {"field": "energy_kwh"}})
// is shown next to that field (aria-invalid, focus moves there); any other error above the submit button.

import { ApiError } from "./api.js";
import { h } from "./dom.js";

let formCounter = 0;

/**
 * A field spec: {name, label, type?: "text"|"number"|"select"|"textarea"|"password", value?, help?,
 * options?: [[value, label]], api?: other names the API may use for this field (e.g. "blocks[0].energy_kwh"),
 * attrs?: extra input attributes}.
 */
export function field(formId, spec) {
  const id = `${formId}-${spec.name}`;
  const describedBy = [spec.help ? `${id}-help` : null, `${id}-error`].filter(Boolean).join(" ");
  const common = { id, name: spec.name, "aria-describedby": describedBy, dataset: { field: [spec.name, ...(spec.api ?? [])].join(" ") },
    ...(spec.attrs ?? {}) };
  let control;
  if (spec.type === "select") {
    control = h("select", common, (spec.options ?? []).map(([value, label]) =>
      h("option", { value, selected: value === spec.value }, label)));
  } else if (spec.type === "textarea") {
    control = h("textarea", { ...common, rows: 3 });
    control.value = spec.value ?? "";
  } else {
    const number = spec.type === "number";
    control = h("input", { ...common, type: number ? "number" : spec.type ?? "text", step: number ? "any" : null,
      inputmode: number ? "decimal" : null, autocomplete: "off", spellcheck: number ? null : "false" });
    control.value = spec.value ?? "";
  }
  return h("div", { class: "field" },
    h("label", { for: id }, spec.label),
    control,
    spec.help ? h("p", { id: `${id}-help`, class: "help" }, spec.help) : null,
    h("p", { id: `${id}-error`, class: "field-error" }));
}

/**
 * A form: {title?, rows: [[spec, spec], spec, ...] (an array is one row), submit: label, onSubmit(values, form)}.
 * onSubmit may throw an ApiError; its message lands next to the field it names. Returns the <form>.
 */
export function form({ label, rows, submit, onSubmit, extra }) {
  const formId = `f${++formCounter}`;
  const node = h("form", { novalidate: true, "aria-label": label, id: formId });
  for (const row of rows) {
    if (Array.isArray(row)) node.append(h("div", { class: "form-row" }, row.map((spec) => field(formId, spec))));
    else if (row instanceof Node) node.append(row);
    else node.append(field(formId, row));
  }
  const button = h("button", { type: "submit" }, submit);
  const formError = h("p", { class: "form-error", role: "alert" });
  const ok = h("p", { class: "form-ok", role: "status" });
  node.append(formError, h("div", { class: "inline" }, button, extra ?? null), ok);
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(node);
    ok.textContent = "";
    button.disabled = true;
    try {
      const message = await onSubmit(values(node), node);
      if (message) ok.textContent = message; // a live region (role=status): read out once
    } catch (error) {
      showError(node, error);
    } finally {
      button.disabled = false;
    }
  });
  return node;
}

/** Replace a select's options ([value, label] pairs), keeping the chosen value when it is still offered. */
export function fillOptions(select, options) {
  const keep = select.value;
  select.replaceChildren(...options.map(([value, label]) => h("option", { value }, label)));
  select.value = options.some(([value]) => value === keep) ? keep : options[0]?.[0] ?? "";
}

export function control(formNode, name) {
  return formNode.elements.namedItem(name);
}

/** The form's values: strings, and numbers for number inputs (null when empty or not a number). */
export function values(formNode) {
  const out = {};
  for (const element of formNode.elements) {
    if (!element.name) continue;
    if (element.type === "number") {
      out[element.name] = element.value.trim() === "" || Number.isNaN(element.valueAsNumber) ? null : element.valueAsNumber;
    } else {
      out[element.name] = element.value.trim();
    }
  }
  return out;
}

export function clearErrors(formNode) {
  for (const element of formNode.querySelectorAll("[aria-invalid]")) element.removeAttribute("aria-invalid");
  for (const line of formNode.querySelectorAll(".field-error, .form-error")) line.textContent = "";
}

function controlFor(formNode, apiField) {
  if (!apiField) return null;
  // "history_kwh[3]" (an item of a list the field holds) lands beside the field "history_kwh"
  for (const name of [apiField, apiField.replace(/(\[\d+\])+$/, "")]) {
    for (const element of formNode.querySelectorAll("[data-field]")) {
      if (element.dataset.field.split(" ").includes(name)) return element;
    }
  }
  return null;
}

/** Show an error next to the field it names (or above the submit button) and move focus there. */
export function showError(formNode, error) {
  const apiError = error instanceof ApiError ? error : new ApiError(0, null, error?.message ?? String(error));
  const target = controlFor(formNode, apiError.field);
  const exact = target && target.dataset.field.split(" ").includes(apiError.field);
  const text = exact || !apiError.field || apiError.field.startsWith("(") ? apiError.message
    : `${apiError.field}: ${apiError.message}`;
  if (target) {
    target.setAttribute("aria-invalid", "true");
    const line = formNode.querySelector(`#${CSS.escape(target.id)}-error`);
    if (line) line.textContent = text;
    target.focus(); // a screen reader reads the label, the value and the error (aria-describedby)
  } else {
    formNode.querySelector(".form-error").textContent = text;
  }
}
