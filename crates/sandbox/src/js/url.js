// url.js: WHATWG URL and URLSearchParams; evaluates to { URL, URLSearchParams }.
// Follows the current URL Standard like its reference implementation
// whatwg-url (Node 20 predates two changes: `^` is escaped in paths, and a
// space ending an opaque path before ?/# becomes %20). Non-ASCII domains get an
// approximation of UTS #46: ignorables dropped, NFKC, lowercase, ideographic
// dots, Punycode per label; the full disallowed table, Bidi/ContextJ rules and
// "xn--" label checks are skipped, so a few hosts browsers reject pass here.
(() => {
'use strict';
const FAIL = null;
const SPECIAL = { __proto__: null, ftp: 21, file: null, http: 80, https: 443, ws: 80, wss: 443 };
const isSpecial = (scheme) => scheme in SPECIAL;
const defaultPort = (scheme) => (scheme in SPECIAL ? SPECIAL[scheme] : null);

// Percent-encode sets, as the code points they match.
const C0_SET = /[\0-\x1f\x7f-\u{10ffff}]/gu;
const FRAGMENT_SET = /[\0- "<>`\x7f-\u{10ffff}]/gu;
const QUERY_SET = /[\0- "#<>\x7f-\u{10ffff}]/gu;
const SPECIAL_QUERY_SET = /[\0- "#'<>\x7f-\u{10ffff}]/gu;
const PATH_SET = /[\0- "#<>?^`{}\x7f-\u{10ffff}]/gu;
const USERINFO_SET = /[\0- "#/:;<=>?@[\\\]^`{|}\x7f-\u{10ffff}]/gu;
const FORM_SET = /[^*\-.\w]/gu;

// Percent-encodes what `set` matches, a whole string per native replace (a JS
// loop is slow in QuickJS). A lone surrogate encodes as U+FFFD.
const encode = (s, set) => s.replace(set, (ch) => {
  const c = ch.codePointAt(0);
  if (c < 0x80) return (c < 16 ? '%0' : '%') + c.toString(16).toUpperCase();
  return encodeURIComponent(c >= 0xd800 && c <= 0xdfff ? '\ufffd' : ch);
});

// UTF-8 decode of bytes with U+FFFD for each maximal invalid subpart.
function utf8Decode(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i++];
    if (b < 0x80) { out += String.fromCharCode(b); continue; }
    let need = 0, cp = 0, lo = 0x80, hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) { need = 1; cp = b & 0x1f; }
    else if (b >= 0xe0 && b <= 0xef) { need = 2; cp = b & 0xf; if (b === 0xe0) lo = 0xa0; if (b === 0xed) hi = 0x9f; }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; cp = b & 7; if (b === 0xf0) lo = 0x90; if (b === 0xf4) hi = 0x8f; }
    while (need > 0 && i < bytes.length && bytes[i] >= lo && bytes[i] <= hi) {
      cp = (cp << 6) | (bytes[i++] & 0x3f); need--; lo = 0x80; hi = 0xbf;
    }
    out += need === 0 && b >= 0xc2 && b <= 0xf4 ? String.fromCodePoint(cp) : '\ufffd';
  }
  return out;
}

// Percent-decodes as UTF-8. Only runs of %XX need it: a literal character is
// whole UTF-8 and cannot combine with escapes.
function pctDecode(s) {
  if (!s.includes('%')) return s;
  return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try { return decodeURIComponent(run); } catch {}
    const bytes = [];
    for (let i = 0; i < run.length; i += 3) bytes.push(parseInt(run.slice(i + 1, i + 3), 16));
    return utf8Decode(bytes);
  });
}

// ---- hosts ----

const FORBIDDEN_HOST = /[\0\t\n\r #/:<>?@[\\\]^|]/;
const FORBIDDEN_DOMAIN = /[\0-\x20#%/:<>?@[\\\]^|\x7f]/;

function parseHost(input, opaque) {
  if (input[0] === '[') {
    if (input[input.length - 1] !== ']') return FAIL;
    const a = parseIPv6(input.slice(1, -1));
    return a === FAIL ? FAIL : '[' + serializeIPv6(a) + ']';
  }
  if (opaque) return FORBIDDEN_HOST.test(input) ? FAIL : encode(input, C0_SET);
  const ascii = domainToASCII(pctDecode(input));
  if (ascii === FAIL || ascii === '' || FORBIDDEN_DOMAIN.test(ascii)) return FAIL;
  if (endsInNumber(ascii)) {
    const v4 = parseIPv4(ascii);
    return v4 === FAIL ? FAIL : [v4 >>> 24, (v4 >>> 16) & 255, (v4 >>> 8) & 255, v4 & 255].join('.');
  }
  return ascii;
}

function domainToASCII(domain) {
  // Fast path: all ASCII needs only lowercasing.
  if (!/[^\0-\x7f]/.test(domain)) return domain.toLowerCase();
  const mapped = domain
    .replace(/[\u00ad\u034f\u180b-\u180f\u200b\u2060\u2064\ufe00-\ufe0f\ufeff]/g, '')
    .normalize('NFKC').toLowerCase().normalize('NFC')
    .replace(/[\u3002\uff0e\uff61]/g, '.');
  // UTS #46 disallows these: C1, private use, noncharacters, U+FFFD.
  if (/[\x80-\x9f\ue000-\uf8ff\ufdd0-\ufdef\ufff0-\uffff]/.test(mapped)) return FAIL;
  return mapped.split('.').map((l) => (/[^\0-\x7f]/.test(l) ? 'xn--' + punycode(l) : l)).join('.');
}

// RFC 3492 Punycode encoding of one label.
function punycode(label) {
  const cps = Array.from(label, (c) => c.codePointAt(0));
  const digit = (d) => String.fromCharCode(d + (d < 26 ? 97 : 22));
  let out = '';
  for (const c of cps) if (c < 0x80) out += String.fromCharCode(c);
  const basic = out.length;
  let h = basic, n = 0x80, delta = 0, bias = 72;
  if (basic) out += '-';
  while (h < cps.length) {
    let m = Infinity;
    for (const c of cps) if (c >= n && c < m) m = c;
    delta += (m - n) * (h + 1);
    n = m;
    for (const c of cps) {
      if (c < n) delta++;
      if (c !== n) continue;
      let q = delta;
      for (let k = 36; ; k += 36) {
        const t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
        if (q < t) break;
        out += digit(t + ((q - t) % (36 - t)));
        q = Math.floor((q - t) / (36 - t));
      }
      out += digit(q);
      // Bias adaptation (RFC 3492 section 6.1).
      let d = h === basic ? Math.floor(delta / 700) : delta >> 1, k = 0;
      d += Math.floor(d / (h + 1));
      for (; d > 455; k += 36) d = Math.floor(d / 35);
      bias = k + Math.floor((36 * d) / (d + 38));
      delta = 0;
      h++;
    }
    delta++;
    n++;
  }
  return out;
}

function endsInNumber(s) {
  const parts = s.split('.');
  if (parts[parts.length - 1] === '') {
    if (parts.length === 1) return false;
    parts.pop();
  }
  const last = parts[parts.length - 1];
  return /^[0-9]+$/.test(last) || parseIPv4Number(last) !== FAIL;
}

function parseIPv4Number(s) {
  if (s === '') return FAIL;
  let radix = 10;
  if (/^0[xX]/.test(s)) { s = s.slice(2); radix = 16; }
  else if (s.length > 1 && s[0] === '0') { s = s.slice(1); radix = 8; }
  if (s === '') return 0;
  const re = radix === 16 ? /^[0-9a-fA-F]+$/ : radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  // Huge values lose precision harmlessly: they only need to be too large.
  return re.test(s) ? parseInt(s, radix) : FAIL;
}

function parseIPv4(s) {
  const parts = s.split('.');
  if (parts[parts.length - 1] === '' && parts.length > 1) parts.pop();
  if (parts.length > 4) return FAIL;
  const nums = [];
  for (const p of parts) {
    const n = parseIPv4Number(p);
    if (n === FAIL) return FAIL;
    nums.push(n);
  }
  const last = nums.pop();
  if (nums.some((n) => n > 255) || last >= 256 ** (4 - nums.length)) return FAIL;
  return nums.reduce((acc, n, i) => acc + n * 256 ** (3 - i), last);
}

function parseIPv6(s) {
  const a = [0, 0, 0, 0, 0, 0, 0, 0];
  let piece = 0, compress = null, p = 0;
  const hex = (ch) => (ch !== undefined && /[0-9a-fA-F]/.test(ch) ? parseInt(ch, 16) : -1);
  if (s[p] === ':') {
    if (s[p + 1] !== ':') return FAIL;
    p += 2;
    compress = ++piece;
  }
  while (p < s.length) {
    if (piece === 8) return FAIL;
    if (s[p] === ':') {
      if (compress !== null) return FAIL;
      p++;
      compress = ++piece;
      continue;
    }
    let value = 0, len = 0;
    while (len < 4 && hex(s[p]) >= 0) { value = value * 16 + hex(s[p]); p++; len++; }
    if (s[p] === '.') {
      // Embedded IPv4 in the last two pieces: four bytes, no leading zeros.
      const v4 = len && piece <= 6 && s.slice(p - len).split('.');
      if (!v4 || v4.length !== 4 || v4.some((x) => !/^(0|[1-9]\d{0,2})$/.test(x) || x > 255)) return FAIL;
      a[piece++] = v4[0] * 256 + +v4[1];
      a[piece++] = v4[2] * 256 + +v4[3];
      break;
    } else if (s[p] === ':') {
      if (++p >= s.length) return FAIL;
    } else if (p < s.length) return FAIL;
    a[piece++] = value;
  }
  if (compress !== null) {
    let swaps = piece - compress;
    piece = 7;
    while (piece !== 0 && swaps > 0) {
      const t = a[compress + swaps - 1];
      a[compress + swaps - 1] = a[piece];
      a[piece--] = t;
      swaps--;
    }
  } else if (piece !== 8) return FAIL;
  return a;
}

function serializeIPv6(a) {
  // Compress the first longest run of two or more zero pieces.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && a[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j === i ? i + 1 : j;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === best) { out += i === 0 ? '::' : ':'; i += bestLen - 1; continue; }
    out += a[i].toString(16) + (i < 7 ? ':' : '');
  }
  return out;
}

// ---- the basic URL parser ----

const SCHEME_START = 1, SCHEME = 2, NO_SCHEME = 3, SPECIAL_REL_OR_AUTH = 4,
  PATH_OR_AUTH = 5, RELATIVE = 6, RELATIVE_SLASH = 7, SPECIAL_AUTH_SLASHES = 8,
  SPECIAL_AUTH_IGNORE_SLASHES = 9, AUTHORITY = 10, HOST = 11, HOSTNAME = 12, PORT = 13,
  FILE = 14, FILE_SLASH = 15, FILE_HOST = 16, PATH_START = 17, PATH = 18, OPAQUE_PATH = 19,
  QUERY = 20, FRAGMENT = 21;

const isDriveLetter = (s) => /^[A-Za-z][:|]$/.test(s);
const isNormalizedDriveLetter = (s) => /^[A-Za-z]:$/.test(s);
const startsWithDriveLetter = (cps, p) =>
  isDriveLetter((cps[p] || '') + (cps[p + 1] || '')) && (cps.length === p + 2 || '/\\?#'.includes(cps[p + 2]));
const SINGLE_DOT = /^(\.|%2e)$/i, DOUBLE_DOT = /^(\.|%2e){2}$/i;

function shortenPath(url) {
  const path = url.path;
  if (url.scheme === 'file' && path.length === 1 && isNormalizedDriveLetter(path[0])) return;
  path.pop();
}

// Runs a state merely collects are taken whole, for speed. (The parser walks
// code units, as all delimiters are ASCII.)
const SCHEME_RUN = /[A-Za-z0-9+\-.]+/y, AUTHORITY_RUN = /[^@/\\?#]+/y, PATH_RUN = /[^/\\?#]+/y;
const OPAQUE_RUN = /[^?#]+/y, QUERY_RUN = /[^#]+/y;
const runAt = (re, s, i) => {
  re.lastIndex = i;
  const m = re.exec(s);
  return m ? m[0] : '';
};

// Returns the URL record or FAIL. With `override` (from setters) it edits
// `url` in place, and only failure matters.
function parse(input, base, url, override) {
  if (!url) {
    url = { scheme: '', username: '', password: '', host: null, port: null, path: [], query: null, fragment: null };
    // Trim C0 controls and spaces by hand: `[...]+$` would be quadratic.
    let i = 0, j = input.length;
    while (i < j && input.charCodeAt(i) <= 32) i++;
    while (j > i && input.charCodeAt(j - 1) <= 32) j--;
    input = input.slice(i, j);
  }
  input = input.replace(/[\t\n\r]/g, '');
  let state = override || SCHEME_START;
  let buffer = '', atSignSeen = false, insideBrackets = false, passwordTokenSeen = false, run;
  for (let p = 0; p <= input.length; p++) {
    const c = input[p]; // undefined is EOF
    const special = url.scheme in SPECIAL;
    switch (state) {
    case SCHEME_START:
      if (c !== undefined && /[A-Za-z]/.test(c)) { buffer = c.toLowerCase(); state = SCHEME; }
      else if (!override) { state = NO_SCHEME; p--; }
      else return FAIL;
      break;

    case SCHEME:
      if ((run = runAt(SCHEME_RUN, input, p))) {
        buffer += run.toLowerCase();
        p += run.length - 1;
      } else if (c === ':') {
        if (override) {
          if (special !== isSpecial(buffer)) return url;
          if ((url.username || url.password || url.port !== null) && buffer === 'file') return url;
          if (url.scheme === 'file' && url.host === '') return url;
        }
        url.scheme = buffer;
        if (override) {
          if (url.port === defaultPort(buffer)) url.port = null;
          return url;
        }
        buffer = '';
        if (url.scheme === 'file') state = FILE;
        else if (isSpecial(url.scheme)) {
          state = base && base.scheme === url.scheme ? SPECIAL_REL_OR_AUTH : SPECIAL_AUTH_SLASHES;
        } else if (input[p + 1] === '/') { state = PATH_OR_AUTH; p++; }
        else { url.path = ''; state = OPAQUE_PATH; }
      } else if (!override) { buffer = ''; state = NO_SCHEME; p = -1; }
      else return FAIL;
      break;

    case NO_SCHEME:
      if (!base || (typeof base.path === 'string' && c !== '#')) return FAIL;
      if (typeof base.path === 'string') {
        url.scheme = base.scheme; url.path = base.path; url.query = base.query; url.fragment = '';
        state = FRAGMENT;
      } else { state = base.scheme === 'file' ? FILE : RELATIVE; p--; }
      break;

    case SPECIAL_REL_OR_AUTH:
      if (c === '/' && input[p + 1] === '/') { state = SPECIAL_AUTH_IGNORE_SLASHES; p++; }
      else { state = RELATIVE; p--; }
      break;

    case PATH_OR_AUTH:
      if (c === '/') state = AUTHORITY;
      else { state = PATH; p--; }
      break;

    case RELATIVE:
      url.scheme = base.scheme;
      if (c === '/' || (c === '\\' && isSpecial(url.scheme))) { state = RELATIVE_SLASH; break; }
      url.username = base.username; url.password = base.password; url.host = base.host;
      url.port = base.port; url.path = base.path.slice(); url.query = base.query;
      if (c === '?') { url.query = ''; state = QUERY; }
      else if (c === '#') { url.fragment = ''; state = FRAGMENT; }
      else if (c !== undefined) { url.query = null; shortenPath(url); state = PATH; p--; }
      break;

    case RELATIVE_SLASH:
      if (special && (c === '/' || c === '\\')) state = SPECIAL_AUTH_IGNORE_SLASHES;
      else if (c === '/') state = AUTHORITY;
      else {
        url.username = base.username; url.password = base.password; url.host = base.host; url.port = base.port;
        state = PATH; p--;
      }
      break;

    case SPECIAL_AUTH_SLASHES:
      state = SPECIAL_AUTH_IGNORE_SLASHES;
      if (c === '/' && input[p + 1] === '/') p++;
      else p--;
      break;

    case SPECIAL_AUTH_IGNORE_SLASHES:
      if (c !== '/' && c !== '\\') { state = AUTHORITY; p--; }
      break;

    case AUTHORITY:
      if (c === '@') {
        if (atSignSeen) buffer = '%40' + buffer;
        atSignSeen = true;
        // The first ":" ever seen ends the username.
        const colon = passwordTokenSeen ? -1 : buffer.indexOf(':');
        if (colon >= 0) {
          url.username += encode(buffer.slice(0, colon), USERINFO_SET);
          buffer = buffer.slice(colon + 1);
          passwordTokenSeen = true;
        }
        if (passwordTokenSeen) url.password += encode(buffer, USERINFO_SET);
        else url.username += encode(buffer, USERINFO_SET);
        buffer = '';
      } else if (c === undefined || c === '/' || c === '?' || c === '#' || (special && c === '\\')) {
        if (atSignSeen && buffer === '') return FAIL;
        p -= buffer.length + 1;
        buffer = '';
        state = HOST;
      } else {
        buffer += c + (run = runAt(AUTHORITY_RUN, input, p + 1));
        p += run.length;
      }
      break;

    case HOST:
    case HOSTNAME:
      if (override && url.scheme === 'file') { p--; state = FILE_HOST; }
      else if (c === ':' && !insideBrackets) {
        if (buffer === '' || override === HOSTNAME) return FAIL;
        const host = parseHost(buffer, !special);
        if (host === FAIL) return FAIL;
        url.host = host; buffer = ''; state = PORT;
      } else if (c === undefined || c === '/' || c === '?' || c === '#' || (special && c === '\\')) {
        p--;
        if (special && buffer === '') return FAIL;
        if (override && buffer === '' && (url.username || url.password || url.port !== null)) return FAIL;
        const host = parseHost(buffer, !special);
        if (host === FAIL) return FAIL;
        url.host = host; buffer = ''; state = PATH_START;
        if (override) return url;
      } else {
        if (c === '[') insideBrackets = true;
        if (c === ']') insideBrackets = false;
        buffer += c;
      }
      break;

    case PORT:
      if (c !== undefined && c >= '0' && c <= '9') buffer += c;
      else if (c === undefined || c === '/' || c === '?' || c === '#' || (special && c === '\\') || override) {
        if (buffer !== '') {
          const port = parseInt(buffer, 10);
          if (port > 65535) return FAIL;
          url.port = port === defaultPort(url.scheme) ? null : port;
          buffer = '';
          if (override) return url;
        }
        if (override) return FAIL;
        state = PATH_START; p--;
      } else return FAIL;
      break;

    case FILE:
      url.scheme = 'file';
      url.host = '';
      if (c === '/' || c === '\\') state = FILE_SLASH;
      else if (base && base.scheme === 'file') {
        url.host = base.host; url.path = base.path.slice(); url.query = base.query;
        if (c === '?') { url.query = ''; state = QUERY; }
        else if (c === '#') { url.fragment = ''; state = FRAGMENT; }
        else if (c !== undefined) {
          url.query = null;
          if (startsWithDriveLetter(input, p)) url.path = [];
          else shortenPath(url);
          state = PATH; p--;
        }
      } else { state = PATH; p--; }
      break;

    case FILE_SLASH:
      if (c === '/' || c === '\\') state = FILE_HOST;
      else {
        if (base && base.scheme === 'file') {
          url.host = base.host;
          if (!startsWithDriveLetter(input, p) && base.path.length && isNormalizedDriveLetter(base.path[0])) {
            url.path.push(base.path[0]);
          }
        }
        state = PATH; p--;
      }
      break;

    case FILE_HOST:
      if (c === undefined || c === '/' || c === '\\' || c === '?' || c === '#') {
        p--;
        // A drive letter is no host: the path state takes the buffer.
        if (!override && isDriveLetter(buffer)) state = PATH;
        else if (buffer === '') {
          url.host = '';
          if (override) return url;
          state = PATH_START;
        } else {
          let host = parseHost(buffer, !special);
          if (host === FAIL) return FAIL;
          url.host = host === 'localhost' ? '' : host;
          if (override) return url;
          buffer = ''; state = PATH_START;
        }
      } else buffer += c;
      break;

    case PATH_START:
      if (special) { state = PATH; if (c !== '/' && c !== '\\') p--; }
      else if (!override && c === '?') { url.query = ''; state = QUERY; }
      else if (!override && c === '#') { url.fragment = ''; state = FRAGMENT; }
      else if (c !== undefined) { state = PATH; if (c !== '/') p--; }
      else if (override && url.host === null) url.path.push('');
      break;

    case PATH: {
      const slash = c === '/' || (special && c === '\\');
      if (c === undefined || slash || (!override && (c === '?' || c === '#'))) {
        if (DOUBLE_DOT.test(buffer)) {
          shortenPath(url);
          if (!slash) url.path.push('');
        } else if (SINGLE_DOT.test(buffer)) {
          if (!slash) url.path.push('');
        } else {
          if (url.scheme === 'file' && url.path.length === 0 && isDriveLetter(buffer)) buffer = buffer[0] + ':';
          url.path.push(encode(buffer, PATH_SET));
        }
        buffer = '';
        if (c === '?') { url.query = ''; state = QUERY; }
        if (c === '#') { url.fragment = ''; state = FRAGMENT; }
      } else {
        buffer += c + (run = runAt(PATH_RUN, input, p + 1));
        p += run.length;
      }
      break;
    }

    case OPAQUE_PATH:
      if (c === undefined || c === '?' || c === '#') {
        // A space right before ?/# is escaped so the path cannot end in one.
        if (c !== undefined && buffer.endsWith(' ')) buffer = buffer.slice(0, -1) + '%20';
        url.path += encode(buffer, C0_SET);
        buffer = '';
        if (c === '?') { url.query = ''; state = QUERY; }
        if (c === '#') { url.fragment = ''; state = FRAGMENT; }
      } else {
        buffer += c + (run = runAt(OPAQUE_RUN, input, p + 1));
        p += run.length;
      }
      break;

    case QUERY:
      if (c === undefined || (!override && c === '#')) {
        url.query += encode(buffer, special ? SPECIAL_QUERY_SET : QUERY_SET);
        buffer = '';
        if (c === '#') { url.fragment = ''; state = FRAGMENT; }
      } else {
        buffer += c + (run = runAt(QUERY_RUN, input, p + 1));
        p += run.length;
      }
      break;

    case FRAGMENT:
      if (c === undefined) url.fragment += encode(buffer, FRAGMENT_SET);
      else {
        buffer += input.slice(p);
        p = input.length - 1;
      }
      break;
    }
  }
  return url;
}

function serialize(u) {
  let out = u.scheme + ':';
  if (u.host !== null) {
    out += '//';
    if (u.username || u.password) out += u.username + (u.password ? ':' + u.password : '') + '@';
    out += u.host + (u.port === null ? '' : ':' + u.port);
  }
  if (typeof u.path === 'string') out += u.path;
  else {
    // "/." keeps a path starting with "//" from reading as an authority.
    if (u.host === null && u.path.length > 1 && u.path[0] === '') out += '/.';
    for (const seg of u.path) out += '/' + seg;
  }
  if (u.query !== null) out += '?' + u.query;
  if (u.fragment !== null) out += '#' + u.fragment;
  return out;
}

function origin(u) {
  if (u.scheme === 'blob') {
    const inner = typeof u.path === 'string' ? parse(u.path, null) : FAIL;
    return inner && (inner.scheme === 'http' || inner.scheme === 'https') ? origin(inner) : 'null';
  }
  if (!isSpecial(u.scheme) || u.scheme === 'file') return 'null';
  return u.scheme + '://' + u.host + (u.port === null ? '' : ':' + u.port);
}

// ---- application/x-www-form-urlencoded ----

function parseForm(s) {
  const list = [];
  for (const seq of s.split('&')) {
    if (seq === '') continue;
    const i = seq.indexOf('=');
    const name = i < 0 ? seq : seq.slice(0, i), value = i < 0 ? '' : seq.slice(i + 1);
    list.push([pctDecode(name.replace(/\+/g, ' ')), pctDecode(value.replace(/\+/g, ' '))]);
  }
  return list;
}

const formEncode = (s) => encode(s, FORM_SET).replace(/%20/g, '+');
const serializeForm = (list) => list.map(([k, v]) => formEncode(k) + '=' + formEncode(v)).join('&');

// WebIDL USVString: lone surrogates become U+FFFD.
const usv = (v) => String(v).replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

// Set by URL while it constructs its searchParams, to link the two.
let pendingLink = null;

class URLSearchParams {
  #list = [];
  #onChange = null;

  constructor(init = '') {
    if (pendingLink) {
      const link = pendingLink;
      pendingLink = null;
      this.#onChange = link.onChange;
      link.setList = (list) => { this.#list = list; };
      return;
    }
    if (init !== null && (typeof init === 'object' || typeof init === 'function')) {
      if (init[Symbol.iterator] !== undefined) {
        // A sequence of pairs (another URLSearchParams included).
        for (const pair of init) {
          const a = pair !== null && (typeof pair === 'object' || typeof pair === 'function') ? Array.from(pair) : [];
          if (a.length !== 2) throw new TypeError('Each query pair must be an iterable [name, value] tuple');
          this.#list.push([usv(a[0]), usv(a[1])]);
        }
      } else {
        for (const key of Reflect.ownKeys(init)) {
          const d = Reflect.getOwnPropertyDescriptor(init, key);
          if (!d || !d.enumerable) continue;
          if (typeof key === 'symbol') throw new TypeError('Cannot convert a Symbol value to a string');
          this.#list.push([usv(key), usv(init[key])]);
        }
      }
    } else {
      const s = usv(init);
      this.#list = parseForm(s[0] === '?' ? s.slice(1) : s);
    }
  }

  #update() {
    if (this.#onChange) this.#onChange(serializeForm(this.#list));
  }

  get size() { return this.#list.length; }

  append(name, value) {
    need(arguments, 2);
    this.#list.push([usv(name), usv(value)]);
    this.#update();
  }

  delete(name, value) {
    need(arguments, 1);
    const match = matcher(name, value);
    this.#list = this.#list.filter((p) => !match(p));
    this.#update();
  }

  get(name) {
    need(arguments, 1);
    const n = usv(name), p = this.#list.find((q) => q[0] === n);
    return p ? p[1] : null;
  }

  getAll(name) {
    need(arguments, 1);
    const n = usv(name);
    return this.#list.filter((p) => p[0] === n).map((p) => p[1]);
  }

  has(name, value) {
    need(arguments, 1);
    return this.#list.some(matcher(name, value));
  }

  set(name, value) {
    need(arguments, 2);
    const n = usv(name), v = usv(value);
    const i = this.#list.findIndex((p) => p[0] === n);
    if (i < 0) this.#list.push([n, v]);
    else {
      this.#list[i][1] = v;
      this.#list = this.#list.filter((p, j) => j <= i || p[0] !== n);
    }
    this.#update();
  }

  sort() {
    // Stable, comparing UTF-16 code units, as the spec asks.
    this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.#update();
  }

  forEach(callback, thisArg) {
    if (typeof callback !== 'function') throw new TypeError('The "callback" argument must be of type function');
    for (let i = 0; i < this.#list.length; i++) {
      const [k, v] = this.#list[i];
      callback.call(thisArg, v, k, this);
    }
  }

  // Live, as in the spec: they index the current list.
  *entries() { for (let i = 0; i < this.#list.length; i++) yield this.#list[i].slice(); }
  *keys() { for (let i = 0; i < this.#list.length; i++) yield this.#list[i][0]; }
  *values() { for (let i = 0; i < this.#list.length; i++) yield this.#list[i][1]; }
  [Symbol.iterator]() { return this.entries(); }

  toString() { return serializeForm(this.#list); }

  [INSPECT](depth, options, inspect) {
    if (typeof inspect !== 'function') return this;
    const body = this.#list.map(([k, v]) => inspect(k) + ' => ' + inspect(v));
    return body.length ? `URLSearchParams { ${body.join(', ')} }` : 'URLSearchParams {}';
  }
}

// Matches the name, and the value unless undefined.
function matcher(name, value) {
  const n = usv(name), v = value === undefined ? value : usv(value);
  return (p) => p[0] === n && (v === undefined || p[1] === v);
}

function need(args, n) {
  if (args.length < n) throw new TypeError(`${n} argument${n > 1 ? 's' : ''} required, but only ${args.length} present.`);
}

const invalidURL = (input) => Object.assign(new TypeError('Invalid URL'), { code: 'ERR_INVALID_URL', input });

function parseWithBase(url, base) {
  const b = base === undefined ? null : parse(usv(base), null);
  return base !== undefined && b === FAIL ? FAIL : parse(usv(url), b);
}

class URL {
  #u;
  #params = null;
  #setList;

  constructor(url, base) {
    need(arguments, 1);
    const u = parseWithBase(url, base);
    if (u === FAIL) throw invalidURL(String(url));
    this.#u = u;
  }

  // searchParams is made on first use: most URLs never need one.
  get searchParams() {
    if (!this.#params) {
      const link = (pendingLink = { onChange: (q) => { this.#u.query = q === '' ? null : q; } });
      this.#params = new URLSearchParams();
      this.#setList = link.setList;
      this.#syncParams();
    }
    return this.#params;
  }

  #syncParams() { if (this.#params) this.#setList(this.#u.query ? parseForm(this.#u.query) : []); }

  static canParse(url, base) {
    need(arguments, 1);
    return parseWithBase(url, base) !== FAIL;
  }

  static parse(url, base) {
    need(arguments, 1);
    try { return new URL(url, base); } catch { return null; }
  }

  get href() { return serialize(this.#u); }
  set href(v) {
    const u = parse(usv(v), null);
    if (u === FAIL) throw invalidURL(String(v));
    this.#u = u;
    this.#syncParams();
  }

  get origin() { return origin(this.#u); }

  get protocol() { return this.#u.scheme + ':'; }
  set protocol(v) { parse(usv(v) + ':', null, this.#u, SCHEME_START); }

  // Credentials and ports need a non-empty, non-file host.
  #noCredentials() { const u = this.#u; return u.host === null || u.host === '' || u.scheme === 'file'; }

  get username() { return this.#u.username; }
  set username(v) { if (!this.#noCredentials()) this.#u.username = encode(usv(v), USERINFO_SET); }

  get password() { return this.#u.password; }
  set password(v) { if (!this.#noCredentials()) this.#u.password = encode(usv(v), USERINFO_SET); }

  get host() {
    const u = this.#u;
    return u.host === null ? '' : u.port === null ? u.host : u.host + ':' + u.port;
  }
  set host(v) { if (typeof this.#u.path !== 'string') parse(usv(v), null, this.#u, HOST); }

  get hostname() { return this.#u.host === null ? '' : this.#u.host; }
  set hostname(v) { if (typeof this.#u.path !== 'string') parse(usv(v), null, this.#u, HOSTNAME); }

  get port() { return this.#u.port === null ? '' : String(this.#u.port); }
  set port(v) {
    if (this.#noCredentials()) return;
    const s = usv(v);
    if (s === '') this.#u.port = null;
    else parse(s, null, this.#u, PORT);
  }

  get pathname() {
    const p = this.#u.path;
    return typeof p === 'string' ? p : p.length ? '/' + p.join('/') : '';
  }
  set pathname(v) {
    const u = this.#u;
    if (typeof u.path === 'string') return;
    u.path = [];
    parse(usv(v), null, u, PATH_START);
  }

  get search() { const q = this.#u.query; return q ? '?' + q : ''; }
  set search(v) {
    const s = usv(v);
    this.#u.query = s === '' ? null : '';
    if (s !== '') parse(s[0] === '?' ? s.slice(1) : s, null, this.#u, QUERY);
    this.#syncParams();
  }

  get hash() { const f = this.#u.fragment; return f ? '#' + f : ''; }
  set hash(v) {
    const s = usv(v);
    this.#u.fragment = s === '' ? null : '';
    if (s !== '') parse(s[0] === '#' ? s.slice(1) : s, null, this.#u, FRAGMENT);
  }

  toString() { return serialize(this.#u); }
  toJSON() { return serialize(this.#u); }

  [INSPECT](depth, options, inspect) {
    if (typeof inspect !== 'function') return this;
    const o = {};
    for (const k of ['href', 'origin', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search']) o[k] = this[k];
    o.searchParams = this.searchParams;
    o.hash = this.hash;
    return 'URL ' + inspect(o, options);
  }
}

for (const C of [URL, URLSearchParams]) {
  Object.defineProperty(C.prototype, Symbol.toStringTag, { value: C.name, configurable: true });
}

return { URL, URLSearchParams };
})()
