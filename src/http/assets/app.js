// The iotchat dashboard: devices and their readings, live. Plain JavaScript, no build step.
//
// Data: GET /api/devices and /api/readings for what is stored, then /api/stream (Server-Sent
// Events) for what comes next. The stream is read with fetch(), not EventSource, because
// EventSource cannot send the `Authorization: Bearer` header a non-loopback server asks for.
// The token is asked once, kept in sessionStorage, and asked again on a 401.
//
// Device names and values are peer text: they only ever go into the page as text nodes.
"use strict";

(() => {
  const WINDOWS = { "15m": 15 * 60e3, "1h": 3600e3, "1d": 86400e3 };
  const TOKEN_KEY = "iotchat.token";
  const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777"];
  const MAX_POINTS = 20000; // per chart: a day of one reading every 4.3 s

  const state = {
    window: "15m",
    devices: new Map(), // name -> device (see newDevice)
    token: sessionStorage.getItem(TOKEN_KEY),
    history: true, // whether the server has /api/readings and /api/devices
    tokenAsked: null, // a promise while the token form is shown
    redraw: null, // the pending redraw timer
    colors: new Map(), // key -> its charts' color
    presence: 0, // `device` events received so far
  };

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    node.append(...children); // strings become text nodes
    return node;
  }

  // ---- requests, with the token when there is one

  async function request(path, init = {}) {
    for (;;) {
      const headers = new Headers(init.headers);
      if (state.token) headers.set("Authorization", "Bearer " + state.token);
      const response = await fetch(path, { ...init, headers, cache: "no-store" });
      if (response.status !== 401) return response;
      await askToken(Boolean(state.token));
    }
  }

  function askToken(refused) {
    if (!state.tokenAsked) {
      const form = $("token-form");
      $("token-error").hidden = !refused;
      form.hidden = false;
      $("token").focus();
      state.tokenAsked = new Promise((resolve) => {
        form.onsubmit = (event) => {
          event.preventDefault();
          state.token = $("token").value.trim();
          sessionStorage.setItem(TOKEN_KEY, state.token);
          form.hidden = true;
          state.tokenAsked = null;
          resolve();
        };
      });
    }
    return state.tokenAsked;
  }

  async function getJson(path) {
    const response = await request(path);
    if (response.status === 404) return null; // a server without this API: live only
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  // ---- devices

  function device(name) {
    let d = state.devices.get(name);
    if (!d) {
      d = newDevice(name);
      state.devices.set(name, d);
      const names = [...state.devices.keys()].sort();
      const next = state.devices.get(names[names.indexOf(name) + 1]);
      $("devices").insertBefore(d.section, next ? next.section : null);
      $("empty").hidden = true;
    }
    return d;
  }

  function newDevice(name) {
    const seen = el("span", { class: "seen" });
    const charts = el("div", { class: "charts" });
    const rows = el("tbody");
    const health = el("p", { class: "health", hidden: "" });
    const section = el(
      "section",
      { class: "device", "data-device": name, "data-online": "false" },
      el("h2", {}, el("span", { class: "dot" }), el("span", { class: "name" }, name), seen),
      health,
      charts,
      el("table", { class: "latest" }, rows),
    );
    const d = { name, section, seen, health, charts, rows, online: false, lastSeen: null, count: null, keys: new Map() };
    new ResizeObserver(() => resize(d)).observe(charts);
    return d;
  }

  function setOnline(d, online) {
    d.online = online;
    d.section.dataset.online = String(online);
    showSeen(d);
  }

  // Its health (the `attributes` of /api/devices: a device's HEALTH line), one line under
  // its name; every attribute in the tooltip.
  function showHealth(d, attributes) {
    const a = attributes ?? {};
    const num = (k) => (typeof a[k] === "number" ? a[k] : null);
    const up = num("uptime");
    const parts = [
      num("rssi") != null ? `RSSI ${a.rssi} dBm` : null,
      num("heap") != null ? `heap ${Math.round(a.heap / 1024)} KiB` + (num("frag") != null ? ` (${a.frag}% frag.)` : "") : null,
      up == null ? null : `up ${up >= 86400 ? `${Math.floor(up / 86400)}d` : up >= 3600 ? `${Math.floor(up / 3600)}h` : `${Math.floor(up / 60)}m`}`,
      a.reset != null ? `reset: ${a.reset}` : null,
      a.fw != null ? `fw ${a.fw}` : null,
    ].filter(Boolean);
    d.health.textContent = parts.join(" · ");
    d.health.title = JSON.stringify(a);
    d.health.hidden = parts.length === 0;
  }

  // A device arrived or left (a `device` event): newer than any /api/devices answer in flight.
  function presence(d, online) {
    d.presenceAt = ++state.presence;
    setOnline(d, online);
  }

  function showSeen(d) {
    const count = d.count == null ? "" : ` · ${d.count} reading${d.count === 1 ? "" : "s"}`;
    const seen = d.lastSeen == null ? "" : ` · last seen ${ago(d.lastSeen)}`;
    d.seen.textContent = (d.online ? "online" : "offline") + seen + count;
  }

  // One key of a device: its row in the latest-value table, and its chart if numeric.
  function entry(d, key) {
    let k = d.keys.get(key);
    if (!k) {
      const value = el("td", { class: "value" });
      const when = el("td", { class: "when" });
      const row = el("tr", { "data-key": key }, el("th", { scope: "row" }, key), value, when);
      const keys = [...d.keys.keys(), key].sort();
      const next = d.keys.get(keys[keys.indexOf(key) + 1]);
      d.rows.insertBefore(row, next ? next.row : null);
      k = { key, row, value, when, t: null, chart: null };
      d.keys.set(key, k);
    }
    return k;
  }

  // `t`: when the server received it (what the server's `latest` goes by too, so a device's
  // clock running behind cannot hide its new values).
  function showLatest(k, value, t) {
    if (k.t != null && t < k.t) return;
    k.t = t;
    k.value.textContent = typeof value === "string" ? value : JSON.stringify(value);
    k.value.title = k.value.textContent;
    k.when.textContent = ago(t);
    if (k.chart) k.chart.now.textContent = k.value.textContent;
  }

  // ---- charts (uPlot, x in seconds)

  function chart(d, k) {
    if (k.chart) return k.chart;
    const now = el("span", { class: "now" });
    const box = el("div", { class: "chart", "data-key": k.key, "data-points": "0" });
    box.append(el("div", { class: "chart-title" }, el("span", {}, k.key), now));
    const charts = [...d.keys.values()].filter((o) => o.chart).map((o) => o.key);
    const after = charts.sort().find((name) => name > k.key);
    d.charts.insertBefore(box, after ? d.keys.get(after).chart.box : null);
    const color = colorOf(k.key);
    const { width, height } = size(d);
    const plot = new uPlot(
      {
        width,
        height,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true, range: () => xRange() } },
        axes: [
          { stroke: "#667085", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#e3e6eb" } },
          { stroke: "#667085", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#e3e6eb" }, size: 52 },
        ],
        // uPlot shows points only where they are sparse (one reading alone is a dot).
        series: [{}, { label: k.key, stroke: color, width: 2, fill: color + "1a" }],
      },
      [[], []],
      box,
    );
    k.chart = { box, plot, now, xs: [], ys: [] };
    if (k.value.textContent) now.textContent = k.value.textContent;
    if (state.history) loadHistory(d, k);
    return k.chart;
  }

  // A key keeps its color on every device; keys take the colors in the order first seen.
  function colorOf(key) {
    if (!state.colors.has(key)) state.colors.set(key, COLORS[state.colors.size % COLORS.length]);
    return state.colors.get(key);
  }

  function xRange() {
    const now = Date.now() / 1000;
    return [now - WINDOWS[state.window] / 1000, now];
  }

  function size(d) {
    const width = Math.max(200, d.charts.clientWidth || 320);
    return { width, height: Math.round(Math.min(170, Math.max(120, width * 0.35))) };
  }

  function resize(d) {
    const dims = size(d);
    for (const k of d.keys.values()) if (k.chart) k.chart.plot.setSize(dims);
  }

  // Adds a point in time order (a device's backlog can come late), then redraws soon.
  function addPoint(c, x, y) {
    let i = c.xs.length;
    while (i > 0 && c.xs[i - 1] > x) i--;
    if (i > 0 && c.xs[i - 1] === x && c.ys[i - 1] === y) return; // seen already (history)
    c.xs.splice(i, 0, x);
    c.ys.splice(i, 0, y);
    if (c.xs.length > MAX_POINTS) {
      c.xs.splice(0, c.xs.length - MAX_POINTS);
      c.ys.splice(0, c.ys.length - MAX_POINTS);
    }
    scheduleRedraw();
  }

  // Adds many points at once (a day of history, in any order): one sort, not one search each.
  function merge(c, points) {
    const all = points.concat(c.xs.map((x, i) => [x, c.ys[i]])).sort((a, b) => a[0] - b[0]);
    const kept = all.filter((p, i) => i === 0 || p[0] !== all[i - 1][0] || p[1] !== all[i - 1][1]).slice(-MAX_POINTS);
    c.xs = kept.map((p) => p[0]);
    c.ys = kept.map((p) => p[1]);
    scheduleRedraw();
  }

  function scheduleRedraw() {
    state.redraw ??= setTimeout(redraw, 150); // at most ~7 redraws a second, however busy
  }

  function redraw() {
    state.redraw = null;
    const [from] = xRange();
    for (const d of state.devices.values()) {
      for (const k of d.keys.values()) {
        const c = k.chart;
        if (!c) continue;
        let old = 0;
        while (old < c.xs.length && c.xs[old] < from) old++;
        c.xs.splice(0, old);
        c.ys.splice(0, old);
        c.plot.setData([c.xs, c.ys]);
        c.box.dataset.points = String(c.xs.length);
      }
    }
  }

  async function loadHistory(d, k) {
    const query = new URLSearchParams({ device: d.name, key: k.key, since: state.window, format: "json" });
    try {
      const rows = await getJson("/api/readings?" + query);
      if (rows == null) return historyMissing();
      merge(k.chart, rows.filter((r) => typeof r.value === "number").map((r) => [time(r) / 1000, r.value]));
    } catch (e) {
      notice(`Could not load the history of ${d.name} ${k.key}: ${e.message}`);
    }
  }

  // ---- what the server sends

  const time = (r) => r.ts ?? r.received_at;

  function reading(r) {
    const d = device(r.device);
    if (!d.online) setOnline(d, true);
    d.lastSeen = Math.max(d.lastSeen ?? 0, r.received_at);
    if (d.count != null) d.count++;
    showSeen(d);
    const k = entry(d, r.key);
    showLatest(k, r.value, r.received_at);
    if (typeof r.value === "number") addPoint(chart(d, k), time(r) / 1000, r.value);
  }

  async function loadDevices() {
    // A `device` event that arrives while /api/devices is answered is newer than its answer.
    const asked = state.presence;
    let list;
    try {
      list = await getJson("/api/devices");
    } catch (e) {
      return notice(`Could not load the devices: ${e.message}`);
    }
    if (list == null) return historyMissing();
    for (const info of Array.isArray(list) ? list : list.devices ?? []) {
      const d = device(info.name);
      d.count = info.readings ?? info.readings_count ?? info.count ?? d.count;
      const seen = info.last_seen == null ? null : new Date(info.last_seen).getTime();
      if (Number.isFinite(seen)) d.lastSeen = Math.max(d.lastSeen ?? 0, seen);
      if ((d.presenceAt ?? 0) <= asked) setOnline(d, Boolean(info.online));
      else showSeen(d);
      showHealth(d, info.attributes);
      for (const [key, value] of Object.entries(info.latest ?? {})) {
        const k = entry(d, key);
        showLatest(k, value, d.lastSeen ?? Date.now());
        if (typeof value === "number") chart(d, k); // a new chart loads its history
      }
    }
  }

  function historyMissing() {
    state.history = false;
    console.info("this server has no /api/devices or /api/readings: the dashboard shows live readings only");
  }

  function onEvent(type, data) {
    let value;
    try {
      value = JSON.parse(data);
    } catch {
      return;
    }
    if (type === "reading") reading(value);
    else if (type === "device") presence(device(value.name), Boolean(value.online));
    else if (type === "missed") reload(); // this page fell behind: what it shows has gaps
  }

  // Reloads what is stored (without that API, the live points are all there is: kept).
  function reload() {
    if (!state.history) return scheduleRedraw();
    for (const d of state.devices.values()) {
      for (const k of d.keys.values()) {
        if (!k.chart) continue;
        k.chart.xs = [];
        k.chart.ys = [];
        loadHistory(d, k);
      }
    }
    scheduleRedraw();
    loadDevices(); // and the devices and keys that are new
  }

  // Server-Sent Events from a fetch() body: blocks separated by a blank line, `event:` and
  // `data:` fields, `:` comments.
  async function readEvents(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let type = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") type = text;
          else if (field === "data") data.push(text);
        }
        if (data.length) onEvent(type, data.join("\n"));
      }
    }
  }

  async function stream() {
    let delay = 1000;
    for (;;) {
      try {
        status("connecting", "connecting…");
        const response = await request("/api/stream", { headers: { Accept: "text/event-stream" } });
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        status("live", "live");
        $("notice").hidden = true;
        delay = 1000;
        // Subscribed first, then loaded: nothing falls between what is stored and what streams.
        reload();
        await readEvents(response.body);
      } catch (e) {
        console.warn("stream:", e);
      }
      status("closed", `disconnected; retrying in ${delay / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 30000);
    }
  }

  function status(stream, text) {
    document.body.dataset.stream = stream;
    $("status").textContent = text;
  }

  function notice(text) {
    $("notice").textContent = text;
    $("notice").hidden = false;
  }

  function ago(t) {
    const s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 5) return "just now";
    if (s < 90) return `${s} s ago`;
    if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
    if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`;
    return new Date(t).toLocaleString();
  }

  function tick() {
    for (const d of state.devices.values()) {
      showSeen(d);
      for (const k of d.keys.values()) if (k.t != null) k.when.textContent = ago(k.t);
    }
    scheduleRedraw(); // slides the charts' window along with the clock
  }

  for (const button of document.querySelectorAll("[data-window]")) {
    button.addEventListener("click", () => {
      state.window = button.dataset.window;
      for (const b of document.querySelectorAll("[data-window]")) b.setAttribute("aria-pressed", String(b === button));
      reload();
    });
  }
  setInterval(tick, 5000);
  window.iotchat = { getJson, el }; // for ota.js: the same requests, with the token
  stream();
})();
