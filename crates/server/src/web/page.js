// The officers' page: sign in with an API token, pick an office, read its defaulter list and
// worklists (searched, sorted, filtered by stage, with totals by stage), record the work done
// on a consumer (a notice served, a connection cut or restored, a grievance), download the
// lists as CSV and open a worklist's papers for printing. Everything goes through the /api/v1/
// routes with the token as a Bearer header; the token lives in this tab's sessionStorage only,
// so closing the tab signs the officer out.
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

  // Stages of the recovery ladder in words.
  const STAGE_LABELS = {
    clear: "Clear · बकाया नहीं",
    notice_due: "Notice due · नोटिस देय",
    notice_issued: "Notice issued · नोटिस जारी",
    notice_served: "Notice served · नोटिस तामील",
    disconnection_due: "Disconnection due · विच्छेदन देय",
    disconnected: "Disconnected · विच्छेदित",
    reconnection_due: "Reconnection due · पुनः संयोजन देय",
    pd_due: "Permanent disconnection due · स्थायी विच्छेदन देय",
    permanently_disconnected: "Permanently disconnected · स्थायी रूप से विच्छेदित",
    rc_due: "Recovery certificate due · वसूली प्रमाणपत्र देय",
    rc_issued: "Recovery certificate issued · वसूली प्रमाणपत्र जारी",
  };
  const STAGE_ORDER = Object.keys(STAGE_LABELS);

  // What an officer may record from the page: the command, its label, and whether it fits
  // a row (the API has the last word and says why when it refuses).
  const ACTIONS = {
    serve_notice: {
      label: "Notice served · नोटिस तामील किया",
      fits: (row) => row.notice_no && !row.notice_served_on,
    },
    disconnect: {
      label: "Connection cut · संयोजन काटा",
      fits: (row) => row.notice_served_on,
    },
    reconnect: {
      label: "Connection restored · संयोजन जोड़ा",
      fits: (row) => row.stage === "disconnected" || row.stage === "reconnection_due",
    },
    register_grievance: { label: "Grievance heard · शिकायत दर्ज", fits: () => true },
    void_action: { label: "Void a record made by mistake · गलत प्रविष्टि रद्द करें", fits: () => false },
  };

  // The columns shown on screen; the CSV download carries every column of the API.
  // [key, label, class, kind of value]
  const COLUMNS = [
    ["account_no", "Account", "", "text"],
    ["name", "Name", "name", "text"],
    ["category", "Category", "", "text"],
    ["subdivision", "Sub-div.", "", "text"],
    ["overdue_arrears", "Arrears", "num", "money"],
    ["oldest_due_on", "Oldest due", "", "date"],
    ["days_overdue", "Days", "num", "count"],
    ["aging_bucket", "Bucket", "", "text"],
    ["last_payment_on", "Last paid", "", "date"],
    ["last_payment_amount", "Last amount", "num", "money"],
    ["stage", "Stage", "stage", "stage"],
    ["notice_no", "Notice", "", "text"],
    ["notice_served_on", "Served", "", "date"],
    ["disconnection_allowed_on", "Disconnect from", "", "date"],
    ["hold", "Hold", "", "text"],
    ["mobile_registered", "Mobile", "", "text"],
  ];

  // Rupees as paise, from the API's plain figures ("-1234.50"), without floating point.
  function paise(text) {
    if (text === null || text === undefined || text === "") return 0;
    const m = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(String(text));
    if (!m) return 0;
    const value = Number(m[2]) * 100 + Number((m[3] || "0").padEnd(2, "0"));
    return m[1] ? -value : value;
  }

  // ₹ with Indian grouping: ₹ 1,68,897.93.
  function rupees(p) {
    const sign = p < 0 ? "-" : "";
    const abs = Math.abs(p);
    const whole = String(Math.floor(abs / 100));
    const fraction = String(abs % 100).padStart(2, "0");
    const last3 = whole.slice(-3);
    const rest = whole.slice(0, -3).replace(/\B(?=(\d{2})+(?!\d))/g, ",");
    return sign + "₹ " + (rest ? rest + "," + last3 : last3) + "." + fraction;
  }

  // YYYY-MM-DD as DD-MM-YYYY.
  function ddmmyyyy(text) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || "");
    return m ? m[3] + "-" + m[2] + "-" + m[1] : text || "";
  }

  function shown(row, key, kind) {
    const value = row[key];
    if (value === null || value === undefined || value === "") return "";
    if (kind === "money") return rupees(paise(value));
    if (kind === "date") return ddmmyyyy(value);
    if (kind === "stage") return STAGE_LABELS[value] || value;
    return String(value);
  }

  const $ = (id) => document.getElementById(id);
  const state = {
    token: null,
    me: null,
    offset: 0,
    seq: 0,
    // Every row of the list chosen, as the API gave them.
    all: [],
    sort: { key: null, descending: false },
    acting: null,
  };

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

  // Fetches every row of the list chosen (a page of the API at a time), then shows it.
  async function load() {
    const sel = selection();
    if (!sel.office) return;
    sessionStorage.setItem(KEY_OFFICE, sel.office);
    sessionStorage.setItem(KEY_LIST, sel.list);
    setPrintButton(sel.list);
    $("download").disabled = false;
    const seq = ++state.seq;
    $("summary").textContent = "Loading…";
    let all = [];
    try {
      for (let offset = 0; ; offset += CSV_PAGE) {
        const path = listPath(sel) + "?limit=" + CSV_PAGE + "&offset=" + offset;
        const page = await (await api(path)).json();
        all = all.concat(page);
        if (page.length < CSV_PAGE) break;
      }
    } catch (err) {
      if (seq !== state.seq) return;
      $("summary").textContent = "";
      state.all = [];
      render();
      failed(err, "status");
      return;
    }
    // A newer choice of office or list has been made meanwhile; its answer wins.
    if (seq !== state.seq) return;
    setText("status", "");
    state.all = all;
    // Papers are printed only for a list that has them and someone on it.
    $("print").disabled = !PAPERS[sel.list] || all.length === 0;
    fillStages();
    render();
  }

  // The stage filter offers the stages present in the list.
  function fillStages() {
    const select = $("stage");
    const keep = select.value;
    const present = new Set(state.all.map((r) => r.stage));
    select.replaceChildren(new Option("All stages · सभी", ""));
    for (const stage of STAGE_ORDER.filter((s) => present.has(s))) {
      select.append(new Option(STAGE_LABELS[stage], stage));
    }
    select.value = present.has(keep) ? keep : "";
  }

  // The rows that pass the search and the stage filter, in the chosen order.
  function visible() {
    const needle = $("search").value.trim().toLowerCase();
    const stage = $("stage").value;
    let rows = state.all.filter(
      (r) =>
        (!stage || r.stage === stage) &&
        (!needle ||
          String(r.account_no).toLowerCase().includes(needle) ||
          String(r.name).toLowerCase().includes(needle))
    );
    const { key, descending } = state.sort;
    if (key) {
      const column = COLUMNS.find((c) => c[0] === key);
      const kind = column ? column[3] : "text";
      const value = (r) =>
        kind === "money"
          ? paise(r[key])
          : kind === "count"
            ? Number(r[key] || 0)
            : kind === "stage"
              ? STAGE_ORDER.indexOf(r[key])
              : String(r[key] || "");
      rows = rows.slice().sort((x, y) => {
        const a = value(x);
        const b = value(y);
        const order = a < b ? -1 : a > b ? 1 : 0;
        return descending ? -order : order;
      });
    }
    return rows;
  }

  function render() {
    const sel = selection();
    const rows = visible();
    if (state.offset >= rows.length) state.offset = 0;
    const page = rows.slice(state.offset, state.offset + PAGE_SIZE);
    renderTotals(rows);
    renderRows(page);
    const first = page.length ? state.offset + 1 : 0;
    const last = state.offset + page.length;
    const what = sel.list === "defaulters" ? "defaulters" : "consumers on this worklist";
    const filtered = rows.length !== state.all.length ? " (" + rows.length + " of " + state.all.length + " shown by the filter)" : "";
    $("summary").textContent =
      (rows.length === 0 ? "No " + what : rows.length + " " + what + filtered) +
      " below " + officeName(sel.office) +
      (state.me.as_of ? ", as of the nightly run of " + ddmmyyyy(state.me.as_of) : "") +
      ".";
    $("page-info").textContent = page.length ? "rows " + first + "–" + last + " of " + rows.length : "";
    $("prev").disabled = state.offset === 0;
    $("next").disabled = last >= rows.length;
  }

  // Consumers and overdue arrears in ₹ by stage, over the rows that pass the filter.
  function renderTotals(rows) {
    const by = new Map();
    for (const r of rows) {
      const t = by.get(r.stage) || { consumers: 0, arrears: 0 };
      t.consumers += 1;
      t.arrears += paise(r.overdue_arrears);
      by.set(r.stage, t);
    }
    const box = $("totals");
    box.replaceChildren();
    let consumers = 0;
    let arrears = 0;
    for (const stage of STAGE_ORDER.filter((s) => by.has(s))) {
      const t = by.get(stage);
      consumers += t.consumers;
      arrears += t.arrears;
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.dataset.stage = stage;
      chip.textContent = STAGE_LABELS[stage] + ": " + t.consumers + " · " + rupees(t.arrears);
      box.append(chip);
    }
    if (rows.length) {
      const all = document.createElement("span");
      all.className = "chip total";
      all.textContent = "Total · कुल: " + consumers + " · " + rupees(arrears);
      box.append(all);
    }
  }

  function renderRows(rows) {
    const head = document.createElement("tr");
    for (const [key, label, cls] of COLUMNS) {
      const th = document.createElement("th");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.dataset.key = key;
      const arrow = state.sort.key === key ? (state.sort.descending ? " ▼" : " ▲") : "";
      button.textContent = label + (key.endsWith("_arrears") || key.endsWith("_amount") ? " ₹" : "") + arrow;
      button.title = "Sort by " + label.toLowerCase();
      th.append(button);
      if (cls === "num") th.className = "num";
      head.append(th);
    }
    const actions = document.createElement("th");
    actions.textContent = "Work";
    head.append(actions);
    $("rows").tHead.replaceChildren(head);
    const body = $("rows").tBodies[0];
    body.replaceChildren();
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = COLUMNS.length + 1;
      td.className = "empty";
      td.textContent = "Nothing to show.";
      tr.append(td);
      body.append(tr);
      return;
    }
    const canAct = state.me.role !== "hq";
    for (const row of rows) {
      const tr = document.createElement("tr");
      tr.dataset.account = row.account_no;
      for (const [key, label, cls, kind] of COLUMNS) {
        const td = document.createElement("td");
        td.textContent = shown(row, key, kind);
        td.dataset.label = label;
        if (cls) td.className = cls;
        // Names are mostly Devanagari; a language hint lets the browser pick the right font.
        if (key === "name" && /[\u0900-\u097F]/.test(td.textContent)) td.lang = "hi";
        tr.append(td);
      }
      const td = document.createElement("td");
      td.dataset.label = "Work";
      if (canAct) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "act";
        button.dataset.account = row.account_no;
        button.textContent = "Record…";
        button.title = "Record work done for " + row.account_no;
        td.append(button);
      }
      tr.append(td);
      body.append(tr);
    }
  }

  // Today's date in India, for the forms.
  function todayInIndia() {
    const now = new Date(Date.now() + 330 * 60000);
    return now.toISOString().slice(0, 10);
  }

  function openAction(account) {
    const row = state.all.find((r) => r.account_no === account);
    if (!row) return;
    state.acting = row;
    $("act-who").textContent =
      row.account_no + " · " + row.name + " · " + (STAGE_LABELS[row.stage] || row.stage) +
      (row.notice_no ? " · notice " + row.notice_no : "");
    const kind = $("act-kind");
    kind.replaceChildren();
    const kinds = Object.keys(ACTIONS);
    for (const k of kinds) kind.append(new Option(ACTIONS[k].label, k));
    kind.value = kinds.find((k) => ACTIONS[k].fits(row)) || "register_grievance";
    $("act-date").value = todayInIndia();
    $("act-order").value = "";
    $("act-camp").value = "";
    $("act-reason").value = "";
    $("act-grievance").value = "GRV-" + row.account_no + "-" + todayInIndia().replaceAll("-", "");
    setText("act-error", "");
    showActionFields();
    const dialog = $("act");
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
  }

  function showActionFields() {
    const kind = $("act-kind").value;
    for (const field of $("act-form").querySelectorAll("[data-for]")) {
      field.hidden = field.dataset.for !== kind;
    }
  }

  function closeAction() {
    const dialog = $("act");
    if (typeof dialog.close === "function" && dialog.open) dialog.close();
    dialog.removeAttribute("open");
    state.acting = null;
  }

  // The command the form describes, as the API takes it.
  function actionCommand(row) {
    const kind = $("act-kind").value;
    const on = $("act-date").value;
    switch (kind) {
      case "serve_notice":
        return { type: kind, notice_no: row.notice_no, served_on: on, mode: $("act-mode").value };
      case "disconnect":
        return { type: kind, account_no: row.account_no, on, order_no: $("act-order").value.trim() };
      case "reconnect":
        return { type: kind, account_no: row.account_no, on };
      case "void_action":
        return {
          type: kind,
          account_no: row.account_no,
          action: $("act-void").value,
          action_on: on,
          voided_on: todayInIndia(),
          reason: $("act-reason").value.trim(),
        };
      default: {
        const command = {
          type: "register_grievance",
          grievance_id: $("act-grievance").value.trim(),
          subdivision: row.subdivision,
          category: $("act-category").value,
          registered_on: on,
          account_no: row.account_no,
        };
        const camp = $("act-camp").value.trim();
        if (camp) command.camp_id = camp;
        return command;
      }
    }
  }

  async function record(event) {
    event.preventDefault();
    const row = state.acting;
    if (!row) return;
    const command = actionCommand(row);
    const submit = $("act-submit");
    submit.disabled = true;
    try {
      const response = await fetch("/api/v1/commands", {
        method: "POST",
        headers: { Authorization: "Bearer " + state.token, "Content-Type": "application/json" },
        body: JSON.stringify(command),
      });
      const body = await response.json().catch(() => null);
      if (response.status === 401) {
        closeAction();
        signOut("The token is unknown or has been revoked; sign in again.");
        return;
      }
      if (!response.ok) {
        // The API's own reason, and the field it names.
        const error = (body && body.error) || {};
        const details = (error.details || [])
          .map((d) => (typeof d === "string" ? d : [d.field, d.reason].filter(Boolean).join(": ")))
          .filter(Boolean);
        setText("act-error", "Refused: " + (error.message || response.status) + (details.length ? " (" + details.join("; ") + ")" : ""));
        return;
      }
      closeAction();
      const what = ACTIONS[command.type] ? ACTIONS[command.type].label : command.type;
      setText(
        "notice",
        body && body.appended === 0
          ? "Already recorded: " + what + " for " + row.account_no + "."
          : "Recorded: " + what + " for " + row.account_no + " on " + ddmmyyyy(command.served_on || command.on || command.registered_on || command.action_on) + "."
      );
      await load();
    } catch (err) {
      setText("act-error", "Could not record: " + (err.message || err));
    } finally {
      submit.disabled = false;
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
      setText("notice", "");
      load();
    });
    $("prev").addEventListener("click", () => {
      state.offset = Math.max(0, state.offset - PAGE_SIZE);
      render();
    });
    $("next").addEventListener("click", () => {
      state.offset += PAGE_SIZE;
      render();
    });
    $("stage").addEventListener("change", () => {
      state.offset = 0;
      render();
    });
    $("search").addEventListener("input", () => {
      state.offset = 0;
      render();
    });
    $("rows").addEventListener("click", (event) => {
      const sort = event.target.closest("button.sort");
      if (sort) {
        const key = sort.dataset.key;
        state.sort = {
          key,
          descending: state.sort.key === key ? !state.sort.descending : key.endsWith("_arrears"),
        };
        render();
        return;
      }
      const act = event.target.closest("button.act");
      if (act) openAction(act.dataset.account);
    });
    $("act-kind").addEventListener("change", showActionFields);
    $("act-form").addEventListener("submit", record);
    $("act-cancel").addEventListener("click", closeAction);
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
