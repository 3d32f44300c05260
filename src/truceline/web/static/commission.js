// Commission workspace: list cases, open one, act on it (commissioners), vote on motions.
"use strict";
(function () {
  let current = null;
  async function loadCases(selectId) {
    const data = await TL.api("/api/cases");
    const t = document.getElementById("case-table");
    for (const r of [...t.querySelectorAll("tr.click")]) r.remove();
    document.getElementById("case-empty").hidden = data.cases.length > 0;
    for (const c of data.cases) {
      const tr = TL.el("tr", { class: "click", "data-case": c.id, onclick: () => openCase(c.id) },
        TL.el("td", { class: "mono", text: c.id }), TL.el("td", {}, TL.el("span", { class: "state " + c.state, text: c.state })),
        TL.el("td", { text: c.title || "" }), TL.el("td", { class: "mono small", text: (c.rules || []).join(", ") }),
        TL.el("td", { text: c.n_events != null ? c.n_events : (c.events || []).length }));
      t.append(tr);
    }
    if (selectId) await openCase(selectId);
  }
  function kv(obj, keys) {
    const t = TL.el("table", { class: "kv" });
    for (const k of keys) if (obj[k] != null && obj[k] !== "") t.append(TL.el("tr", {}, TL.el("th", { text: k }), TL.el("td", { text: typeof obj[k] === "object" ? JSON.stringify(obj[k]) : obj[k] })));
    return t;
  }
  async function openCase(id) {
    const c = await TL.api("/api/cases/" + encodeURIComponent(id));
    current = c;
    for (const r of document.querySelectorAll("#case-table tr.click")) r.classList.toggle("sel", r.dataset.case === id);
    document.getElementById("case-detail").hidden = false;
    document.getElementById("case-title").textContent = "Case " + c.id;
    const b = document.getElementById("case-body");
    const view = Object.assign({}, c, {
      rules: (c.rules || []).join(", "),
      severity: c.severity ? `${c.severity.level} (score ${c.severity.score})` : null,
      attribution: c.attribution ? Object.entries(c.attribution).map(([p, v]) => `${p} ${TL.fmtPct(v)}`).join(", ") : null,
      responsible: c.responsible || null,
    });
    b.replaceChildren(kv(view, ["state", "title", "day", "sector", "rules", "party", "attribution", "responsible", "severity", "finding", "remedy"]));
    b.append(TL.el("h3", { text: "Events" }));
    const ul = TL.el("ul", { class: "mono small" });
    for (const e of c.events || []) ul.append(TL.el("li", {}, TL.el("a", { href: "/?event=" + encodeURIComponent(e), text: e })));
    b.append(ul);
    if (c.motions && c.motions.length) {
      b.append(TL.el("h3", { text: "Motions and votes" }));
      const t = TL.el("table", { class: "grid small", id: "motion-table" }, TL.el("tr", {}, TL.el("th", { text: "motion" }), TL.el("th", { text: "proposal" }), TL.el("th", { text: "status" }), TL.el("th", { text: "votes" })));
      for (const m of c.motions) {
        const votes = (m.votes || []).map((v) => `${v.member}: ${v.choice}`).join(", ");
        t.append(TL.el("tr", {}, TL.el("td", { class: "mono", text: m.id }), TL.el("td", { text: m.summary || m.kind || "" }), TL.el("td", { text: m.status || "" }), TL.el("td", { class: "votes", text: votes })));
      }
      b.append(t);
    }
    if (c.history && c.history.length) {
      b.append(TL.el("h3", { text: "History" }));
      const t = TL.el("table", { class: "grid small" });
      for (const h of c.history) t.append(TL.el("tr", {}, TL.el("td", { text: h.time || "" }), TL.el("td", { text: h.actor || "" }), TL.el("td", { text: h.action || "" }), TL.el("td", { text: h.reason || "" })));
      b.append(t);
    }
    const acts = document.getElementById("case-actions");
    acts.hidden = !TL.may("commissioner");
    if (!acts.hidden) buildActions(c);
  }
  function buildActions(c) {
    const box = document.getElementById("action-buttons");
    box.replaceChildren();
    const rf = document.getElementById("review-form");
    rf.hidden = !(c.allowed_actions || []).includes("review");
    const rs = document.getElementById("review-responsible");
    rs.replaceChildren(TL.el("option", { value: "", text: "undetermined" }),
      ...Object.entries(c.attribution || {}).sort((a, b) => b[1] - a[1])
        .map(([p, v]) => TL.el("option", { value: p, text: `${p} (${TL.fmtPct(v)})` })));
    for (const a of c.allowed_actions || []) {
      if (a === "vote" || a === "review") continue;
      box.append(TL.el("button", { class: "secondary", "data-action": a, onclick: () => act(a, {}) }, a), " ");
    }
    const open = (c.motions || []).filter((m) => !m.status || m.status === "open");
    const form = document.getElementById("vote-form");
    form.hidden = open.length === 0;
    const sel = document.getElementById("vote-motion");
    sel.replaceChildren(...open.map((m) => TL.el("option", { value: m.id, text: `${m.id}: ${m.summary || m.kind || ""}` })));
  }
  async function act(action, params) {
    const msg = document.getElementById("action-msg");
    try {
      const res = await TL.api(`/api/cases/${encodeURIComponent(current.id)}/actions`, { method: "POST", body: Object.assign({ action }, params) });
      msg.className = "small ok-msg"; msg.textContent = `${action}: done`;
      await loadCases(current.id);
      await loadFindings();
      return res;
    } catch (e) {
      msg.className = "small error"; msg.textContent = `${action}: ${e.message}`;
    }
  }
  document.getElementById("review-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const kind = document.getElementById("review-kind").value;
    act("review", { kind, responsible: kind === "finding" ? document.getElementById("review-responsible").value || null : null,
      reason: document.getElementById("review-reason").value });
  });
  document.getElementById("vote-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act("vote", { motion: document.getElementById("vote-motion").value, choice: document.getElementById("vote-choice").value,
      reason: document.getElementById("vote-reason").value });
  });
  async function loadFindings() {
    const data = await TL.api("/api/findings");
    const t = document.getElementById("finding-table");
    for (const r of [...t.querySelectorAll("tr.f")]) r.remove();
    document.getElementById("finding-empty").hidden = data.findings.length > 0;
    for (const f of data.findings) {
      const leaf = f.proof && f.proof.leaf_index != null ? f.proof.leaf_index : "";
      t.append(TL.el("tr", { class: "f" }, TL.el("td", { class: "mono", text: f.id }), TL.el("td", { class: "mono", text: f.case || "" }),
        TL.el("td", { text: f.day || "" }), TL.el("td", { text: f.decision || "" }), TL.el("td", { class: "mono small", text: (f.rules || []).join(", ") }),
        TL.el("td", { class: "mono small", text: (f.events || []).join(", ") }), TL.el("td", { text: leaf }),
        TL.el("td", { text: f.state || (f.published ? "published" : "") })));
    }
  }
  loadCases(new URLSearchParams(location.search).get("case"));
  loadFindings();
})();
