// runtime.js: the `Agent` base class and the turn driver, evaluated as the prelude of an
// agent's isolate (trusted host code; the agent's module runs after it, once per isolate).
//
// Everything durable goes through host functions under `__agent` (the agent's own SQLite
// database, in the supervisor). The agent object lives in the isolate between turns, like
// a Durable Object's memory; its fields are also encoded at the end of each successful
// turn, and a fresh isolate (after a failed turn, or one the sandbox recycled) rebuilds the
// object from them.
(function () {
'use strict';

const host = globalThis.__agent;
delete globalThis.__agent;

// The turn being run: set before the agent's constructor runs, read by `Agent`.
let current = null;
// The agent object of this isolate (one per agent isolate), which runs re-entered calls.
let liveAgent = null;
const INTERNAL = new WeakMap();
const internal = (self) => {
  const i = INTERNAL.get(self);
  if (!i) throw new TypeError('this is not an agent: call agent methods on `this`');
  return i;
};

// ---- fields: a structured-clone-like encoding into JSON ----
function encode(value, path, seen) {
  switch (typeof value) {
    case 'string': case 'boolean': return value;
    case 'number': return Number.isFinite(value) ? value : ['n', String(value)];
    case 'undefined': return ['u'];
    case 'bigint': return ['b', value.toString()];
    case 'function': case 'symbol': return undefined;
  }
  if (value === null) return null;
  if (seen.has(value)) throw new TypeError(`cannot keep field ${path}: it refers to itself (a cycle)`);
  seen.add(value);
  try {
    if (Array.isArray(value)) return ['a', value.map((v, i) => encode(v, `${path}[${i}]`, seen) ?? null)];
    if (value instanceof Date) return ['d', value.getTime()];
    if (value instanceof Map) return ['m', [...value].map(([k, v], i) => [encode(k, `${path}<key ${i}>`, seen), encode(v, `${path}.get(${i})`, seen)])];
    if (value instanceof Set) return ['s', [...value].map((v, i) => encode(v, `${path}<${i}>`, seen))];
    if (ArrayBuffer.isView(value)) return ['t', value.constructor.name, Array.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))];
    const out = {};
    for (const key of Object.keys(value)) {
      const v = encode(value[key], `${path}.${key}`, seen);
      if (v !== undefined) out[key] = v;
    }
    return ['o', out];
  } finally {
    seen.delete(value);
  }
}

function decode(value) {
  if (!Array.isArray(value)) return value;
  const [tag, a, b] = value;
  switch (tag) {
    case 'n': return Number(a);
    case 'u': return undefined;
    case 'b': return BigInt(a);
    case 'a': return a.map(decode);
    case 'd': return new Date(a);
    case 'm': return new Map(a.map(([k, v]) => [decode(k), decode(v)]));
    case 's': return new Set(a.map(decode));
    case 't': {
      const Ctor = globalThis[a] || Uint8Array;
      const bytes = Uint8Array.from(b);
      return Ctor === Uint8Array ? bytes : new Ctor(bytes.buffer);
    }
    case 'o': {
      const out = {};
      for (const key of Object.keys(a)) out[key] = decode(a[key]);
      return out;
    }
  }
  return value;
}

const RESERVED = new Set(['name', 'state']);

function ownFields(agent) {
  const fields = {};
  for (const key of Object.keys(agent)) {
    if (RESERVED.has(key)) continue;
    const v = encode(agent[key], `this.${key}`, new Set());
    if (v !== undefined) fields[key] = v;
  }
  return fields;
}

// ---- this.sql, this.storage, this.workspace ----
function makeSql() {
  const sql = (strings, ...values) => {
    if (!Array.isArray(strings) || !Array.isArray(strings.raw)) {
      throw new TypeError('this.sql is a tagged template: write this.sql`SELECT * FROM t WHERE id = ${id}`, or use this.sql.exec(query, ...params)');
    }
    return host.sql({ query: strings.join('?'), params: values.map(param) }).then((r) => r.rows);
  };
  sql.exec = (query, ...params) => host.sql({ query: String(query), params: params.map(param) });
  return sql;
}

