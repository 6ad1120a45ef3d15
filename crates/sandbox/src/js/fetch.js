// fetch.js: Web `fetch`, `Request`, `Response` and `Headers` over one host function.
// Evaluates to a factory called with `hostFetch`, the execution's fetch binding, which
// takes `{url, method, headers: [[k, v]], body: string|null, bodyBase64?, redirect?}` and
// resolves to `{status, statusText, url, redirected, headers: [[k, v]], body | bodyBase64}`.
// Everything that decides where a request may go (hosts, addresses, credentials, sizes,
// time) lives host-side; this file is only the Web-shaped surface.
//
// Not provided: streaming bodies (a body is read whole; `body` is a one-chunk reader),
// `Blob`, `FormData`, `AbortSignal`, CORS modes and caching.
(function (hostFetch) {
'use strict';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FORBIDDEN_METHODS = ['CONNECT', 'TRACE', 'TRACK'];
// Only these are upper-cased, as the Fetch Standard says (`patch` stays as written).
const NORMALIZED_METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'];
const NULL_BODY_STATUSES = [101, 103, 204, 205, 304];
const REDIRECT_STATUSES = [301, 302, 303, 307, 308];
const REDIRECT_MODES = ['follow', 'error', 'manual'];

// Instance state, keyed by object: both classes share the body helpers below, which
// private fields (per class) could not.
const STATE = new WeakMap();
const state = (self, cls) => {
  const s = STATE.get(self);
  if (!s || !(self instanceof cls)) throw new TypeError(`Illegal invocation: not a ${cls.name}`);
  return s;
};

function headerName(name) {
  name = String(name);
  if (!TOKEN.test(name)) throw new TypeError(`Headers: "${name}" is not a valid header name`);
  return name.toLowerCase();
}

function headerValue(name, value) {
  value = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
  if (/[\0\r\n]/.test(value)) throw new TypeError(`Headers: the value of "${name}" contains NUL, CR or LF`);
  return value;
}

class Headers {
  constructor(init) {
    // Lower-cased name → values in order of arrival.
    STATE.set(this, new Map());
    if (init === undefined || init === null) return;
    if (typeof init !== 'object' && typeof init !== 'function') {
      throw new TypeError('Headers: init must be an object, an array of [name, value] pairs or a Headers');
    }
    if (typeof init[Symbol.iterator] === 'function') {
      for (const pair of init) {
        const p = typeof pair === 'string' ? [pair] : [...pair];
        if (p.length !== 2) throw new TypeError('Headers: each header must be a [name, value] pair');
        this.append(p[0], p[1]);
      }
    } else {
      for (const key of Object.keys(init)) this.append(key, init[key]);
    }
  }
  append(name, value) {
    const map = state(this, Headers);
    const key = headerName(name);
    const v = headerValue(key, value);
    const list = map.get(key);
    if (list) list.push(v); else map.set(key, [v]);
  }
  delete(name) { state(this, Headers).delete(headerName(name)); }
  get(name) {
    const list = state(this, Headers).get(headerName(name));
    return list ? list.join(', ') : null;
  }
  getSetCookie() { return [...(state(this, Headers).get('set-cookie') || [])]; }
  has(name) { return state(this, Headers).has(headerName(name)); }
  set(name, value) {
    const key = headerName(name);
    state(this, Headers).set(key, [headerValue(key, value)]);
  }
  // Sorted by name, values combined, `set-cookie` one entry per cookie: the standard's
  // "sort and combine".
  *entries() {
    const map = state(this, Headers);
    for (const key of [...map.keys()].sort()) {
      const list = map.get(key);
      if (!list) continue;
      if (key === 'set-cookie') for (const v of list) yield [key, v];
      else yield [key, list.join(', ')];
    }
  }
  *keys() { for (const [k] of this.entries()) yield k; }
  *values() { for (const [, v] of this.entries()) yield v; }
  forEach(callback, thisArg) {
    if (typeof callback !== 'function') throw new TypeError('Headers.forEach: the callback must be a function');
    for (const [k, v] of this.entries()) callback.call(thisArg, v, k, this);
  }
  [Symbol.iterator]() { return this.entries(); }
}

// --- bodies: kept whole, as text or bytes ------------------------------------------------

const encoder = () => new globalThis.TextEncoder();
const decoder = () => new globalThis.TextDecoder();

function toBase64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return globalThis.btoa(binary);
}

function fromBase64(text) {
  const binary = globalThis.atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const isSearchParams = (v) => Object.prototype.toString.call(v) === '[object URLSearchParams]';

// `{text}` or `{bytes}` plus the content type the body implies, or null for no body.
function extractBody(body, who) {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return { text: body, type: 'text/plain;charset=UTF-8' };
  if (body instanceof ArrayBuffer) return { bytes: new Uint8Array(body.slice(0)), type: null };
  if (ArrayBuffer.isView(body)) {
    return { bytes: new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)), type: null };
  }
  if (isSearchParams(body)) {
    return { text: String(body), type: 'application/x-www-form-urlencoded;charset=UTF-8' };
  }
  // Node would send "[object Object]"; a clear error serves model-written code better.
  throw new TypeError(
    `${who}: a body must be a string, ArrayBuffer, typed array or URLSearchParams; ` +
    'for JSON pass JSON.stringify(value) with a "content-type: application/json" header');
}

