// The console's entry point: the key (typed once, kept in sessionStorage), the one message area,
// and the views, chosen by the address's #fragment so a reload shows the same place.

import { api, el, getKey, setKey } from "./api.js";
import { BackupsView } from "./backups.js";
import { ReportsView } from "./reports.js";
import { UploadView } from "./upload.js";
import { UploadsView } from "./uploads.js";

const VIEWS = ["upload", "uploads", "reports", "backups"];
const alertBox = document.getElementById("alert");
const alertText = document.getElementById("alert-text");
// The messages stay until dismissed, each once, the newest last: five files failing in one batch
// show five messages. The box takes the gravest level among them.
const LEVELS = ["info", "warning", "error"];
const KEPT_MESSAGES = 8;
const views = {};

export function notify(message, level = "error") {
  const text = String(message);
  if (alertBox.hidden) alertText.replaceChildren();
  if (![...alertText.children].some((p) => p.textContent === text)) {
    alertText.append(el("p", text, { "data-level": level }));
  }
  while (alertText.children.length > KEPT_MESSAGES) alertText.firstElementChild.remove();
  const levels = [...alertText.children].map((p) => LEVELS.indexOf(p.dataset.level));
  alertBox.dataset.level = LEVELS[Math.max(...levels)] || "error";
  alertBox.hidden = false;
  if (/refused the key/.test(text)) {
    setKey(""); // a refused key is of no use: ask for the right one
    showKeyState();
    // Nothing read with the old key stays on screen once it is refused.
    for (const view of Object.values(views)) view.clear?.();
    askForKey();
  }
}

function clearAlert() {
  alertBox.hidden = true;
  alertText.replaceChildren();
}

function askForKey() {
  document.getElementById("key-panel").hidden = false;
  const input = document.getElementById("key-input");
  input.value = "";
  input.focus();
}

const main = document.querySelector("main");
Object.assign(views, {
  upload: new UploadView(document.getElementById("view-upload"), notify),
  uploads: new UploadsView(document.getElementById("view-uploads"), notify),
  reports: new ReportsView(document.getElementById("view-reports"), notify),
  backups: new BackupsView(document.getElementById("view-backups"), notify),
});

function route() {
  const [name, ...rest] = location.hash.replace(/^#/, "").split("/");
  const view = VIEWS.includes(name) ? name : "upload";
  for (const v of VIEWS) document.getElementById(`view-${v}`).hidden = v !== view;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!getKey()) return;
  if (view === "uploads") views.uploads.show(rest.length ? decodeURIComponent(rest.join("/")) : null);
  if (view === "reports") views.reports.show();
  if (view === "backups") views.backups.show();
}

function showKeyState() {
  document.getElementById("key-label").textContent = getKey() ? "key set for this tab" : "no key";
}

document.getElementById("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("key-input");
  setKey(input.value.trim());
  input.value = "";
  showKeyState();
  try {
    await api.uploads(); // checks the key at once rather than at the first real action
  } catch (exc) {
    notify(exc.message);
    return;
  }
  clearAlert();
  document.getElementById("key-panel").hidden = true;
  route();
});

document.getElementById("key-change").addEventListener("click", askForKey);
document.getElementById("alert-close").addEventListener("click", clearAlert);
window.addEventListener("hashchange", route);

showKeyState();
main.dataset.ready = "true";
if (!getKey()) askForKey();
route();