function param(v) {
  if (v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.toISOString();
  return v;
}

const storage = Object.freeze({
  async get(keyOrKeys) {
    if (Array.isArray(keyOrKeys)) {
      const found = await host.kvGetMany({ keys: keyOrKeys.map(String) });
      return new Map(keyOrKeys.map(String).filter((k) => k in found).map((k) => [k, found[k]]));
    }
    const r = await host.kvGet({ key: String(keyOrKeys) });
    return r.found ? r.value : undefined;
  },
  async put(keyOrEntries, value) {
    if (typeof keyOrEntries === 'object' && keyOrEntries !== null) {
      await host.kvPutMany({ entries: keyOrEntries });
      return;
    }
    if (value === undefined) throw new TypeError('storage.put(key, value): value is undefined; use storage.delete(key) to remove a key');
    await host.kvPut({ key: String(keyOrEntries), value });
  },
  async delete(keyOrKeys) {
    if (Array.isArray(keyOrKeys)) return host.kvDeleteMany({ keys: keyOrKeys.map(String) });
    return host.kvDelete({ key: String(keyOrKeys) });
  },
  async list(options) {
    const entries = await host.kvList(options || {});
    return new Map(entries);
  },
  async deleteAll() { await host.kvDeleteAll(null); },
});

const workspace = Object.freeze({
  read: (path) => host.ws({ op: 'read', path }),
  readFile: (path) => host.ws({ op: 'read', path }),
  write: (path, content) => host.ws({ op: 'write', path, content: String(content) }),
  writeFile: (path, content) => host.ws({ op: 'write', path, content: String(content) }),
  append: (path, content) => host.ws({ op: 'append', path, content: String(content) }),
  mkdir: (path, options) => host.ws({ op: 'mkdir', path, recursive: !!(options && options.recursive) }),
  list: (path = '/') => host.ws({ op: 'list', path }),
  stat: (path) => host.ws({ op: 'stat', path }),
  exists: (path) => host.ws({ op: 'exists', path }),
  mv: (from, to) => host.ws({ op: 'mv', path: from, to }),
  cp: (from, to, options) => host.ws({ op: 'cp', path: from, to, recursive: !!(options && options.recursive) }),
  rm: (path, options) => host.ws({ op: 'rm', path, recursive: !!(options && options.recursive) }),
  glob: (pattern) => host.ws({ op: 'glob', pattern }),
  grep: (pattern, options) => host.ws({ op: 'grep', pattern, options: options || {} }),
  diff: (a, b) => host.ws({ op: 'diff', path: a, to: b }),
});

// ---- this.sandbox: the agent's Linux sandbox (Cloudflare's Sandbox SDK's shape) ----
// `timeout` is in milliseconds; `env` an object of strings.
const sandboxOp = (op, args) => host.sandbox({ op, args: args === undefined ? null : args });
const commandArgs = (command, options) => {
  if (typeof command !== 'string' || command === '') throw new TypeError('the command is a non-empty string, run with /bin/sh -c');
  return { ...(options || {}), command };
};
const linuxSandbox = Object.freeze({
  exec: (command, options) => sandboxOp('exec', commandArgs(command, options)),
  // An async iterable of {type: "stdout"|"stderr", data} and finally {type: "exit", exitCode, …}.
  execStream(command, options) {
    const started = sandboxOp('execStream', commandArgs(command, options));
    return {
      async *[Symbol.asyncIterator]() {
        const { streamId } = await started;
        let done = false;
        try {
          while (!done) {
            const next = await sandboxOp('streamNext', { streamId });
            done = next.done;
            for (const event of next.events) yield event;
          }
        } finally {
          if (!done) await sandboxOp('streamCancel', { streamId });
        }
      },
    };
  },
  runCode: (language, code, options) => sandboxOp('runCode', { ...(options || {}), language, code }),
  startProcess: (command, options) => sandboxOp('startProcess', commandArgs(command, options)),
  listProcesses: () => sandboxOp('listProcesses'),
  getProcessLogs: (id) => sandboxOp('getProcessLogs', { id: String(id) }),
  killProcess: (id) => sandboxOp('killProcess', { id: String(id) }),
  /** `{ path, content, encoding }`; `{ encoding: "base64" }` reads a binary file. */
  readFile: (path, options) => sandboxOp('readFile', options && options.encoding !== undefined ? { path, encoding: options.encoding } : { path }),
  /** `{ encoding: "base64" }` writes base64 content as its bytes. */
  writeFile: (path, content, options) => sandboxOp('writeFile', options && options.encoding !== undefined ? { path, content: String(content), encoding: options.encoding } : { path, content: String(content) }),
  listFiles: (path) => sandboxOp('listFiles', path === undefined ? {} : { path }),
  gitCheckout: (repoUrl, options) => sandboxOp('gitCheckout', { ...(options || {}), repoUrl }),
});

// ---- this.memory(profile, { readOnly }): a memory profile the agent attaches itself ----
// Each call goes to the embedder's open memory bindings (`__memoryProfiles`) naming the
// profile; the host refuses writes through a read-only handle, and through any handle on a
// profile the class attaches read-only (`static memory`).
const MEMORY_STRING_INPUT = {
  remember: 'content', recall: 'query', get: 'id', forget: 'id', forgetSession: 'sessionId',
  list: null, ingest: null,
};
function memoryHandle(profile, readOnly) {
  const label = `this.memory(${JSON.stringify(profile)})`;
  const handle = { profile, readOnly };
  for (const [op, field] of Object.entries(MEMORY_STRING_INPUT)) {
    handle[op] = (input) => {
      const ns = globalThis.__memoryProfiles;
      if (!ns || typeof ns[op] !== 'function') {
        throw new TypeError(`${label}.${op}: this server offers agents no memory (it was started without the memory bindings)`);
      }
      let args;
      if (input === undefined || input === null) args = {};
      else if (typeof input === 'string' && field) args = { [field]: input };
      else if (typeof input === 'object' && !Array.isArray(input)) args = { ...input };
      else throw new TypeError(`${label}.${op}(input): input is an object${field ? ` or the ${field} as a string` : ''}`);
      return ns[op]({ ...args, profile, readOnly });
    };
  }
  return Object.freeze(handle);
}

// An error that says what was wrong with the request, not with the agent: a call that
// throws it is answered with its status (4xx) and message instead of a 500.
class HttpError extends Error {
  constructor(status, message, options) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new TypeError(`new HttpError(status, message): status is an HTTP error status (400 to 599), got ${String(status)}`);
    }
    super(message === undefined ? `HTTP ${status}` : String(message), options);
    this.status = status;
    // What the host reads: the error's name and `code` cross the isolate boundary.
    this.code = `HTTP_${status}`;
  }
  get name() { return 'HttpError'; }
}

// ---- calls between agents ----
// What can cross to another agent: what structuredClone accepts, as JSON carries it. A
// function, symbol or cycle would be dropped or garbled silently; refuse it, naming it.
function checkCloneable(value, path, seen) {
  switch (typeof value) {
    case 'function': throw new TypeError(`${path} is a function; only data (what structuredClone accepts) can be passed to or returned from another agent: pass the data the function needs, or a method name`);
    case 'symbol': throw new TypeError(`${path} is a symbol (${String(value)}); only data (what structuredClone accepts) can be passed to or returned from another agent: use a string`);
    case 'object': break;
    default: return;
  }
  if (value === null) return;
  if (seen.has(value)) throw new TypeError(`${path} refers back to itself (a cycle); only data without cycles can be passed to or returned from another agent`);
  seen.add(value);
  try {
    if (Array.isArray(value)) value.forEach((v, i) => checkCloneable(v, `${path}[${i}]`, seen));
    else if (value instanceof Map) [...value].forEach(([k, v], i) => { checkCloneable(k, `${path} key ${i}`, seen); checkCloneable(v, `${path}.get(${i})`, seen); });
    else if (value instanceof Set) [...value].forEach((v, i) => checkCloneable(v, `${path} item ${i}`, seen));
    else if (!(value instanceof Date) && !ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer)) {
      if (typeof value.then === 'function') throw new TypeError(`${path} is a Promise; await it and pass its value`);
      for (const key of Object.keys(value)) checkCloneable(value[key], `${path}.${key}`, seen);
    }
  } finally {
    seen.delete(value);
  }
}

function checkArgs(args, label) {
  args.forEach((a, i) => checkCloneable(a, `${label}: argument ${i + 1}`, new Set()));
}

// Waits for a call to another agent. While it waits, an agent waiting on this call may call
// back into this agent (directly or through others): that call is handed here
// (`{reenter}`) and runs now, inside this turn, instead of waiting in the mailbox for this
// very turn to end (a deadlock); then the wait goes on (`rpcResume`).
async function rpcLoop(pending) {
  let r = await pending;
  while (r && r.reenter) r = await runReentered(r.reenter);
  return r ? r.ok : undefined;
}

async function runReentered({ token, method, args }) {
  let outcome;
  try {
    let result;
    if (method === CODE_TOOL_METHOD) {
      result = await runCodeTool(args[0], args[1], args[2]);
    } else {
      if (!liveAgent || typeof liveAgent[method] !== 'function') throw new TypeError(`this agent has no method ${method}`);
      result = await liveAgent[method](...args);
    }
    checkCloneable(result, `the result of ${method === CODE_TOOL_METHOD ? `codemode.${args[1]}` : method}`, new Set());
    outcome = { token, ok: result === undefined ? null : result };
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    outcome = { token, error: { name: error.name, message: error.message, code: typeof error.code === 'string' ? error.code : undefined } };
  }
  return host.rpcResume(outcome);
}

