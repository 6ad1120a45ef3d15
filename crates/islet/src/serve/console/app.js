// The islet console: plain modules, no framework, no build step. Every piece of agent
// data reaches the page through textContent (never innerHTML), so HTML in it stays text.

const TOKEN_KEY = "islet-token";
const $ = (selector) => document.querySelector(selector);

/** An element with text content and attributes; children appended in order. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

const enc = encodeURIComponent;
const agentPath = (cls, name) => `/agents/${enc(cls)}/${enc(name)}`;

// ---- auth and the API ------------------------------------------------------------------

class Unauthorized extends Error {}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Forgets the token and shows the login page (with `message`, if any). */
function showLogin(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  stopStreams();
  // Nothing read with the token stays in the page once it is gone.
  for (const id of ["agent-list", "agent-detail", "session-list", "search-results", "messages", "profile-list", "memories", "execution-list", "execution-detail", "context-view"]) {
    document.getElementById(id).replaceChildren();
  }
  for (const id of ["agent-filter", "chat-agent", "chat-input", "session-search", "recall-query", "executions-agent"]) {
    document.getElementById(id).value = "";
  }
  $("#profile-name").textContent = "(choose a profile)";
  agents = [];
  agentsLoaded = false;
  openTrees.clear();
  Object.assign(chat, { cls: null, name: null, session: null, lastQuestion: null });
  profile = null;
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
  $("#token").value = "";
  $("#token").focus();
}

/** A request to islet's API with the token; a 401 logs out. Returns the Response. */
async function request(path, options = {}) {
  const t = token();
  if (!t) {
    showLogin();
    throw new Unauthorized("no token");
  }
  const headers = { Authorization: `Bearer ${t}`, ...(options.headers ?? {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    showLogin("The server refused that token. Paste the token islet serve printed (or DATA/token).");
    throw new Unauthorized("unauthorized");
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    let code = null;
    try {
      const body = await response.json();
      message = body?.error?.message ?? message;
      code = body?.error?.code ?? null;
    } catch {}
    throw Object.assign(new Error(message), { status: response.status, code });
  }
  return response;
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  return (await request(path, options)).json();
}

function showError(error) {
  if (error instanceof Unauthorized || error?.name === "AbortError") return;
  $("#error").textContent = String(error?.message ?? error);
}

/** Reads a server-sent event stream, calling `onEvent(event, data)` per event. */
async function readSse(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(event, data.join("\n"));
    }
  }
}

// Streams (state events, chat turns) a view change or logout stops.
let streams = new Set();
function stream() {
  const controller = new AbortController();
  streams.add(controller);
  return controller;
}
function stopStreams() {
  for (const c of streams) c.abort();
  streams = new Set();
}

// ---- routing ---------------------------------------------------------------------------

// Bumped on every route: a view whose requests finish after the next route began must not
// draw over it.
let routeId = 0;
const stale = (id) => id !== routeId;

function route() {
  routeId += 1;
  if (!token()) return showLogin();
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#error").textContent = "";
  stopStreams();
  const [first, ...rest] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const view = ["agents", "chat", "memory", "executions"].includes(first) ? first : "agents";
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view}`;
  for (const link of document.querySelectorAll("header nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const views = { agents: agentsView, chat: chatView, memory: memoryView, executions: executionsView };
  views[view](rest).catch(showError);
}

// ---- agents ----------------------------------------------------------------------------

let agents = [];
let agentsNext = null;
let agentsLoaded = false;
// The sub-agent levels opened in the list (by API path): a redrawn list opens them again.
const openTrees = new Set();

async function loadAgents(more = false) {
  const after = more && agentsNext ? `&after=${enc(agentsNext)}` : "";
  const page = await api(`/agents?limit=200${after}`);
  agents = more ? agents.concat(page.agents) : page.agents;
  agentsNext = page.next;
  agentsLoaded = true;
}

/** "12 s ago", "3 h ago", or the date: when an agent last changed. */
function ago(ms) {
  if (!ms) return null;
  const seconds = Math.max(0, (Date.now() - ms) / 1000);
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(ms).toLocaleString();
}

function agentMeta(a) {
  return [a.active === undefined ? null : a.active ? "active" : "hibernating",
    a.createdAt ? `created ${new Date(a.createdAt).toLocaleString()}` : null,
    a.lastActiveAt ? `last write ${ago(a.lastActiveAt)}` : null,
  ].filter(Boolean).join(" · ");
}

/** A toggle under an agent with sub-agents: opens the next level of the tree, read from
 * `path` (the agent's API path) + `/sub`; a child opens at `hash` (the agent's view) + its hop. */
function subAgentToggle(path, hash, count, label) {
  const children = el("ul", { class: "list tree", hidden: true, "aria-label": `Sub-agents of ${label}` });
  const toggle = el("button", {
    type: "button", class: "quiet sub-toggle", "aria-expanded": "false",
    "aria-label": `Show the ${count} sub-agent${count === 1 ? "" : "s"} of ${label}`,
    text: `▸ ${count} sub-agent${count === 1 ? "" : "s"}`,
  });
  const setOpen = async (open) => {
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = `${open ? "▾" : "▸"} ${count} sub-agent${count === 1 ? "" : "s"}`;
    children.hidden = !open;
    if (open) openTrees.add(path);
    else openTrees.delete(path);
    if (!open || children.childElementCount) return;
    try {
      const { subAgents } = await api(`${path}/sub`);
      children.replaceChildren(...subAgents.map((c) => {
        const hop = `/sub/${enc(c.className)}/${enc(c.name)}`;
        const [childPath, childHash] = [path + hop, hash + hop];
        const childLabel = `${c.className} / ${c.name}`;
        const chain = `${label} › ${childLabel}`;
        return el("li", { "data-sub-agent": `${c.className}/${c.name}` },
          el("button", { type: "button", onclick: () => { location.hash = childHash; } },
            el("span", { text: childLabel }), el("small", { text: agentMeta(c) })),
          c.subAgents ? subAgentToggle(childPath, childHash, c.subAgents, chain) : null);
      }));
    } catch (error) {
      showError(error);
    }
  };
  toggle.addEventListener("click", () => setOpen(toggle.getAttribute("aria-expanded") !== "true"));
  if (openTrees.has(path)) setOpen(true);
  return el("div", {}, toggle, children);
}

function renderAgentList(selected) {
  const filter = $("#agent-filter").value.trim().toLowerCase();
  const list = $("#agent-list");
  const shown = agents.filter((a) => `${a.class}/${a.name}`.toLowerCase().includes(filter));
  list.replaceChildren(...shown.map((a) => el("li", {},
    el("button", {
      type: "button",
      "data-agent": `${a.class}/${a.name}`,
      "aria-current": selected === `${a.class}/${a.name}` ? "true" : null,
      onclick: () => { location.hash = `#/agents/${enc(a.class)}/${enc(a.name)}`; },
    },
      el("span", { text: `${a.class} / ${a.name}` }),
      el("small", { class: "agent-meta", text: agentMeta(a) })),
    a.subAgents ? subAgentToggle(agentPath(a.class, a.name), `#/agents/${enc(a.class)}/${enc(a.name)}`, a.subAgents, `${a.class} / ${a.name}`) : null)));
  if (!shown.length) list.append(el("li", { class: "muted", text: agents.length ? "No agent matches." : "No agents yet." }));
  // Large lists come in pages: say when a filter only looked at those loaded so far.
  if (agentsNext && filter) list.append(el("li", { class: "muted", text: `Filtered the ${agents.length} agents loaded; load more to look further.` }));
  $("#agents-more").hidden = !agentsNext;
}

