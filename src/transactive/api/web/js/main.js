// Start-up: sign in with an API key, ask the API whose key it is (GET /me: member id, role, community, bus,
// chain addresses), show that role's view in the community's time zone, and keep it live: the community's
// server-sent events (js/live.js) reload the clock and tell the view; polling every 5 s only while the
// stream is not connected. The administrator (no community of its own) follows the community its page shows:
// its time zone and its events (session.follow).

import { ApiError, apiKey, clearApiKey, get, setApiKey } from "./api.js";
import { announce, replace } from "./dom.js";
import { clearErrors, showError } from "./forms.js";
import { watchCommunity } from "./live.js";
import { setTimeZone } from "./time.js";
import { adminView } from "./views/admin.js";
import { aggregatorView } from "./views/aggregator.js";
import { dsoView } from "./views/dso.js";
import { observerView } from "./views/observer.js";
import { traderView } from "./views/trader.js";

const CLOCK_REFRESH_MS = 5000;

const loginSection = document.getElementById("login");
const loginForm = document.getElementById("login-form");
const viewRoot = document.getElementById("view");
const who = document.getElementById("who");
const refreshButton = document.getElementById("refresh");
const logoutButton = document.getElementById("logout");
let current = null;
let clockTimer = null;
let live = null;

const VIEW_OF_ROLE = { admin: "admin", prosumer: "trader", aggregator: "aggregator", dso: "dso", validator: "validator" };
const VIEWS = { admin: adminView, trader: traderView, aggregator: aggregatorView, dso: dsoView, validator: observerView };

/** {role: "admin"|"trader"|"aggregator"|"dso"|"validator", me, communities, community} from GET /me and GET /communities. */
export async function detectSession() {
  const me = await get("/me"); // 401: unknown key (shown at the key field)
  const communities = await get("/communities");
  const community = me.community === null ? null : communities.find((c) => c.name === me.community) ?? null;
  return { role: VIEW_OF_ROLE[me.role] ?? "validator", me, communities, community };
}

function describe(session) {
  const { me } = session;
  if (session.role === "admin") return `Administrator · ${me.id}`;
  const role = { prosumer: "Prosumer", aggregator: "Aggregator", dso: "DSO", validator: "Validator" }[me.role] ?? me.role;
  return `${role} · member ${me.id} · community ${me.community}${me.bus ? ` · bus ${me.bus}` : ""}`;
}

function stopClock() {
  if (clockTimer !== null) clearInterval(clockTimer);
  clockTimer = null;
}

function startClock() {
  stopClock();
  clockTimer = setInterval(() => {
    if (!document.hidden) current?.clock?.load();
  }, CLOCK_REFRESH_MS);
}

function stopLive() {
  live?.stop();
  live = null;
  document.body.dataset.live = "";
}

/** The community's live updates: the clock reloads on each phase and slot event; the view hears them all. */
function startLive(community) {
  stopLive();
  live = watchCommunity(community, {
    onEvent: (name, data) => {
      if (["hello", "phase", "slot", "resync"].includes(name)) current?.clock?.load();
      current?.onEvent?.(name, data);
    },
    onState: (state) => {
      document.body.dataset.live = state;
      if (state === "live") stopClock(); // no polling while the stream is connected
      else startClock();
    },
  });
  live.community = community;
}

function showLogin(error) {
  stopClock();
  stopLive();
  current = null;
  replace(viewRoot);
  who.hidden = true;
  refreshButton.hidden = true;
  logoutButton.hidden = true;
  loginSection.hidden = false;
  document.body.dataset.role = "";
  clearErrors(loginForm);
  if (error) showError(loginForm, error);
  else loginForm.elements.namedItem("api_key").focus();
}

async function showView() {
  const session = await detectSession();
  loginSection.hidden = true;
  who.hidden = false;
  who.textContent = describe(session);
  refreshButton.hidden = false;
  logoutButton.hidden = false;
  document.body.dataset.role = session.role;
  setTimeZone(session.community?.time_zone ?? "UTC");
  // the admin's page calls this when it shows another community (or that community's time zone changed)
  session.follow = (community) => {
    setTimeZone(community?.time_zone ?? "UTC");
    if (community && live?.community !== community.name) startLive(community.name);
  };
  current = VIEWS[session.role](session);
  replace(viewRoot, current.node);
  document.getElementById("main").focus();
  announce(`Signed in: ${describe(session)}.`);
  if (current.init) await current.init().catch(() => {});
  await current.load();
  document.body.dataset.ready = "true";
  startClock();
  const followed = session.community ?? current.community?.() ?? null;
  if (followed) session.follow(followed);
}

loginForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(loginForm);
  const key = loginForm.elements.namedItem("api_key").value.trim();
  if (!key) {
    showError(loginForm, new ApiError(0, "Authorization", "enter your API key"));
    return;
  }
  setApiKey(key);
  try {
    await showView();
    loginForm.reset();
  } catch (error) {
    clearApiKey();
    showLogin(error);
  }
});

logoutButton.addEventListener("click", () => {
  clearApiKey();
  document.body.dataset.ready = "";
  showLogin();
  announce("Signed out.");
});

refreshButton.addEventListener("click", async () => {
  if (!current) return;
  refreshButton.disabled = true;
  try {
    await current.load();
    announce("Refreshed.");
  } finally {
    refreshButton.disabled = false;
  }
});

if (apiKey()) {
  showView().catch((error) => {
    clearApiKey();
    showLogin(error);
  });
} else {
  showLogin();
}