// A stub whose methods call an agent: `call(method, args)` starts the call.
function agentStub(label, call, extra) {
  return new Proxy(Object.create(null), {
    get(_, method) {
      if (typeof method !== 'string' || method === 'then') return undefined;
      if (extra && Object.prototype.hasOwnProperty.call(extra, method)) return extra[method];
      return (...args) => {
        checkArgs(args, `${label}.${method}`);
        return rpcLoop(call(method, args));
      };
    },
  });
}

function className(Class, usage) {
  if (typeof Class === 'function' && typeof Class.name === 'string' && Class.name) return Class.name;
  if (typeof Class === 'string' && Class) return Class;
  throw new TypeError(`${usage}: Class is an agent class (or its name)`);
}

function subName(name, usage) {
  if (typeof name !== 'string' || !name) throw new TypeError(`${usage}: name is a non-empty string`);
  return name;
}

// ---- this.isolates: code given at runtime, in isolates of its own (see isolates.rs) ----
function loadedStub(id, exports) {
  const names = new Set(exports);
  return new Proxy(Object.create(null), {
    get(_, fn) {
      if (typeof fn !== 'string' || fn === 'then') return undefined;
      if (!names.has(fn)) return () => Promise.reject(new TypeError(`isolates.get(${JSON.stringify(id)}).${fn}: the module exports ${[...names].join(', ')}`));
      return (...args) => {
        checkArgs(args, `isolates.get(${JSON.stringify(id)}).${fn}`);
        return rpcLoop(host.isolateCall({ id, fn, args }));
      };
    },
  });
}

const isolates = Object.freeze({
  /** Runs `code` (an async function body, as Code Mode runs) once in a fresh isolate. */
  run(code, options) {
    if (typeof code !== 'string') return Promise.reject(new TypeError('isolates.run(code, options): code is a string'));
    return rpcLoop(host.isolateRun({ code, options: options === undefined ? null : options }));
  },
  /** Keeps the module `code` in an isolate of its own as `id`; resolves to a stub of its exports. */
  async load(id, code, options) {
    if (typeof id !== 'string' || typeof code !== 'string') throw new TypeError('isolates.load(id, code, options): id and code are strings');
    const exports = await host.isolateLoad({ id, code, options: options === undefined ? null : options });
    return loadedStub(id, exports);
  },
  /** The stub of the module loaded as `id`, or undefined. */
  async get(id) {
    const exports = await host.isolateGet({ id: String(id) });
    return exports === null ? undefined : loadedStub(String(id), exports);
  },
});

// ---- createCodeTool: Code Mode over tools the agent defines ----
// One tool whose input is code: it runs in a fresh isolate (the agent's limits or lower,
// no bindings but `codemode.<tool>(input)`), and each `codemode.<tool>` call runs that
// tool's `execute` back in the agent, inside the turn that awaits the code.
const CODE_TOOL_METHOD = '\u0000codeTool';
const codeToolRuns = new Map();
let codeToolRunCount = 0;

async function runCodeTool(run, name, input) {
  const tools = codeToolRuns.get(run);
  if (!tools) throw new TypeError(`codemode.${name}: its code tool run has ended`);
  const tool = Object.prototype.hasOwnProperty.call(tools, name) ? tools[name] : undefined;
  if (!tool) throw new TypeError(`codemode.${name}: no such tool; the tools are ${Object.keys(tools).join(', ')}`);
  const out = await tool.execute(input);
  return out === undefined ? null : out;
}

const TS_IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
// A TypeScript type for a JSON Schema: enough for a model to call the tool right.
function schemaToTs(schema, depth) {
  if (!schema || typeof schema !== 'object' || depth > 8) return 'unknown';
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' | ') || 'never';
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const union = schema.anyOf || schema.oneOf;
  if (Array.isArray(union)) return union.map((s) => schemaToTs(s, depth + 1)).join(' | ') || 'unknown';
  const type = Array.isArray(schema.type) ? schema.type : [schema.type];
  const parts = type.map((t) => {
    switch (t) {
      case 'string': return 'string';
      case 'number': case 'integer': return 'number';
      case 'boolean': return 'boolean';
      case 'null': return 'null';
      case 'array': return `Array<${schemaToTs(schema.items, depth + 1)}>`;
      case 'object': case undefined: {
        const props = schema.properties && typeof schema.properties === 'object' ? schema.properties : null;
        if (!props) return t === 'object' ? 'Record<string, unknown>' : 'unknown';
        const required = new Set(Array.isArray(schema.required) ? schema.required : []);
        const fields = Object.entries(props).map(([k, v]) => {
          const doc = v && typeof v.description === 'string' ? `/** ${v.description.replace(/\*\//g, '* /')} */ ` : '';
          return `${doc}${TS_IDENT.test(k) ? k : JSON.stringify(k)}${required.has(k) ? '' : '?'}: ${schemaToTs(v, depth + 1)}`;
        });
        return fields.length ? `{ ${fields.join('; ')} }` : '{}';
      }
      default: return 'unknown';
    }
  });
  return parts.join(' | ');
}

/** The TypeScript declaration of `codemode` for `tools`. */
function codeToolDeclarations(tools) {
  const lines = ['declare const codemode: {'];
  for (const [name, tool] of Object.entries(tools)) {
    if (typeof tool.description === 'string' && tool.description) lines.push(`  /** ${tool.description.replace(/\*\//g, '* /')} */`);
    lines.push(`  ${name}(input: ${schemaToTs(toolSchema(tool), 0)}): Promise<unknown>;`);
  }
  lines.push('};');
  return lines.join('\n');
}

