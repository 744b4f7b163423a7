// The officers' page: sign in with an API token, pick an office, read its defaulter list and
// worklists, download them as CSV and open a worklist's notices for printing. Everything goes
// through the /api/v1/ routes with the token as a Bearer header; the token lives in this
// tab's sessionStorage only, so closing the tab signs the officer out.
//
// A link of the form /#token=TOKEN&office=CODE&list=KIND signs in directly (handy for a
// bookmark handed over with a fresh token, and for automated checks); the fragment never
// reaches the server and is wiped from the address bar at once.
(function () {
  "use strict";

  const PAGE_SIZE = 200;
  // The API's largest page; a CSV download fetches as many pages as it takes.
  const CSV_PAGE = 10000;
  const KEY_TOKEN = "vasooli.token";
  const KEY_OFFICE = "vasooli.office";
  const KEY_LIST = "vasooli.list";

  const LIST_LABELS = {
    defaulters: "Defaulters · बकायेदार",
    serve_notice: "Serve notice · नोटिस तामील",
    disconnection: "Disconnection · विच्छेदन",
    reconnection: "Reconnection · पुनः संयोजन",
    permanent_disconnection: "Permanent disconnection · स्थायी विच्छेदन",
    recovery_certificate: "Recovery certificate · वसूली प्रमाणपत्र",
    hq_escalation: "HQ escalation · मुख्यालय",
    no_mobile: "No mobile · मोबाइल नहीं",
  };

  // The paper each worklist prints (one per consumer); lists not named here print none.
  const PAPERS = {
    serve_notice: "Print notices",
    disconnection: "Print disconnection orders",
    reconnection: "Print reconnection orders",
    permanent_disconnection: "Print permanent disconnection notices",
    recovery_certificate: "Print requisitions to the Collector",
  };

  function setPrintButton(list) {
    const button = $("print");
    const label = PAPERS[list];
    button.disabled = !label;
    button.textContent = label || "Print documents";
    button.title = label
      ? "Open this worklist's documents for printing, one page per consumer"
      : "This list has no printable documents";
  }

  // The columns shown on screen; the CSV download carries every column of the API.
  const COLUMNS = [
    ["account_no", "Account"],
    ["name", "Name", "name"],
    ["category", "Category"],
    ["subdivision", "Sub-div."],
    ["overdue_arrears", "Arrears ₹", "num"],
    ["oldest_due_on", "Oldest due"],
    ["days_overdue", "Days", "num"],
    ["aging_bucket", "Bucket"],
    ["last_payment_on", "Last paid"],
    ["last_payment_amount", "Last amount ₹", "num"],
    ["stage", "Stage"],
    ["notice_no", "Notice"],
    ["notice_served_on", "Served"],
    ["disconnection_allowed_on", "Disconnect from"],
    ["hold", "Hold"],
    ["mobile_registered", "Mobile"],
  ];

  const $ = (id) => document.getElementById(id);
  const state = { token: null, me: null, offset: 0, seq: 0 };

  function show(id) {
    for (const s of ["sign-in", "no-reads", "lists"]) $(s).hidden = s !== id;
  }

  function setText(id, text) {
    const el = $(id);
    el.textContent = text || "";
    el.hidden = !text;
  }

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, accept) {
    const response = await fetch(path, {
      headers: { Authorization: "Bearer " + state.token, Accept: accept || "application/json" },
      cache: "no-store",
    });
    if (!response.ok) {
      let message = response.status + " " + response.statusText;
      try {
        const body = await response.json();
        if (body && body.error && body.error.message) message = body.error.message;
      } catch (_) {
        // Not a JSON error body; the status line says enough.
      }
      throw new HttpError(response.status, message);
    }
    return response;
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY_TOKEN);
    state.token = null;
    state.me = null;
    $("who").hidden = true;
    $("token").value = "";
    show("sign-in");
    setText("sign-in-error", message);
    $("token").focus();
  }

  // An answer of 401 means the token was revoked while the page was open.
  function failed(err, where) {
    if (err instanceof HttpError && err.status === 401) {
      signOut("The token is unknown or has been revoked; sign in again.");
    } else {
      setText(where, err.message || String(err));
    }
  }

  async function signIn(token, wanted) {
    state.token = token;
    let me;
    try {
      me = await (await api("/api/v1/me")).json();
    } catch (err) {
      if (err instanceof HttpError && err.status === 401) {
        signOut("That token is unknown or has been revoked.");
      } else {
        show("sign-in");
        setText("sign-in-error", "Could not sign in: " + (err.message || err));
      }
      return;
    }
    sessionStorage.setItem(KEY_TOKEN, token);
    state.me = me;
    setText("sign-in-error", "");
    $("who-text").textContent =
      me.name + " · " + me.role + (me.office ? " · office " + me.office : "");
    $("who").hidden = false;
    if (me.role === "ingest") {
      show("no-reads");
      return;
    }
    show("lists");
    fillPickers(wanted || {});
    if (me.offices.length === 0) {
      setText(
        "status",
        me.office
          ? "Office " + me.office + " is not registered yet, so there is nothing to show."
          : "No offices are registered yet."
      );
      $("download").disabled = true;
      $("print").disabled = true;
      return;
    }
    await load();
  }

  const LEVEL_DEPTH = { zone: 0, circle: 1, division: 2, subdivision: 3 };

  function fillPickers(wanted) {
    const me = state.me;
    const office = $("office");
    office.replaceChildren();
    const top = me.offices.length ? LEVEL_DEPTH[me.offices[0].level] || 0 : 0;
    for (const o of me.offices) {
      const depth = Math.max(0, (LEVEL_DEPTH[o.level] || 0) - top);
      const option = document.createElement("option");
      option.value = o.code;
      option.textContent = "\u00a0\u00a0\u00a0".repeat(depth) + o.code + " — " + o.name;
      option.title = o.level;
      office.append(option);
    }
    const codes = me.offices.map((o) => o.code);
    const pick = [wanted.office, sessionStorage.getItem(KEY_OFFICE), me.office].find(
      (c) => c && codes.includes(c)
    );
    if (pick) office.value = pick;
    if (wanted.office && !codes.includes(wanted.office)) {
      setText("status", "Office " + wanted.office + " is not among the offices this token may read.");
    }

    const list = $("list");
    list.replaceChildren();
    const option = (kind) => {
      const o = document.createElement("option");
      o.value = kind;
      o.textContent = LIST_LABELS[kind] || kind;
      return o;
    };
    list.append(option("defaulters"));
    const group = document.createElement("optgroup");
    group.label = "Worklists · कार्य सूचियाँ";
    for (const kind of me.worklists || []) group.append(option(kind));
    list.append(group);
    const kinds = Array.from(list.options, (o) => o.value);
    const listPick = [wanted.list, sessionStorage.getItem(KEY_LIST)].find((k) => k && kinds.includes(k));
    list.value = listPick || "defaulters";
  }

  function selection() {
    return { office: $("office").value, list: $("list").value };
  }

  function listPath(sel) {
    const base = "/api/v1/offices/" + encodeURIComponent(sel.office);
    return sel.list === "defaulters"
      ? base + "/defaulters"
      : base + "/worklists/" + encodeURIComponent(sel.list);
  }

  function officeName(code) {
    const o = state.me.offices.find((x) => x.code === code);
    return o ? o.code + " " + o.name : code;
  }

  async function load() {
    const sel = selection();
    if (!sel.office) return;
    sessionStorage.setItem(KEY_OFFICE, sel.office);
    sessionStorage.setItem(KEY_LIST, sel.list);
    setPrintButton(sel.list);
    $("download").disabled = false;
    const seq = ++state.seq;
    $("summary").textContent = "Loading…";
    let rows;
    try {
      const path = listPath(sel) + "?limit=" + PAGE_SIZE + "&offset=" + state.offset;
      rows = await (await api(path)).json();
    } catch (err) {
      if (seq !== state.seq) return;
      $("summary").textContent = "";
      renderRows([]);
      failed(err, "status");
      return;
    }
    // A newer choice of office or list has been made meanwhile; its answer wins.
    if (seq !== state.seq) return;
    setText("status", "");
    renderRows(rows);
    const first = rows.length ? state.offset + 1 : 0;
    const last = state.offset + rows.length;
    const what = sel.list === "defaulters" ? "defaulters" : "consumers on this worklist";
    $("summary").textContent =
      (rows.length === 0 && state.offset === 0 ? "No " + what : "Rows " + first + "–" + last + " of the " + what) +
      " below " + officeName(sel.office) +
      (state.me.as_of ? ", as of the nightly run of " + state.me.as_of : "") +
      ".";
    $("page-info").textContent = rows.length ? "rows " + first + "–" + last : "";
    $("prev").disabled = state.offset === 0;
    $("next").disabled = rows.length < PAGE_SIZE;
  }

  function renderRows(rows) {
    const head = document.createElement("tr");
    for (const [, label, cls] of COLUMNS) {
      const th = document.createElement("th");
      th.textContent = label;
      if (cls === "num") th.className = "num";
      head.append(th);
    }
    $("rows").tHead.replaceChildren(head);
    const body = $("rows").tBodies[0];
    body.replaceChildren();
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = COLUMNS.length;
      td.className = "empty";
      td.textContent = "Nothing to show.";
      tr.append(td);
      body.append(tr);
      return;
    }
    for (const row of rows) {
      const tr = document.createElement("tr");
      for (const [key, , cls] of COLUMNS) {
        const td = document.createElement("td");
        const value = row[key];
        td.textContent = value === null || value === undefined ? "" : String(value);
        if (cls) td.className = cls;
        // Names are mostly Devanagari; a language hint lets the browser pick the right font.
        if (key === "name" && /[\u0900-\u097F]/.test(td.textContent)) td.lang = "hi";
        tr.append(td);
      }
      body.append(tr);
    }
  }

  function saveBlob(blob, filename) {
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = filename;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  async function downloadCsv() {
    const sel = selection();
    const button = $("download");
    button.disabled = true;
    try {
      let text = "";
      for (let offset = 0; ; offset += CSV_PAGE) {
        const path = listPath(sel) + "?format=csv&limit=" + CSV_PAGE + "&offset=" + offset;
        const page = await (await api(path, "text/csv")).text();
        // Every page repeats the header row; keep only the first one.
        const body = offset === 0 ? page : page.slice(page.indexOf("\n") + 1);
        text += body;
        const rows = page.split("\n").filter((l) => l !== "").length - 1;
        if (rows < CSV_PAGE) break;
      }
      const name =
        (sel.list === "defaulters" ? "defaulters" : "worklist-" + sel.list) +
        "-" + sel.office + (state.me.as_of ? "-" + state.me.as_of : "") + ".csv";
      // The byte order mark makes Excel read the file as UTF-8, so Hindi names survive.
      saveBlob(new Blob(["\ufeff", text], { type: "text/csv;charset=utf-8" }), name);
      setText("status", "");
    } catch (err) {
      failed(err, "status");
    } finally {
      button.disabled = false;
    }
  }

  async function printNotices() {
    const sel = selection();
    if (!PAPERS[sel.list]) return;
    // The window is opened within the click itself, or a pop-up blocker would stop it.
    const win = window.open("", "_blank");
    if (!win) {
      setText("status", "The browser blocked the new tab; allow pop-ups for this page.");
      return;
    }
    win.document.title = "Preparing notices…";
    win.document.body.textContent = "Preparing notices…";
    try {
      const path = listPath(sel) + "/notices?limit=" + CSV_PAGE;
      const html = await (await api(path, "text/html")).text();
      const url = URL.createObjectURL(new Blob([html], { type: "text/html;charset=utf-8" }));
      win.location.replace(url);
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      setText("status", "");
    } catch (err) {
      win.close();
      failed(err, "status");
    }
  }

  function fromFragment() {
    if (!location.hash || location.hash.length < 2) return null;
    const params = new URLSearchParams(location.hash.slice(1));
    // The token must not linger in the address bar, the history or a bookmark.
    history.replaceState(null, "", location.pathname + location.search);
    return {
      token: params.get("token"),
      office: params.get("office"),
      list: params.get("list"),
    };
  }

  function start() {
    $("sign-in-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = $("token").value.trim();
      if (token) signIn(token, {});
    });
    $("sign-out").addEventListener("click", () => signOut(""));
    $("office").addEventListener("change", () => {
      state.offset = 0;
      load();
    });
    $("list").addEventListener("change", () => {
      state.offset = 0;
      load();
    });
    $("prev").addEventListener("click", () => {
      state.offset = Math.max(0, state.offset - PAGE_SIZE);
      load();
    });
    $("next").addEventListener("click", () => {
      state.offset += PAGE_SIZE;
      load();
    });
    $("download").addEventListener("click", downloadCsv);
    $("print").addEventListener("click", printNotices);

    const fragment = fromFragment();
    const token = (fragment && fragment.token) || sessionStorage.getItem(KEY_TOKEN);
    if (token) {
      signIn(token, fragment || {});
    } else {
      show("sign-in");
      $("token").focus();
    }
  }

  start();
})();
