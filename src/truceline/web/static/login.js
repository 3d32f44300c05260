"use strict";
document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = document.getElementById("login-error");
  err.hidden = true;
  try {
    await TL.api("/api/login", { method: "POST", body: {
      name: document.getElementById("login-name").value,
      password: document.getElementById("login-password").value } });
    const next = new URLSearchParams(location.search).get("next");
    location.href = next && next.startsWith("/") ? next : "/";
  } catch (e) {
    err.textContent = e.message; err.hidden = false;
  }
});
