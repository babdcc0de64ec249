"use strict";
(() => {
  // The admin key the page was opened with (?code=, as Azure accepts it). It goes only into
  // the x-functions-key header of this page's own requests: never into the DOM or the log.
  const key = new URLSearchParams(window.location.search).get("code");
  const base = window.location.pathname.replace(/\/console\/?$/, "");
  const POLL_MS = 5000;
  const WEBHOOK_POLL_MS = 60000; // each check costs one Kaizala call per group
  const $ = (id) => document.getElementById(id);
  let cursors = [null]; // continuation tokens of the pages seen (for "Newest" / "Older")
  let nextCursor = null;
  let timer = null;
  let lastWebhooks = 0;

  async function api(path, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    if (key) headers["x-functions-key"] = key;
    let response;
    try {
      response = await fetch(base + path, { ...options, headers, credentials: "same-origin",
        cache: "no-store" });
    } catch (err) {
      throw new Error("The bridge did not answer (network error).");
    }
    let body = null;
    try { body = await response.json(); } catch (err) { body = null; }
    if (!response.ok) {
      const error = new Error(problemText(response.status, body));
      error.status = response.status;
      throw error;
    }
    return body;
  }

  function problemText(status, body) {
    if (body && (body.title || body.detail)) {
      return `${status} ${body.title || ""}${body.detail ? ": " + body.detail : ""}`;
    }
    if (status === 401 || status === 403) return `${status}: open the console with the admin key`;
    return `${status}: the request failed`;
  }

  function showError(section, error) {
    const slot = $(section).querySelector("[data-error]");
    slot.textContent = error ? String(error.message || error) : "";
    slot.hidden = !error;
  }

  function cell(row, value, className) {
    const td = document.createElement("td");
    td.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function fill(tbody, items, render) {
    const rows = items.map((item) => {
      const tr = document.createElement("tr");
      render(tr, item);
      return tr;
    });
    tbody.replaceChildren(...rows);
  }

  const when = (iso) => (iso ? iso.replace("T", " ").replace("+00:00", " UTC") : null);
  const short = (id) => (id && id.length > 13 ? id.slice(0, 8) + "…" : id);

  async function loadConnector() {
    const c = await api("/manage/connector");
    const t = c.token || {};
    $("token-status").textContent = t.status + (t.detail ? ` (${t.detail})` : "");
    $("token-status").className = "state-" + t.status;
    $("token-expires").textContent = when(t.accessTokenExpiresOn) || "—";
    $("token-rotated").textContent = when(t.refreshTokenRotatedOn) || "none seen";
    $("refresh-expires").textContent = when(t.refreshTokenExpiresOn) || "unknown";
    const warn = $("token-warning");
    warn.hidden = !c.refreshTokenWarning;
    warn.textContent = c.refreshTokenWarning
      ? "The refresh token expires within 30 days: onboard again with the PIN flow." : "";
    const b = c.budget;
    $("budget").textContent = `${b.windowUsed} of ${b.windowLimit} calls in the last ` +
      `${b.windowSeconds} s (this slot: ${b.slotUsed} of ${b.perSlot})`;
    $("queued").textContent = c.queuedSends + (c.queuedSendsTruncated ? "+" : "");
  }

  async function loadInbox() {
    const inbox = await api("/manage/inbox");
    const chips = Object.entries(inbox.counts).sort().map(([state, n]) => {
      const li = document.createElement("li");
      li.className = "state-" + state;
      li.dataset.state = state;
      li.textContent = `${state}: ${n}${inbox.countsTruncated ? "+" : ""}`;
      return li;
    });
    if (!chips.length) {
      const li = document.createElement("li");
      li.textContent = "empty";
      chips.push(li);
    }
    $("inbox-counts").replaceChildren(...chips);
    fill($("problems"), inbox.problems, (tr, e) => {
      tr.dataset.eventId = e.eventId;
      cell(tr, short(e.eventId)).title = e.eventId;
      cell(tr, e.eventType);
      cell(tr, e.status, "state-" + e.status);
      cell(tr, e.reason, "reason");
      cell(tr, short(e.actionId));
      cell(tr, when(e.receivedAt), "time");
      cell(tr, when(e.lastAttemptAt), "time");
      const td = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Replay";
      button.className = "replay-one";
      button.addEventListener("click", () => replay({ eventId: e.eventId }));
      td.appendChild(button);
      tr.appendChild(td);
    });
    $("problems-empty").hidden = inbox.problems.length > 0;
  }

  async function replay(body) {
    const out = $("replay-result");
    out.textContent = "replaying…";
    try {
      const result = await api("/manage/inbox/replay", {
        method: "POST", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json" },
      });
      const processed = Object.entries(result.processed || {})
        .map(([k, v]) => `${k} ${v}`).join(", ");
      out.textContent = `requeued ${result.requeued}` + (processed ? `; now ${processed}` : "");
      showError("inbox", null);
    } catch (err) {
      out.textContent = "";
      showError("inbox", err);
    }
    await refresh();
  }

  async function loadActions() {
    const status = $("action-status").value;
    const params = new URLSearchParams({ limit: "25" });
    if (status) params.set("status", status);
    const cursor = cursors[cursors.length - 1];
    if (cursor) params.set("continuation", cursor);
    const page = await api("/manage/actions?" + params.toString());
    fill($("action-rows"), page.actions, (tr, a) => {
      tr.dataset.correlationId = a.correlationId;
      cell(tr, when(a.createdAt), "time");
      cell(tr, a.status, "state-" + a.status);
      cell(tr, a.template || a.actionType);
      cell(tr, a.title);
      cell(tr, short(a.groupId)).title = a.groupId;
      const r = a.regarding || {};
      cell(tr, r.name ? `${r.entityType}: ${r.name}` : short(r.id));
      cell(tr, a.responses);
      cell(tr, a.summary, "state-" + a.summary);
      cell(tr, a.lastError, "reason");
    });
    $("actions-empty").hidden = page.actions.length > 0;
    nextCursor = page.continuation || null;
    $("actions-next").disabled = !nextCursor;
    $("actions-first").disabled = cursors.length <= 1;
    $("actions-note").textContent = page.scanTruncated
      ? "Only the first rows of a large table were read: the order is approximate." : "";
  }

  async function loadWebhooks() {
    lastWebhooks = Date.now();
    const w = await api("/manage/webhooks");
    if (!w.callbackConfigured) {
      showError("webhooks", new Error("WEBHOOK_CALLBACK_URL is not set."));
    }
    fill($("webhook-rows"), w.groups, (tr, g) => {
      cell(tr, short(g.groupId)).title = g.groupId;
      cell(tr, g.name);
      cell(tr, g.registered ? "yes" : "no (a setting)");
      cell(tr, g.state + (g.error ? ` (${g.error})` : ""), "state-" + g.state);
      cell(tr, (g.subscriptions || []).map((s) => (s.active ? "active" : "disabled")).join(", "));
    });
  }

  async function resync() {
    const out = $("resync-result");
    out.textContent = "syncing…";
    try {
      const result = await api("/manage/webhooks/sync", {
        method: "POST", body: "{}", headers: { "Content-Type": "application/json" },
      });
      out.textContent = `synced ${result.groups.length} group(s)`;
      showError("webhooks", null);
    } catch (err) {
      out.textContent = "";
      showError("webhooks", err);
    }
    await guarded("webhooks", loadWebhooks);
  }

  async function loadFlows() {
    let f;
    try {
      f = await api("/manage/subscriptions");
    } catch (err) {
      if (err.status === 404) {
        $("flows-na").hidden = false;
        $("flows-table").hidden = true;
        $("flow-dead-table").hidden = true;
        return;
      }
      throw err;
    }
    $("flows-na").hidden = true;
    $("flows-table").hidden = false;
    $("flow-dead-table").hidden = false;
    fill($("flow-rows"), f.subscriptions || [], (tr, s) => {
      const d = s.deliveries || {};
      cell(tr, short(s.id)).title = s.id;
      cell(tr, s.callbackHost);
      cell(tr, short(s.groupId));
      cell(tr, short(s.regardingId));
      cell(tr, s.static ? "yes" : "no");
      cell(tr, when(s.createdAt), "time");
      cell(tr, d.pending);
      cell(tr, d.delivered);
      cell(tr, d.dead, d.dead ? "state-dead" : "");
    });
    fill($("flow-dead"), f.deadDeliveries || [], (tr, e) => {
      cell(tr, short(e.eventId)).title = e.eventId;
      cell(tr, short(e.subscriptionId));
      cell(tr, e.reason, "reason");
      cell(tr, when(e.at), "time");
    });
  }

  async function guarded(section, load) {
    try {
      await load();
      showError(section, null);
      return true;
    } catch (err) {
      showError(section, err);
      return false;
    }
  }

  async function refresh() {
    const jobs = [
      guarded("connector", loadConnector),
      guarded("inbox", loadInbox),
      guarded("actions", loadActions),
      guarded("flows", loadFlows),
    ];
    if (Date.now() - lastWebhooks >= WEBHOOK_POLL_MS) jobs.push(guarded("webhooks", loadWebhooks));
    const results = await Promise.all(jobs);
    $("refreshed").textContent = "refreshed " + new Date().toLocaleTimeString();
    const pageError = $("page-error");
    pageError.hidden = results.some(Boolean);
    pageError.textContent = pageError.hidden ? "" : "Nothing could be loaded: see each panel.";
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    // Paused while the tab is hidden or live refresh is off; resumed when shown again.
    if (!document.hidden && $("live").checked) {
      timer = setTimeout(async () => { await refresh(); schedule(); }, POLL_MS);
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh().then(schedule); else schedule();
  });
  $("live").addEventListener("change", schedule);
  $("refresh").addEventListener("click", () => refresh());
  $("replay-all").addEventListener("click", () => replay({}));
  $("resync").addEventListener("click", resync);
  $("webhooks-refresh").addEventListener("click", () => guarded("webhooks", loadWebhooks));
  $("action-status").addEventListener("change", () => {
    cursors = [null];
    guarded("actions", loadActions);
  });
  $("actions-next").addEventListener("click", () => {
    if (nextCursor) cursors.push(nextCursor);
    guarded("actions", loadActions);
  });
  $("actions-first").addEventListener("click", () => {
    cursors = [null];
    guarded("actions", loadActions);
  });
  refresh().then(schedule);
})();