async function agentsView([cls, name, ...rest]) {
  const id = routeId;
  const selected = cls && name ? `${cls}/${name}` : null;
  // The list is read again whenever the Agents view opens without a selection.
  if (!agentsLoaded || !selected) await loadAgents();
  if (stale(id)) return;
  renderAgentList(selected);
  const detail = $("#agent-detail");
  if (!selected) {
    detail.replaceChildren(el("p", { class: "muted", text: "Choose an agent." }));
    return;
  }
  // A sub-agent is reached through its parents: `…/sub/<Class>/<name>` for each level.
  const ag = { api: agentPath(cls, name), hash: `#/agents/${enc(cls)}/${enc(name)}`, sub: false };
  const titles = [`${cls} / ${name}`];
  while (rest[0] === "sub" && rest.length >= 3) {
    const [, childClass, childName] = rest.splice(0, 3);
    const hop = `/sub/${enc(childClass)}/${enc(childName)}`;
    Object.assign(ag, { api: ag.api + hop, hash: ag.hash + hop, sub: true });
    titles.push(`${childClass} / ${childName}`);
  }
  const [tab = "state", ...path] = rest;
  const link = (to, text) => el("a", { href: `${ag.hash}/${to}`, "aria-current": tab === to ? "page" : null, text });
  const tabs = el("nav", { class: "tabs", "aria-label": "Agent" },
    link("state", "State"), link("workspace", "Workspace"), link("schedules", "Schedules & fibers"),
    link("tables", "SQL tables"), link("extensions", "Extensions"),
    // Chats are a top-level agent's (a sub-agent's sessions are its parent's delegations).
    ag.sub ? null : el("a", { href: `#/chat/${enc(cls)}/${enc(name)}`, text: "Chat" }));
  const body = el("div", { id: "agent-body" });
  detail.replaceChildren(el("h1", { id: "agent-title", text: titles.join(" › ") }),
    ag.sub ? el("p", { class: "muted", text: "A sub-agent: its own state, files, tables and extensions, reached through its parents." }) : null,
    tabs, body);
  if (tab === "workspace") await workspaceTab(body, ag, path.join("/"), id);
  else if (tab === "schedules") await schedulesTab(body, ag);
  else if (tab === "extensions") await extensionsTab(body, ag, id);
  else if (tab === "tables") await tablesTab(body, ag, path[0], Number(path[1] ?? 0), id);
  else await stateTab(body, ag, id);
}

/** A button that asks once more before `action` (window.confirm would block automation
 * and cannot be styled); "Cancel" puts the button back. */
function confirmed(label, question, yesText, action, attrs = {}) {
  const holder = el("span", { class: "row" });
  const button = el("button", { type: "button", class: "quiet", ...attrs, text: label });
  button.addEventListener("click", () => {
    const yes = el("button", { type: "button", class: "confirm-yes", text: yesText });
    yes.addEventListener("click", async () => {
      try {
        await action();
      } catch (error) {
        showError(error);
      }
    });
    const no = el("button", { type: "button", class: "quiet", text: "Cancel", onclick: () => holder.replaceChildren(button) });
    holder.replaceChildren(el("span", { text: question }), yes, no);
    yes.focus();
  });
  holder.append(button);
  return holder;
}

/** What a manifest's permissions allow, in words ("none" where it asks for nothing). */
function permissionsText(manifest) {
  const p = manifest?.permissions ?? {};
  const network = Array.isArray(p.network) && p.network.length ? p.network.join(", ") : "none";
  return `network: ${network} · workspace: ${p.workspace ?? "none"} · memory: ${Array.isArray(p.memory) ? p.memory.join(", ") || "none" : p.memory ?? "none"}`;
}

/** The agent's extensions: every version with its manifest and permissions; enable,
 * disable, make an approved version active, approve one waiting for a person. */
