// Shared helpers: JSON fetch with errors surfaced, logout, small DOM builders.
"use strict";
const TL = {
  role: document.body.dataset.role,
  rank: { public: 0, analyst: 1, commissioner: 2, admin: 3 },
  may(role) { return this.rank[this.role] >= this.rank[role]; },
  async api(path, opts = {}) {
    const init = Object.assign({ credentials: "same-origin", headers: {} }, opts);
    if (init.body && typeof init.body !== "string") {
      init.body = JSON.stringify(init.body);
      init.headers["Content-Type"] = "application/json";
    }
    const res = await fetch(path, init);
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const msg = data && data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : res.statusText;
      const err = new Error(msg); err.status = res.status; throw err;
    }
    return data;
  },
  el(tag, attrs = {}, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const k of kids) if (k != null) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  },
  PARTY: { UA: "#1f5fa8", RU: "#b8322a", undetermined: "#555555" },
  FALLBACK: ["#6a3d9a", "#33a02c", "#ff7f00", "#b15928"],
  colour(p, parties) {
    if (this.PARTY[p]) return this.PARTY[p];
    const i = (parties || []).indexOf(p);
    return this.FALLBACK[(i < 0 ? 0 : i) % this.FALLBACK.length];
  },
  fmtPct(v) { return (100 * v).toFixed(1) + " %"; },
};
const lo = document.getElementById("logout");
if (lo) lo.addEventListener("click", async () => { await TL.api("/api/logout", { method: "POST" }); location.href = "/"; });
