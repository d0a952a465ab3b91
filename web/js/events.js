// The events view: a timeline of events, newest first, grouped by day, with snapshot
// thumbnails, filters (camera, label, zone, time, status) and "load older" pagination through
// the API's cursor. Changes of listed events arrive from the feed and update them in place; new
// events that match the filters are announced by a banner rather than shifting the list.

import { api, mediaUrl } from "./api.js";
import { on } from "./store.js";
import { $, el, fillSelect, fmtDay, fmtDuration, fmtTime, toast } from "./ui.js";

const PAGE = 30;

function describeLines(event) {
  return (event.lines || []).map((c) => `${c.line} (${c.direction === "left_to_right" ? "left→right" : "right→left"})`);
}

export class EventsView {
  constructor() {
    this.form = $("#event-filters");
    this.list = $("#event-list");
    this.items = new Map();
    this.cursor = null;
    this.fresh = 0;
    this.lastDay = null;
    this.loaded = false;
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.reload(); });
    this.form.addEventListener("reset", () => setTimeout(() => this.reload(), 0));
    $("#events-more").addEventListener("click", () => this.load());
    $("#events-new").addEventListener("click", () => this.reload());
    on("cameras", (cameras) => fillSelect(this.form.camera, cameras.map((c) => c.name), { first: ["", "All cameras"] }));
    on("model", (model) => fillSelect(this.form.label, model.labels, { first: ["", "All labels"] }));
    on("event", (change) => this.onChange(change));
    this.setupDialog();
  }

  show() {
    if (!this.loaded) this.reload();
  }

  hide() {}

  filters() {
    const f = new FormData(this.form);
    const q = new URLSearchParams();
    for (const key of ["camera", "label", "zone", "ended"]) {
      const v = String(f.get(key) || "").trim();
      if (v) q.set(key, v);
    }
    const from = f.get("from"), to = f.get("to");
    if (from) q.set("from_ms", String(new Date(from).getTime()));
    if (to) q.set("to_ms", String(new Date(to).getTime()));
    return q;
  }

  /** Whether a new (so in-progress) event belongs in the list as filtered. */
  matches(event) {
    const q = this.filters();
    return (!q.get("camera") || q.get("camera") === event.camera)
      && (!q.get("label") || q.get("label") === event.label)
      && (!q.get("zone") || (event.entered_zones || []).includes(q.get("zone")))
      && (!q.get("to_ms") || event.first_seen_ms < Number(q.get("to_ms")))
      && q.get("ended") !== "true";
  }

  async reload() {
    this.cursor = null;
    this.fresh = 0;
    this.lastDay = null;
    this.items.clear();
    this.list.replaceChildren();
    $("#events-new").hidden = true;
    await this.load();
  }

  async load() {
    const q = this.filters();
    q.set("limit", String(PAGE));
    if (this.cursor) q.set("cursor", this.cursor);
    const more = $("#events-more");
    more.disabled = true;
    try {
      const page = await api(`/api/events?${q}`);
      this.loaded = true;
      for (const event of page.events) this.append(event);
      this.cursor = page.next_cursor;
      more.hidden = !this.cursor;
      $("#events-empty").hidden = this.items.size > 0;
      $("#events-summary").textContent = `${this.items.size} event${this.items.size === 1 ? "" : "s"} shown${this.cursor ? ", more below" : ""}`;
    } catch (e) {
      $("#events-summary").textContent = `Cannot load events: ${e.message}`;
    } finally {
      more.disabled = false;
    }
  }

  append(event) {
    const day = fmtDay(event.first_seen_ms);
    if (day !== this.lastDay) {
      this.list.append(el("li", { class: "day", "aria-hidden": "true" }, day));
      this.lastDay = day;
    }
    const item = this.render(event);
    this.items.set(event.id, { event, node: item });
    this.list.append(item);
  }

  /** The thumbnail: the object's crop, opening the full snapshot. A snapshot still being
   * written (a live event) is tried again a few times. */
  thumb(event) {
    const what = `${event.label} on ${event.camera} at ${fmtTime(event.first_seen_ms)}`;
    const src = mediaUrl(`/api/events/${encodeURIComponent(event.id)}/crop.jpg`);
    const img = el("img", { class: "snapshot", src: `${src}${src.includes("?") ? "&" : "?"}v=${event.best_score}`, alt: "", loading: "lazy" });
    let tries = 0;
    img.addEventListener("error", () => {
      if (++tries > 4) { img.hidden = true; return; }
      setTimeout(() => { img.src = `${src}${src.includes("?") ? "&" : "?"}v=${event.best_score}-${tries}`; }, 1500 * tries);
    });
    return el("button", { class: "thumb", type: "button", "aria-label": `Open the snapshot of ${what}`, onclick: () => this.open(event.id) }, img);
  }

  render(event, thumb = null) {
    thumb = thumb || (event.has_snapshot || !event.ended ? this.thumb(event) : el("div", { class: "thumb", "aria-hidden": "true" }));
    const tags = [el("span", { class: "tag" }, event.camera)];
    if (!event.ended) tags.push(el("span", { class: "tag live" }, "in progress"));
    for (const z of event.entered_zones || []) tags.push(el("span", { class: "tag zone" }, `zone ${z}`));
    for (const l of describeLines(event)) tags.push(el("span", { class: "tag line" }, `crossed ${l}`));
    const seen = event.last_seen_ms - event.first_seen_ms;
    const meta = [`best score ${event.best_score.toFixed(2)}`, `seen for ${fmtDuration(seen)}`, `track #${event.track_id}`];
    if ((event.loitering || []).length) meta.push(`loitered ${event.loitering.map((l) => `${l.zone} ${Math.round(l.seconds)} s`).join(", ")}`);
    return el("li", { class: "event", "data-id": event.id },
      thumb,
      el("div", {}, el("h3", {}, event.label, ...tags), el("div", { class: "meta" }, meta.join(" · "))),
      el("div", { class: "when" }, el("time", { datetime: new Date(event.first_seen_ms).toISOString() }, fmtTime(event.first_seen_ms))));
  }

  onChange(change) {
    const known = this.items.get(change.event.id);
    if (known) {
      // The stored event knows about its snapshot; the live change does not.
      const event = { ...change.event, has_snapshot: known.event.has_snapshot || change.best_improved };
      const keep = change.best_improved ? null : known.node.querySelector(".thumb");
      const node = this.render(event, keep);
      known.node.replaceWith(node);
      this.items.set(event.id, { event, node });
    } else if (change.kind === "new" && this.loaded && this.matches(change.event)) {
      this.fresh += 1;
      const banner = $("#events-new");
      banner.textContent = `${this.fresh} new event${this.fresh === 1 ? "" : "s"} — show`;
      banner.hidden = false;
    }
  }

  setupDialog() {
    const dialog = $("#snapshot-dialog");
    $("#snapshot-close").addEventListener("click", () => dialog.close());
    $("#snapshot-delete").addEventListener("click", async () => {
      const id = dialog.dataset.id;
      if (!id || !confirm("Delete this event and its snapshots?")) return;
      try {
        await api(`/api/events/${encodeURIComponent(id)}`, { method: "DELETE" });
        dialog.close();
        const known = this.items.get(id);
        known?.node.remove();
        this.items.delete(id);
        toast("Event deleted");
      } catch (e) {
        toast(`Not deleted: ${e.message}`, "bad");
      }
    });
  }

  open(id) {
    const entry = this.items.get(id);
    if (!entry) return;
    const { event } = entry;
    const dialog = $("#snapshot-dialog");
    dialog.dataset.id = id;
    $("#snapshot-title").textContent = `${event.label} on ${event.camera}`;
    const img = $("#snapshot-full");
    img.src = mediaUrl(`/api/events/${encodeURIComponent(id)}/snapshot.jpg`);
    img.alt = `Snapshot of ${event.label} on ${event.camera}, best score ${event.best_score.toFixed(2)}`;
    const facts = [
      ["First seen", `${fmtDay(event.first_seen_ms)} ${fmtTime(event.first_seen_ms)}`],
      ["Last seen", fmtTime(event.last_seen_ms)],
      ["Best score", event.best_score.toFixed(2)],
      ["Zones entered", (event.entered_zones || []).join(", ") || "—"],
      ["Lines crossed", describeLines(event).join(", ") || "—"],
      ["Status", event.ended ? "ended" : "in progress"],
      ["Id", event.id],
    ];
    $("#snapshot-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    dialog.showModal();
  }
}
