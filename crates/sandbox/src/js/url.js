// url.js: WHATWG URL and URLSearchParams in plain ECMAScript. Evaluates to
// { URL, URLSearchParams }.
//
// Follows the current URL Standard's state-machine parser (as the reference
// implementation whatwg-url does; Node 20 predates two of its changes: `^` is
// percent-encoded in paths, and a space ending an opaque path before `?`/`#`
// becomes %20 rather than being stripped later). Hosts: non-ASCII domains get an approximation of UTS #46: ignorable code
// points dropped, NFKC, lowercase, ideographic full stops as dots, then
// Punycode per label. Skipped: the UTS #46 disallowed-code-point table,
// Bidi/ContextJ rules, and validation of existing "xn--" labels, so some hosts
// that browsers reject are accepted here.
(() => {
  'use strict';
  const FAIL = null;
  const SPECIAL = { 'ftp:': 21, 'file:': null, 'http:': 80, 'https:': 443, 'ws:': 80, 'wss:': 443 };
  const isSpecial = (scheme) => Object.prototype.hasOwnProperty.call(SPECIAL, scheme + ':');
  const defaultPort = (scheme) => (isSpecial(scheme) ? SPECIAL[scheme + ':'] : null);

  // Percent-encode sets: characters encoded besides C0 controls, space and
  // non-ASCII. `null` is the C0 control set (space is kept).
  const FRAGMENT_SET = ' "<>`';
  const QUERY_SET = ' "#<>';
  const SPECIAL_QUERY_SET = QUERY_SET + "'";
  const PATH_SET = QUERY_SET + '?^`{}';
  const USERINFO_SET = PATH_SET + '/:;=@[\\]|';
  const FORM_SET = USERINFO_SET + "$%&+,!'()~";

  // Percent-encodes one code point (a 1- or 2-unit string). Lone surrogates
  // encode as U+FFFD, as UTF-8 encoding of a scalar-value string would.
  function pct(ch, set) {
    const c = ch.codePointAt(0);
    if (c < 0x80) {
      const enc = set === null ? c < 0x20 || c === 0x7f : c <= 0x20 || c === 0x7f || set.includes(ch);
      return enc ? '%' + (c < 16 ? '0' : '') + c.toString(16).toUpperCase() : ch;
    }
    return encodeURIComponent(c >= 0xd800 && c <= 0xdfff ? '\ufffd' : ch);
  }
  function encode(s, set) {
    let out = '';
    for (const ch of s) out += pct(ch, set);
    return out;
  }

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
      out += need === 0 && b >= 0xc2 ? String.fromCodePoint(cp) : '\ufffd';
    }
    return out;
  }

  // Percent-decodes a string, treating the result as UTF-8. Only runs of
  // %XX are decoded: a literal character is complete UTF-8 on its own, so it
  // cannot combine with neighbouring escapes.
  function pctDecode(s) {
    if (!s.includes('%')) return s;
    return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
      try { return decodeURIComponent(run); } catch {}
      const bytes = [];
      for (let i = 0; i < run.length; i += 3) bytes.push(parseInt(run.slice(i + 1, i + 3), 16));
      return utf8Decode(bytes);
    });
  }

  // ---- hosts ---------------------------------------------------------------

  const FORBIDDEN_HOST = /[\0\t\n\r #/:<>?@[\\\]^|]/;
  const FORBIDDEN_DOMAIN = /[\0-\x20#%/:<>?@[\\\]^|\x7f]/;

  function parseHost(input, opaque) {
    if (input[0] === '[') {
      if (input[input.length - 1] !== ']') return FAIL;
      const a = parseIPv6(input.slice(1, -1));
      return a === FAIL ? FAIL : '[' + serializeIPv6(a) + ']';
    }
    if (opaque) return FORBIDDEN_HOST.test(input) ? FAIL : encode(input, null);
    const ascii = domainToASCII(pctDecode(input));
    if (ascii === FAIL || ascii === '' || FORBIDDEN_DOMAIN.test(ascii)) return FAIL;
    if (endsInNumber(ascii)) {
      const v4 = parseIPv4(ascii);
      if (v4 === FAIL) return FAIL;
      const o = [];
      for (let i = 3, n = v4; i >= 0; i--, n = Math.floor(n / 256)) o[i] = n % 256;
      return o.join('.');
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
    // A few UTS #46 "disallowed" ranges: C1 controls, private use, noncharacters, U+FFFD.
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
    // Precision loss on huge values is harmless: they only need to compare
    // as too large.
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
        // Embedded IPv4 in the last two pieces.
        if (len === 0 || piece > 6) return FAIL;
        p -= len;
        let seen = 0;
        while (p < s.length) {
          let v4 = null;
          if (seen > 0) {
            if (s[p] === '.' && seen < 4) p++;
            else return FAIL;
          }
          if (!/[0-9]/.test(s[p] || '')) return FAIL;
          while (/[0-9]/.test(s[p] || '')) {
            const d = +s[p];
            if (v4 === 0) return FAIL;
            v4 = v4 === null ? d : v4 * 10 + d;
            if (v4 > 255) return FAIL;
            p++;
          }
          a[piece] = a[piece] * 256 + v4;
          if (++seen === 2 || seen === 4) piece++;
        }
        if (seen !== 4) return FAIL;
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

  // ---- the basic URL parser --------------------------------------------------

  const S_SCHEME_START = 1, S_SCHEME = 2, S_NO_SCHEME = 3, S_SPECIAL_RELATIVE_OR_AUTHORITY = 4,
    S_PATH_OR_AUTHORITY = 5, S_RELATIVE = 6, S_RELATIVE_SLASH = 7, S_SPECIAL_AUTHORITY_SLASHES = 8,
    S_SPECIAL_AUTHORITY_IGNORE_SLASHES = 9, S_AUTHORITY = 10, S_HOST = 11, S_HOSTNAME = 12, S_PORT = 13,
    S_FILE = 14, S_FILE_SLASH = 15, S_FILE_HOST = 16, S_PATH_START = 17, S_PATH = 18, S_OPAQUE_PATH = 19,
    S_QUERY = 20, S_FRAGMENT = 21;

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

  const newRecord = () => ({
    scheme: '', username: '', password: '', host: null, port: null, path: [], query: null, fragment: null,
  });

  // Returns the URL record, or FAIL. With `override` it edits `url` in place
  // (the setters' entry point) and its return value only signals failure.
  function parse(input, base, url, override) {
    if (!url) {
      url = newRecord();
      input = input.replace(/^[\0-\x20]+|[\0-\x20]+$/g, '');
    }
    input = input.replace(/[\t\n\r]/g, '');
    const cps = Array.from(input);
    let state = override || S_SCHEME_START;
    let buffer = '', atSignSeen = false, insideBrackets = false, passwordTokenSeen = false;
    for (let p = 0; p <= cps.length; p++) {
      const c = cps[p]; // undefined is EOF
      const special = isSpecial(url.scheme);
      switch (state) {
        case S_SCHEME_START:
          if (c !== undefined && /[A-Za-z]/.test(c)) { buffer = c.toLowerCase(); state = S_SCHEME; }
          else if (!override) { state = S_NO_SCHEME; p--; }
          else return FAIL;
          break;

        case S_SCHEME:
          if (c !== undefined && /[A-Za-z0-9+\-.]/.test(c)) buffer += c.toLowerCase();
          else if (c === ':') {
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
            if (url.scheme === 'file') state = S_FILE;
            else if (isSpecial(url.scheme)) {
              state = base && base.scheme === url.scheme ? S_SPECIAL_RELATIVE_OR_AUTHORITY : S_SPECIAL_AUTHORITY_SLASHES;
            } else if (cps[p + 1] === '/') { state = S_PATH_OR_AUTHORITY; p++; }
            else { url.path = ''; state = S_OPAQUE_PATH; }
          } else if (!override) { buffer = ''; state = S_NO_SCHEME; p = -1; }
          else return FAIL;
          break;

        case S_NO_SCHEME:
          if (!base || (typeof base.path === 'string' && c !== '#')) return FAIL;
          if (typeof base.path === 'string') {
            url.scheme = base.scheme; url.path = base.path; url.query = base.query; url.fragment = '';
            state = S_FRAGMENT;
          } else { state = base.scheme === 'file' ? S_FILE : S_RELATIVE; p--; }
          break;

        case S_SPECIAL_RELATIVE_OR_AUTHORITY:
          if (c === '/' && cps[p + 1] === '/') { state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES; p++; }
          else { state = S_RELATIVE; p--; }
          break;

        case S_PATH_OR_AUTHORITY:
          if (c === '/') state = S_AUTHORITY;
          else { state = S_PATH; p--; }
          break;

        case S_RELATIVE:
          url.scheme = base.scheme;
          if (c === '/' || (c === '\\' && isSpecial(url.scheme))) { state = S_RELATIVE_SLASH; break; }
          url.username = base.username; url.password = base.password; url.host = base.host;
          url.port = base.port; url.path = base.path.slice(); url.query = base.query;
          if (c === '?') { url.query = ''; state = S_QUERY; }
          else if (c === '#') { url.fragment = ''; state = S_FRAGMENT; }
          else if (c !== undefined) { url.query = null; shortenPath(url); state = S_PATH; p--; }
          break;

        case S_RELATIVE_SLASH:
          if (special && (c === '/' || c === '\\')) state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
          else if (c === '/') state = S_AUTHORITY;
          else {
            url.username = base.username; url.password = base.password; url.host = base.host; url.port = base.port;
            state = S_PATH; p--;
          }
          break;

        case S_SPECIAL_AUTHORITY_SLASHES:
          state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
          if (c === '/' && cps[p + 1] === '/') p++;
          else p--;
          break;

        case S_SPECIAL_AUTHORITY_IGNORE_SLASHES:
          if (c !== '/' && c !== '\\') { state = S_AUTHORITY; p--; }
          break;

        case S_AUTHORITY:
          if (c === '@') {
            if (atSignSeen) buffer = '%40' + buffer;
            atSignSeen = true;
            for (const bc of buffer) {
              if (bc === ':' && !passwordTokenSeen) { passwordTokenSeen = true; continue; }
              if (passwordTokenSeen) url.password += pct(bc, USERINFO_SET);
              else url.username += pct(bc, USERINFO_SET);
            }
            buffer = '';
          } else if (c === undefined || c === '/' || c === '?' || c === '#' || (special && c === '\\')) {
            if (atSignSeen && buffer === '') return FAIL;
            p -= Array.from(buffer).length + 1;
            buffer = '';
            state = S_HOST;
          } else buffer += c;
          break;

        case S_HOST:
        case S_HOSTNAME:
          if (override && url.scheme === 'file') { p--; state = S_FILE_HOST; }
          else if (c === ':' && !insideBrackets) {
            if (buffer === '' || override === S_HOSTNAME) return FAIL;
            const host = parseHost(buffer, !special);
            if (host === FAIL) return FAIL;
            url.host = host; buffer = ''; state = S_PORT;
          } else if (c === undefined || c === '/' || c === '?' || c === '#' || (special && c === '\\')) {
            p--;
            if (special && buffer === '') return FAIL;
            if (override && buffer === '' && (url.username || url.password || url.port !== null)) return FAIL;
            const host = parseHost(buffer, !special);
            if (host === FAIL) return FAIL;
            url.host = host; buffer = ''; state = S_PATH_START;
            if (override) return url;
          } else {
            if (c === '[') insideBrackets = true;
            if (c === ']') insideBrackets = false;
            buffer += c;
          }
          break;

        case S_PORT:
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
            state = S_PATH_START; p--;
          } else return FAIL;
          break;

        case S_FILE:
          url.scheme = 'file';
          url.host = '';
          if (c === '/' || c === '\\') state = S_FILE_SLASH;
          else if (base && base.scheme === 'file') {
            url.host = base.host; url.path = base.path.slice(); url.query = base.query;
            if (c === '?') { url.query = ''; state = S_QUERY; }
            else if (c === '#') { url.fragment = ''; state = S_FRAGMENT; }
            else if (c !== undefined) {
              url.query = null;
              if (startsWithDriveLetter(cps, p)) url.path = [];
              else shortenPath(url);
              state = S_PATH; p--;
            }
          } else { state = S_PATH; p--; }
          break;

        case S_FILE_SLASH:
          if (c === '/' || c === '\\') state = S_FILE_HOST;
          else {
            if (base && base.scheme === 'file') {
              url.host = base.host;
              if (!startsWithDriveLetter(cps, p) && base.path.length && isNormalizedDriveLetter(base.path[0])) {
                url.path.push(base.path[0]);
              }
            }
            state = S_PATH; p--;
          }
          break;

        case S_FILE_HOST:
          if (c === undefined || c === '/' || c === '\\' || c === '?' || c === '#') {
            p--;
            // A drive letter is a path segment, not a host: the buffer is kept
            // for the path state to consume.
            if (!override && isDriveLetter(buffer)) state = S_PATH;
            else if (buffer === '') {
              url.host = '';
              if (override) return url;
              state = S_PATH_START;
            } else {
              let host = parseHost(buffer, !special);
              if (host === FAIL) return FAIL;
              url.host = host === 'localhost' ? '' : host;
              if (override) return url;
              buffer = ''; state = S_PATH_START;
            }
          } else buffer += c;
          break;

        case S_PATH_START:
          if (special) { state = S_PATH; if (c !== '/' && c !== '\\') p--; }
          else if (!override && c === '?') { url.query = ''; state = S_QUERY; }
          else if (!override && c === '#') { url.fragment = ''; state = S_FRAGMENT; }
          else if (c !== undefined) { state = S_PATH; if (c !== '/') p--; }
          else if (override && url.host === null) url.path.push('');
          break;

        case S_PATH: {
          const slash = c === '/' || (special && c === '\\');
          if (c === undefined || slash || (!override && (c === '?' || c === '#'))) {
            if (DOUBLE_DOT.test(buffer)) {
              shortenPath(url);
              if (!slash) url.path.push('');
            } else if (SINGLE_DOT.test(buffer)) {
              if (!slash) url.path.push('');
            } else {
              if (url.scheme === 'file' && url.path.length === 0 && isDriveLetter(buffer)) buffer = buffer[0] + ':';
              url.path.push(buffer);
            }
            buffer = '';
            if (c === '?') { url.query = ''; state = S_QUERY; }
            if (c === '#') { url.fragment = ''; state = S_FRAGMENT; }
          } else buffer += pct(c, PATH_SET);
          break;
        }

        case S_OPAQUE_PATH:
          if (c === '?') { url.query = ''; state = S_QUERY; }
          else if (c === '#') { url.fragment = ''; state = S_FRAGMENT; }
          // A space right before ?/# is escaped so the path cannot end in one.
          else if (c === ' ') url.path += cps[p + 1] === '?' || cps[p + 1] === '#' ? '%20' : ' ';
          else if (c !== undefined) url.path += pct(c, null);
          break;

        case S_QUERY:
          if (c === undefined || (!override && c === '#')) {
            url.query += encode(buffer, special ? SPECIAL_QUERY_SET : QUERY_SET);
            buffer = '';
            if (c === '#') { url.fragment = ''; state = S_FRAGMENT; }
          } else buffer += c;
          break;

        case S_FRAGMENT:
          if (c !== undefined) url.fragment += pct(c, FRAGMENT_SET);
          break;
      }
    }
    return url;
  }

  function serialize(u, excludeFragment) {
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
    if (!excludeFragment && u.fragment !== null) out += '#' + u.fragment;
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

  // ---- application/x-www-form-urlencoded -------------------------------------

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

  // Set by URL just before it constructs its searchParams: lets the new object
  // hand back a way to replace its list, and learn how to write the query.
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
      if (init instanceof URLSearchParams) {
        this.#list = init.#list.map((p) => p.slice());
      } else if (init !== null && (typeof init === 'object' || typeof init === 'function')) {
        const iter = init[Symbol.iterator];
        if (iter !== undefined) {
          if (typeof iter !== 'function') throw new TypeError('Query pairs must be iterable');
          for (const pair of init) {
            if (pair === null || (typeof pair !== 'object' && typeof pair !== 'function')) {
              throw new TypeError('Each query pair must be an iterable [name, value] tuple');
            }
            const a = Array.from(pair);
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
      const n = usv(name), v = value === undefined ? undefined : usv(value);
      this.#list = this.#list.filter((p) => !(p[0] === n && (v === undefined || p[1] === v)));
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
      const n = usv(name), v = value === undefined ? undefined : usv(value);
      return this.#list.some((p) => p[0] === n && (v === undefined || p[1] === v));
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
      // Array#sort is stable and compares UTF-16 code units, as the spec asks.
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

    // Live iterators, like the spec's: they index the current list.
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

  function need(args, n) {
    if (args.length < n) throw new TypeError(`${n} argument${n > 1 ? 's' : ''} required, but only ${args.length} present.`);
  }

  const invalidURL = (input) => {
    const e = new TypeError('Invalid URL');
    e.code = 'ERR_INVALID_URL';
    e.input = input;
    return e;
  };

  function parseWithBase(url, base) {
    let b = null;
    if (base !== undefined) {
      b = parse(usv(base), null);
      if (b === FAIL) return FAIL;
    }
    return parse(usv(url), b);
  }

  class URL {
    #u;
    #params;
    #setList;

    constructor(url, base) {
      need(arguments, 1);
      const u = parseWithBase(url, base);
      if (u === FAIL) throw invalidURL(String(url));
      this.#u = u;
      const link = { onChange: (q) => { this.#u.query = q === '' ? null : q; } };
      pendingLink = link;
      this.#params = new URLSearchParams();
      this.#setList = link.setList;
      this.#syncParams();
    }

    #syncParams() { this.#setList(this.#u.query ? parseForm(this.#u.query) : []); }

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
    set protocol(v) { parse(usv(v) + ':', null, this.#u, S_SCHEME_START); }

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
    set host(v) { if (typeof this.#u.path !== 'string') parse(usv(v), null, this.#u, S_HOST); }

    get hostname() { return this.#u.host === null ? '' : this.#u.host; }
    set hostname(v) { if (typeof this.#u.path !== 'string') parse(usv(v), null, this.#u, S_HOSTNAME); }

    get port() { return this.#u.port === null ? '' : String(this.#u.port); }
    set port(v) {
      if (this.#noCredentials()) return;
      const s = usv(v);
      if (s === '') this.#u.port = null;
      else parse(s, null, this.#u, S_PORT);
    }

    get pathname() {
      const p = this.#u.path;
      return typeof p === 'string' ? p : p.length ? '/' + p.join('/') : '';
    }
    set pathname(v) {
      const u = this.#u;
      if (typeof u.path === 'string') return;
      u.path = [];
      parse(usv(v), null, u, S_PATH_START);
    }

    get search() { const q = this.#u.query; return q ? '?' + q : ''; }
    set search(v) {
      const u = this.#u;
      let s = usv(v);
      if (s === '') {
        u.query = null;
        this.#setList([]);
        return;
      }
      if (s[0] === '?') s = s.slice(1);
      u.query = '';
      parse(s, null, u, S_QUERY);
      this.#setList(parseForm(s));
    }

    get searchParams() { return this.#params; }

    get hash() { const f = this.#u.fragment; return f ? '#' + f : ''; }
    set hash(v) {
      const u = this.#u;
      let s = usv(v);
      if (s === '') {
        u.fragment = null;
        return;
      }
      if (s[0] === '#') s = s.slice(1);
      u.fragment = '';
      parse(s, null, u, S_FRAGMENT);
    }

    toString() { return serialize(this.#u); }
    toJSON() { return serialize(this.#u); }

    [INSPECT](depth, options, inspect) {
      if (typeof inspect !== 'function') return this;
      const o = {};
      for (const k of ['href', 'origin', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search']) o[k] = this[k];
      o.searchParams = this.#params;
      o.hash = this.hash;
      return 'URL ' + inspect(o, options);
    }
  }

  for (const C of [URL, URLSearchParams]) {
    Object.defineProperty(C.prototype, Symbol.toStringTag, { value: C.name, configurable: true });
  }

  return { URL, URLSearchParams };
})()
