// Start-up: sign in with an API key, find out the key's role from the API, show that role's view.
//
// The API has no "who am I" endpoint, so the role is inferred from answers that change nothing:
//   GET /communities             401: unknown key; [] : an admin (every member belongs to a community)
//   GET /communities/{c}/orders  200: prosumer or aggregator; 403: dso; 422 (slot_start required): admin or validator
//   POST /admin/communities {}   422 (name required): admin; 403: validator (the role check runs before the body's)

import { ApiError, apiKey, clearApiKey, get, post, seg, setApiKey } from "./api.js";
import { announce, replace } from "./dom.js";
import { clearErrors, showError } from "./forms.js";
import { adminView } from "./views/admin.js";
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

async function status(call) {
  try {
    await call();
    return 200;
  } catch (error) {
    if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 401) return error.status;
    throw error;
  }
}

/** {role: "admin"|"trader"|"dso"|"validator", communities, community}. */
export async function detectSession() {
  const communities = await get("/communities");
  if (!communities.length) return { role: "admin", communities, community: null };
  const community = communities[0];
  const orders = await status(() => get(`/communities/${seg(community.name)}/orders`));
  if (orders === 200) return { role: "trader", communities, community };
  if (orders === 403) return { role: "dso", communities, community };
  const admin = await status(() => post("/admin/communities", {}));
  return { role: admin === 403 ? "validator" : "admin", communities, community };
}

function describe(session) {
  const place = session.community ? ` · community ${session.community.name}` : "";
  if (session.role === "admin") return "Administrator";
  if (session.role === "trader") return `Prosumer${place}`;
  return `${session.role === "dso" ? "DSO" : "Validator"}${place}`;
}

function stopClock() {
  if (clockTimer !== null) clearInterval(clockTimer);
  clockTimer = null;
}

function showLogin(error) {
  stopClock();
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
  const onMember = (id) => { who.textContent = `${describe(session)} · member ${id}`; };
  current = session.role === "admin" ? adminView(session)
    : session.role === "trader" ? traderView(session, { onMember }) : observerView(session);
  replace(viewRoot, current.node);
  document.getElementById("main").focus();
  announce(`Signed in: ${describe(session)}.`);
  if (current.init) await current.init().catch(() => {});
  await current.load();
  document.body.dataset.ready = "true";
  stopClock();
  clockTimer = setInterval(() => {
    if (!document.hidden) current?.clock?.load();
  }, CLOCK_REFRESH_MS);
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