function consume(s, who) {
  if (s.used) throw new TypeError(`${who}: the body has already been read (use clone() to read it twice)`);
  s.used = true;
  return s.body;
}

const bodyText = (b) => (b === null ? '' : 'text' in b ? b.text : decoder().decode(b.bytes));
const bodyBytes = (b) => (b === null ? new Uint8Array(0) : 'bytes' in b ? b.bytes.slice() : encoder().encode(b.text));

// What `body` returns: enough of a ReadableStream for `getReader().read()` loops and
// `for await (const chunk of res.body)`, delivering the whole body as one chunk.
function bodyStream(s, who) {
  let done = false;
  const read = async () => {
    if (done) return { done: true, value: undefined };
    done = true;
    const bytes = bodyBytes(consume(s, who));
    return bytes.length ? { done: false, value: bytes } : { done: true, value: undefined };
  };
  return {
    locked: false,
    getReader() { return { read, releaseLock() {}, cancel: async () => { done = true; }, closed: Promise.resolve() }; },
    cancel: async () => { done = true; },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const r = await read();
        if (r.done) return;
        yield r.value;
      }
    },
  };
}

function defineBodyMethods(cls) {
  const who = (name) => `${cls.name}.${name}`;
  Object.assign(cls.prototype, {
    async text() { return bodyText(consume(state(this, cls), who('text'))); },
    async json() {
      const s = state(this, cls);
      const text = bodyText(consume(s, who('json')));
      try {
        return JSON.parse(text);
      } catch (e) {
        const start = text.length > 120 ? `${text.slice(0, 120)}…` : text;
        const status = s.status === undefined ? '' : ` (status ${s.status})`;
        throw new SyntaxError(`${who('json')}: the body is not JSON${status}: ${e.message}; it starts with ${JSON.stringify(start)}`);
      }
    },
    async arrayBuffer() { return bodyBytes(consume(state(this, cls), who('arrayBuffer'))).buffer; },
    async bytes() { return bodyBytes(consume(state(this, cls), who('bytes'))); },
    async blob() { throw new TypeError(`${who('blob')} is not supported here; use text(), json() or arrayBuffer()`); },
    async formData() { throw new TypeError(`${who('formData')} is not supported here; use text() or json()`); },
  });
  for (const name of ['text', 'json', 'arrayBuffer', 'bytes', 'blob', 'formData']) {
    Object.defineProperty(cls.prototype, name, { enumerable: false });
  }
  Object.defineProperty(cls.prototype, 'bodyUsed', {
    get() { return state(this, cls).used; }, configurable: true,
  });
  Object.defineProperty(cls.prototype, 'body', {
    get() {
      const s = state(this, cls);
      return s.body === null ? null : bodyStream(s, who('body'));
    },
    configurable: true,
  });
}

// --- Request -------------------------------------------------------------------------------

function normalizeMethod(method) {
  method = String(method);
  if (!TOKEN.test(method)) throw new TypeError(`Request: "${method}" is not a valid HTTP method`);
  const upper = method.toUpperCase();
  if (FORBIDDEN_METHODS.includes(upper)) throw new TypeError(`Request: the method ${upper} is forbidden`);
  return NORMALIZED_METHODS.includes(upper) ? upper : method;
}

class Request {
  constructor(input, init) {
    if (init === undefined || init === null) init = {};
    if (typeof init !== 'object') throw new TypeError('Request: init must be an object');
    const source = input instanceof Request ? state(input, Request) : null;
    const url = source ? source.url : String(input);
    const method = init.method !== undefined ? normalizeMethod(init.method) : source ? source.method : 'GET';
    const headers = new Headers(init.headers !== undefined ? init.headers : source ? source.headers : undefined);
    let body = null;
    if (init.body !== undefined && init.body !== null) {
      body = extractBody(init.body, 'Request');
      if (body.type !== null && !headers.has('content-type')) headers.set('content-type', body.type);
    } else if (init.body === undefined && source && source.body !== null) {
      // The standard moves the source's body into the new request.
      body = consume(source, 'Request');
    }
    if (body !== null && (method === 'GET' || method === 'HEAD')) {
      throw new TypeError(`Request: a ${method} request cannot have a body`);
    }
    const redirect = init.redirect !== undefined ? String(init.redirect) : source ? source.redirect : 'follow';
    if (!REDIRECT_MODES.includes(redirect)) {
      throw new TypeError(`Request: redirect must be one of ${REDIRECT_MODES.join(', ')}; got "${redirect}"`);
    }
    STATE.set(this, { url, method, headers, body, used: false, redirect });
  }
  get url() { return state(this, Request).url; }
  get method() { return state(this, Request).method; }
  get headers() { return state(this, Request).headers; }
  get redirect() { return state(this, Request).redirect; }
  get signal() { return null; }
  clone() {
    const s = state(this, Request);
    if (s.used) throw new TypeError('Request.clone: the body has already been read');
    const copy = Object.create(Request.prototype);
    STATE.set(copy, { ...s, headers: new Headers(s.headers) });
    return copy;
  }
}
defineBodyMethods(Request);

