// Vector map of the line of contact, drawn as SVG from /api/geometry, with pan/zoom.
// Events come from /api/events for the current view: points when few, grid cells when
// many (server-side aggregation). No tiles, no external library, no network beyond
// this server.
"use strict";
(function () {
  const svg = document.getElementById("map");
  const NS = "http://www.w3.org/2000/svg";
  const S = 100; // map units per degree of latitude
  const M_PER_DEG = 111320;
  const G = {
    terr: document.getElementById("g-terr"), bands: document.getElementById("g-bands"),
    sectors: document.getElementById("g-sectors"), line: document.getElementById("g-line"),
    events: document.getElementById("g-events"), sel: document.getElementById("g-sel"),
  };
  const state = { lon0: 0, lat0: 0, k: 1, view: null, home: null, meta: null, geom: null, seq: 0,
                  ctrl: null, selected: null, lastData: null };

  // --- projection (equirectangular at the line's mean latitude) ---
  const px = (lon) => (lon - state.lon0) * state.k * S;
  const py = (lat) => -(lat - state.lat0) * S;
  const unx = (x) => x / (state.k * S) + state.lon0;
  const uny = (y) => -y / S + state.lat0;
  const mUnits = (m) => (m / M_PER_DEG) * S;

  function mk(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }
  function ringPath(ring) {
    let d = "";
    for (let i = 0; i < ring.length; i++) d += (i ? "L" : "M") + px(ring[i][0]).toFixed(2) + " " + py(ring[i][1]).toFixed(2);
    return d + "Z";
  }
  function polysPath(polys) { return polys.map((p) => p.map(ringPath).join("")).join(""); }
  function linePath(coords) {
    let d = "";
    for (let i = 0; i < coords.length; i++) d += (i ? "L" : "M") + px(coords[i][0]).toFixed(2) + " " + py(coords[i][1]).toFixed(2);
    return d;
  }

  // --- view box ---
  function size() { const r = svg.getBoundingClientRect(); return [Math.max(r.width, 10), Math.max(r.height, 10)]; }
  function applyView() {
    const [w, h] = size();
    const v = state.view;
    const vw = w / v.scale, vh = h / v.scale;
    svg.setAttribute("viewBox", `${v.cx - vw / 2} ${v.cy - vh / 2} ${vw} ${vh}`);
    svg.style.setProperty("--px", (1 / v.scale).toString());
    svg.classList.toggle("zoomed", v.scale > state.home.scale * 3);
    for (const t of G.sectors.querySelectorAll("text")) t.setAttribute("font-size", (11 / v.scale).toFixed(4));
  }
  function fitBounds(b) {
    const [w, h] = size();
    const x0 = px(b[0]), x1 = px(b[2]), y0 = py(b[3]), y1 = py(b[1]);
    const scale = Math.min(w / (x1 - x0), h / (y1 - y0));
    return { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, scale };
  }
  function bbox() {
    const [w, h] = size();
    const v = state.view;
    const x0 = v.cx - w / 2 / v.scale, x1 = v.cx + w / 2 / v.scale;
    const y0 = v.cy - h / 2 / v.scale, y1 = v.cy + h / 2 / v.scale;
    return [unx(x0), uny(y1), unx(x1), uny(y0)];
  }
  function zoomAt(factor, sx, sy) {
    const [w, h] = size();
    const v = state.view;
    const ux = v.cx + (sx - w / 2) / v.scale, uy = v.cy + (sy - h / 2) / v.scale;
    const ns = Math.min(Math.max(v.scale * factor, state.home.scale * 0.5), state.home.scale * 4000);
    v.cx = ux - (sx - w / 2) / ns; v.cy = uy - (sy - h / 2) / ns; v.scale = ns;
    applyView(); schedule();
  }

  // --- interaction ---
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = svg.getBoundingClientRect();
    zoomAt(Math.pow(1.0015, -e.deltaY), e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    drag = { x: e.clientX, y: e.clientY, cx: state.view.cx, cy: state.view.cy, moved: false };
    svg.setPointerCapture(e.pointerId);
  });
  svg.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    state.view.cx = drag.cx - dx / state.view.scale; state.view.cy = drag.cy - dy / state.view.scale;
    applyView();
  });
  svg.addEventListener("pointerup", (e) => {
    const d = drag; drag = null;
    if (!d) return;
    if (d.moved) { schedule(); return; }
    const t = document.elementFromPoint(e.clientX, e.clientY);
    if (t && t.dataset && t.dataset.id) openEvent(t.dataset.id, t.dataset.stack ? t.dataset.stack.split(",") : null);
    else if (t && t.dataset && t.dataset.cell) {
      const r = svg.getBoundingClientRect();
      zoomAt(4, e.clientX - r.left, e.clientY - r.top);
    }
  });
  svg.addEventListener("dblclick", (e) => { const r = svg.getBoundingClientRect(); zoomAt(2, e.clientX - r.left, e.clientY - r.top); });
  document.getElementById("zoom-in").onclick = () => { const [w, h] = size(); zoomAt(2, w / 2, h / 2); };
  document.getElementById("zoom-out").onclick = () => { const [w, h] = size(); zoomAt(0.5, w / 2, h / 2); };
  document.getElementById("zoom-reset").onclick = () => { state.view = Object.assign({}, state.home); applyView(); schedule(); };
  window.addEventListener("resize", () => { applyView(); schedule(); });
  document.getElementById("detail-close").onclick = () => { document.getElementById("detail").hidden = true; G.sel.replaceChildren(); state.selected = null; };

  // --- filters ---
  function filters() {
    const p = new URLSearchParams();
    const s = document.getElementById("f-start").value, e = document.getElementById("f-end").value;
    if (s) p.set("start", s);
    if (e) p.set("end", e);
    const types = [...document.querySelectorAll("#f-types input:checked")].map((x) => x.value);
    const all = document.querySelectorAll("#f-types input").length;
    if (types.length !== all) p.set("type", types.join(",") || "none");
    const parties = [...document.querySelectorAll("#f-parties input:checked")].map((x) => x.value);
    if (parties.length !== document.querySelectorAll("#f-parties input").length) p.set("party", parties.join(",") || "none");
    const rule = document.getElementById("f-rule").value;
    if (rule) p.set("rule", rule);
    if (document.getElementById("f-viol").checked) p.set("violations", "true");
    return p;
  }
  function buildFilters(meta) {
    const ft = document.getElementById("f-types");
    for (const t of meta.types) ft.append(TL.el("label", { class: "inline" }, TL.el("input", { type: "checkbox", value: t, checked: "", "data-filter": "type" }), " " + t));
    const fp = document.getElementById("f-parties");
    for (const p of meta.parties) {
      const sw = TL.el("span", { class: "swatch" }); sw.style.background = TL.colour(p, meta.parties);
      fp.append(TL.el("label", { class: "inline" }, TL.el("input", { type: "checkbox", value: p, checked: "", "data-filter": "party" }), " ", sw, " " + p));
    }
    const fr = document.getElementById("f-rule");
    for (const r of meta.rules) fr.append(TL.el("option", { value: r, text: r }));
    const last = meta.days.length ? meta.days[meta.days.length - 1] : "";
    document.getElementById("f-start").value = last;
    document.getElementById("f-end").value = last;
    for (const inp of document.querySelectorAll("#filters input, #filters select")) inp.addEventListener("change", schedule);
    document.getElementById("view-note").textContent = TL.may("analyst")
      ? "Analyst view: exact positions and error ellipses."
      : `Public view: positions on a ${meta.public_position_grid_m} m grid, uncertainty as circles.`;
    updateReportLinks();
    document.getElementById("f-end").addEventListener("change", updateReportLinks);
  }
  function updateReportLinks() {
    const d = document.getElementById("f-end").value || (state.meta.days.slice(-1)[0] || "");
    const a = document.getElementById("report-link");
    a.href = `/reports/daily/${d}?edition=public`; a.textContent = `public edition ${d}`;
    const r = document.getElementById("report-link-r");
    if (r) r.href = `/reports/daily/${d}?edition=restricted`;
  }

  // --- events ---
  let timer = null;
  function schedule() { svg.dataset.loading = "1"; clearTimeout(timer); timer = setTimeout(loadEvents, 120); }
  async function loadEvents() {
    const p = filters();
    p.set("bbox", bbox().map((v) => v.toFixed(4)).join(","));
    const seq = ++state.seq;
    if (state.ctrl) state.ctrl.abort();
    state.ctrl = new AbortController();
    const status = document.getElementById("map-status");
    status.textContent = "loading…";
    try {
      const res = await fetch("/api/events?" + p.toString(), { credentials: "same-origin", signal: state.ctrl.signal });
      const data = await res.json();
      if (seq !== state.seq) return;
      state.lastData = data;
      drawEvents(data);
      drawSummary(data);
      status.textContent = data.mode === "grid"
        ? `${data.total} events, grouped in ${data.cells.length} cells of ${data.cell_deg}°; zoom in for single events`
        : `${data.total} events`;
      svg.dataset.mode = data.mode; svg.dataset.total = data.total;
      svg.dataset.loading = "0";
    } catch (e) {
      if (e.name !== "AbortError") status.textContent = "error: " + e.message;
    }
  }
  function drawEvents(data) {
    if (state.selected) drawSelection(state.selected);
    const g = G.events;
    g.replaceChildren();
    const u = 1 / state.view.scale;
    const parties = state.meta.parties;
    if (data.mode === "points") {
      // events at the same position (public grid cells, a monitor's post) stack into one marker
      const groups = new Map();
      for (const e of data.events) {
        const k = e.lon + "," + e.lat;
        if (!groups.has(k)) groups.set(k, []);
        groups.get(k).push(e);
      }
      const frag = document.createDocumentFragment();
      for (const es of groups.values()) {
        es.sort((a, b) => (b.v - a.v));
        const e = es[0], n = es.length;
        const viol = es.filter((x) => x.v).length;
        const r = n === 1 ? (e.v ? 4.5 : 3.5) : 5 + 1.5 * Math.min(6, Math.log2(n));
        const c = mk("circle", { cx: px(e.lon), cy: py(e.lat), r: r * u,
          class: "ev " + (e.v ? "viol" : "ok") + " t-" + e.type + (n > 1 ? " stack" : ""), "data-id": e.id, "data-n": n }, null);
        if (n > 1) c.dataset.stack = es.map((x) => x.id).join(",");
        const col = TL.colour(e.party, parties);
        if (e.v) { c.setAttribute("fill", col); c.setAttribute("stroke", "#fff"); }
        else { c.setAttribute("fill", "#fff"); c.setAttribute("stroke", col); }
        c.setAttribute("stroke-width", 1.2 * u);
        const title = mk("title", {}, c);
        title.textContent = n === 1 ? `${e.type} · ${e.party}${e.v ? " · violation" : ""}` : `${n} events here, ${viol} violations`;
        frag.appendChild(c);
        if (n > 1) {
          const t = mk("text", { x: px(e.lon), y: py(e.lat) + 3 * u, "font-size": 9 * u, class: "stack-n", "text-anchor": "middle" }, null);
          t.textContent = n;
          frag.appendChild(t);
        }
      }
      g.appendChild(frag);
    } else {
      const max = Math.max(1, ...data.cells.map((c) => c[2]));
      // circles fit their cell (which is cell_deg wide on screen), area grows with the count
      const cellPx = data.cell_deg * state.k * S * state.view.scale;
      const frag = document.createDocumentFragment();
      for (const [lon, lat, n, v, party] of data.cells) {
        const rPx = Math.max(3, (cellPx / 2) * (0.3 + 0.7 * Math.sqrt(n / max)));
        const c = mk("circle", { cx: px(lon), cy: py(lat), r: rPx * u, class: "cell", "data-cell": "1",
          fill: TL.colour(party, parties), "fill-opacity": (0.3 + 0.6 * v / n).toFixed(2), stroke: "#fff",
          "stroke-width": u, "data-n": n }, frag);
        const title = mk("title", {}, c); title.textContent = `${n} events, ${v} violations (mostly ${party}); click to zoom in`;
        if (rPx >= 9) {
          const t = mk("text", { x: px(lon), y: py(lat) + 3.5 * u, "font-size": Math.min(11, rPx * 0.9) * u, class: "cell-n",
            "text-anchor": "middle", "data-cell": "1" }, frag);
          t.textContent = n;
        }
      }
      g.appendChild(frag);
    }
  }
  function drawSummary(data) {
    const s = data.summary, b = document.getElementById("summary-body");
    b.replaceChildren();
    b.append(TL.el("p", {}, TL.el("strong", { id: "sum-events", text: s.events }), " events, ",
      TL.el("strong", { id: "sum-viol", text: s.violations }), " violations"));
    const t = TL.el("table", { class: "grid small" }, TL.el("tr", {}, TL.el("th", { text: "responsible" }), TL.el("th", { text: "events" }), TL.el("th", { text: "violations" })));
    for (const [p, v] of Object.entries(s.by_party)) t.append(TL.el("tr", {}, TL.el("td", { text: p }), TL.el("td", { text: v.events }), TL.el("td", { text: v.violations })));
    b.append(t);
    const tt = TL.el("table", { class: "grid small" }, TL.el("tr", {}, TL.el("th", { text: "type" }), TL.el("th", { text: "events" })));
    for (const [k, v] of Object.entries(s.by_type)) tt.append(TL.el("tr", {}, TL.el("td", { text: k }), TL.el("td", { text: v })));
    b.append(tt);
  }

  // --- detail ---
  let openSeq = 0;  // only the latest requested event is rendered, whatever order the answers arrive in
  async function openEvent(id, stack) {
    const seq = ++openSeq;
    let d;
    try { d = await TL.api("/api/events/" + encodeURIComponent(id)); }
    catch (e) { return; }
    if (seq !== openSeq) return;
    state.selected = d;
    const box = document.getElementById("detail"), body = document.getElementById("detail-body");
    box.hidden = false; body.replaceChildren();
    const rows = [["id", d.id], ["type", d.type + (d.object ? ` (${d.object})` : "")], ["time", d.time],
      ["position", d.view === "public" ? `${d.lat.toFixed(3)}, ${d.lon.toFixed(3)} (cell centre)` : `${d.lat.toFixed(5)}, ${d.lon.toFixed(5)}`],
      ["uncertainty", d.view === "public" ? `within ${d.radius_m} m (95 %, circle)` :
        `ellipse ${d.ellipse95.major_m.toFixed(0)} × ${d.ellipse95.minor_m.toFixed(0)} m, azimuth ${d.ellipse95.azimuth_deg.toFixed(0)}°`],
      ["sector", d.sector || ""], ["distance to line", d.distance_to_line_m != null ? (d.distance_to_line_m / 1000).toFixed(1) + " km" : ""],
      ["responsible", d.responsible || "undetermined"], ["violations", (d.violations || []).join(", ") || "none"]];
    if (d.confidence != null) rows.push(["sighting confidence", d.confidence.toFixed(2)]);
    if ((d.violations_to_confirm || []).length)
      rows.push(["to confirm", d.violations_to_confirm.join(", ") + " (position breaks it; confidence too low: send another look)"]);
    const t = TL.el("table", { class: "kv", id: "detail-table" });
    for (const [k, v] of rows) t.append(TL.el("tr", {}, TL.el("th", { text: k }), TL.el("td", { text: v })));
    body.append(t);
    if (stack && stack.length > 1) {
      const sl = TL.el("div", { class: "stack-list small", id: "stack-list" }, `${stack.length} events at this position: `);
      stack.forEach((sid, i) => sl.append(TL.el("button", { class: "link" + (sid === d.id ? " on" : ""), "data-ev": sid,
        onclick: () => openEvent(sid, stack) }, String(i + 1)), " "));
      body.append(sl);
    }
    const at = TL.el("div", { class: "attr" });
    for (const [p, v] of Object.entries(d.attribution || {}).sort((a, b) => b[1] - a[1])) {
      const bar = TL.el("div", { class: "bar" }); bar.style.width = (100 * v).toFixed(1) + "%"; bar.style.background = TL.colour(p, state.meta.parties);
      at.append(TL.el("div", { class: "attr-row" }, TL.el("span", { text: `${p} ${TL.fmtPct(v)}` }), bar));
    }
    if (!Object.keys(d.attribution || {}).length) at.append(TL.el("p", { class: "small", text: "no party's act could be established (undetermined)" }));
    body.append(TL.el("h3", { text: "Attribution" }), at);
    body.append(TL.el("p", {}, TL.el("button", { class: "secondary", id: "zoom-event", onclick: () => zoomTo(d) }, "Zoom to event")));
    if (d.view === "restricted") {
      const ev = TL.el("div", { id: "evidence" });
      ev.append(TL.el("h3", { text: "Evidence (sensor reports)" }));
      const ul = TL.el("ul", { class: "mono small" });
      for (const r of d.reports || []) {
        const pr = d.evidence && d.evidence.proofs ? d.evidence.proofs[r] : null;
        ul.append(TL.el("li", {}, r, pr && pr.leaf_index != null ? ` · leaf ${pr.leaf_index} of ${pr.tree_size}, path ${pr.inclusion_path.length} hashes` : ""));
      }
      ev.append(ul);
      if (d.evidence && d.evidence.log) ev.append(TL.el("p", { class: "small mono", text: `signed tree head: size ${d.evidence.log.tree_size}, root ${d.evidence.log.root_hash}` }));
      else ev.append(TL.el("p", { class: "small", text: "Inclusion proofs: truceline log prove REPORT_ID" }));
      body.append(ev);
    }
    drawSelection(d);
    box.scrollIntoView({ block: "nearest" });
  }
  function zoomTo(d) {
    const r = d.view === "public" ? d.radius_m : d.ellipse95.major_m;
    const [w, h] = size();
    state.view.cx = px(d.lon); state.view.cy = py(d.lat);
    state.view.scale = Math.min(w, h) / (mUnits(Math.max(r, 50)) * 8);
    applyView(); drawSelection(d); schedule();
  }
  function drawSelection(d) {
    G.sel.replaceChildren();
    const x = px(d.lon), y = py(d.lat), u = 1 / state.view.scale;
    if (d.view === "public") {
      mk("circle", { cx: x, cy: y, r: mUnits(d.radius_m), class: "unc", id: "sel-uncertainty" }, G.sel);
    } else {
      const e = d.ellipse95;
      mk("ellipse", { cx: x, cy: y, rx: mUnits(e.minor_m), ry: mUnits(e.major_m), class: "unc", id: "sel-uncertainty",
        transform: `rotate(${e.azimuth_deg} ${x} ${y})` }, G.sel);
    }
    mk("circle", { cx: x, cy: y, r: 6 * u, class: "sel-mark", "stroke-width": 2 * u }, G.sel);
  }

  // --- geometry ---
  function drawGeometry(geom) {
    const parties = geom.parties;
    for (const t of geom.territories) {
      mk("path", { d: polysPath(t.polygons), class: "terr", fill: TL.colour(t.party, parties), "fill-opacity": 0.12,
        "fill-rule": "evenodd", "data-party": t.party }, G.terr);
    }
    for (const b of geom.bands) {
      const p = mk("path", { d: polysPath(b.polygons), class: "band", "fill-rule": "evenodd" }, G.bands);
      const title = mk("title", {}, p); title.textContent = `exclusion band ${b.distance_m / 1000} km: ${b.classes.join(", ")}`;
    }
    for (const l of geom.line) mk("path", { d: linePath(l), class: "line" }, G.line);
    for (const s of geom.sectors) {
      mk("path", { d: linePath(s.coords), class: "sector" }, G.sectors);
      const c = s.coords[0];
      const t = mk("text", { x: px(c[0]), y: py(c[1]), class: "sector-label" }, G.sectors);
      t.textContent = s.label;
    }
    const lg = document.getElementById("legend");
    lg.replaceChildren();
    const item = (cls, text, colour) => { const sw = TL.el("span", { class: "swatch " + cls }); if (colour) sw.style.background = colour; lg.append(TL.el("div", {}, sw, " " + text)); };
    item("line", "line of contact");
    item("band", "exclusion bands " + geom.bands.map((b) => b.distance_m / 1000 + " km").join(", "));
    for (const p of state.meta.parties) item("dot", "violation: " + p, TL.colour(p, state.meta.parties));
    item("hollow", "event, no violation");
  }

  async function init() {
    const [meta, geom] = await Promise.all([TL.api("/api/meta"), TL.api("/api/geometry")]);
    state.meta = meta; state.geom = geom;
    state.lat0 = geom.lat0; state.lon0 = (geom.bounds[0] + geom.bounds[2]) / 2;
    state.k = Math.cos(state.lat0 * Math.PI / 180);
    buildFilters(meta);
    drawGeometry(geom);
    state.home = fitBounds(geom.bounds);
    state.view = Object.assign({}, state.home);
    applyView();
    svg.dataset.ready = "1";
    await loadEvents();
    const want = new URLSearchParams(location.search).get("event");
    if (want) { await openEvent(want); if (state.selected) zoomTo(state.selected); }
  }
  window.TLMap = { state, openEvent, zoomAt, loadEvents };
  init();
})();