function createCodeTool(tools, options) {
  const usage = 'createCodeTool(tools, { description?, limits? })';
  if (!tools || typeof tools !== 'object' || Array.isArray(tools)) throw new TypeError(`${usage}: tools is an object { name: { description, inputSchema, execute } }`);
  for (const [name, tool] of Object.entries(tools)) {
    if (!TS_IDENT.test(name)) throw new TypeError(`${usage}: tool name ${JSON.stringify(name)} is used as codemode.${name}: use letters, digits, _ or $`);
    if (!tool || typeof tool.execute !== 'function') throw new TypeError(`${usage}: tool ${name} has no execute(input) function`);
    toolSchema(tool);
  }
  const o = options === undefined ? {} : options;
  if (o === null || typeof o !== 'object') throw new TypeError(`${usage}: options is an object`);
  const declarations = codeToolDeclarations(tools);
  // The npm rung is named only where this server offers it (else imports fail).
  const imports = host.codeToolImports();
  const description = (o.description !== undefined ? String(o.description) + '\n\n' : '')
    + 'Run JavaScript: the body of an async function (use await; `return` the result you want to see). It can call these tools, chain them, loop and filter between calls:\n```ts\n'
    + declarations + '\n```\nNo network, filesystem or other globals; console.log output is returned with the result.'
    + (imports === null ? ' No imports.' : `\nIt may import ${imports}`);
  return {
    description,
    inputSchema: { type: 'object', properties: { code: { type: 'string', description: 'the body of an async function, e.g. `const a = await codemode.x({}); return a;`' } }, required: ['code'] },
    declarations,
    async execute(input) {
      const code = input && typeof input.code === 'string' ? input.code : undefined;
      if (code === undefined) throw new TypeError('the input is { code: string }');
      const run = String(++codeToolRunCount);
      codeToolRuns.set(run, tools);
      try {
        return await rpcLoop(host.isolateRun({ code, options: { codeTools: { run, names: Object.keys(tools) }, limits: o.limits === undefined ? {} : o.limits } }));
      } finally {
        codeToolRuns.delete(run);
      }
    },
  };
}

// ---- this.delegations: the tasks a chat agent handed off without waiting ----
const delegations = Object.freeze({
  /** The latest detached delegations, newest first: { id, tool, childClass, childName, sessionId, task, status, result, error, … }. */
  list(limit) { return host.delegations({ limit: limit === undefined ? 50 : Number(limit) }); },
  /** One delegation by the runId its tool call answered with. */
  get(id) { return host.delegations({ id: String(id) }); },
});

// ---- this.extensions: tools the agent installs at runtime (see extensions.rs) ----
const extensions = Object.freeze({
  /** Checks and stores a new version of an extension: { name, source, description?, permissions? }. */
  install(spec) {
    if (!spec || typeof spec !== 'object') return Promise.reject(new TypeError('extensions.install({ name, source, description, permissions }): give an object'));
    return host.extInstall({ name: spec.name, source: spec.source, description: spec.description === undefined ? null : spec.description, permissions: spec.permissions === undefined ? {} : spec.permissions });
  },
  /** Every installed extension: { name, version, enabled, versions, manifest }. */
  list() { return host.extList(null); },
  enable(name) { return host.extEnable({ name: String(name), enabled: true }); },
  disable(name) { return host.extEnable({ name: String(name), enabled: false }); },
  /** Makes an earlier version the active one again. */
  rollback(name, version) { return host.extRollback({ name: String(name), version: Number(version) }); },
  /** Deletes the extension with every version. */
  delete(name) { return host.extDelete({ name: String(name) }); },
  /** Runs one tool of the active version in an isolate of its own, with the permissions of its manifest. */
  call(name, tool, input) {
    checkCloneable(input, `extensions.call(${JSON.stringify(name)}, ${JSON.stringify(tool)}): input`, new Set());
    return rpcLoop(host.extCall({ name: String(name), tool: String(tool), input: input === undefined ? null : input }));
  },
});

class Agent {
  constructor() {
    if (!current) throw new TypeError('agents are created by islet: call them as agents.Class("name").method(...)');
    INTERNAL.set(this, current);
  }
  get name() { return internal(this).name; }
  /** The agents above this sub-agent, the top-level one first: `[{ className, name }]`. */
  get parentPath() { return internal(this).parentPath; }
  get state() { return internal(this).state; }
  get sql() { return internal(this).sql; }
  get storage() { return storage; }
  get workspace() { return workspace; }
  /** Code given at runtime, run in isolates of its own: run(code, options), load(id, code, options), get(id). */
  get isolates() { return isolates; }
  /** Tools installed at runtime with declared permissions: install, list, enable, disable, rollback, delete, call. */
  get extensions() { return extensions; }
  /** Tasks handed to child agents without waiting (detached `agentTool`s): list(limit?), get(runId). */
  get delegations() { return delegations; }
  get sandbox() { return linuxSandbox; }
  /** A memory profile ("namespace/name") this agent attaches: remember, recall, list, get,
   *  forget, forgetSession, ingest (as `memory.*`, without `profile`). `{ readOnly: true }`
   *  refuses writes; agents attaching the same profile share its memories. */
  memory(profile, options) {
    internal(this);
    if (typeof profile !== 'string' || !profile) {
      throw new TypeError('this.memory(profile, options?): profile is a memory profile name such as "team/conventions"');
    }
    if (options !== undefined && (options === null || typeof options !== 'object'
      || !Object.keys(options).every((k) => k === 'readOnly')
      || (options.readOnly !== undefined && typeof options.readOnly !== 'boolean'))) {
      throw new TypeError('this.memory(profile, options?): options is { readOnly?: boolean }');
    }
    return memoryHandle(profile, !!(options && options.readOnly));
  }
  async setState(state) {
    const i = internal(this);
    if (state === undefined) throw new TypeError('setState(state): state is undefined; pass null to clear it');
    // The host stores the JSON form; keep exactly what a reload would see.
    const stored = await host.setState({ state });
    i.state = stored;
  }
  async schedule(when, callback, payload) {
    let spec;
    if (typeof when === 'number') spec = { delayMs: Math.round(when * 1000) };
    else if (when instanceof Date) spec = { atMs: when.getTime() };
    else if (typeof when === 'string') spec = { cron: when };
    else throw new TypeError('schedule(when, callback, payload): `when` is seconds from now (number), a Date, or a cron string');
    if (typeof callback === 'function') callback = callback.name;
    if (typeof callback !== 'string' || !callback) throw new TypeError('schedule(when, callback, payload): `callback` is the name of a method of this agent');
    return host.schedule({ ...spec, method: callback, payload: payload === undefined ? null : payload });
  }
  // Durable work (Cloudflare's fibers): the fiber is recorded and the turn's writes so far
  // committed before `fn` runs; each `await ctx.stash(data)` is a checkpoint (the data and
  // every write before it are committed). If the process ends (or the turn fails after
  // the fiber's end), the agent's next activation calls `onFiberRecovered(ctx)` with
  // `ctx.snapshot`, the last stash; writes after it were rolled back. If `fn` throws, its
  // writes since the last checkpoint are undone and the fiber is marked failed.
  async runFiber(name, fn) {
    if (typeof name !== 'string' || !name) throw new TypeError('runFiber(name, fn): name is a non-empty string');
    if (typeof fn !== 'function') throw new TypeError('runFiber(name, fn): fn is an async function (ctx) => { … }');
    const i = internal(this);
    if (i.fiber) throw new TypeError(`runFiber(${JSON.stringify(name)}): fiber ${JSON.stringify(i.fiber)} is still running in this turn; run fibers one after another`);
    const { id } = await host.fiberStart({ name });
    i.fiber = name;
    const ctx = Object.freeze({
      id,
      name,
      stash: (data) => host.fiberStash({ id, data: data === undefined ? null : data }),
    });
    try {
      const result = await fn.call(this, ctx);
      await host.fiberEnd({ id, result: result === undefined ? null : result });
      return result;
    } catch (e) {
      await host.fiberEnd({ id, error: String((e && e.message) || e) });
      throw e;
    } finally {
      i.fiber = null;
    }
  }
  // ---- sub-agents: children with their own database, workspace and schedules ----
  /** The child `Class`/`name` of this agent, created on first use; its methods are RPC. */
  async subAgent(Class, name) {
    const cls = className(Class, 'subAgent(Class, name)');
    subName(name, 'subAgent(Class, name)');
    await host.subAgent({ class: cls, name });
    const to = { class: cls, name };
    return agentStub(`this.subAgent(${cls}, ${JSON.stringify(name)})`, (method, args) => host.subCall({ to, method, args }));
  }
  /** This agent's children: `[{ className, name, createdAt }]`, of one class if given. */
  async listSubAgents(Class) {
    return host.subList({ class: Class === undefined ? null : className(Class, 'listSubAgents(Class?)') });
  }
  async hasSubAgent(Class, name) {
    return host.subHas({ class: className(Class, 'hasSubAgent(Class, name)'), name: subName(name, 'hasSubAgent(Class, name)') });
  }
  /** Deletes the child and everything under it (database, workspace, schedules). */
  async deleteSubAgent(Class, name) {
    return host.subDelete({ class: className(Class, 'deleteSubAgent(Class, name)'), name: subName(name, 'deleteSubAgent(Class, name)') });
  }
  /** Stops the child's running call and fails its queued ones; its data is kept. */
  async abortSubAgent(Class, name, reason) {
    return host.subAbort({ class: className(Class, 'abortSubAgent(Class, name, reason?)'), name: subName(name, 'abortSubAgent(Class, name, reason?)'), reason: reason === undefined ? null : String(reason) });
  }
  /** A stub of this sub-agent's parent. */
  parentAgent() {
    const path = internal(this).parentPath;
    if (!path.length) throw new TypeError(`${this.constructor.name}("${this.name}") is not a sub-agent, so it has no parent agent`);
    const parent = path[path.length - 1];
    return agentStub(`${parent.className}(${JSON.stringify(parent.name)})`, (method, args) => host.subCall({ to: null, method, args }));
  }
  async getSchedules() { return host.schedules(null); }
  async getSchedule(id) { return (await host.getSchedule({ id: String(id) })) ?? undefined; }
  async cancelSchedule(id) { return host.cancelSchedule({ id: String(id) }); }
}