async function extensionsTab(body, ag, id) {
  const base = `${ag.api}/extensions`;
  const { extensions } = await api(base);
  const details = await Promise.all(extensions.map((x) => api(`${base}/${enc(x.name)}`)));
  if (stale(id)) return;
  const again = () => extensionsTab(body, ag, id);
  const list = el("ul", { class: "list", id: "extensions", "aria-label": "Extensions" });
  extensions.forEach((x, i) => {
    const state = x.version ? `v${x.version} active · ${x.enabled ? "enabled" : "disabled"}` : "no active version";
    const toggle = x.version ? el("button", {
      type: "button", class: "quiet toggle-extension", text: x.enabled ? "Disable" : "Enable",
      onclick: async () => {
        try {
          await api(`${base}/${enc(x.name)}/${x.enabled ? "disable" : "enable"}`, {});
          await again();
        } catch (error) {
          showError(error);
        }
      },
    }) : null;
    const versions = el("ul", { class: "list", "aria-label": `Versions of ${x.name}` });
    for (const v of [...details[i].versions].reverse()) {
      const active = v.version === x.version;
      const status = active ? "active" : v.approved ? "approved" : "waiting for approval";
      let action = null;
      if (!v.approved) {
        action = confirmed(`Approve v${v.version}`, `Let v${v.version} run with ${permissionsText(v.manifest)}?`, "Yes, approve",
          async () => { await api(`${base}/${enc(x.name)}/approve`, { version: v.version }); await again(); },
          { "data-approve": v.version });
      } else if (!active) {
        action = el("button", { type: "button", class: "quiet", text: `Make v${v.version} active`, onclick: async () => {
          try {
            await api(`${base}/${enc(x.name)}/rollback`, { version: v.version });
            await again();
          } catch (error) {
            showError(error);
          }
        } });
      }
      versions.append(el("li", { class: "memory", "data-version": v.version },
        el("div", { text: `v${v.version} · ${status} · installed ${new Date(v.createdAt).toLocaleString()}` }),
        el("small", { class: v.approved ? "muted" : "failed-text", text: `Permissions: ${permissionsText(v.manifest)}` }),
        el("details", {}, el("summary", { text: "Manifest" }), el("pre", { text: JSON.stringify(v.manifest, null, 2) })),
        action));
    }
    list.append(el("li", { class: "memory", "data-extension": x.name },
      el("h2", { text: x.name }),
      el("div", { class: "row" }, el("span", { class: "muted extension-state", text: state }), toggle),
      x.manifest?.description ? el("p", { text: x.manifest.description }) : null,
      versions));
  });
  if (!extensions.length) list.append(el("li", { class: "muted", text: "No extensions (an agent installs them with this.extensions.install)." }));
  body.replaceChildren(list);
}

const TABLE_PAGE = 50;

/** The agent's own SQL tables, and a page of one: read-only, through the API (no SQL is
 * written here). */
async function tablesTab(body, ag, table, offset, id) {
  const { tables } = await api(`${ag.api}/db/tables`);
  if (stale(id)) return;
  const base = `${ag.hash}/tables`;
  const list = el("ul", { class: "list", id: "tables", "aria-label": "Tables" });
  for (const t of tables) {
    list.append(el("li", {}, el("button", {
      type: "button",
      "data-table": t.name,
      "aria-current": t.name === table ? "true" : null,
      onclick: () => { location.hash = `${base}/${enc(t.name)}`; },
    }, el("span", { text: t.name }), el("small", { text: `${t.rows} row${t.rows === 1 ? "" : "s"} · ${t.columns.join(", ")}` }))));
  }
  if (!tables.length) list.append(el("li", { class: "muted", text: "No tables (an agent makes them with this.sql)." }));
  const parts = [list];
  const chosen = tables.find((t) => t.name === table);
  if (chosen) {
    const start = Number.isFinite(offset) && offset > 0 ? offset : 0;
    const page = await api(`${ag.api}/db/tables/${enc(table)}?limit=${TABLE_PAGE}&offset=${start}`);
    if (stale(id)) return;
    const cell = (value) => el("td", { text: value === null ? "NULL" : typeof value === "string" ? value : JSON.stringify(value) });
    const grid = el("table", { class: "rows", id: "table-rows", "aria-label": `Rows of ${table}` },
      el("thead", {}, el("tr", {}, ...page.columns.map((c) => el("th", { scope: "col", text: c })))),
      el("tbody", {}, ...page.rows.map((row) => el("tr", {}, ...page.columns.map((c) => cell(row[c]))))));
    const last = Math.min(start + page.rows.length, chosen.rows);
    const nav = el("div", { class: "row" },
      el("button", { type: "button", class: "quiet", id: "rows-prev", disabled: start === 0,
        onclick: () => { location.hash = `${base}/${enc(table)}/${Math.max(0, start - TABLE_PAGE)}`; } }, "‹ Previous"),
      el("span", { id: "rows-range", text: page.rows.length ? `Rows ${start + 1}–${last} of ${chosen.rows}` : `No rows here (${chosen.rows} in all)` }),
      el("button", { type: "button", class: "quiet", id: "rows-next", disabled: start + TABLE_PAGE >= chosen.rows,
        onclick: () => { location.hash = `${base}/${enc(table)}/${start + TABLE_PAGE}`; } }, "Next ›"));
    parts.push(el("h2", { text: table }), nav, grid);
  }
  body.replaceChildren(...parts);
}

async function schedulesTab(body, ag) {
  const { schedules } = await api(`${ag.api}/schedules`);
  const list = el("ul", { class: "list", id: "schedules", "aria-label": "Schedules" });
  for (const s of schedules) {
    const actions = el("div", { class: "row" });
    const cancel = el("button", { type: "button", class: "quiet cancel-schedule", text: "Cancel" });
    cancel.addEventListener("click", () => {
      const yes = el("button", { type: "button", class: "confirm-cancel", text: "Yes, cancel it" });
      yes.addEventListener("click", async () => {
        try {
          await request(`${ag.api}/schedules/${enc(s.id)}`, { method: "DELETE" });
          await schedulesTab(body, ag);
        } catch (error) {
          showError(error);
        }
      });
      const no = el("button", { type: "button", class: "quiet", text: "Keep", onclick: () => actions.replaceChildren(cancel) });
      actions.replaceChildren(el("span", { text: `Cancel ${s.callback}?` }), yes, no);
      yes.focus();
    });
    actions.append(cancel);
    const when = [s.type, s.cron, `next ${new Date(s.time * 1000).toLocaleString()}`].filter(Boolean).join(" · ");
    list.append(el("li", { class: "memory", "data-schedule": s.id },
      el("div", { text: s.callback }), el("small", { class: "muted", text: when }),
      el("pre", { text: JSON.stringify(s.payload, null, 2) }), actions));
  }
  if (!schedules.length) list.append(el("li", { class: "muted", text: "No schedules." }));
  const { fibers } = await api(`${ag.api}/db/fibers?limit=50`);
  const runs = el("ul", { class: "list", id: "fibers", "aria-label": "Fibers" });
  for (const f of fibers) {
    const facts = [f.status, f.sessionId ? `session ${f.sessionId}` : null,
      f.recoveries ? `recovered ${f.recoveries}×` : null,
      `started ${new Date(f.createdAtMs).toLocaleString()}`, `updated ${ago(f.updatedAtMs)}`].filter(Boolean).join(" · ");
    const shown = { stash: f.stash, result: f.result };
    runs.append(el("li", { class: "memory", "data-fiber": f.id, "data-status": f.status },
      el("div", { text: f.name }),
      el("small", { class: f.status === "failed" ? "failed-text" : "muted", text: facts }),
      f.error ? el("pre", { class: "failed-text", text: f.error }) : null,
      f.stash !== null || f.result !== null
        ? el("details", {}, el("summary", { text: "Stash and result" }), el("pre", { text: JSON.stringify(shown, null, 2) }))
        : null));
  }
  if (!fibers.length) runs.append(el("li", { class: "muted", text: "No fibers (durable turns: runFiber, Think turns)." }));
  body.replaceChildren(el("h2", { text: "Schedules" }), list, el("h2", { text: "Fibers" }), runs);
}

