// The administrator's page, organised by task for the community picked in the toolbar: Communities (list,
// create), Members (add one: the new API key is shown once; every member with role, bus and chain addresses),
// Ledger (the explorer and "verify this slot", the market fund), Validators (their health), Slots (the current
// slot, clearing a slot by hand, the full results) and the desk (income, listing reviews, contracts). Times are
// shown in the picked community's time zone (settable here) and its events keep the ledger and slots live.

import { ApiError, get, post, put, seg } from "../api.js";
import { announce, h, num, replace, table } from "../dom.js";
import { control, fillOptions, form } from "../forms.js";
import { Panel } from "../panel.js";
import { hideEmptyTabs, tabs } from "../tabs.js";
import { addSlots, isoSlot, showTime, slotContaining } from "../time.js";
import { clockPanel, coalesced, communityOptions, marketNow, reloadOnEvents } from "./common.js";
import { contractsPanel, reviewPanel } from "./desk.js";
import { explorerPanel, fundPanel, hex, incomePanel, validatorsPanel } from "./ledger.js";
import { resultsPanel } from "./observer.js";

const CLEARABLE_SLOTS = 24;

// the mechanisms of this version (`transactive mechanisms`); the API checks the name and says which it knows
const MECHANISMS = ["uniform", "pay_as_bid", "mcafee", "dpda", "mcafee_matched", "dpda_matched", "double_auction_vcg",
  "knapsack_vcg", "dra_fixed_price", "p2p_average_price"];
const ROLES = ["prosumer", "aggregator", "dso", "validator"];

/** The IANA time zones this browser knows (the API checks the name against its own list), UTC first. */
function zoneNames() {
  const names = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return ["UTC", ...names.filter((name) => name !== "UTC")];
}

