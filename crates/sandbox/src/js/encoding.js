// encoding.js: WHATWG Encoding (UTF-8 only) and HTML atob/btoa; evaluates to
// { TextEncoder, TextDecoder, atob, btoa }.
(() => {
'use strict';
const fromCharCode = String.fromCharCode;

// Internal-slot getters as brand checks: they reject look-alike objects,
// which `new Uint8Array(x)` would read as arrays.
const abLen = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength').get;
const sabLen = typeof SharedArrayBuffer === 'function'
  ? Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'byteLength').get : null;
const isBuffer = (v, get) => { try { get.call(v); return true; } catch { return false; } };

function toBytes(input) {
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (isBuffer(input, abLen) || (sabLen && isBuffer(input, sabLen))) return new Uint8Array(input);
  throw new TypeError('The "input" argument must be an instance of ArrayBuffer or ArrayBufferView');
}

// Moves UTF-16 units into `parts`, at most 8192 at a time: apply() takes a
// bounded number of arguments.
function flush(units, parts) {
  parts.push(fromCharCode.apply(null, units));
  units.length = 0;
}

class TextEncoder {
  get encoding() { return 'utf-8'; }

  encode(input = '') {
    const s = String(input);
    const out = new Uint8Array(s.length * 3);
    return out.slice(0, encodeUtf8(s, out).written);
  }

  encodeInto(source, destination) {
    if (!(destination instanceof Uint8Array)) {
      throw new TypeError('The "dest" argument must be an instance of Uint8Array');
    }
    return encodeUtf8(String(source), destination);
  }
}

// Encodes as much of `s` as fits in `out` without splitting a character;
// lone surrogates become U+FFFD.
function encodeUtf8(s, out) {
  const n = s.length, cap = out.length;
  let i = 0, j = 0;
  while (i < n) {
    let c = s.charCodeAt(i), w = 1;
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = c <= 0xdbff && i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); w = 2; }
      else c = 0xfffd;
    }
    const len = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (j + len > cap) break;
    if (len === 1) out[j++] = c;
    else {
      // Lead byte 0xc0/0xe0/0xf0 carrying the top bits, then 6 bits per byte.
      out[j++] = ((0xff00 >> len) & 0xff) | (c >> (6 * len - 6));
      for (let k = 6 * len - 12; k >= 0; k -= 6) out[j++] = 0x80 | ((c >> k) & 63);
    }
    i += w;
  }
  return { read: i, written: j };
}