async function stateTab(body, ag, id) {
  const status = el("p", { class: "muted", id: "state-status", text: "Loading…" });
  const pre = el("pre", { id: "state", tabindex: "0", "aria-label": "State (JSON)" });
  body.replaceChildren(callForm(ag), status, pre);
  const show = (state) => { pre.textContent = JSON.stringify(state, null, 2); };
  const state = await api(`${ag.api}/state`);
  if (stale(id)) return;
  show(state);
  // Live updates come from a top-level agent's …/state/events; a sub-agent's is read on demand.
  if (ag.sub) {
    status.textContent = "A sub-agent's state as its last call left it (reopen the tab to read it again).";
    return;
  }
  status.textContent = "Connecting for live updates…";
  follow(ag, show, status);
}

/** A form calling one of the agent's methods with JSON arguments; shows the result. */
function callForm(ag) {
  const method = el("input", { id: "call-method", required: true, placeholder: "increment", autocomplete: "off" });
  const args = el("input", { id: "call-args", placeholder: "[5]", autocomplete: "off" });
  const result = el("pre", { id: "call-result", hidden: true });
  const form = el("form", { id: "call-form" },
    el("div", { class: "row" },
      el("div", {}, el("label", { for: "call-method", text: "Method" }), method),
      el("div", {}, el("label", { for: "call-args", text: "Arguments (JSON array)" }), args)),
    el("button", { type: "submit", text: "Call" }), result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let parsed = [];
    if (args.value.trim()) {
      try {
        parsed = JSON.parse(args.value);
      } catch (error) {
        return showError(`The arguments are not JSON (${error.message}); write an array, e.g. [5] or ["a", {"b": 1}].`);
      }
      if (!Array.isArray(parsed)) return showError('The arguments are a JSON array, e.g. [5] or ["a", {"b": 1}].');
    }
    try {
      const { result: value } = await api(`${ag.api}/${enc(method.value.trim())}`, parsed);
      $("#error").textContent = "";
      result.hidden = false;
      result.textContent = `→ ${JSON.stringify(value, null, 2)}`;
    } catch (error) {
      showError(error);
    }
  });
  return form;
}

