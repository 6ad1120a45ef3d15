// console.js: a factory taking a native `log(level, text)` and returning a
// Node-style console, formatting like util.inspect (which models know). It
// never throws on hostile values and stops past MAX characters.
(function (log) {
'use strict';
const MAX = 65536, FAILED = '[object: inspection failed]';
const INSPECT = Symbol.for('nodejs.util.inspect.custom'), TAG = Symbol.toStringTag;
const O = Object, { hasOwnProperty: hasOwn, propertyIsEnumerable: isEnum, toString: objTag } = O.prototype;
const protoOf = O.getPrototypeOf, TA = protoOf(Uint8Array);
const getter = (C, p) => O.getOwnPropertyDescriptor(C.prototype, p).get;
const taTag = getter(TA, TAG), taLen = getter(TA, 'length'), mapSize = getter(Map, 'size'), setSize = getter(Set, 'size');
const mapEntries = Map.prototype.entries, setValues = Set.prototype.values, dateTime = Date.prototype.getTime;
const ASYNC = protoOf(async () => {}), GEN = protoOf(function* () {}), ASYNC_GEN = protoOf(async function* () {});
// Brand check: does the built-in method accept `v` as its receiver?
const is = (fn, v) => { try { fn.call(v); return true; } catch { return false; } };
const spaces = (n) => ' '.repeat(n);
const plural = (n, what) => `${n} ${what}${n > 1 ? 's' : ''}`;
const more = (n) => `... ${plural(n, 'more item')}`;

const ESC = /[\x00-\x1f\x27\x5c\x7f-\x9f]/g;
const NAMED = { '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r', "'": "\\'", '\\': '\\\\' };
const escapeChar = (c) => NAMED[c] || '\\x' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
// Single quotes unless the string has some: then double, else backticks.
function quote(s) {
  let q = "'";
  if (s.includes("'")) q = !s.includes('"') ? '"' : !s.includes('`') && !s.includes('${') ? '`' : q;
  return q + s.replace(ESC, (c) => (c === "'" && q !== "'" ? c : escapeChar(c))) + q;
}

function formatPrimitive(v, ctx) {
  if (typeof v === 'string') {
    const trailer = v.length > 10000 ? `... ${plural(v.length - 10000, 'more character')}` : '';
    v = v.slice(0, 10000);
    // A long multi-line string prints one quoted piece per line.
    if (v.length > 16 && v.length > ctx.breakLength - ctx.indent - 4) {
      return v.split(/(?<=\n)/).map(quote).join(` +\n${spaces(ctx.indent + 2)}`) + trailer;
    }
    return quote(v) + trailer;
  }
  if (typeof v === 'bigint') return `${v}n`;
  return typeof v === 'symbol' ? v.toString() : O.is(v, -0) ? '-0' : `${v}`;
}

function constructorName(obj) {
  for (let o = obj; o !== null; o = protoOf(o)) {
    const d = O.getOwnPropertyDescriptor(o, 'constructor');
    if (d && typeof d.value === 'function' && d.value.name !== '') {
      try { if (obj instanceof d.value) return `${d.value.name}`; } catch {}
    }
  }
  return protoOf(obj) === null ? null : 'Object';
}

function getPrefix(ctor, tag, fallback, size = '') {
  if (ctor === null) return `[${fallback}${size}: null prototype] ${tag && tag !== fallback ? `[${tag}] ` : ''}`;
  return `${ctor}${size} ${tag && tag !== ctor ? `[${tag}] ` : ''}`;
}

const isIndex = (k) => /^(0|[1-9]\d*)$/.test(k);

function getKeys(v, list) {
  // Listing a huge array's keys costs a string each: skip its extras.
  if (list && v.length > 10000) return [];
  return O.keys(v).filter((k) => !list || !isIndex(k)).concat(O.getOwnPropertySymbols(v).filter((s) => isEnum.call(v, s)));
}

function formatValue(ctx, v, level) {
  if (ctx.budget > MAX) return '...';
  if (v === null) return 'null';
  if (typeof v !== 'object' && typeof v !== 'function') {
    const s = formatPrimitive(v, ctx);
    ctx.budget += s.length;
    return s;
  }
  const { seen, indent } = ctx, depth = seen.length;
  // Cap recursion: custom inspectors can nest endlessly, and a stack overflow
  // in QuickJS escapes try/catch.
  if (ctx.nest > 100) return '...';
  ctx.nest++;
  try {
    const custom = ctx.customInspect && v[INSPECT];
    if (typeof custom === 'function' && custom !== inspect) {
      const ret = custom.call(v, ctx.depth - level, { depth: ctx.depth, stylize: (s) => s }, inspect);
      if (ret !== v) return typeof ret === 'string' ? ret.replace(/\n/g, `\n${spaces(indent)}`) : formatValue(ctx, ret, level);
    }
    if (seen.includes(v)) {
      const refs = (ctx.refs = ctx.refs || new Map());
      if (!refs.has(v)) refs.set(v, refs.size + 1);
      return `[Circular *${refs.get(v)}]`;
    }
    return formatRaw(ctx, v, level);
  } catch {
    seen.length = depth;
    ctx.indent = indent;
    return FAILED;
  } finally {
    ctx.nest--;
  }
}

function formatRaw(ctx, v, level) {
  // Brand checks throw (slowly) for most objects: skip them for plain ones.
  const plain = objTag.call(v) === '[object Object]', ctor = constructorName(v);
  const typed = taTag.call(v), isSet = !plain && is(setSize, v), list = Array.isArray(v) || !!typed;
  let tag = v[TAG];
  // An own enumerable tag prints as a key instead.
  if (typeof tag !== 'string' || isEnum.call(v, TAG)) tag = '';
  const prefix = (fallback, size) => getPrefix(ctor, tag, fallback, size);
  const keys = getKeys(v, list);
  // `base` precedes the braces ("[Function: f] { a: 1 }") or stands alone.
  let base = '', entries = () => [], open = '{', size = 0;
  if (list) {
    size = typed ? taLen.call(v) : v.length;
    open = `${typed || ctor !== 'Array' || tag ? prefix(typed || 'Array', `(${size})`) : ''}[`;
    entries = typed ? formatTypedArray : formatArray;
  } else if (isSet || (!plain && is(mapSize, v))) {
    size = (isSet ? setSize : mapSize).call(v);
    open = `${prefix(isSet ? 'Set' : 'Map', `(${size})`)}{`;
    entries = formatCollection;
  } else if (typeof v === 'function') base = functionBase(v, ctor);
  else if (plain) open = ctor !== 'Object' || tag ? `${prefix('Object')}{` : '{';
  else if (is(getter(RegExp, 'source'), v) && v !== RegExp.prototype) {
    base = RegExp.prototype.toString.call(v);
  } else if (is(dateTime, v)) {
    base = isNaN(dateTime.call(v)) ? 'Invalid Date' : Date.prototype.toISOString.call(v);
  } else if (objTag.call(v) === '[object Error]' || v instanceof Error) base = formatError(v, ctor, tag, ctx, keys);
  else if (is(getter(ArrayBuffer, 'byteLength'), v)) {
    // Node also dumps the bytes; the length is enough.
    open = `${prefix('ArrayBuffer')}{`;
    keys.unshift('byteLength');
  } else if (objTag.call(v) === '[object Promise]') {
    // A promise's state is not observable from JavaScript.
    [open, entries, size] = [`${prefix('Promise')}{`, () => ['<unknown>'], 1];
  } else if (!(base = boxedBase(v, keys)) && (ctor !== 'Object' || tag)) open = `${prefix('Object')}{`;
  if (!size && !keys.length) return base || `${open}${list ? ']' : '}'}`;
  if (level > ctx.depth) return ctor === null ? prefix('Object').slice(0, -1) : `[${prefix('Object').slice(0, -1)}]`;
  ctx.seen.push(v);
  ctx.current = ++level;
  const output = entries(ctx, v, level);
  for (const key of keys) {
    if (ctx.budget > MAX) { output.push('...'); break; }
    output.push(formatProperty(ctx, v, level, key));
  }
  const ref = ctx.refs && ctx.refs.get(v);
  if (ref) base = `<ref *${ref}>${base && ' '}${base}`;
  ctx.seen.pop();
  return reduceToSingleString(ctx, output, base, open, list ? ']' : '}', list, level, v);
}

function functionBase(fn, ctor) {
  let src = '';
  try { src = Function.prototype.toString.call(fn); } catch {}
  if (src.startsWith('class') && src.endsWith('}')) {
    const parent = ctor !== null && protoOf(fn).name;
    return `[class ${fn.name || '(anonymous)'}${parent ? ` extends ${parent}` : ''}]`;
  }
  const p = protoOf(fn);
  return `[${p === ASYNC || p === ASYNC_GEN ? 'Async' : ''}${p === GEN || p === ASYNC_GEN ? 'Generator' : ''}Function${fn.name ? `: ${fn.name}` : ' (anonymous)'}]`;
}

function boxedBase(v, keys) {
  for (const C of [Number, String, Boolean, BigInt, Symbol]) {
    let prim;
    try { prim = C.prototype.valueOf.call(v); } catch { continue; }
    // A boxed string's index keys only repeat its characters.
    if (C === String) keys.splice(0, prim.length);
    return `[${C.name}: ${formatPrimitive(prim, { breakLength: Infinity })}]`;
  }
  return '';
}

const errorString = (err) => { try { return Error.prototype.toString.call(err); } catch { return 'Error'; } };

// V8 stacks start with "Name: message"; QuickJS stacks hold only the frames,
// so the header is added when the stack starts with a frame.
function stackOf(err) {
  let stack;
  try { stack = err.stack; } catch {}
  if (!stack) return errorString(err);
  stack = `${stack}`.trimEnd();
  return /^\s*at /.test(stack) ? `${errorString(err)}\n${stack}` : stack;
}

function formatError(err, ctor, tag, ctx, keys) {
  const name = err.name != null ? `${err.name}` : 'Error', len = name.length;
  let stack = stackOf(err);
  for (const k of ['name', 'message', 'stack']) {
    const i = keys.indexOf(k);
    if (i !== -1 && stack.includes(err[k])) keys.splice(i, 1);
  }
  for (const k of ['cause', 'errors']) if (k in err && !keys.includes(k)) keys.push(k);
  // Name the subclass when the stack shows only the inherited name.
  if (ctor === null || (name.endsWith('Error') && stack.startsWith(name) && /^(:|\n|$)/.test(stack.slice(len, len + 1)))) {
    const proto = getPrefix(ctor, tag, 'Error').slice(0, -1);
    if (name !== proto) stack = (proto.includes(name) ? proto : `${proto} [${name}]`) + stack.slice(len);
  }
  // Without frames the error reads as "[Error: message]".
  if (!stack.includes('\n    at')) stack = `[${stack}]`;
  return stack.replace(/\n/g, `\n${spaces(ctx.indent)}`);
}

// An array element (`key` undefined) prints without a name.
function formatProperty(ctx, v, level, key, index) {
  const d = O.getOwnPropertyDescriptor(v, key ?? index) || { value: v[key ?? index], enumerable: true };
  let str = d.get ? (d.set ? '[Getter/Setter]' : '[Getter]') : d.set ? '[Setter]' : 'undefined', name;
  if (d.value !== undefined) {
    ctx.indent += 2;
    str = formatValue(ctx, d.value, level);
    ctx.indent -= 2;
  }
  if (key === undefined) return str;
  if (key === '__proto__') name = "['__proto__']";
  else if (typeof key === 'symbol' || !d.enumerable) name = `[${String(key).replace(ESC, escapeChar)}]`;
  else name = /^[a-zA-Z_]\w*$/.test(key) ? key : quote(key);
  ctx.budget += name.length;
  return `${name}: ${str}`;
}

function formatArray(ctx, v, level) {
  const max = Math.min(ctx.maxArrayLength, v.length), output = [];
  let i = 0, holes = 0;
  const flush = () => { if (holes) output.push(`<${plural(holes, 'empty item')}>`); holes = 0; };
  for (; i < v.length && output.length < max; i++) {
    if (hasOwn.call(v, i)) {
      flush();
      if (output.length >= max) break;
      output.push(formatProperty(ctx, v, level, undefined, i));
    } else if (++holes > 1000) {
      // Jump over a long run of holes instead of probing each index.
      const next = O.keys(v).find((k) => isIndex(k) && +k > i) ?? v.length;
      holes += next - i - 1;
      i = next - 1;
    }
  }
  // Holes count as shown entries only while there is room for them.
  const rest = v.length - i;
  if (output.length < max) { holes += rest; flush(); } else if (rest + holes) output.push(more(rest + holes));
  return output;
}

function formatTypedArray(ctx, v) {
  const len = taLen.call(v), max = Math.min(ctx.maxArrayLength, len);
  return Array.from({ length: max }, (_, i) => formatPrimitive(v[i], ctx)).concat(len > max ? more(len - max) : []);
}

function formatCollection(ctx, v, level) {
  const isMap = is(mapSize, v), size = (isMap ? mapSize : setSize).call(v), it = (isMap ? mapEntries : setValues).call(v);
  const max = Math.min(ctx.maxArrayLength, size), output = [];
  ctx.indent += 2;
  for (let i = 0; i < max; i++) {
    const e = it.next().value;
    output.push(isMap ? `${formatValue(ctx, e[0], level)} => ${formatValue(ctx, e[1], level)}` : formatValue(ctx, e, level));
  }
  ctx.indent -= 2;
  return size > max ? output.concat(more(size - max)) : output;
}

// Node's columns for over six short items.
function groupArrayElements(ctx, output, v) {
  const n = output.length - (output.length > ctx.maxArrayLength ? 1 : 0); // not "... more items"
  const lens = output.slice(0, n).map((s) => s.length), maxLen = Math.max(...lens) + 2;
  const total = lens.reduce((t, l) => t + l + 2, 0);
  if (maxLen * 3 + ctx.indent >= ctx.breakLength || (total / maxLen <= 5 && maxLen > 8)) return output;
  const biased = Math.max(maxLen - 3 - Math.sqrt(maxLen - total / output.length), 1);
  const columns = Math.min(Math.round(Math.sqrt(2.5 * biased * n) / biased), Math.floor((ctx.breakLength - ctx.indent) / maxLen), 12);
  if (columns <= 1) return output;
  const widths = [], rows = [], numeric = output.every((_, k) => typeof v[k] === 'number' || typeof v[k] === 'bigint');
  for (let c = 0; c < columns; c++) widths.push(2 + Math.max(...lens.filter((_, j) => j % columns === c)));
  for (let k = 0; k < n; k += columns) {
    const end = Math.min(k + columns, n);
    let row = '';
    for (let j = k; j < end - 1; j++) row += `${output[j]}, `[numeric ? 'padStart' : 'padEnd'](widths[j - k]);
    rows.push(row + (numeric ? output[end - 1].padStart(widths[end - 1 - k] - 2) : output[end - 1]));
  }
  return rows.concat(output.slice(n));
}

function reduceToSingleString(ctx, output, base, open, close, list, level, v) {
  const count = output.length, head = base ? `${base} ${open}` : open;
  if (list && count > 6) output = groupArrayElements(ctx, output, v);
  // Node puts only the 3 innermost levels on one line, within breakLength.
  if (ctx.current - level < 3 && count === output.length && !base.includes('\n')) {
    // Node's estimate of the line length.
    const joined = output.join(', '), start = count + ctx.indent + open.length + base.length + 10;
    if (joined.length + start - count + 2 <= ctx.breakLength && !joined.includes('\n')) return `${head} ${joined} ${close}`;
  }
  const nl = `\n${spaces(ctx.indent)}`;
  return `${head}${nl}  ${output.join(`,${nl}  `)}${nl}${close}`;
}

// util.inspect-compatible entry point, also handed to custom inspectors.
function inspect(value, opts, customInspect = true) {
  const ctx = { depth: 2, breakLength: 80, maxArrayLength: 100, customInspect, seen: [], indent: 0, current: 0, budget: 0, nest: 0 };
  try {
    for (const k of ['depth', 'breakLength', 'maxArrayLength', 'customInspect']) if (opts && opts[k] !== undefined) ctx[k] = opts[k];
    if (ctx.depth === null) ctx.depth = Infinity;
    return formatValue(ctx, value, 0);
  } catch {
    return FAILED;
  }
}

// ---- util.format ----

const safeString = (v) => { try { return String(v); } catch { return FAILED; } };

// %s prints a user-defined toString, else inspects.
function customToString(v) {
  try {
    return typeof v[Symbol.toPrimitive] === 'function' ||
      (typeof v.toString === 'function' && !/\[native code\]\s*\}$/.test(Function.prototype.toString.call(v.toString)));
  } catch { return false; }
}

function toNumber(v, parse, bigint) {
  if (bigint && typeof v === 'bigint') return `${v}n`;
  try { return typeof v === 'symbol' ? 'NaN' : formatPrimitive(parse(v)); } catch { return 'NaN'; }
}

function format(args) {
  let a = 0, str = '';
  if (typeof args[0] === 'string') {
    if (args.length === 1) return args[0];
    // Each specifier takes the next argument while there is one; "%%" is "%".
    str = args[a++].replace(/%([sjdifOoc%])/g, (m, c) => {
      if (c === '%') return '%';
      if (a === args.length) return m;
      const arg = args[a++];
      if (c === 's') {
        return typeof arg === 'number' || typeof arg === 'bigint' ? formatPrimitive(arg) :
          typeof arg !== 'object' || arg === null || customToString(arg) ? safeString(arg) : inspect(arg, { depth: 0 });
      }
      if (c === 'j') {
        try { return `${JSON.stringify(arg)}`; } catch (e) { return /circular/i.test(e && e.message) ? '[Circular]' : FAILED; }
      }
      if (c === 'd' || c === 'i') return toNumber(arg, c === 'd' ? Number : parseInt, true);
      if (c === 'f') return toNumber(arg, parseFloat);
      return c === 'c' ? '' : inspect(arg, { depth: c === 'o' ? 4 : 2 });
    });
  }
  for (; a < args.length && str.length <= MAX; a++) str += (str || a ? ' ' : '') + (typeof args[a] === 'string' ? args[a] : inspect(args[a]));
  return str;
}

// ---- console.table ----

// Terminal columns: East Asian wide characters and emoji take two.
const width = (s) => s.replace(/[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\uff00-\uff60\uffe0-\uffe6]|[\ud83c-\ud83e]./g, '  ').length;

function table(data, properties) {
  if (data === null || typeof data !== 'object') return console.log(data);
  const cell = (v) => inspect(v, {
    depth: v !== null && typeof v === 'object' && !Array.isArray(v) && O.keys(v).length > 2 ? -1 : 0, maxArrayLength: 3, breakLength: Infinity,
  });
  let text = FAILED;
  try {
    // Rows: own keys or Map/Set entries. Columns: their keys, then "Values".
    const isMap = is(mapSize, data), list = isMap || is(setSize, data);
    const rows = list ? Array.from(data, (e) => (isMap ? { Key: e[0], Values: e[1] } : { Values: e })) : data;
    const keys = O.keys(rows), map = O.create(null), values = [];
    keys.forEach((rk, i) => {
      const item = rows[rk], primitive = item === null || (typeof item !== 'function' && typeof item !== 'object');
      if (!properties && primitive) values[i] = cell(item);
      else for (const k of properties || O.keys(item)) (map[k] = map[k] || [])[i] = primitive || !hasOwn.call(item, k) ? '' : cell(item[k]);
    });
    if (values.length) map.Values = values;
    const columns = [keys, ...O.values(map)], head = [list ? '(iteration index)' : '(index)', ...O.keys(map)];
    const grid = [head, ...keys.map((_, j) => columns.map((c) => (hasOwn.call(c, j) ? c[j] : '')))];
    const widths = head.map((_, i) => Math.max(...grid.map((r) => width(r[i]))));
    const row = (cells) => `│ ${cells.map((c, i) => c + spaces(widths[i] - width(c))).join(' │ ')} │`;
    const line = (l, m, r) => l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r;
    text = [line('┌', '┬', '┐'), row(head), line('├', '┼', '┤'), ...grid.slice(1).map(row), line('└', '┴', '┘')].join('\n');
  } catch {}
  emit('log', text);
}

// ---- the console object ----

let groupIndent = '';
const counts = new Map(), timers = new Map();

function emit(level, text) {
  if (text.length > MAX) text = `${text.slice(0, MAX)}... [output truncated]`;
  log(level, groupIndent + text.replace(/\n/g, `\n${groupIndent}`));
}

const writer = (level) => (...args) => emit(level, format(args));

// Logs "label: 12ms" plus `data`; false for an unknown label.
function elapsed(label, name, data) {
  if (!timers.has(label)) return emit('warn', `Warning: No such label '${label}' for console.${name}()`), false;
  const ms = Date.now() - timers.get(label);
  emit('log', `${label}: ${ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(3)}s`}${data.length ? ` ${format(data)}` : ''}`);
  return true;
}

const console = {
  log: writer('log'),
  info: writer('info'),
  warn: writer('warn'),
  error: writer('error'),
  debug: writer('debug'),
  trace(...args) {
    // Drop the header and this function's own frame.
    emit('debug', `Trace${args.length ? `: ${format(args)}` : ''}${stackOf(new Error()).replace(/^.*\n[^\n]*/, '')}`);
  },
  assert(ok, ...args) {
    if (ok) return;
    args[0] = `Assertion failed${args.length ? `: ${safeString(args[0])}` : ''}`;
    emit('warn', format(args));
  },
  dir: (value, options) => emit('log', inspect(value, options, false)),
  table,
  count(label = 'default') {
    counts.set((label = safeString(label)), (counts.get(label) || 0) + 1);
    emit('log', `${label}: ${counts.get(label)}`);
  },
  countReset(label = 'default') {
    if (!counts.delete((label = safeString(label)))) emit('warn', `Count for '${label}' does not exist`);
  },
  time(label = 'default') {
    if (!timers.has((label = safeString(label)))) timers.set(label, Date.now());
    else emit('warn', `Warning: Label '${label}' already exists for console.time()`);
  },
  timeEnd(label = 'default') { if (elapsed((label = safeString(label)), 'timeEnd', [])) timers.delete(label); },
  timeLog(label = 'default', ...data) { elapsed(safeString(label), 'timeLog', data); },
  group(...label) {
    if (label.length) emit('log', format(label));
    groupIndent += '  ';
  },
  groupEnd() { groupIndent = groupIndent.slice(0, -2); },
};
console.groupCollapsed = console.group;
return console;
})