// --- Response ------------------------------------------------------------------------------

class Response {
  constructor(body, init) {
    if (init === undefined || init === null) init = {};
    if (typeof init !== 'object') throw new TypeError('Response: init must be an object');
    const status = init.status === undefined ? 200 : Number(init.status);
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new RangeError(`Response: status must be an integer from 200 to 599; got ${init.status}`);
    }
    const statusText = init.statusText === undefined ? '' : String(init.statusText);
    const headers = new Headers(init.headers);
    const extracted = extractBody(body, 'Response');
    if (extracted !== null) {
      if (NULL_BODY_STATUSES.includes(status)) throw new TypeError(`Response: a ${status} response cannot have a body`);
      if (extracted.type !== null && !headers.has('content-type')) headers.set('content-type', extracted.type);
    }
    STATE.set(this, {
      status, statusText, headers, body: extracted, used: false, url: '', redirected: false, type: 'default',
    });
  }
  static json(data, init) {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError('Response.json: the data cannot be serialised as JSON');
    const response = new Response(text, init);
    response.headers.set('content-type', 'application/json');
    return response;
  }
  static error() {
    const r = Object.create(Response.prototype);
    STATE.set(r, {
      status: 0, statusText: '', headers: new Headers(), body: null, used: false, url: '', redirected: false, type: 'error',
    });
    return r;
  }
  static redirect(url, status) {
    status = status === undefined ? 302 : status;
    if (!REDIRECT_STATUSES.includes(status)) throw new RangeError(`Response.redirect: ${status} is not a redirect status`);
    return new Response(null, { status, headers: { location: String(url) } });
  }
  get status() { return state(this, Response).status; }
  get statusText() { return state(this, Response).statusText; }
  get ok() { const s = state(this, Response).status; return s >= 200 && s <= 299; }
  get headers() { return state(this, Response).headers; }
  get url() { return state(this, Response).url; }
  get redirected() { return state(this, Response).redirected; }
  get type() { return state(this, Response).type; }
  clone() {
    const s = state(this, Response);
    if (s.used) throw new TypeError('Response.clone: the body has already been read');
    const copy = Object.create(Response.prototype);
    STATE.set(copy, { ...s, headers: new Headers(s.headers) });
    return copy;
  }
}
defineBodyMethods(Response);

// The host's answer as a Response (status may be 1xx–5xx, e.g. a 3xx with redirect: "manual").
function responseFromHost(r) {
  const response = Object.create(Response.prototype);
  const headers = new Headers();
  for (const [k, v] of r.headers || []) headers.append(k, v);
  let body = null;
  if (typeof r.bodyBase64 === 'string') body = { bytes: fromBase64(r.bodyBase64) };
  else if (typeof r.body === 'string' && (r.body !== '' || !NULL_BODY_STATUSES.includes(r.status))) body = { text: r.body };
  STATE.set(response, {
    status: r.status, statusText: r.statusText || '', headers, body, used: false,
    url: r.url || '', redirected: !!r.redirected, type: 'basic',
  });
  return response;
}

// Host errors (policy refusals, timeouts, size caps) reject as TypeError, as Web fetch
// does, keeping the host's `code` (e.g. HOST_NOT_ALLOWED) for code to branch on.
function fetchError(e) {
  if (!(e instanceof Error) || typeof e.code !== 'string') return e;
  const error = new TypeError(e.message);
  error.code = e.code;
  if (e.data !== undefined) error.data = e.data;
  return error;
}

async function fetch(input, init) {
  const request = new Request(input, init);
  const s = state(request, Request);
  const body = s.body === null ? null : consume(s, 'fetch');
  const payload = { url: s.url, method: s.method, headers: [...s.headers], body: null };
  if (body !== null) {
    if ('text' in body) payload.body = body.text;
    else payload.bodyBase64 = toBase64(body.bytes);
  }
  if (s.redirect !== 'follow') payload.redirect = s.redirect;
  let answer;
  try {
    answer = await hostFetch(payload);
  } catch (e) {
    throw fetchError(e);
  }
  return responseFromHost(answer);
}

for (const C of [Headers, Request, Response]) {
  Object.defineProperty(C.prototype, Symbol.toStringTag, { value: C.name, configurable: true });
}
return { fetch, Request, Response, Headers };
})
