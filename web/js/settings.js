// The settings view: what the appliance runs (version, config file, access), the model, the
// API token kept in this browser, checking or applying a config file, and the running config.

import { api, askToken, getToken, setToken } from "./api.js";
import { store, on, refreshRules } from "./store.js";
import { $, el, fmtDuration, toast } from "./ui.js";

function facts(node, rows) {
  node.replaceChildren(...rows.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
}

export class SettingsView {
  constructor() {
    on("model", () => this.showModel());
    $("#token-set").addEventListener("click", async () => {
      if (await askToken("Enter the appliance's API token.")) toast("Token saved in this browser");
      this.showToken();
    });
    $("#token-forget").addEventListener("click", () => {
      setToken("");
      toast("Token forgotten");
      this.showToken();
    });
    $("#config-check").addEventListener("click", () => this.check());
    $("#config-apply").addEventListener("click", () => this.apply());
    $("#config-text").placeholder = "[model]\npath = \"../models/…\"\n…\n\n[[cameras]]\nname = \"door\"\nurl = \"rtsp://…\"";
  }

  async show() {
    this.showToken();
    this.showModel();
    try {
      const [health, config] = await Promise.all([api("/api/health"), api("/api/config")]);
      facts($("#about"), [
        ["Version", health.version],
        ["Up for", fmtDuration(health.uptime_s * 1000)],
        ["Cameras", `${health.cameras_streaming} of ${health.cameras_total} streaming`],
        ["Config file", health.config_file || "none (changes last until restart)"],
        ["Listening on", config.http.bind],
        ["Token needed for", config.http.require_token_for_reads ? "every API call" : "changes (reads are open on loopback)"],
        ["Events kept in", config.store.path],
      ]);
      $("#config-json").textContent = JSON.stringify(config, null, 2);
    } catch (e) {
      facts($("#about"), [["Error", e.message]]);
    }
  }

  hide() {}

  showToken() {
    $("#token-state").textContent = getToken()
      ? "A token is stored in this browser and sent with every call."
      : "No token is stored in this browser. Changes ask for it.";
  }

  showModel() {
    const m = store.model;
    if (!m) return;
    facts($("#model-facts"), [
      ["File", m.model.path.split("/").pop()],
      ["Family", m.model.family],
      ["Input", `${m.model.input_width} × ${m.model.input_height}`],
      ["Detection workers", `${m.model.workers} × ${m.model.threads} inference thread${m.model.threads === 1 ? "" : "s"}`],
      ["Backend", m.backends.map((b) => `${b.name}${b.active ? " (active)" : ""}`).join(", ")],
      ["Score threshold", m.settings.score_threshold],
      ["Labels", `${m.labels.length}${m.settings.only_labels.length ? ` (only ${m.settings.only_labels.join(", ")})` : ""}`],
      ["sha256", `${m.model.sha256.slice(0, 16)}…`],
    ]);
  }

  result(...nodes) {
    $("#config-result").replaceChildren(...nodes);
  }

  problem(e) {
    return el("div", { class: "problem" },
      el("strong", {}, "This config is refused."),
      el("dl", { class: "facts" },
        el("dt", {}, "Field"), el("dd", {}, el("code", {}, e.field)),
        el("dt", {}, "Problem"), el("dd", {}, e.problem),
        el("dt", {}, "Fix"), el("dd", {}, e.fix || "—")));
  }

  async check() {
    const text = $("#config-text").value;
    if (!text.trim()) return this.result(el("p", { class: "result-bad" }, "Paste a config file first."));
    try {
      const r = await api("/api/config/validate", { method: "POST", text });
      if (!r.valid) return this.result(this.problem(r.error));
      const nodes = [el("p", { class: "result-ok" }, `Valid: ${r.cameras.length} camera(s): ${r.cameras.join(", ") || "none"}.`)];
      if (r.not_applied_at_run_time.length) {
        nodes.push(el("p", { class: "small" }, `Differs from the running config in ${r.not_applied_at_run_time.join(", ")}: those take effect after editing the file and restarting.`));
      }
      for (const w of r.warnings) nodes.push(el("p", { class: "small result-bad" }, `Warning: ${w}`));
      this.result(...nodes);
    } catch (e) {
      this.result(el("p", { class: "result-bad" }, `Cannot check: ${e.message}`));
    }
  }

  async apply() {
    const text = $("#config-text").value;
    if (!text.trim()) return this.result(el("p", { class: "result-bad" }, "Paste a config file first."));
    if (!confirm("Make the running cameras those of this config? Cameras it lacks are removed.")) return;
    let r;
    try {
      r = await api("/api/config/apply", { method: "POST", text });
    } catch (e) {
      if (e.code === "invalid_config") {
        return this.result(this.problem({ field: e.body.error.field, problem: e.message, fix: e.body.error.fix }));
      }
      if (!e.body?.cameras) return this.result(el("p", { class: "result-bad" }, `Not applied: ${e.message}`));
      r = e.body;
    }
    const rows = r.cameras.map((c) => el("li", { class: c.ok ? "" : "result-bad" }, `${c.name}: ${c.action}${c.error ? ` — ${c.error}` : ""}`));
    const nodes = [el("ul", {}, ...rows)];
    if (r.not_applied.length) nodes.push(el("p", { class: "small" }, `Not applied (restart needed): ${r.not_applied.join(", ")}.`));
    this.result(...nodes);
    refreshRules();
  }
}