// Labels the Encoding Standard maps to UTF-8.
const UTF8_LABELS = ['utf-8', 'utf8', 'unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'x-unicode20utf8'];

class TextDecoder {
  #fatal; #ignoreBOM; #bomSeen = false;
  // Decoder state of the WHATWG UTF-8 decoder, kept across stream chunks.
  #need = 0; #seen = 0; #cp = 0; #lo = 0x80; #hi = 0xbf;

  constructor(label = 'utf-8', options = {}) {
    // Trims ASCII whitespace by hand: a `[...]+$` regex is quadratic.
    const l = String(label).toLowerCase(), ws = /[\t\n\f\r ]/;
    let i = 0, j = l.length;
    while (ws.test(l[i])) i++;
    while (j > i && ws.test(l[j - 1])) j--;
    if (!UTF8_LABELS.includes(l.slice(i, j))) {
      throw new RangeError(`The "${label}" encoding is not supported`);
    }
    const o = options == null ? {} : options;
    this.#fatal = !!o.fatal;
    this.#ignoreBOM = !!o.ignoreBOM;
  }

  get encoding() { return 'utf-8'; }
  get fatal() { return this.#fatal; }
  get ignoreBOM() { return this.#ignoreBOM; }

  decode(input, options) {
    const stream = options != null && !!options.stream;
    const bytes = input === undefined ? new Uint8Array(0) : toBytes(input);
    const parts = [], units = [];
    let need = this.#need, seen = this.#seen, cp = this.#cp, lo = this.#lo, hi = this.#hi;
    const fail = () => {
      // Reset so a caught fatal error does not poison the next call.
      this.#need = this.#seen = this.#cp = 0; this.#lo = 0x80; this.#hi = 0xbf;
      this.#bomSeen = false;
      throw new TypeError('The encoded data was not valid for encoding utf-8');
    };
    for (let i = 0, n = bytes.length; i < n; i++) {
      const b = bytes[i];
      if (need === 0) {
        if (b < 0x80) { units.push(b); }
        else if (b >= 0xc2 && b <= 0xdf) { need = 1; cp = b & 0x1f; }
        else if (b >= 0xe0 && b <= 0xef) {
          if (b === 0xe0) lo = 0xa0; else if (b === 0xed) hi = 0x9f;
          need = 2; cp = b & 0xf;
        } else if (b >= 0xf0 && b <= 0xf4) {
          if (b === 0xf0) lo = 0x90; else if (b === 0xf4) hi = 0x8f;
          need = 3; cp = b & 7;
        } else {
          if (this.#fatal) fail();
          units.push(0xfffd);
        }
      } else if (b < lo || b > hi) {
        // Maximal-subpart replacement: emit one U+FFFD and re-read this byte.
        need = seen = cp = 0; lo = 0x80; hi = 0xbf;
        if (this.#fatal) fail();
        units.push(0xfffd);
        i--;
      } else {
        lo = 0x80; hi = 0xbf;
        cp = (cp << 6) | (b & 0x3f);
        if (++seen === need) {
          if (cp > 0xffff) { cp -= 0x10000; units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff)); }
          else units.push(cp);
          need = seen = cp = 0;
        }
      }
      if (units.length >= 8192) flush(units, parts);
    }
    if (!stream && need !== 0) {
      need = seen = cp = 0; lo = 0x80; hi = 0xbf;
      if (this.#fatal) fail();
      units.push(0xfffd);
    }
    this.#need = need; this.#seen = seen; this.#cp = cp; this.#lo = lo; this.#hi = hi;
    if (units.length) flush(units, parts);
    let out = parts.length === 1 ? parts[0] : parts.join('');
    if (!this.#bomSeen && out.length) {
      this.#bomSeen = true;
      if (!this.#ignoreBOM && out.charCodeAt(0) === 0xfeff) out = out.slice(1);
    }
    // A non-streaming call ends the stream: the next call starts afresh.
    if (!stream) this.#bomSeen = false;
    return out;
  }
}

for (const C of [TextEncoder, TextDecoder]) {
  Object.defineProperty(C.prototype, Symbol.toStringTag, { value: C.name, configurable: true });
}

// HTML's atob/btoa throw a DOMException named InvalidCharacterError; there is
// no DOMException here, so use an Error carrying the same name and code.
function invalidChar(message) {
  const e = new Error(message);
  e.name = 'InvalidCharacterError';
  e.code = 5;
  return e;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64_INDEX[B64.charCodeAt(i)] = i;

const needData = (args) => {
  if (!args.length) throw new TypeError('The "data" argument must be specified');
};

function btoa(data) {
  needData(arguments);
  const s = String(data);
  let out = '';
  for (let i = 0; i < s.length; i += 3) {
    const a = s.charCodeAt(i), b = s.charCodeAt(i + 1), c = s.charCodeAt(i + 2);
    // Past the end, charCodeAt is NaN, which passes these tests.
    if (a > 0xff || b > 0xff || c > 0xff) throw invalidChar('Invalid character');
    const n = (a << 16) | ((b | 0) << 8) | (c | 0);
    out += B64[n >> 18] + B64[(n >> 12) & 63] +
      (i + 1 < s.length ? B64[(n >> 6) & 63] : '=') + (i + 2 < s.length ? B64[n & 63] : '=');
  }
  return out;
}

function atob(data) {
  needData(arguments);
  let s = String(data).replace(/[\t\n\f\r ]+/g, '');
  if (s.length % 4 === 0) s = s.replace(/={1,2}$/, '');
  if (/[^A-Za-z0-9+/]/.test(s)) throw invalidChar('Invalid character');
  if (s.length % 4 === 1) throw invalidChar('The string to be decoded is not correctly encoded.');
  const units = [], parts = [];
  let acc = 0, bits = 0;
  for (let i = 0; i < s.length; i++) {
    acc = (acc << 6) | B64_INDEX[s.charCodeAt(i)]; bits += 6;
    if (bits >= 8) {
      bits -= 8;
      units.push((acc >> bits) & 0xff);
      if (units.length >= 8192) flush(units, parts);
    }
  }
  if (units.length) flush(units, parts);
  return parts.join('');
}

return { TextEncoder, TextDecoder, atob, btoa };
})()