// ---- Think: the chat agent whose turns the host's agent loop runs ----
// The loop itself (model calls, tools, checkpoints) is host-side (`crates/think`); it asks
// the agent for its choices through `think` turns (see `thinkTurn`). These are the
// override points, named as in Cloudflare's `@cloudflare/think`.
class Think extends Agent {
  /** `provider:model` (e.g. "openai:gpt-4.1-mini"); undefined: the server's --model. */
  getModel() { return undefined; }
  /** The system prompt of every inference. */
  getSystemPrompt() { return 'You are a helpful assistant. Use your tools when they help; answer concisely.'; }
  /** Extra tools: `{ name: { description, inputSchema (JSON Schema), execute(input) } }`. */
  getTools() { return {}; }
  // The turn hooks (beforeTurn, beforeToolCall, afterToolCall, onStepFinish, onChatError)
  // have no default here: the host calls only those a class defines, so a class without
  // them pays for no extra isolate runs.
}
// What a class may define to take part in each chat turn; each runs as a `think` turn.
const TURN_HOOKS = ['beforeTurn', 'beforeToolCall', 'afterToolCall', 'onStepFinish', 'onChatError'];
const THINK_HOOKS = new Set(['getModel', 'getSystemPrompt', 'getTools', ...TURN_HOOKS]);
const DEFAULT_MAX_STEPS = 10;
// The model's way to write its own tools (issue 16), offered when the class sets
// `allowExtensions = true`.
const LOAD_EXTENSION = 'load_extension';
const LOAD_EXTENSION_DESCRIPTION = 'Install (or update) an extension: a JavaScript module `export const tools = { name: { description, inputSchema, async execute(args, host) { … } } }` whose tools are offered to you as <extension>_<tool> from the next turn on. `host.fetch` reaches only the hosts in permissions.network, `host.workspace` (read, or read-write) and `host.memory` only as permissions say. Checked on install: errors say what to fix.';
const LOAD_EXTENSION_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', description: 'lower-case letters, digits and _, starting with a letter' },
    source: { type: 'string', description: 'the module' },
    description: { type: 'string' },
    permissions: {
      type: 'object',
      properties: {
        network: { type: 'array', items: { type: 'string' }, description: 'hosts its fetch may reach' },
        workspace: { enum: ['none', 'read', 'read-write'] },
        memory: { enum: ['none', 'read', 'write'] },
      },
    },
  },
  required: ['name', 'source'],
};