/** Follows …/state/events, reconnecting after a broken stream until the view changes. */
async function follow(ag, show, status) {
  const controller = stream();
  while (!controller.signal.aborted) {
    try {
      const response = await request(`${ag.api}/state/events`, { signal: controller.signal });
      await readSse(response, (event, data) => {
        // The first event is the state as the stream starts: from then on it is live.
        if (event === "state") show(JSON.parse(data));
        status.textContent = "Live: updates as the agent's state changes.";
      });
    } catch (error) {
      if (error instanceof Unauthorized || controller.signal.aborted) return;
      status.textContent = "Live updates interrupted; reconnecting…";
    }
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

async function workspaceTab(body, ag, path, id) {
  const url = `${ag.api}/workspace${path ? "/" + path.split("/").map(enc).join("/") : ""}`;
  const response = await request(url);
  if (stale(id)) return;
  const crumbs = el("p", { class: "muted", id: "workspace-path", text: `/${path}` });
  const base = `${ag.hash}/workspace`;
  if ((response.headers.get("content-type") ?? "").startsWith("application/json")) {
    const { entries } = await response.json();
    const up = path ? path.split("/").slice(0, -1).join("/") : null;
    const list = el("ul", { class: "list", id: "workspace", "aria-label": "Files" });
    if (up !== null) list.append(el("li", {}, el("button", { type: "button", text: "..", onclick: () => { location.hash = `${base}/${up}`; } })));
    for (const entry of entries) {
      const dir = String(entry.kind).toLowerCase() === "dir";
      const target = entry.path.replace(/^\/+/, "");
      list.append(el("li", {}, el("button", {
        type: "button",
        "data-path": entry.path,
        onclick: () => { location.hash = `${base}/${target}`; },
      }, el("span", { text: dir ? `${entry.name}/` : entry.name }),
        el("small", { text: dir ? "directory" : `${entry.size} bytes` }))));
    }
    if (!entries.length) list.append(el("li", { class: "muted", text: "Empty." }));
    const file = el("input", { id: "upload-file", type: "file", required: true });
    const upload = el("form", { id: "upload-form", class: "row" },
      el("label", { for: "upload-file", text: "Upload into this directory" }), file,
      el("button", { type: "submit", text: "Upload" }));
    upload.addEventListener("submit", async (event) => {
      event.preventDefault();
      const chosen = file.files[0];
      if (!chosen) return;
      try {
        await request(`${url}/${enc(chosen.name)}`, { method: "PUT", body: chosen });
        route();
      } catch (error) {
        showError(error);
      }
    });
    body.replaceChildren(crumbs, list, upload);
  } else {
    const type = response.headers.get("content-type") ?? "";
    const blob = await response.blob();
    const parent = `${base}/${path.split("/").slice(0, -1).join("/")}`;
    const back = el("a", { href: parent, text: "Back to the directory" });
    const view = type.startsWith("text/")
      ? el("pre", { id: "file", tabindex: "0", text: await blob.text() })
      : el("p", { id: "file", text: `A binary file (${blob.size} bytes).` });
    const name = path.split("/").pop();
    // The file was fetched with the token; the download hands over that copy.
    const download = el("button", { type: "button", class: "quiet", id: "download", text: "Download", onclick: () => {
      const link = el("a", { href: URL.createObjectURL(blob), download: name });
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } });
    const actions = el("div", { class: "row" }, download);
    const remove = el("button", { type: "button", class: "quiet", id: "delete", text: "Delete" });
    remove.addEventListener("click", () => {
      const yes = el("button", { type: "button", id: "confirm-delete", text: `Yes, delete ${name}` });
      const no = el("button", { type: "button", class: "quiet", text: "Cancel", onclick: () => actions.replaceChildren(download, remove) });
      yes.addEventListener("click", async () => {
        try {
          await request(url, { method: "DELETE" });
          location.hash = parent;
        } catch (error) {
          showError(error);
        }
      });
      actions.replaceChildren(el("span", { text: "Delete this file for good?" }), yes, no);
      yes.focus();
    });
    actions.append(remove);
    body.replaceChildren(crumbs, back, actions, view);
  }
}

// ---- chat ------------------------------------------------------------------------------

const chat = { cls: null, name: null, session: null, running: false };

async function chatView([cls, name, session]) {
  if (!cls || !name) {
    $("#session-list").replaceChildren();
    $("#messages").replaceChildren(el("p", { class: "muted", text: "Open a Think agent to chat with it." }));
    return;
  }
  // Search results stay while moving between the same agent's sessions.
  if (chat.cls !== cls || chat.name !== name) $("#search-results").replaceChildren();
  Object.assign(chat, { cls, name, session: session ?? null });
  $("#context-view").hidden = true;
  $("#context").setAttribute("aria-expanded", "false");
  $("#chat-agent").value = `${cls}/${name}`;
  chat.lastQuestion = null;
  await loadSessions();
  if (chat.session) await loadHistory();
  else $("#messages").replaceChildren(el("p", { class: "muted", text: "A new session: say something." }));
  setRunning(false);
}

async function loadSessions() {
  let page;
  try {
    page = await api(`${agentPath(chat.cls, chat.name)}/sessions?limit=50`);
  } catch (error) {
    // An agent not created yet has no sessions; its first message creates it.
    if (error.status !== 404 || error.code !== "NOT_FOUND") throw error;
    page = { sessions: [] };
  }
  $("#session-list").replaceChildren(...page.sessions.map((s) => el("li", {},
    el("button", {
      type: "button",
      "aria-current": s.id === chat.session ? "true" : null,
      onclick: () => { location.hash = `#/chat/${enc(chat.cls)}/${enc(chat.name)}/${enc(s.id)}`; },
    }, el("span", { text: s.title || "(untitled)" }),
      el("small", { text: `${s.messageCount} message${s.messageCount === 1 ? "" : "s"} · ${new Date(s.updatedAtMs).toLocaleString()}` })))));
  if (!page.sessions.length) $("#session-list").append(el("li", { class: "muted", text: "No sessions yet." }));
}

async function loadHistory() {
  const base = agentPath(chat.cls, chat.name);
  const { messages, compactions } = await api(`${base}/sessions/${enc(chat.session)}`);
  // A compaction replaces a stretch (firstId…lastId) with a summary in the model's prompt;
  // nothing is deleted, so the stretch shows, marked, under its summary.
  const overlays = new Map();
  for (const c of compactions ?? []) {
    const first = messages.findIndex((m) => m.id === c.firstId);
    const last = messages.findIndex((m) => m.id === c.lastId);
    if (first >= 0 && last >= first) overlays.set(first, { ...c, last });
  }
  let compactedUntil = -1;
  // Where a question was edited or an answer regenerated, the user message has siblings:
  // the versions to switch between (one request per question, in parallel).
  const branches = new Map(await Promise.all(messages.filter((m) => m.role === "user").map(async (m) =>
    [m.id, await api(`${base}/messages/${enc(m.id)}/branches`)])));
  const box = $("#messages");
  box.replaceChildren();
  chat.lastQuestion = null;
  let question = null;
  for (const [index, m] of messages.entries()) {
    const overlay = overlays.get(index);
    if (overlay) {
      compactedUntil = overlay.last;
      box.append(el("details", { class: "compaction" },
        el("summary", { text: `Compacted: the model sees this summary (${overlay.tokens} tokens) instead of the ${overlay.last - index + 1} messages below` }),
        el("pre", { class: "compaction-summary", text: overlay.summary })));
    }
    const before = box.childElementCount;
    if (m.role === "system") continue;
    if (m.role === "user") {
      chat.lastQuestion = question = m.text;
      const b = branches.get(m.id);
      if (b && b.siblings.length > 1) box.append(branchNav(b));
    }
    if (m.role === "tool") {
      box.append(el("div", { class: "tool" }, el("h3", { text: "Tool result" }), el("pre", { text: m.text })));
    } else if (m.text || !m.toolCalls?.length) {
      const shown = message(m.role, m.text);
      shown.append(el("button", {
        type: "button", class: "quiet fork", "aria-label": `Fork a new session from this ${m.role} message`,
        onclick: () => fork(m.id),
      }, "Fork here"));
      if (m.role === "assistant" && question !== null) {
        const asked = question;
        shown.append(el("button", {
          type: "button", class: "quiet fork regen", "aria-label": "Regenerate this answer as a new version",
          onclick: () => { if (!chat.running) send(asked, true, m.id); },
        }, "Regenerate"));
      }
      box.append(shown);
    } else {
      box.append(el("div", { class: "tool" }, el("h3", { text: `Tool calls: ${m.toolCalls.join(", ")}` })));
    }
    if (index <= compactedUntil) [...box.children].slice(before).forEach((node) => node.classList.add("compacted"));
  }
}

/** A new session with this one's history up to `messageId`, opened. */
async function fork(messageId) {
  try {
    const { session } = await api(`${agentPath(chat.cls, chat.name)}/sessions/${enc(chat.session)}/fork`, { atMessage: messageId });
    location.hash = `#/chat/${enc(chat.cls)}/${enc(chat.name)}/${enc(session.id)}`;
  } catch (error) {
    showError(error);
  }
}

/** `text` with the search's `**matched**` words as <mark>, built as text nodes. */
function snippet(text) {
  const node = el("span", { class: "snippet" });
  text.split("**").forEach((piece, i) => node.append(i % 2 ? el("mark", { text: piece }) : piece));
  return node;
}

async function searchSessions(words) {
  const base = agentPath(chat.cls, chat.name);
  const { hits } = await api(`${base}/sessions/search?q=${enc(words)}&limit=20`);
  $("#search-results").replaceChildren(...hits.map((hit) => el("li", {},
    el("button", {
      type: "button",
      "data-session": hit.sessionId,
      onclick: async () => {
        try {
          // Open the session on the branch the found message is on.
          await api(`${base}/sessions/${enc(hit.sessionId)}/leaf`, { messageId: hit.messageId });
          const hash = `#/chat/${enc(chat.cls)}/${enc(chat.name)}/${enc(hit.sessionId)}`;
          if (location.hash === hash) route();
          else location.hash = hash;
        } catch (error) {
          showError(error);
        }
      },
    }, el("span", { text: hit.sessionTitle || "(untitled)" }), el("small", {}, snippet(hit.snippet))))));
  if (!hits.length) $("#search-results").append(el("li", { class: "muted", text: "No message matches." }));
}

/** "‹ v2 of 3 ›" above a message with alternatives; a switch moves the session's leaf. */
function branchNav({ index, siblings }) {
  const go = (to) => async () => {
    try {
      await api(`${agentPath(chat.cls, chat.name)}/sessions/${enc(chat.session)}/leaf`, { messageId: siblings[to].id });
      await loadHistory();
    } catch (error) {
      showError(error);
    }
  };
  return el("div", { class: "row branches" },
    el("button", { type: "button", class: "quiet branch-prev", "aria-label": "Previous version", disabled: index === 0, onclick: go(index - 1) }, "‹"),
    el("span", { class: "branch-label", text: `v${index + 1} of ${siblings.length}` }),
    el("button", { type: "button", class: "quiet branch-next", "aria-label": "Next version", disabled: index === siblings.length - 1, onclick: go(index + 1) }, "›"));
}

function message(role, text) {
  const body = el("span", { class: "text", text });
  return el("div", { class: `msg ${role}` }, el("span", { class: "role", text: role }), body);
}

/** A card for one tool call; returns setters for its input and result. */
function toolCard(name) {
  const input = el("pre", { class: "tool-input" });
  const output = el("pre", { class: "tool-output", text: "running…" });
  const title = el("h3", { text: `Tool: ${name}` });
  const card = el("div", { class: "tool", "data-tool": name },
    title, el("span", { class: "muted", text: "Input" }), input,
    el("span", { class: "muted", text: "Result" }), output);
  return {
    card,
    input(value) {
      input.textContent = typeof value?.code === "string" ? value.code : JSON.stringify(value, null, 2);
    },
    output(value, failed = false, ms = null) {
      output.textContent = typeof value === "string" ? value : JSON.stringify(value, null, 2);
      card.classList.toggle("failed", failed);
      if (ms !== null) title.textContent = `Tool: ${name} · ${failed ? "failed" : "done"} in ${Math.round(ms)} ms`;
    },
  };
}

/** One turn: `text` as a new message, or (`regenerate`) a question answered again: the
 * one before the answer `answerId`, or the latest. */
async function send(text, regenerate = false, answerId = null) {
  const box = $("#messages");
  $("#error").textContent = "";
  if (!chat.session) box.replaceChildren();
  chat.lastQuestion = text;
  box.append(message("user", text));
  let current = null;
  const cards = new Map();
  // When each call's input was complete, for the card's duration (as this page saw it).
  const started = new Map();
  const elapsed = (id) => started.has(id) ? performance.now() - started.get(id) : null;
  const controller = stream();
  setRunning(true);
  try {
    const response = await request(`${agentPath(chat.cls, chat.name)}/chat`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        messages: [{ role: "user", parts: [{ type: "text", text }] }],
        sessionId: chat.session ?? undefined,
        trigger: regenerate ? "regenerate-message" : "submit-message",
        messageId: regenerate && answerId ? answerId : undefined,
      }),
      signal: controller.signal,
    });
    const session = response.headers.get("x-islet-session-id");
    if (session) chat.session = session;
    await readSse(response, (_event, data) => {
      if (data === "[DONE]") return;
      const chunk = JSON.parse(data);
      switch (chunk.type) {
        case "start":
          // The session is known from the first chunk, so Stop works on a new session too.
          if (chunk.messageMetadata?.sessionId) chat.session = chunk.messageMetadata.sessionId;
          break;
        case "finish": {
          const meta = chunk.messageMetadata ?? {};
          const usage = meta.usage ?? {};
          const parts = [
            meta.steps !== undefined ? `${meta.steps} step${meta.steps === 1 ? "" : "s"}` : null,
            usage.inputTokens !== undefined ? `${usage.inputTokens} in / ${usage.outputTokens ?? 0} out tokens` : null,
            meta.stopped && meta.stopped !== "answered" ? `stopped: ${meta.stopped}` : null,
          ].filter(Boolean);
          if (parts.length) box.append(el("p", { class: "muted turn-usage", text: parts.join(" · ") }));
          break;
        }
        case "text-start":
          current = message("assistant", "");
          box.append(current);
          break;
        case "text-delta":
          if (!current) box.append((current = message("assistant", "")));
          current.querySelector(".text").textContent += chunk.delta;
          break;
        case "text-end":
          current = null;
          break;
        case "tool-input-start": {
          const card = toolCard(chunk.toolName);
          cards.set(chunk.toolCallId, card);
          box.append(card.card);
          break;
        }
        case "tool-input-available": {
          let card = cards.get(chunk.toolCallId);
          if (!card) {
            card = toolCard(chunk.toolName);
            cards.set(chunk.toolCallId, card);
            box.append(card.card);
          }
          card.input(chunk.input);
          started.set(chunk.toolCallId, performance.now());
          break;
        }
        case "tool-output-available":
          cards.get(chunk.toolCallId)?.output(chunk.output, false, elapsed(chunk.toolCallId));
          break;
        case "tool-output-error":
          cards.get(chunk.toolCallId)?.output(chunk.errorText, true, elapsed(chunk.toolCallId));
          break;
        case "error":
          box.append(el("p", { class: "error", text: chunk.errorText }));
          break;
        case "abort":
          box.append(el("p", { class: "muted", text: "Stopped." }));
          break;
      }
      box.scrollTop = box.scrollHeight;
    });
  } catch (error) {
    showError(error);
  } finally {
    streams.delete(controller);
    setRunning(false);
  }
  if (chat.session) {
    history.replaceState(null, "", `#/chat/${enc(chat.cls)}/${enc(chat.name)}/${enc(chat.session)}`);
    await loadSessions().catch(showError);
    // A regenerated answer is a new branch: show the history with its version switch.
    if (regenerate) await loadHistory().catch(showError);
  }
}