export function adminView(session) {
  let communities = session.communities;
  let selected = communities[0]?.name ?? null;
  const getCommunity = () => communities.find((c) => c.name === selected) ?? null;

  const picker = h("select", { id: "admin-community" });
  const toolbar = h("div", { class: "view-toolbar" },
    h("div", { class: "field" }, h("label", { for: "admin-community" }, "Community shown below"), picker));
  const communitySelects = [picker];
  const fillSelects = () => {
    for (const select of communitySelects) {
      const keep = select === picker ? selected : select.value || selected;
      replace(select, communities.length ? communityOptions(communities).map(([value, label]) =>
        h("option", { value, selected: value === keep }, label)) : h("option", { value: "" }, "no community yet"));
    }
  };

  const listPanel = new Panel("Communities", { wide: true });
  listPanel.onLoad(async () => {
    communities = await get("/communities");
    if (!getCommunity()) selected = communities[0]?.name ?? null;
    fillSelects();
    return table("All communities", [
      { label: "Name", value: (c) => c.name },
      { label: "Mechanism", value: (c) => c.mechanism },
      { label: "Slot (min)", num: true, value: (c) => num(c.slot_minutes, 0) },
      { label: "Time zone", value: (c) => c.time_zone ?? "UTC" },
      { label: "Parameters", value: (c) => (Object.keys(c.params).length ? JSON.stringify(c.params) : "defaults") },
      { label: "Created", value: (c) => showTime(c.created_at).slice(0, 10) },
    ], communities, "No community yet: create one.");
  });

  const createPanel = new Panel("Create a community");
  createPanel.fixed.append(h("datalist", { id: "mechanism-names" }, MECHANISMS.map((m) => h("option", { value: m }))));
  createPanel.fixed.append(form({
    label: "Create a community",
    rows: [
      [{ name: "name", label: "Name", help: "letters, digits, _ . -" },
        { name: "mechanism", label: "Mechanism", value: "uniform", attrs: { list: "mechanism-names" } },
        { name: "slot_minutes", label: "Slot (minutes)", type: "number", value: "15", help: "divides a day" }],
      { name: "params", label: "Parameters (JSON, optional)", type: "textarea", help: "the mechanism's market-file parameters, e.g. {\"exact_oversupply\": true}" },
    ],
    submit: "Create community",
    onSubmit: async (values, formNode) => {
      const body = { name: values.name, mechanism: values.mechanism };
      if (values.slot_minutes !== null) body.slot_minutes = values.slot_minutes;
      if (values.params) {
        try {
          body.params = JSON.parse(values.params);
        } catch (error) {
          throw new ApiError(0, "params", `not valid JSON: ${error.message}`);
        }
      }
      const created = await post("/admin/communities", body);
      selected = created.name;
      await listPanel.load();
      control(formNode, "name").value = "";
      loadCommunityPanels();
      return `Community ${created.name} created (${created.mechanism}, ${created.slot_minutes}-minute slots).`;
    },
  }));

  const memberPanel = new Panel("Add a member");
  const memberCommunity = { name: "community", label: "Community", type: "select", options: [] };
  const keyArea = h("div", { "aria-live": "polite" });
  const memberForm = form({
    label: "Add a member",
    rows: [
      [memberCommunity,
        { name: "id", label: "Member id", help: "1-64 characters, e.g. house-17" },
        { name: "role", label: "Role", type: "select", value: "prosumer", options: ROLES.map((r) => [r, r]) },
        { name: "bus", label: "Feeder bus (optional)" }],
    ],
    submit: "Add member",
    onSubmit: async (values, formNode) => {
      const body = { id: values.id, role: values.role };
      if (values.bus) body.bus = /^\d+$/.test(values.bus) ? Number(values.bus) : values.bus;
      const member = await post(`/admin/communities/${seg(values.community)}/members`, body);
      const output = h("output", { class: "api-key mono", "aria-label": `API key of ${member.id}` }, member.api_key);
      const copy = h("button", { type: "button", class: "secondary" }, "Copy key");
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(member.api_key);
          announce("Key copied.");
        } catch {
          getSelection().selectAllChildren(output); // no clipboard access (plain http): select it for Ctrl+C
          announce("Key selected: press Ctrl+C to copy it.");
        }
      });
      replace(keyArea, h("div", { class: "key-box", dataset: { member: member.id } },
        h("p", {}, `API key of ${member.id} (${member.role} in ${member.community}). It is shown only now: hand it to the member.`),
        output, copy));
      control(formNode, "id").value = "";
      membersPanel.load();
      return `Member ${member.id} added to ${member.community} as ${member.role}.`;
    },
  });
  memberPanel.fixed.append(memberForm, keyArea);
  communitySelects.push(control(memberForm, "community"));

  const clearPanel = new Panel("Clear a slot", { intro: "The service clears every slot when its orders close; this clears "
    + "one now (once its orders have closed), e.g. after the service was stopped." });
  const clearForm = form({
    label: "Clear a slot",
    rows: [[{ name: "community", label: "Community", type: "select", options: [] },
      { name: "slot_start", label: "Slot", type: "select", options: [], help: "the latest slots, newest first" }]],
    submit: "Clear slot",
    onSubmit: async (values) => {
      const slot = await post(`/admin/communities/${seg(values.community)}/slots/${seg(values.slot_start)}/clear`);
      results.load();
      return `Slot ${showTime(slot.slot_start)} of ${slot.community}: ${slot.state}${slot.note ? ` (${slot.note})` : ""}.`;
    },
  });
  clearPanel.fixed.append(clearForm);
  communitySelects.push(control(clearForm, "community"));
  const fillClearable = async () => {
    const community = communities.find((c) => c.name === control(clearForm, "community").value) ?? getCommunity();
    if (!community) return;
    const current = slotContaining(await marketNow(), community.slot_minutes);
    fillOptions(control(clearForm, "slot_start"), Array.from({ length: CLEARABLE_SLOTS }, (_, i) => {
      const start = addSlots(current, -i, community.slot_minutes);
      return [isoSlot(start), `${showTime(start)}${i === 0 ? " (now)" : ""}`];
    }));
  };
  control(clearForm, "community").addEventListener("change", fillClearable);

  const membersPanel = new Panel("Members", { wide: true,
    intro: "Everyone in the community shown in the toolbar: their role, where they are on the feeder (bus) and their "
      + "accounts on the chain (kept by the service; and the address they sign contracts with, if registered)." });
  membersPanel.onLoad(async () => {
    const community = getCommunity();
    if (!community) return h("p", { class: "empty" }, "No community yet.");
    const members = await get(`/admin/communities/${seg(community.name)}/members`);
    return table(`Members of ${community.name}`, [
      { label: "Member", value: (m) => m.id },
      { label: "Role", value: (m) => m.role },
      { label: "Bus", value: (m) => m.bus ?? "–" },
      { label: "Chain account", value: (m) => hex(m.chain_address) },
      { label: "Signing address", value: (m) => hex(m.registered_address) },
    ], members, "No members yet: add one.");
  });

  const zonePanel = new Panel("Time zone", { intro: "Every page of the community shows times in this zone (slots "
    + "stay aligned in UTC, and the API speaks UTC)." });
  const zoneForm = form({
    label: "Time zone of the community",
    rows: [{ name: "time_zone", label: "Time zone", type: "select", options: zoneNames().map((z) => [z, z]),
      help: "an IANA name, e.g. Europe/Berlin" }],
    submit: "Save time zone",
    onSubmit: async (values) => {
      const community = getCommunity();
      if (!community) throw new ApiError(0, null, "create a community first");
      const saved = await put(`/admin/communities/${seg(community.name)}/settings`, { time_zone: values.time_zone });
      await listPanel.load(); // the community's time_zone as GET /communities now gives it
      follow();
      await loadCommunityPanels();
      return `Times of ${saved.community} are now shown in ${saved.time_zone}.`;
    },
  });
  zonePanel.fixed.append(zoneForm);
  const showZone = () => {
    const select = control(zoneForm, "time_zone");
    const zone = getCommunity()?.time_zone ?? "UTC";
    if (![...select.options].some((o) => o.value === zone)) select.append(h("option", { value: zone }, zone));
    select.value = zone;
  };
  // the page shows the picked community's times in its zone and hears its events (main.js)
  const follow = () => {
    session.follow?.(getCommunity());
    showZone();
  };

  const clock = clockPanel(getCommunity);
  const results = resultsPanel(getCommunity, "Slot results (full view)");
  const income = incomePanel(getCommunity);
  const review = reviewPanel(getCommunity);
  const contracts = contractsPanel(getCommunity, session.me, { canSign: false });
  const explorer = explorerPanel(getCommunity, { canName: true, title: "The ledger" });
  const fund = fundPanel(getCommunity);
  const validators = validatorsPanel(getCommunity);
  const communityPanels = [membersPanel, clock, results, income, review, contracts, explorer, fund, validators];
  const loadCommunityPanels = () => Promise.all([fillClearable(), ...communityPanels.map((p) => p.load())]);
  const onSlot = coalesced(() => Promise.all([results.load(), fillClearable()]));
  const onLedger = coalesced(() => Promise.all([explorer.load(), fund.load(), income.load()]));
  const onCommunityEvent = reloadOnEvents({ reload: loadCommunityPanels, onSlot, onLedger });
  picker.addEventListener("change", () => {
    selected = picker.value;
    follow();
    loadCommunityPanels();
  });
  fillSelects();

  return {
    node: h("div", { dataset: { view: "admin" } }, toolbar, tabs([
      { id: "communities", label: "Communities", sections: [listPanel.section, zonePanel.section, createPanel.section] },
      { id: "members", label: "Members", sections: [memberPanel.section, membersPanel.section] },
      { id: "ledger", label: "Ledger", sections: [explorer.section, fund.section] },
      { id: "validators", label: "Validators", sections: [validators.section] },
      { id: "slots", label: "Slots", sections: [clock.section, clearPanel.section, results.section] },
      { id: "desk", label: "Income and reviews", sections: [income.section, review.section, contracts.section] },
    ], { label: "Administrator tasks" })),
    clock,
    community: getCommunity,
    async load() {
      await listPanel.load();
      follow();
      await loadCommunityPanels();
      hideEmptyTabs(this.node);
    },
    /** A live event of the picked community (main.js): reload what it changes. */
    async onEvent(name, data) {
      if (data?.community !== undefined && data.community !== selected) return; // a stream being replaced
      await onCommunityEvent(name, data);
    },
  };
}