// Delegation (issue 16): a tool whose calls the host hands to a child chat agent of this
// one (`Class` is a Think class, or its name), which works in a session of its own; its
// progress streams to this agent's client and its answer is the tool's result. Options:
// `maxSteps` and `timeoutMs` budget each task; `detached: true` answers at once with a
// run id (the child works on; `onDone` names a method of this agent called with the
// delegation's record when it ends; the model inspects runs with its `delegations` tool).
const AGENT_TOOL = Symbol('agentTool');
const AGENT_TOOL_OPTIONS = new Set(['description', 'inputSchema', 'detached', 'maxSteps', 'timeoutMs', 'onDone']);
function agentTool(Class, options) {
  const className = typeof Class === 'function' ? Class.name : Class;
  const usage = 'agentTool(Class, { description?, inputSchema?, detached?, maxSteps?, timeoutMs?, onDone? })';
  if (typeof className !== 'string' || className === '') throw new TypeError(`${usage}: Class is a Think class or its name, e.g. agentTool("Researcher", { description: "…" })`);
  const o = options === undefined ? {} : options;
  if (o === null || typeof o !== 'object') throw new TypeError(`${usage}: options is an object`);
  for (const key of Object.keys(o)) {
    if (!AGENT_TOOL_OPTIONS.has(key)) throw new TypeError(`${usage}: unknown option ${JSON.stringify(key)}`);
  }
  if (o.detached !== undefined && typeof o.detached !== 'boolean') throw new TypeError(`${usage}: detached is true or false`);
  if (o.maxSteps !== undefined && (!Number.isInteger(o.maxSteps) || o.maxSteps < 1 || o.maxSteps > 1000)) throw new TypeError(`${usage}: maxSteps is a whole number from 1 to 1000`);
  if (o.timeoutMs !== undefined && (!Number.isInteger(o.timeoutMs) || o.timeoutMs < 1)) throw new TypeError(`${usage}: timeoutMs is a whole number of milliseconds`);
  if (o.onDone !== undefined && (typeof o.onDone !== 'string' || !o.detached)) throw new TypeError(`${usage}: onDone is the name of a method of this agent, for a detached tool`);
  const detached = o.detached === true;
  const standard = detached
    ? `Start a task for a ${className} agent without waiting: it works on it in a conversation of its own; the call answers at once with a runId, and \`delegations\` tells its status and result.`
    : `Hand a task to a ${className} agent: it works on it in a conversation of its own and answers with its result.`;
  const tool = {
    description: o.description !== undefined ? String(o.description) : standard,
    inputSchema: o.inputSchema !== undefined ? o.inputSchema : { type: 'object', properties: { task: { type: 'string', description: 'the task, with everything the agent needs to know' } }, required: ['task'] },
    execute() { throw new Error(`a ${className} agent tool runs on the host, not here`); },
  };
  const spec = { className, detached };
  if (o.maxSteps !== undefined) spec.maxSteps = o.maxSteps;
  if (o.timeoutMs !== undefined) spec.timeoutMs = o.timeoutMs;
  if (o.onDone !== undefined) spec.onDone = o.onDone;
  Object.defineProperty(tool, AGENT_TOOL, { value: Object.freeze(spec) });
  return tool;
}

// The tools of the enabled extensions, as `<extension>_<tool>`.
async function extensionTools() {
  const out = [];
  for (const e of await host.extList(null)) {
    if (!e.enabled) continue;
    for (const t of (e.manifest && e.manifest.tools) || []) {
      out.push({ name: `${e.name}_${t.name}`, description: t.description, inputSchema: t.inputSchema, extension: e.name, tool: t.name });
    }
  }
  return out;
}
const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function toolSchema(tool) {
  let schema = tool.inputSchema !== undefined ? tool.inputSchema : tool.parameters;
  // The AI SDK's `jsonSchema(…)` wraps the schema.
  if (schema && typeof schema === 'object' && schema.jsonSchema && typeof schema.jsonSchema === 'object') schema = schema.jsonSchema;
  if (schema === undefined || schema === null) return { type: 'object', properties: {} };
  if (typeof schema !== 'object' || Array.isArray(schema)) {
    throw new TypeError('a tool\'s inputSchema is a JSON Schema object, e.g. { type: "object", properties: { city: { type: "string" } } }');
  }
  return JSON.parse(JSON.stringify(schema));
}

async function thinkTools(agent) {
  const tools = await agent.getTools();
  if (tools === undefined || tools === null) return {};
  if (typeof tools !== 'object') throw new TypeError('getTools() returns an object of tools: { name: { description, inputSchema, execute } }');
  return tools;
}

async function thinkTurn(Class, agent, op, payload) {
  if (!(agent instanceof Think)) {
    throw new TypeError(`${Class.name} is not a chat agent: write \`export default class ${Class.name} extends Think { … }\` (import { Think } from "agents")`);
  }
  switch (op) {
    case 'config': {
      const model = await agent.getModel();
      if (model !== undefined && model !== null && typeof model !== 'string') throw new TypeError('getModel() returns a string such as "openai:gpt-4.1-mini"');
      const system = await agent.getSystemPrompt();
      const maxSteps = agent.maxSteps === undefined ? DEFAULT_MAX_STEPS : agent.maxSteps;
      if (!Number.isInteger(maxSteps) || maxSteps < 1 || maxSteps > 1000) throw new TypeError(`maxSteps is a whole number from 1 to 1000, got ${String(maxSteps)}`);
      const tools = [];
      for (const [name, tool] of Object.entries(await thinkTools(agent))) {
        if (!TOOL_NAME.test(name)) throw new TypeError(`tool name ${JSON.stringify(name)}: use 1 to 64 letters, digits, _ or -`);
        if (!tool || typeof tool.execute !== 'function') throw new TypeError(`tool ${name} has no execute(input) function`);
        const own = { name, description: String(tool.description || ''), inputSchema: toolSchema(tool) };
        if (tool[AGENT_TOOL] !== undefined) own.agent = tool[AGENT_TOOL];
        tools.push(own);
      }
      // Installed extensions' tools (`<extension>_<tool>`), from this turn's view of them:
      // one installed during a turn is offered from the next; the class's own tools win.
      for (const t of await extensionTools()) {
        if (TOOL_NAME.test(t.name) && !tools.some((own) => own.name === t.name)) tools.push({ name: t.name, description: t.description, inputSchema: t.inputSchema });
      }
      if (agent.allowExtensions === true && !tools.some((own) => own.name === LOAD_EXTENSION)) {
        tools.push({ name: LOAD_EXTENSION, description: LOAD_EXTENSION_DESCRIPTION, inputSchema: LOAD_EXTENSION_SCHEMA });
      }
      // When the host compacts the prompt: the model's window (tokens) and the share of it.
      const contextWindow = agent.contextWindow === undefined ? null : agent.contextWindow;
      if (contextWindow !== null && (!Number.isInteger(contextWindow) || contextWindow < 256)) throw new TypeError(`contextWindow is the model's context window in tokens, a whole number of at least 256, got ${String(contextWindow)}`);
      const compactAt = agent.compactAt === undefined ? null : agent.compactAt;
      if (compactAt !== null && (typeof compactAt !== 'number' || !(compactAt > 0 && compactAt <= 1))) throw new TypeError(`compactAt is the share of contextWindow at which the conversation is compacted, above 0 and at most 1, got ${String(compactAt)}`);
      const hooks = TURN_HOOKS.filter((h) => typeof agent[h] === 'function');
      return { model: model || null, system: system === undefined || system === null ? null : String(system), maxSteps, tools, contextWindow, compactAt, hooks };
    }
    case 'hook':
      return runHook(agent, payload.hook, payload.args);
    case 'tool': {
      const tools = await thinkTools(agent);
      const tool = Object.prototype.hasOwnProperty.call(tools, payload.name) ? tools[payload.name] : undefined;
      if (!tool && payload.name === LOAD_EXTENSION && agent.allowExtensions === true) {
        const installed = await extensions.install(payload.input || {});
        const note = installed.pending
          ? `not active: ${installed.beyondPolicy}`
          : `installed; its tools (${installed.name}_<tool>) are offered from the next turn`;
        return { ...installed, note };
      }
      if (!tool) {
        const ext = (await extensionTools()).find((t) => t.name === payload.name);
        if (ext) return extensions.call(ext.extension, ext.tool, payload.input === undefined ? null : payload.input);
      }
      if (!tool || typeof tool.execute !== 'function') throw new TypeError(`${Class.name} has no tool ${payload.name}`);
      const out = await tool.execute(payload.input, { toolCallId: payload.callId });
      return out === undefined ? null : out;
    }
    default:
      throw new TypeError(`unknown think operation ${op}`);
  }
}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