function setRunning(running) {
  chat.running = running;
  $("#send").disabled = running;
  $("#stop").disabled = !running;
  $("#regenerate").disabled = running || !chat.session || !chat.lastQuestion;
  $("#compact").disabled = running || !chat.session;
  $("#context").disabled = running || !chat.session;
}

/** The context viewer: what the session's next step would send the model, with the
 * estimated tokens of each piece. */
async function showContext() {
  const view = $("#context-view");
  const c = await api(`${agentPath(chat.cls, chat.name)}/sessions/${enc(chat.session)}/context`);
  const text = (m) => m.content.map((p) => p.type === "text" ? p.text : JSON.stringify(p, null, 2)).join("\n");
  view.replaceChildren(
    el("h2", { text: "Context" }),
    el("p", { class: "muted", id: "context-summary", text: `${c.model} · about ${c.totalTokens} tokens in all · compacts at ${c.compactAtTokens} · at most ${c.maxSteps} steps` }),
    el("h3", { text: `System prompt (${c.systemTokens} tokens)` }),
    el("pre", { id: "context-system", text: c.system ?? "(none)" }),
    el("h3", { text: `Tools (${c.tools.length})` }),
    el("ul", { class: "list", id: "context-tools" }, ...c.tools.map((t) => el("li", { "data-tool-name": t.name },
      el("details", {}, el("summary", { text: `${t.name} · ${t.tokens} tokens` }),
        el("pre", { text: `${t.description}\n\n${JSON.stringify(t.inputSchema, null, 2)}` }))))),
    el("h3", { text: `Messages (${c.messages.length})` }),
    el("ol", { class: "list", id: "context-messages" }, ...c.messages.map((m) => el("li", { class: `msg ${m.role}`, "data-role": m.role },
      el("span", { class: "role", text: `${m.role} · ${m.tokens} tokens` }), el("span", { class: "text", text: text(m) })))));
}

