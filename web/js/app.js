// The console's entry point: views by URL hash (#/live, #/events, #/rules, #/charts,
// #/settings), the theme toggle, the live-connection indicator, and the shared store.

import { feed } from "./api.js";
import { ChartsView } from "./charts.js";
import { EditorView } from "./editor.js";
import { EventsView } from "./events.js";
import { LiveView } from "./live.js";
import { SettingsView } from "./settings.js";
import { startStore, on } from "./store.js";
import { $ } from "./ui.js";

const THEME_KEY = "edgesight.theme";
const THEMES = ["system", "light", "dark"];

function applyTheme(theme) {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  const label = theme === "system" ? "follows the system" : theme;
  $("#theme-toggle").setAttribute("aria-label", `Theme: ${label} (change)`);
  $("#theme-toggle").title = `Theme: ${label}`;
}

function setupTheme() {
  let theme = localStorage.getItem(THEME_KEY) || "system";
  applyTheme(theme);
  $("#theme-toggle").addEventListener("click", () => {
    theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    localStorage.setItem(THEME_KEY, theme);
    applyTheme(theme);
    window.dispatchEvent(new Event("resize"));
  });
}

function setupConnection() {
  const pill = $("#conn");
  const show = () => {
    const offline = !feed.socket || feed.state !== "live";
    pill.className = `pill ${offline ? "bad" : "ok"}`;
    pill.textContent = feed.state === "live" ? "live" : feed.state === "connecting" ? "connecting…" : "offline";
    pill.title = feed.dropped ? `Live connection; ${feed.dropped} messages missed while this tab was busy` : "Live connection";
  };
  feed.on("state", show);
  feed.on("dropped", show);
  on("online", (online) => { if (!online) { pill.className = "pill bad"; pill.textContent = "unreachable"; } });
  show();
}

const views = {};
let current = null;

function route() {
  const [, name = "live", ...rest] = location.hash.replace(/^#/, "").split("/");
  const key = views[name] ? name : "live";
  if (current && current !== key) {
    views[current].hide();
    $(`#view-${current}`).hidden = true;
  }
  current = key;
  $(`#view-${key}`).hidden = false;
  for (const a of document.querySelectorAll("[data-tab]")) {
    if (a.dataset.tab === key) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `edgesight · ${$(`#view-${key} h1`).textContent}`;
  views[key].show(rest.join("/"));
}

setupTheme();
views.live = new LiveView();
views.events = new EventsView();
views.rules = new EditorView();
views.charts = new ChartsView();
views.settings = new SettingsView();
startStore();
setupConnection();
window.addEventListener("hashchange", () => {
  route();
  // Keyboard and screen-reader users land on the new view, not on the tab they left.
  $("#main").focus({ preventScroll: true });
});
route();
