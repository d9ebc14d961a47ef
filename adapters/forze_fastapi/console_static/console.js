// The forze console's only script: live projection status with rebuild and reset, and the
// live feed. It builds every element with textContent, never from HTML strings.
"use strict";

(function () {
  const body = document.body;
  const root = body.dataset.root;
  const ACTION = { "X-Forze-Console": "1" };

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function streamLink(event) {
    const a = document.createElement("a");
    a.href = root + "/streams/" + encodeURIComponent(event.stream_id) +
      "?from_version=" + event.version + "#v" + event.version;
    a.textContent = event.stream_id + " v" + event.version;
    a.className = "stream";
    return a;
  }

  // ---- projections (overview) ----
  const table = document.getElementById("projections");
  const widest = {}; // the largest lag seen during a rebuild: the bar's 100 %

  function showStatus(status) {
    const row = table.querySelector('tr[data-projection="' + CSS.escape(status.name) + '"]');
    if (!row) return;
    row.querySelector(".checkpoint").textContent = status.checkpoint;
    row.querySelector(".lag").textContent = status.lag_events + " events, " + status.lag_seconds + " s";
    row.querySelector(".state").textContent = status.state + (status.error ? ": " + status.error : "");
    row.querySelector(".holder").textContent = status.holder || "none";
    const reset = row.querySelector("button.reset");
    reset.disabled = Boolean(status.holder);
    if (status.holder) reset.title = body.dataset.heldHint;
    else reset.removeAttribute("title");
    const bar = row.querySelector("progress");
    const outcome = row.querySelector(".outcome");
    if (status.rebuilding) {
      widest[status.name] = Math.max(widest[status.name] || 0, status.lag_events, 1);
      const total = widest[status.name];
      const done = Math.max(0, total - status.lag_events);
      bar.value = done / total;
      outcome.textContent = "rebuilding: " + done + " of " + total + " events";
      row.dataset.rebuilding = "true";
    } else {
      delete widest[status.name];
      bar.value = status.lag_events ? 0 : 1;
      outcome.textContent = status.outcome || "";
      row.dataset.rebuilding = "false";
    }
    document.getElementById("head").textContent = status.head;
  }

  async function refresh() {
    let busy = false;
    try {
      const response = await fetch(root + "/api/projections", { cache: "no-store" });
      if (response.ok) {
        for (const status of await response.json()) {
          showStatus(status);
          busy = busy || status.rebuilding;
        }
      }
    } finally {
      setTimeout(refresh, busy ? 200 : 1000);
    }
  }

  async function act(name, action, payload) {
    const response = await fetch(
      root + "/api/projections/" + encodeURIComponent(name) + "/" + action,
      {
        method: "POST",
        headers: Object.assign({ "Content-Type": "application/json" }, ACTION),
        body: JSON.stringify(payload || {}),
      },
    );
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      window.alert(action + " of " + name + " failed: " + (problem.detail || response.status));
    }
    setTimeout(refresh, 0);
  }

  if (table) {
    table.addEventListener("click", (click) => {
      const button = click.target.closest("button");
      if (!button) return;
      const name = button.closest("tr").dataset.projection;
      if (button.classList.contains("rebuild")) {
        if (window.confirm("Rebuild " + name + " from the start of the feed?")) {
          widest[name] = 0;
          act(name, "rebuild");
        }
      } else if (button.classList.contains("reset")) {
        const typed = window.prompt(
          "Reset forgets " + name + "'s checkpoint and documents. Type its name to confirm:");
        if (typed === name) act(name, "reset", { confirm: typed });
        else if (typed !== null) window.alert("The name did not match: nothing was reset.");
      }
    });
    refresh();
  }

  // ---- the live feed ----
  const feed = document.getElementById("feed");
  if (feed) {
    const rows = feed.querySelector("tbody");
    const state = document.getElementById("feed-state");
    const filters = document.getElementById("feed-filters");
    let source = null;
    let after = body.dataset.head;

    function follow() {
      if (source) source.close();
      const query = new URLSearchParams({ after: after });
      const data = new FormData(filters);
      for (const key of ["category", "type"]) {
        const value = String(data.get(key) || "").trim();
        if (value) query.append(key, value);
      }
      source = new EventSource(body.dataset.feedUrl + "?" + query.toString());
      source.onopen = () => { state.textContent = "live"; };
      source.onerror = () => { state.textContent = "reconnecting"; };
      source.onmessage = (message) => {
        const event = JSON.parse(message.data);
        after = String(event.position);
        const row = document.createElement("tr");
        row.className = "event";
        row.appendChild(cell(String(event.position), "num"));
        const stream = document.createElement("td");
        stream.appendChild(streamLink(event));
        row.appendChild(stream);
        row.appendChild(cell(event.event_type, "type"));
        row.appendChild(cell(event.recorded_at.replace("T", " ").slice(0, 23)));
        row.appendChild(cell(event.metadata.correlation_id || ""));
        rows.insertBefore(row, rows.firstChild);
        while (rows.children.length > 500) rows.removeChild(rows.lastChild);
      };
    }

    filters.addEventListener("submit", (submit) => {
      submit.preventDefault();
      rows.replaceChildren();
      follow();
    });
    follow();
  }
})();