// ---- memory ----------------------------------------------------------------------------

let profile = null;

async function memoryView() {
  const { profiles } = await api("/memory");
  $("#profile-list").replaceChildren(...profiles.map((p) => el("li", {},
    el("button", {
      type: "button",
      "data-profile": p.name,
      "aria-current": p.name === profile ? "true" : null,
      onclick: () => { profile = p.name; memoryView().catch(showError); },
    }, el("span", { text: p.name }), el("small", { text: p.memories != null ? `${p.memories} memories` : `served by ${p.node ?? "no node yet"}` })))));
  if (!profiles.length) $("#profile-list").append(el("li", { class: "muted", text: "No memory profiles (start islet serve with --memory)." }));
  $("#profile-name").textContent = profile ?? "(choose a profile)";
  if (profile) showMemories((await api(`/memory/${profile.split("/").map(enc).join("/")}/list`, {})).memories.map((memory) => ({ memory })));
  else $("#memories").replaceChildren();
}

function showMemories(results) {
  const path = `/memory/${profile.split("/").map(enc).join("/")}`;
  $("#memories").replaceChildren(...results.map(({ memory, score, sources }) => {
    const actions = el("div", { class: "row" });
    const forget = el("button", { type: "button", class: "quiet", text: "Forget", "aria-label": `Forget: ${memory.content}` });
    // A second, explicit click confirms (window.confirm would block automation and
    // cannot be styled); Escape or Cancel backs out.
    forget.addEventListener("click", () => {
      const yes = el("button", { type: "button", class: "confirm-forget", text: "Yes, forget it" });
      const no = el("button", { type: "button", class: "quiet", text: "Cancel" });
      yes.addEventListener("click", async () => {
        try {
          await api(`${path}/forget`, { id: memory.id });
          item.remove();
        } catch (error) {
          showError(error);
        }
      });
      no.addEventListener("click", () => actions.replaceChildren(forget));
      actions.replaceChildren(el("span", { text: "Forget this memory for good?" }), yes, no);
      yes.focus();
    });
    actions.append(forget);
    const meta = [memory.type, memory.subject, score !== undefined ? `score ${score.toFixed(2)}` : null,
      sources?.length ? `sources: ${sources.join(", ")}` : null].filter(Boolean).join(" · ");
    const item = el("li", { class: "memory", "data-id": memory.id },
      el("div", { text: memory.content }), el("small", { class: "muted", text: meta }), actions);
    return item;
  }));
  if (!results.length) $("#memories").append(el("li", { class: "muted", text: "Nothing found." }));
}

// ---- executions ------------------------------------------------------------------------

const KIND_NAMES = { execute: "/mcp execute", tool: "tool call", turn: "Think turn", call: "method call" };
/** "method call: increment"; an /mcp program has no other name. */
const executionTitle = (x) => x.kind === "execute" ? KIND_NAMES.execute : `${KIND_NAMES[x.kind] ?? x.kind}: ${x.label}`;

/** An execution's address in the console: a cluster's records carry their node, whose ids are its own. */
const executionKey = (x) => x.node ? `${x.node}~${x.id}` : String(x.id);

async function executionsView([id]) {
  const rid = routeId;
  const params = new URLSearchParams({ limit: "200" });
  for (const [key, input] of [["outcome", "#executions-outcome"], ["kind", "#executions-kind"], ["agent", "#executions-agent"]]) {
    const value = $(input).value.trim();
    if (value) params.set(key, value);
  }
  const { executions } = await api(`/executions?${params}`);
  if (stale(rid)) return;
  const list = $("#execution-list");
  list.replaceChildren(...executions.map((x) => el("li", {},
    el("button", {
      type: "button",
      "data-execution": executionKey(x),
      "data-outcome": x.outcome,
      "aria-current": executionKey(x) === id ? "true" : null,
      onclick: () => { location.hash = `#/executions/${encodeURIComponent(executionKey(x))}`; },
    },
      el("span", { class: x.outcome === "ok" ? "ok" : "failed-text", text: `${x.outcome === "ok" ? "✓" : "✗"} ${executionTitle(x)}` }),
      el("small", { text: [x.agent, x.node, x.outcome === "ok" ? null : x.outcome, `${Math.round(x.durationMs)} ms`,
        new Date(x.at).toLocaleTimeString()].filter(Boolean).join(" · ") })))));
  if (!executions.length) list.append(el("li", { class: "muted", text: "No executions match (the server keeps the latest 500 since it started)." }));
  const detail = $("#execution-detail");
  if (!id) return detail.replaceChildren(el("p", { class: "muted", text: "Choose an execution." }));
  let chosen = executions.find((x) => executionKey(x) === id);
  // An execution outside the filter is still shown when opened by its address.
  if (!chosen) chosen = (await api("/executions?limit=500")).executions.find((x) => executionKey(x) === id);
  if (stale(rid)) return;
  if (!chosen) return detail.replaceChildren(el("p", { class: "muted", text: "That execution is no longer kept." }));
  showExecution(detail, chosen);
}

