// The dashboard's firmware panel: the rollout `iotchat ota push` started, as `iotchat ota
// status` shows it (every device: running version, target, state, progress or why it failed).
// Read from GET /api/ota every second while a rollout runs, every 3 s otherwise; hidden until
// the server has started one. Uses app.js's requests (and token) through window.iotchat.
"use strict";

(() => {
  const api = window.iotchat;
  const panel = document.getElementById("ota");

  function detail(d) {
    if (d.error) return d.error;
    if (d.state === "downloading" && d.size > 0) return `${Math.floor((d.sent * 100) / d.size)}%`;
    return d.online ? "" : "offline";
  }

  function show(data) {
    const r = data && data.rollout;
    panel.hidden = !r;
    if (!r) return;
    const targets = data.devices.filter((d) => d.target);
    const updated = targets.filter((d) => d.state === "updated").length;
    const summary = `Firmware ${r.version}: ${r.phase}, wave ${r.wave}; ${updated} of ${targets.length} updated` +
      (r.failures ? `, ${r.failures} failed` : "");
    panel.dataset.phase = r.phase;
    const rows = data.devices.map((d) => {
      const row = api.el("tr", { "data-device": d.device, "data-state": d.state },
        api.el("td", {}, d.device), api.el("td", {}, d.version ?? "–"), api.el("td", {}, d.target ?? "–"),
        api.el("td", { class: "state" }, d.state), api.el("td", { class: "detail" }, detail(d)));
      return row;
    });
    const head = api.el("tr", {}, ...["device", "version", "target", "state", ""].map((h) => api.el("th", {}, h)));
    panel.replaceChildren(api.el("h2", {}, summary), api.el("table", {}, api.el("thead", {}, head),
      api.el("tbody", {}, ...rows)));
  }

  async function refresh() {
    let data = null;
    try {
      data = await api.getJson("/api/ota");
    } catch (e) {
      console.warn("ota:", e);
    }
    show(data);
    const running = data && data.rollout && ["running", "stopping"].includes(data.rollout.phase);
    setTimeout(refresh, running ? 1000 : 3000);
  }

  refresh();
})();