// One turn hook, its answer checked here so a wrong shape fails as the hook's own error.
async function runHook(agent, hook, args) {
  if (!TURN_HOOKS.includes(hook)) throw new TypeError(`unknown Think hook ${hook}`);
  const f = agent[hook];
  if (typeof f !== 'function') return null;
  switch (hook) {
    case 'beforeTurn': {
      const out = await f.call(agent, args);
      if (out === undefined || out === null) return null;
      const usage = 'beforeTurn(ctx) returns undefined (no change) or { system?: string, activeTools?: string[], model?: string, maxSteps?: number, refuse?: string }';
      if (!isObject(out)) throw new TypeError(`${usage}, got ${typeof out}`);
      const known = new Set(['system', 'activeTools', 'model', 'maxSteps', 'refuse']);
      const unknown = Object.keys(out).filter((k) => !known.has(k));
      if (unknown.length) throw new TypeError(`${usage}; unknown field(s): ${unknown.join(', ')}`);
      if (out.system !== undefined && typeof out.system !== 'string') throw new TypeError(`${usage}: system is not a string`);
      if (out.activeTools !== undefined && !(Array.isArray(out.activeTools) && out.activeTools.every((t) => typeof t === 'string'))) throw new TypeError(`${usage}: activeTools is not a list of tool names`);
      if (out.model !== undefined && typeof out.model !== 'string') throw new TypeError(`${usage}: model is not a string such as "openai:gpt-4.1-mini"`);
      if (out.maxSteps !== undefined && (!Number.isInteger(out.maxSteps) || out.maxSteps < 1 || out.maxSteps > 1000)) throw new TypeError(`${usage}: maxSteps is a whole number from 1 to 1000`);
      if (out.refuse !== undefined && (typeof out.refuse !== 'string' || !out.refuse)) throw new TypeError(`${usage}: refuse is the reason (a non-empty string) shown to the user`);
      return out;
    }
    case 'beforeToolCall': {
      const out = await f.call(agent, args);
      if (out === undefined || out === null) return null;
      const usage = 'beforeToolCall(call) returns undefined (run the tool), { block: "reason" } (the model gets the reason as an error) or { result: value } (used instead of running the tool)';
      if (!isObject(out) || ('block' in out) === ('result' in out) || Object.keys(out).length !== 1) throw new TypeError(`${usage}, got ${JSON.stringify(out)}`);
      if ('block' in out && typeof out.block !== 'string') throw new TypeError(`${usage}: block is a string`);
      if ('result' in out && out.result === undefined) throw new TypeError(`${usage}: result is undefined`);
      return out;
    }
    case 'afterToolCall': {
      const out = await f.call(agent, args[0], args[1]);
      if (out === undefined || out === null) return null;
      const usage = 'afterToolCall(call, result) returns undefined (keep the result), { result: value } or { error: "message" } (replace it)';
      if (!isObject(out) || ('error' in out) === ('result' in out) || Object.keys(out).length !== 1) throw new TypeError(`${usage}, got ${JSON.stringify(out)}`);
      if ('error' in out && typeof out.error !== 'string') throw new TypeError(`${usage}: error is a string`);
      if ('result' in out && out.result === undefined) throw new TypeError(`${usage}: result is undefined`);
      return out;
    }
    case 'onStepFinish':
      await f.call(agent, args);
      return null;
    case 'onChatError': {
      const error = new Error(String(args.message));
      const out = await f.call(agent, error);
      if (out === undefined || out === null) return null;
      if (typeof out === 'string') return out;
      if (out instanceof Error) return out.message;
      throw new TypeError(`onChatError(error) returns undefined (show the error), a string or an Error (shown instead), got ${typeof out}`);
    }
  }
  return null;
}

// `agents.Counter("name").increment(1)`: each class namespace bound by the host
// (`agents.Counter.increment({name, args})`) also becomes callable with a name, and
// `agents.Counter("name").subAgent("Child", "c")` reaches a sub-agent (which must exist).
function wrapAgentNamespaces() {
  const root = globalThis.agents;
  const sub = globalThis.__isletSub;
  delete globalThis.__isletSub;
  if (!root || typeof root !== 'object') return;
  const subStub = (path) => {
    const label = path.map((p, i) => (i === 0 ? `agents.${p.class}(${JSON.stringify(p.name)})` : `subAgent(${JSON.stringify(p.class)}, ${JSON.stringify(p.name)})`)).join('.');
    return agentStub(label, (method, args) => sub.call({ path, method, args }), {
      subAgent: (cls, name) => subStub([...path, { class: className(cls, `${label}.subAgent(Class, name)`), name: subName(name, `${label}.subAgent(Class, name)`) }]),
    });
  };
  for (const cls of Object.keys(root)) {
    const methods = root[cls];
    const stub = (name) => {
      if (typeof name !== 'string' || !name) throw new TypeError(`agents.${cls}(name): name is a non-empty string`);
      const label = `agents.${cls}(${JSON.stringify(name)})`;
      return new Proxy(Object.create(null), {
        get(_, method) {
          if (typeof method !== 'string' || method === 'then') return undefined;
          if (method === 'subAgent' && sub) return (child, childName) => subStub([{ class: cls, name }, { class: className(child, `${label}.subAgent(Class, name)`), name: subName(childName, `${label}.subAgent(Class, name)`) }]);
          const f = methods[method];
          if (typeof f !== 'function') {
            const known = Object.keys(methods).join(', ') || 'none';
            return () => Promise.reject(new TypeError(`agents.${cls}("${name}").${method} is not a method; ${cls} has: ${known}`));
          }
          return (...args) => {
            checkArgs(args, `${label}.${method}`);
            return rpcLoop(f({ name, args }));
          };
        },
      });
    };
    const raw = {};
    for (const m of Object.keys(methods)) raw[m] = (input) => rpcLoop(methods[m](input));
    // `this.subAgent(agents.Worker, "w")` names the class by its stub, as Cloudflare's by the class.
    Object.defineProperty(stub, 'name', { value: cls });
    root[cls] = Object.assign(stub, raw);
  }
}
wrapAgentNamespaces();