function showExecution(detail, x) {
  const facts = el("dl", { class: "facts" });
  const fact = (name, value) => { if (value !== null && value !== undefined && value !== "") facts.append(el("dt", { text: name }), el("dd", { text: String(value) })); };
  fact("Kind", KIND_NAMES[x.kind] ?? x.kind);
  fact("Agent", x.agent);
  fact("Node", x.node);
  fact("Outcome", x.outcome);
  fact("Duration", `${x.durationMs.toFixed(1)} ms`);
  fact("Finished", new Date(x.at).toLocaleString());
  fact("Host calls", x.hostCalls);
  if (x.line) fact("Position", `line ${x.line}, column ${x.column ?? "?"}`);
  const parts = [el("h1", { id: "execution-title", text: executionTitle(x) }), facts];
  // A Think turn or tool call links to its conversation.
  const [cls, ...rest] = (x.agent ?? "").split("/");
  if (x.session && cls && rest.length) {
    parts.push(el("p", {}, el("a", { id: "execution-session", href: `#/chat/${enc(cls)}/${enc(rest.join("/"))}/${enc(x.session)}`, text: "Open the conversation" })));
  }
  if (x.error) parts.push(el("h2", { text: "Error" }), el("pre", { id: "execution-error", class: "failed-text", text: x.error }));
  if (x.code) parts.push(el("h2", { text: "Code" }), codeListing(x.code, x.line, x.column));
  if (x.logs?.length) parts.push(el("h2", { text: "Console output" }), el("pre", { id: "execution-logs", text: x.logs.join("\n") }));
  detail.replaceChildren(...parts);
  detail.querySelector(".error-line")?.scrollIntoView({ block: "center" });
}

/** The code as numbered lines; the error's line marked, and its column's character. */
function codeListing(code, line, column) {
  const list = el("ol", { class: "code", id: "execution-code", "aria-label": "Code" });
  code.split("\n").forEach((text, index) => {
    const item = el("li", {});
    if (line === index + 1) {
      item.className = "error-line";
      item.setAttribute("aria-label", `Line ${line}: the error is here`);
      // Columns count characters (code points), as the sandbox reports them.
      const chars = [...text];
      const at = Math.min(Math.max((column ?? 1) - 1, 0), chars.length);
      item.append(chars.slice(0, at).join(""),
        el("mark", { class: "error-pos", text: chars[at] ?? " " }),
        chars.slice(at + 1).join(""));
    } else {
      item.textContent = text || " ";
    }
    list.append(item);
  });
  return list;
}

// ---- wiring ----------------------------------------------------------------------------

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
  try {
    // Checked before any view shows: a wrong token never gets past the login page.
    await api("/agents?limit=1");
    agentsLoaded = false;
    route();
  } catch (error) {
    if (!(error instanceof Unauthorized)) $("#login-error").textContent = String(error.message);
  }
});
$("#logout").addEventListener("click", () => showLogin());
$("#agent-filter").addEventListener("input", () => renderAgentList(null));
$("#agents-more").addEventListener("click", () => loadAgents(true).then(() => renderAgentList(null), showError));
$("#chat-agent-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const [cls, ...name] = $("#chat-agent").value.trim().split("/");
  if (!cls || !name.length) return showError("Write the agent as Class/name, e.g. Assistant/me.");
  location.hash = `#/chat/${enc(cls)}/${enc(name.join("/"))}`;
});
$("#new-session").addEventListener("click", () => {
  if (chat.cls) location.hash = `#/chat/${enc(chat.cls)}/${enc(chat.name)}`;
});
$("#chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("#chat-input").value.trim();
  if (!text || chat.running) return;
  if (!chat.cls) return showError("Open a Think agent first (Class/name).");
  $("#chat-input").value = "";
  send(text);
});
$("#chat-input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("#chat-form").requestSubmit();
});
$("#session-search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!chat.cls) return showError("Open a Think agent first (Class/name).");
  searchSessions($("#session-search").value.trim()).catch(showError);
});
$("#compact").addEventListener("click", async () => {
  if (!chat.session || chat.running) return;
  $("#compact").disabled = true;
  try {
    await api(`${agentPath(chat.cls, chat.name)}/sessions/${enc(chat.session)}/compact`, {});
    await loadHistory();
  } catch (error) {
    showError(error);
  } finally {
    setRunning(false);
  }
});
$("#context").addEventListener("click", async () => {
  const view = $("#context-view");
  const open = view.hidden;
  $("#context").setAttribute("aria-expanded", String(open));
  if (!open) return void (view.hidden = true);
  try {
    await showContext();
    view.hidden = false;
  } catch (error) {
    $("#context").setAttribute("aria-expanded", "false");
    showError(error);
  }
});
$("#regenerate").addEventListener("click", () => {
  if (chat.session && chat.lastQuestion && !chat.running) send(chat.lastQuestion, true);
});
$("#stop").addEventListener("click", async () => {
  if (!chat.session) return;
  try {
    await api(`${agentPath(chat.cls, chat.name)}/chat/cancel`, { sessionId: chat.session });
  } catch (error) {
    showError(error);
  }
});
$("#recall-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!profile) return showError("Choose a memory profile first.");
  try {
    const { results } = await api(`/memory/${profile.split("/").map(enc).join("/")}/recall`, { query: $("#recall-query").value });
    showMemories(results);
  } catch (error) {
    showError(error);
  }
});
$("#executions-filter").addEventListener("submit", (event) => {
  event.preventDefault();
  if (location.hash === "#/executions") route();
  else location.hash = "#/executions";
});
addEventListener("hashchange", route);
route();