// A turn's entry: the class module evaluates `__isletEntry(Class)` once per live isolate,
// and the host calls the function it returns with each turn's input. The agent object
// stays in this closure between turns while the isolate lives; a fresh isolate (the first
// turn after activation, or after a failed turn) rebuilds it from the encoded fields.
function entry(Class) {
  if (typeof Class !== 'function' || !(Class.prototype instanceof Agent)) {
    throw new TypeError('an agent module exports a class that extends Agent: `export default class Counter extends Agent { … }`');
  }
  let agent = null;
  return (input) => {
    if (agent) internal(agent).state = input.state;
    else agent = liveAgent = create(Class, input);
    return runTurn(Class, agent, input);
  };
}

function create(Class, input) {
  current = { name: input.name, parentPath: input.parentPath || [], state: input.state, sql: makeSql() };
  let agent;
  try {
    agent = new Class();
  } finally {
    current = null;
  }
  if (input.fields) {
    for (const key of Object.keys(input.fields)) agent[key] = decode(input.fields[key]);
  }
  return agent;
}

async function runTurn(Class, agent, input) {
  if (input.start && typeof agent.onStart === 'function') await agent.onStart();
  let result = null;
  switch (input.kind) {
    case 'call': {
      const f = agent[input.method];
      if (typeof f !== 'function') throw new TypeError(`${Class.name} has no method ${input.method}`);
      result = await f.apply(agent, input.args);
      checkCloneable(result, `the result of ${Class.name}.${input.method}`, new Set());
      break;
    }
    case 'schedule': {
      const f = agent[input.method];
      if (typeof f !== 'function') throw new TypeError(`the schedule's callback ${input.method} is not a method of ${Class.name}`);
      result = await f.call(agent, input.payload, input.schedule);
      break;
    }
    case 'request': {
      if (typeof agent.onRequest !== 'function') {
        result = { status: 404, headers: [['content-type', 'text/plain']], body: `${Class.name} has no onRequest(request) handler` };
        break;
      }
      const r = input.request;
      const request = new Request(r.url, { method: r.method, headers: r.headers, body: r.body === null ? undefined : r.body });
      let response = await agent.onRequest(request);
      if (!(response instanceof Response)) {
        response = typeof response === 'string' ? new Response(response) : Response.json(response === undefined ? null : response);
      }
      result = { status: response.status, headers: [...response.headers], body: await response.text() };
      break;
    }
    case 'think':
      result = await thinkTurn(Class, agent, input.op, input.payload);
      break;
    case 'fiberRecovered':
      if (typeof agent.onFiberRecovered === 'function') result = await agent.onFiberRecovered(input.fiber);
      break;
    case 'start':
      break;
    default:
      throw new TypeError(`unknown turn kind ${input.kind}`);
  }
  return { result: result === undefined ? null : result, fields: ownFields(agent) };
}

// What the host needs to know about a class: its methods (the host decides which are
// callable from outside, from these and what the source says), the `static callable` list
// if the class has one, and its lifecycle hooks.
function describe(Class) {
  if (typeof Class !== 'function' || !(Class.prototype instanceof Agent)) {
    throw new TypeError('the module must export a class that extends Agent: `export default class Counter extends Agent { … }`');
  }
  const methods = new Set();
  const think = Class.prototype instanceof Think;
  // Think's override points are the host's to call, never a client's.
  for (let p = Class.prototype; p && p !== Agent.prototype && p !== Think.prototype; p = Object.getPrototypeOf(p)) {
    for (const key of Object.getOwnPropertyNames(p)) {
      const d = Object.getOwnPropertyDescriptor(p, key);
      if (key === 'constructor' || LIFECYCLE.has(key) || (think && THINK_HOOKS.has(key)) || !d || typeof d.value !== 'function') continue;
      methods.add(key);
    }
  }
  let callable = null;
  if ('callable' in Class) {
    const list = Class.callable;
    if (!Array.isArray(list) || !list.every((m) => typeof m === 'string')) {
      throw new TypeError(`static callable is the list of method names clients may call, e.g. static callable = ["increment"]`);
    }
    callable = [...list];
  }
  // The memory profiles the class attaches (the host checks the names and binds `memory.*`).
  const memory = [];
  if ('memory' in Class) {
    const shape = () => new TypeError('static memory is the list of memory profiles the class attaches, e.g. static memory = ["team/conventions", { profile: "team/docs", readOnly: true }]');
    if (!Array.isArray(Class.memory)) throw shape();
    for (const m of Class.memory) {
      if (typeof m === 'string') memory.push({ profile: m, readOnly: false });
      else if (m !== null && typeof m === 'object' && typeof m.profile === 'string'
        && (m.readOnly === undefined || typeof m.readOnly === 'boolean')
        && Object.keys(m).every((k) => k === 'profile' || k === 'readOnly')) {
        memory.push({ profile: m.profile, readOnly: m.readOnly === true });
      } else throw shape();
    }
  }
  // The class's Linux sandbox: `true`, or `{ network: ["pypi.org", "*.github.com"] }`.
  let sandbox = null;
  if ('sandbox' in Class && Class.sandbox !== false && Class.sandbox != null) {
    const s = Class.sandbox;
    const shape = () => new TypeError('static sandbox is true, or { network: ["host", "*.domain", "host:port"] } naming the hosts its commands may reach (none by default)');
    if (s === true) sandbox = { network: [] };
    else if (typeof s === 'object' && Object.keys(s).every((k) => k === 'network')
      && (s.network === undefined || (Array.isArray(s.network) && s.network.every((h) => typeof h === 'string')))) {
      sandbox = { network: s.network ? [...s.network] : [] };
    } else throw shape();
  }
  return {
    name: Class.name,
    methods: [...methods].sort(),
    callable,
    memory,
    sandbox,
    onStart: typeof Class.prototype.onStart === 'function',
    onRequest: typeof Class.prototype.onRequest === 'function',
    onFiberRecovered: typeof Class.prototype.onFiberRecovered === 'function',
    think,
  };
}
const LIFECYCLE = new Set(['onStart', 'onRequest', 'onFiberRecovered']);

Object.defineProperty(globalThis, '__isletDescribe', { value: describe, writable: false, enumerable: false, configurable: false });
Object.defineProperty(globalThis, 'Agent', { value: Agent, writable: false, enumerable: false, configurable: false });
Object.defineProperty(globalThis, 'Think', { value: Think, writable: false, enumerable: false, configurable: false });
Object.defineProperty(globalThis, 'agentTool', { value: agentTool, writable: false, enumerable: false, configurable: false });
Object.defineProperty(globalThis, 'createCodeTool', { value: createCodeTool, writable: false, enumerable: false, configurable: false });
Object.defineProperty(globalThis, 'HttpError', { value: HttpError, writable: false, enumerable: false, configurable: false });
Object.defineProperty(globalThis, '__isletEntry', { value: entry, writable: false, enumerable: false, configurable: false });
})();
