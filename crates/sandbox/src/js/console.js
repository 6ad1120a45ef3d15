// console.js: a Node-flavoured console over a native `log(level, text)`.
// Evaluates to a function taking `log` and returning the console object.
// Formatting mirrors Node's util.inspect defaults (depth 2, breakLength 80,
// compact 3, 100 array items) because models are trained on Node output.
// Every value is formatted defensively: a throwing getter, Proxy trap or
// toString yields a placeholder instead of an exception, and each call stops
// producing output past MAX_OUTPUT characters.
(function (log) {
  'use strict';
  const MAX_OUTPUT = 64 * 1024;
  const FAILED = '[object: inspection failed]';
  const INSPECT = Symbol.for('nodejs.util.inspect.custom');
  const objToString = Object.prototype.toString, hasOwn = Object.prototype.hasOwnProperty;
  const isEnumerable = Object.prototype.propertyIsEnumerable, fnToString = Function.prototype.toString;
  const getter = (C, p) => Object.getOwnPropertyDescriptor(C.prototype, p).get;
  const TA = Object.getPrototypeOf(Uint8Array);
  const taTag = getter(TA, Symbol.toStringTag), taLength = getter(TA, 'length');
  const mapSize = getter(Map, 'size'), setSize = getter(Set, 'size'), abLength = getter(ArrayBuffer, 'byteLength');
  const reSource = getter(RegExp, 'source'), dvLength = getter(DataView, 'byteLength');
  const mapEntries = Map.prototype.entries, setValues = Set.prototype.values;
  const dateTime = Date.prototype.getTime;
  const protoOf = (f) => Object.getPrototypeOf(f);
  const ASYNC_FN = protoOf(async function () {}), GEN_FN = protoOf(function* () {});
  const ASYNC_GEN_FN = protoOf(async function* () {});
  // Internal-slot brand check: true if the accessor accepts `v` as receiver.
  const is = (fn, v) => { try { fn.call(v); return true; } catch { return false; } };
  const ARRAY_ELEMENT = 1, ARRAY_EXTRAS = 2, OBJECT = 0;

  // ---- strings ---------------------------------------------------------------

  const META = [];
  for (let i = 0; i < 0xa0; i++) {
    META[i] = i < 0x20 || i >= 0x7f ? '\\x' + i.toString(16).toUpperCase().padStart(2, '0') : '';
  }
  Object.assign(META, { 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r', 39: "\\'", 92: '\\\\' });
  const ESCAPES = /[\x00-\x1f\x27\x5c\x7f-\x9f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
  const escapeChar = (c) => (c.length === 1 && c.charCodeAt(0) < 0xa0 ? META[c.charCodeAt(0)] : '\\u' + c.charCodeAt(0).toString(16));

  // Quotes like Node: single quotes, else double, else backticks, whichever
  // avoids escaping a quote.
  function strEscape(str) {
    let q = "'";
    if (str.includes("'")) {
      if (!str.includes('"')) q = '"';
      else if (!str.includes('`') && !str.includes('${')) q = '`';
    }
    return q + str.replace(ESCAPES, (c) => (c === "'" && q !== "'" ? c : escapeChar(c))) + q;
  }

  function formatNumber(n) { return Object.is(n, -0) ? '-0' : `${n}`; }

  function formatPrimitive(v, ctx) {
    switch (typeof v) {
      case 'string': {
        let trailer = '';
        if (v.length > ctx.maxStringLength) {
          const rest = v.length - ctx.maxStringLength;
          v = v.slice(0, ctx.maxStringLength);
          trailer = `... ${rest} more character${rest > 1 ? 's' : ''}`;
        }
        // Long multi-line strings print one quoted line per source line.
        if (v.length > 16 && v.length > ctx.breakLength - ctx.indentationLvl - 4) {
          return v.split(/(?<=\n)/).map(strEscape).join(` +\n${' '.repeat(ctx.indentationLvl + 2)}`) + trailer;
        }
        return strEscape(v) + trailer;
      }
      case 'number': return formatNumber(v);
      case 'bigint': return `${v}n`;
      case 'symbol': return v.toString();
      default: return `${v}`;
    }
  }

  // ---- objects ---------------------------------------------------------------

  function getConstructorName(obj) {
    for (let o = obj; o !== null; o = protoOf(o)) {
      const d = Object.getOwnPropertyDescriptor(o, 'constructor');
      if (d && typeof d.value === 'function' && d.value.name !== '') {
        let ok = false;
        try { ok = obj instanceof d.value; } catch {}
        if (ok) return String(d.value.name);
      }
    }
    return protoOf(obj) === null ? null : 'Object';
  }

  function getPrefix(constructor, tag, fallback, size = '') {
    if (constructor === null) {
      return tag !== '' && fallback !== tag
        ? `[${fallback}${size}: null prototype] [${tag}] ` : `[${fallback}${size}: null prototype] `;
    }
    return tag !== '' && constructor !== tag ? `${constructor}${size} [${tag}] ` : `${constructor}${size} `;
  }

  const isIndex = (k) => /^(0|[1-9][0-9]*)$/.test(k) && +k < 4294967295;

  function getKeys(value, ctx, nonIndex) {
    let keys;
    if (nonIndex) {
      // Listing the keys of a huge array costs a string per element; past
      // this size its non-index properties are not shown.
      const n = value.length;
      if (n > 10000) return [];
      keys = ctx.showHidden ? Object.getOwnPropertyNames(value) : Object.keys(value);
      keys = keys.filter((k) => !isIndex(k));
    } else {
      keys = ctx.showHidden ? Object.getOwnPropertyNames(value) : Object.keys(value);
    }
    for (const s of Object.getOwnPropertySymbols(value)) {
      if (ctx.showHidden || isEnumerable.call(value, s)) keys.push(s);
    }
    return keys;
  }

  function formatValue(ctx, value, recurseTimes) {
    if (ctx.budget > MAX_OUTPUT) return '...';
    if (value === null) return 'null';
    if (typeof value !== 'object' && typeof value !== 'function') {
      const s = formatPrimitive(value, ctx);
      ctx.budget += s.length;
      return s;
    }
    const seen = ctx.seen.length, indent = ctx.indentationLvl;
    try {
      if (ctx.customInspect) {
        const custom = value[INSPECT];
        if (typeof custom === 'function' && custom !== inspect &&
            !(value.constructor && value.constructor.prototype === value)) {
          const depth = ctx.depth - recurseTimes;
          const opts = { depth: ctx.depth, showHidden: ctx.showHidden, colors: false, compact: 3,
            breakLength: ctx.breakLength, stylize: (s) => s };
          const ret = custom.call(value, depth, opts, inspect);
          if (ret !== value) {
            if (typeof ret !== 'string') return formatValue(ctx, ret, recurseTimes);
            return ret.replace(/\n/g, `\n${' '.repeat(ctx.indentationLvl)}`);
          }
        }
      }
      if (ctx.seen.includes(value)) {
        if (!ctx.circular) ctx.circular = new Map();
        let index = ctx.circular.get(value);
        if (index === undefined) ctx.circular.set(value, (index = ctx.circular.size + 1));
        return `[Circular *${index}]`;
      }
      return formatRaw(ctx, value, recurseTimes);
    } catch {
      ctx.seen.length = seen;
      ctx.indentationLvl = indent;
      return FAILED;
    }
  }

  function formatRaw(ctx, value, recurseTimes) {
    const constructor = getConstructorName(value);
    let tag = value[Symbol.toStringTag];
    // Show a tag only when it is not already printed as an own property.
    if (typeof tag !== 'string' || (tag !== '' && (ctx.showHidden ? hasOwn : isEnumerable).call(value, Symbol.toStringTag))) tag = '';
    let base = '', formatter = () => [], braces, keys, extrasType = OBJECT, noIterator = true;

    if (Symbol.iterator in value || constructor === null) {
      noIterator = false;
      if (Array.isArray(value)) {
        const prefix = constructor !== 'Array' || tag !== '' ? getPrefix(constructor, tag, 'Array', `(${value.length})`) : '';
        keys = getKeys(value, ctx, true);
        braces = [`${prefix}[`, ']'];
        if (value.length === 0 && keys.length === 0) return `${braces[0]}]`;
        extrasType = ARRAY_EXTRAS;
        formatter = formatArray;
      } else if (is(setSize, value)) {
        const size = setSize.call(value), prefix = getPrefix(constructor, tag, 'Set', `(${size})`);
        keys = getKeys(value, ctx);
        formatter = formatSet;
        if (size === 0 && keys.length === 0) return `${prefix}{}`;
        braces = [`${prefix}{`, '}'];
      } else if (is(mapSize, value)) {
        const size = mapSize.call(value), prefix = getPrefix(constructor, tag, 'Map', `(${size})`);
        keys = getKeys(value, ctx);
        formatter = formatMap;
        if (size === 0 && keys.length === 0) return `${prefix}{}`;
        braces = [`${prefix}{`, '}'];
      } else if (taTag.call(value) !== undefined) {
        const size = taLength.call(value);
        const prefix = getPrefix(constructor, tag, constructor === null ? taTag.call(value) : '', `(${size})`);
        keys = getKeys(value, ctx, true);
        braces = [`${prefix}[`, ']'];
        if (size === 0 && keys.length === 0 && !ctx.showHidden) return `${braces[0]}]`;
        formatter = formatTypedArray;
        extrasType = ARRAY_EXTRAS;
      } else noIterator = true;
    }
    if (noIterator) {
      keys = getKeys(value, ctx);
      braces = ['{', '}'];
      if (constructor === 'Object' && typeof value !== 'function' && !isErrorLike(value)) {
        if (objToString.call(value) === '[object Arguments]') braces[0] = '[Arguments] {';
        else if (tag !== '') braces[0] = `${getPrefix(constructor, tag, 'Object')}{`;
        if (keys.length === 0) return `${braces[0]}}`;
      } else if (typeof value === 'function') {
        base = getFunctionBase(value, constructor, tag);
        if (keys.length === 0) return base;
      } else if (is(reSource, value) && value !== RegExp.prototype) {
        base = RegExp.prototype.toString.call(constructor !== null ? value : new RegExp(value));
        const prefix = getPrefix(constructor, tag, 'RegExp');
        if (prefix !== 'RegExp ') base = prefix + base;
        if (keys.length === 0 || recurseTimes > ctx.depth) return base;
      } else if (is(dateTime, value)) {
        base = isNaN(dateTime.call(value)) ? 'Invalid Date' : Date.prototype.toISOString.call(value);
        const prefix = getPrefix(constructor, tag, 'Date');
        if (prefix !== 'Date ') base = prefix + base;
        if (keys.length === 0) return base;
      } else if (isErrorLike(value)) {
        base = formatError(value, constructor, tag, ctx, keys);
        if (keys.length === 0) return base;
      } else if (is(abLength, value)) {
        braces[0] = `${getPrefix(constructor, tag, 'ArrayBuffer')}{`;
        formatter = formatArrayBuffer;
        keys.unshift('byteLength');
      } else if (is(dvLength, value)) {
        braces[0] = `${getPrefix(constructor, tag, 'DataView')}{`;
        keys.unshift('byteLength', 'byteOffset', 'buffer');
      } else if (objToString.call(value) === '[object Promise]') {
        // A promise's state cannot be read synchronously from JavaScript.
        braces[0] = `${getPrefix(constructor, tag, 'Promise')}{`;
        formatter = () => ['<unknown>'];
      } else if (is(WeakSet.prototype.has, value) || is(WeakMap.prototype.has, value)) {
        const kind = is(WeakSet.prototype.has, value) ? 'WeakSet' : 'WeakMap';
        braces[0] = `${getPrefix(constructor, tag, kind)}{`;
        formatter = () => ['<items unknown>'];
      } else if ((base = getBoxedBase(value, keys, constructor, tag, ctx))) {
        if (keys.length === 0) return base;
      } else {
        base = '';
        const prefix = getPrefix(constructor, tag, 'Object');
        if (keys.length === 0) return `${prefix}{}`;
        braces[0] = `${prefix}{`;
      }
    }

    if (recurseTimes > ctx.depth) {
      const name = getPrefix(constructor, tag, 'Object').slice(0, -1);
      return constructor !== null ? `[${name}]` : name;
    }
    recurseTimes += 1;
    ctx.seen.push(value);
    ctx.currentDepth = recurseTimes;
    const output = formatter(ctx, value, recurseTimes);
    for (const key of keys) {
      if (ctx.budget > MAX_OUTPUT) { output.push('...'); break; }
      output.push(formatProperty(ctx, value, recurseTimes, key, extrasType));
    }
    if (ctx.circular) {
      const index = ctx.circular.get(value);
      if (index !== undefined) base = base === '' ? `<ref *${index}>` : `<ref *${index}> ${base}`;
    }
    ctx.seen.pop();
    return reduceToSingleString(ctx, output, base, braces, extrasType, recurseTimes, value);
  }

  function isErrorLike(v) {
    try { return objToString.call(v) === '[object Error]' || v instanceof Error; } catch { return false; }
  }

  function getFunctionBase(fn, constructor, tag) {
    let src = '';
    try { src = fnToString.call(fn); } catch {}
    let base;
    if (src.startsWith('class') && src.endsWith('}')) {
      base = `class ${(hasOwn.call(fn, 'name') && fn.name) || '(anonymous)'}`;
      if (constructor !== 'Function' && constructor !== null) base += ` [${constructor}]`;
      if (tag !== '' && constructor !== tag) base += ` [${tag}]`;
      if (constructor === null) base += ' extends [null prototype]';
      else if (protoOf(fn).name) base += ` extends ${protoOf(fn).name}`;
      return `[${base}]`;
    }
    const p = protoOf(fn);
    let type = p === GEN_FN || p === ASYNC_GEN_FN ? 'GeneratorFunction' : 'Function';
    if (p === ASYNC_FN || p === ASYNC_GEN_FN) type = `Async${type}`;
    base = `[${type}${constructor === null ? ' (null prototype)' : ''}`;
    base += fn.name === '' ? ' (anonymous)]' : `: ${fn.name}]`;
    if (constructor !== type && constructor !== null) base += ` ${constructor}`;
    if (tag !== '' && constructor !== tag) base += ` [${tag}]`;
    return base;
  }

  function getBoxedBase(value, keys, constructor, tag, ctx) {
    for (const [type, C] of [['Number', Number], ['String', String], ['Boolean', Boolean], ['BigInt', BigInt], ['Symbol', Symbol]]) {
      let prim;
      try { prim = C.prototype.valueOf.call(value); } catch { continue; }
      // A boxed string's index keys only repeat its characters.
      if (type === 'String') keys.splice(0, prim.length);
      let base = `[${type}`;
      if (type !== constructor) base += constructor === null ? ' (null prototype)' : ` (${constructor})`;
      base += `: ${formatPrimitive(prim, { maxStringLength: ctx.maxStringLength, breakLength: Infinity, indentationLvl: 0 })}]`;
      if (tag !== '' && tag !== constructor) base += ` [${tag}]`;
      return base;
    }
    return '';
  }

  function errorToString(err) {
    try { return Error.prototype.toString.call(err); } catch { return 'Error'; }
  }

  // V8 stacks start with "Name: message"; QuickJS stacks hold only the frames,
  // so the header is added when the stack does not carry it.
  function getStackString(err) {
    let stack;
    try { stack = err.stack; } catch {}
    if (!stack) return errorToString(err);
    stack = String(stack).replace(/\s+$/, '');
    return /^\s*at /.test(stack) ? `${errorToString(err)}\n${stack}` : stack;
  }

  function formatError(err, constructor, tag, ctx, keys) {
    const name = err.name != null ? String(err.name) : 'Error';
    let stack = getStackString(err);
    if (!ctx.showHidden && keys.length !== 0) {
      for (const k of ['name', 'message', 'stack']) {
        const i = keys.indexOf(k);
        if (i !== -1 && stack.includes(err[k])) keys.splice(i, 1);
      }
    }
    if ('cause' in err && !keys.includes('cause')) keys.push('cause');
    if (Array.isArray(err.errors) && !keys.includes('errors')) keys.push('errors');
    // Name the subclass when the stack only shows a generic name.
    const len = name.length;
    if (constructor === null || (name.endsWith('Error') && stack.startsWith(name) &&
        (stack.length === len || stack[len] === ':' || stack[len] === '\n'))) {
      const proto = getPrefix(constructor, tag, 'Error').slice(0, -1);
      if (name !== proto) {
        stack = proto.includes(name) ? proto + stack.slice(len) : `${proto} [${name}]${stack.slice(len)}`;
      }
    }
    const message = err.message;
    let pos = (message && typeof message === 'string' && stack.indexOf(message)) || -1;
    if (pos !== -1) pos += message.length;
    if (stack.indexOf('\n    at', pos) === -1) stack = `[${stack}]`;
    if (ctx.indentationLvl !== 0) stack = stack.replace(/\n/g, `\n${' '.repeat(ctx.indentationLvl)}`);
    return stack;
  }

  function formatProperty(ctx, value, recurseTimes, key, type) {
    const desc = Object.getOwnPropertyDescriptor(value, key) || { value: value[key], enumerable: true };
    let str;
    if (desc.value !== undefined) {
      ctx.indentationLvl += 2;
      str = formatValue(ctx, desc.value, recurseTimes);
      ctx.indentationLvl -= 2;
    } else if (desc.get !== undefined) str = desc.set !== undefined ? '[Getter/Setter]' : '[Getter]';
    else str = desc.set !== undefined ? '[Setter]' : 'undefined';
    if (type === ARRAY_ELEMENT) return str;
    let name;
    if (typeof key === 'symbol') name = `[${key.toString().replace(ESCAPES, escapeChar)}]`;
    else if (key === '__proto__') name = "['__proto__']";
    else if (desc.enumerable === false) name = `[${key.replace(ESCAPES, escapeChar)}]`;
    else if (/^[a-zA-Z_][a-zA-Z_0-9]*$/.test(key)) name = key;
    else name = strEscape(key);
    ctx.budget += name.length;
    return `${name}: ${str}`;
  }

  const moreItems = (n) => `... ${n} more item${n > 1 ? 's' : ''}`;

  function formatArray(ctx, value, recurseTimes) {
    const len = Math.min(ctx.maxArrayLength, value.length), output = [];
    for (let i = 0; i < len; i++) {
      if (!hasOwn.call(value, i)) return formatSparseArray(ctx, value, recurseTimes, len, output, i);
      output.push(formatProperty(ctx, value, recurseTimes, i, ARRAY_ELEMENT));
    }
    if (value.length > len) output.push(moreItems(value.length - len));
    return output;
  }

  // Holes print as "<n empty items>". Walks indices, not Object.keys, so a
  // huge sparse array costs no more than its shown part.
  function formatSparseArray(ctx, value, recurseTimes, maxLength, output, i) {
    let holes = 0;
    const flush = () => { if (holes) output.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`); holes = 0; };
    for (; i < value.length && output.length < maxLength; i++) {
      if (!hasOwn.call(value, i)) {
        holes++;
        // Skip long runs of holes without visiting each index.
        if (holes > 1000) {
          const next = Object.keys(value).find((k) => isIndex(k) && +k > i);
          const stop = next === undefined ? value.length : +next;
          holes += stop - i - 1;
          i = stop - 1;
        }
        continue;
      }
      flush();
      if (output.length >= maxLength) break;
      output.push(formatProperty(ctx, value, recurseTimes, i, ARRAY_ELEMENT));
    }
    const remaining = value.length - i;
    if (output.length < maxLength) {
      holes += remaining;
      flush();
    } else if (remaining + holes > 0) output.push(moreItems(remaining + holes));
    return output;
  }

  function formatTypedArray(ctx, value) {
    const length = taLength.call(value), max = Math.min(ctx.maxArrayLength, length), output = [];
    for (let i = 0; i < max; i++) output.push(formatPrimitive(value[i], ctx));
    if (length > max) output.push(moreItems(length - max));
    return output;
  }

  function formatArrayBuffer(ctx, value) {
    const bytes = new Uint8Array(value), max = Math.min(ctx.maxArrayLength, bytes.length);
    let str = Array.from(bytes.subarray(0, max), (b) => b.toString(16).padStart(2, '0')).join(' ');
    const rest = bytes.length - max;
    if (rest > 0) str += ` ... ${rest} more byte${rest > 1 ? 's' : ''}`;
    return [`[Uint8Contents]: <${str}>`];
  }

  function formatSet(ctx, value, recurseTimes) {
    const size = setSize.call(value), max = Math.min(ctx.maxArrayLength, size), output = [];
    const it = setValues.call(value);
    ctx.indentationLvl += 2;
    for (let i = 0; i < max; i++) output.push(formatValue(ctx, it.next().value, recurseTimes));
    ctx.indentationLvl -= 2;
    if (size > max) output.push(moreItems(size - max));
    return output;
  }

  function formatMap(ctx, value, recurseTimes) {
    const size = mapSize.call(value), max = Math.min(ctx.maxArrayLength, size), output = [];
    const it = mapEntries.call(value);
    ctx.indentationLvl += 2;
    for (let i = 0; i < max; i++) {
      const [k, v] = it.next().value;
      output.push(`${formatValue(ctx, k, recurseTimes)} => ${formatValue(ctx, v, recurseTimes)}`);
    }
    ctx.indentationLvl -= 2;
    if (size > max) output.push(moreItems(size - max));
    return output;
  }

  // Lays out arrays of more than six short items in aligned columns, the way
  // Node does (numbers right-aligned, anything else left-aligned).
  function groupArrayElements(ctx, output, value) {
    let totalLength = 0, maxLength = 0, i = 0;
    let outputLength = output.length;
    if (ctx.maxArrayLength < output.length) outputLength--;
    const separatorSpace = 2, dataLen = new Array(outputLength);
    for (; i < outputLength; i++) {
      const len = output[i].length;
      dataLen[i] = len;
      totalLength += len + separatorSpace;
      if (maxLength < len) maxLength = len;
    }
    const actualMax = maxLength + separatorSpace;
    if (actualMax * 3 + ctx.indentationLvl < ctx.breakLength &&
        (totalLength / actualMax > 5 || maxLength <= 6)) {
      const averageBias = Math.sqrt(actualMax - totalLength / output.length);
      const biasedMax = Math.max(actualMax - 3 - averageBias, 1);
      const columns = Math.min(
        Math.round(Math.sqrt(2.5 * biasedMax * outputLength) / biasedMax),
        Math.floor((ctx.breakLength - ctx.indentationLvl) / actualMax),
        ctx.compact * 4,
        15,
      );
      if (columns <= 1) return output;
      const tmp = [], maxLineLength = [];
      for (let c = 0; c < columns; c++) {
        let lineLength = 0;
        for (let j = c; j < output.length; j += columns) if (dataLen[j] > lineLength) lineLength = dataLen[j];
        maxLineLength.push(lineLength + separatorSpace);
      }
      let padStart = true;
      if (value !== undefined) {
        for (let k = 0; k < output.length; k++) {
          if (typeof value[k] !== 'number' && typeof value[k] !== 'bigint') { padStart = false; break; }
        }
      }
      for (let k = 0; k < outputLength; k += columns) {
        const max = Math.min(k + columns, outputLength);
        let str = '', j = k;
        for (; j < max - 1; j++) {
          const cell = `${output[j]}, `;
          str += padStart ? cell.padStart(maxLineLength[j - k]) : cell.padEnd(maxLineLength[j - k]);
        }
        str += padStart ? output[j].padStart(maxLineLength[j - k] - separatorSpace) : output[j];
        tmp.push(str);
      }
      if (ctx.maxArrayLength < output.length) tmp.push(output[outputLength]);
      output = tmp;
    }
    return output;
  }

  function reduceToSingleString(ctx, output, base, braces, extrasType, recurseTimes, value) {
    const entries = output.length;
    if (extrasType === ARRAY_EXTRAS && entries > 6) output = groupArrayElements(ctx, output, value);
    // Only the innermost `compact` levels may share a line, and only if the
    // whole line fits in breakLength.
    if (ctx.currentDepth - recurseTimes < ctx.compact && entries === output.length) {
      const start = output.length + ctx.indentationLvl + braces[0].length + base.length + 10;
      if (isBelowBreakLength(ctx, output, start, base)) {
        const joined = output.join(', ');
        if (!joined.includes('\n')) return `${base ? `${base} ` : ''}${braces[0]} ${joined} ${braces[1]}`;
      }
    }
    const indentation = `\n${' '.repeat(ctx.indentationLvl)}`;
    return `${base ? `${base} ` : ''}${braces[0]}${indentation}  ${output.join(`,${indentation}  `)}${indentation}${braces[1]}`;
  }

  function isBelowBreakLength(ctx, output, start, base) {
    let total = output.length + start;
    if (total + output.length > ctx.breakLength) return false;
    for (const entry of output) {
      total += entry.length;
      if (total > ctx.breakLength) return false;
    }
    return base === '' || !base.includes('\n');
  }

  function makeCtx(opts) {
    const ctx = {
      depth: 2, showHidden: false, customInspect: true, maxArrayLength: 100, maxStringLength: 10000,
      breakLength: 80, compact: 3,
    };
    if (opts !== null && typeof opts === 'object') {
      for (const k of Object.keys(ctx)) if (opts[k] !== undefined) ctx[k] = opts[k];
    }
    if (ctx.depth === null) ctx.depth = Infinity;
    return Object.assign(ctx, { seen: [], circular: null, indentationLvl: 0, currentDepth: 0, budget: 0 });
  }

  // util.inspect-compatible entry point; also handed to custom inspectors.
  function inspect(value, opts) {
    try { return formatValue(makeCtx(opts), value, 0); } catch { return FAILED; }
  }

  // ---- util.format ------------------------------------------------------------

  function safeString(v) {
    try { return String(v); } catch { return FAILED; }
  }

  // Objects whose toString is a built-in one print inspected under %s.
  function hasBuiltInToString(v) {
    try {
      if (typeof v[Symbol.toPrimitive] === 'function') return false;
      if (typeof v.toString !== 'function') return true;
      if (hasOwn.call(v, 'toString')) return false;
      let p = v;
      do { p = protoOf(p); } while (!hasOwn.call(p, 'toString'));
      const d = Object.getOwnPropertyDescriptor(p, 'constructor');
      return d !== undefined && typeof d.value === 'function' && globalThis[d.value.name] === d.value;
    } catch { return true; }
  }

  function toNumber(v, parse) {
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'symbol') return 'NaN';
    try { return formatNumber(parse(v)); } catch { return 'NaN'; }
  }

  function format(args) {
    const first = args[0];
    let a = 0, str = '', join = '';
    if (typeof first === 'string') {
      if (args.length === 1) return first;
      let lastPos = 0;
      for (let i = 0; i < first.length - 1; i++) {
        if (first.charCodeAt(i) !== 37) continue; // '%'
        const next = first[++i];
        if (a + 1 !== args.length) {
          let temp;
          switch (next) {
            case 's': {
              const arg = args[++a];
              if (typeof arg === 'number') temp = formatNumber(arg);
              else if (typeof arg === 'bigint') temp = `${arg}n`;
              else if (typeof arg !== 'object' || arg === null || !hasBuiltInToString(arg)) temp = safeString(arg);
              else temp = inspect(arg, { depth: 0 });
              break;
            }
            case 'j':
              try { temp = JSON.stringify(args[++a]); } catch (e) {
                temp = e instanceof TypeError && /circular/i.test(e.message) ? '[Circular]' : FAILED;
              }
              break;
            case 'd': temp = toNumber(args[++a], Number); break;
            case 'i': temp = toNumber(args[++a], (v) => parseInt(v)); break;
            case 'f': temp = toNumber(args[++a], (v) => (typeof v === 'bigint' ? NaN : parseFloat(v))); break;
            case 'O': temp = inspect(args[++a]); break;
            case 'o': temp = inspect(args[++a], { showHidden: true, depth: 4 }); break;
            case 'c': a++; temp = ''; break;
            case '%': str += first.slice(lastPos, i); lastPos = i + 1; continue;
            default: continue;
          }
          if (lastPos !== i - 1) str += first.slice(lastPos, i - 1);
          str += temp;
          lastPos = i + 1;
        } else if (next === '%') {
          str += first.slice(lastPos, i);
          lastPos = i + 1;
        }
        if (str.length > MAX_OUTPUT) break;
      }
      if (lastPos !== 0) {
        a++;
        join = ' ';
        if (lastPos < first.length) str += first.slice(lastPos);
      }
    }
    for (; a < args.length && str.length <= MAX_OUTPUT; a++) {
      const v = args[a];
      str += join + (typeof v === 'string' ? v : inspect(v));
      join = ' ';
    }
    return str;
  }

  // ---- console.table ------------------------------------------------------------

  // Terminal columns: wide East Asian characters and emoji take two.
  const WIDE = /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]|[\ud83c-\ud83e][\udc00-\udfff]/;
  function width(s) {
    let w = 0;
    for (const ch of s) w += WIDE.test(ch) ? 2 : 1;
    return w;
  }

  function renderTable(head, columns) {
    const widths = head.map(width), rows = [];
    const longest = Math.max(0, ...columns.map((c) => c.length));
    for (let i = 0; i < head.length; i++) {
      for (let j = 0; j < longest; j++) {
        const cell = (rows[j] = rows[j] || [])[i] = hasOwn.call(columns[i], j) ? columns[i][j] : '';
        widths[i] = Math.max(widths[i], width(cell));
      }
    }
    const row = (cells) => `│ ${cells.map((c, i) => c + ' '.repeat(widths[i] - width(c))).join(' │ ')} │`;
    const line = (l, m, r) => l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r;
    return [line('┌', '┬', '┐'), row(head), line('├', '┼', '┤'), ...rows.map(row), line('└', '┴', '┘')].join('\n');
  }

  function table(data, properties) {
    if (data === null || typeof data !== 'object') return emit('log', format([data]));
    const cell = (v) => inspect(v, {
      depth: v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 2 ? -1 : 0,
      maxArrayLength: 3, breakLength: Infinity,
    });
    const indexes = (n) => Array.from({ length: n }, (_, i) => cell(i));
    if (is(mapSize, data)) {
      const keys = [], values = [];
      for (const [k, v] of mapEntries.call(data)) { keys.push(cell(k)); values.push(cell(v)); }
      return emit('log', renderTable(['(iteration index)', 'Key', 'Values'], [indexes(keys.length), keys, values]));
    }
    if (is(setSize, data)) {
      const values = Array.from(setValues.call(data), cell);
      return emit('log', renderTable(['(iteration index)', 'Values'], [indexes(values.length), values]));
    }
    const map = Object.create(null), primitives = [], rowKeys = Object.keys(data);
    let hasPrimitives = false;
    rowKeys.forEach((rk, i) => {
      const item = data[rk];
      const primitive = item === null || (typeof item !== 'function' && typeof item !== 'object');
      if (properties === undefined && primitive) {
        hasPrimitives = true;
        primitives[i] = cell(item);
      } else {
        for (const key of properties || Object.keys(item)) {
          (map[key] = map[key] || [])[i] = (primitive && properties) || !hasOwn.call(item, key) ? '' : cell(item[key]);
        }
      }
    });
    const head = ['(index)', ...Object.keys(map)], columns = [rowKeys, ...Object.values(map)];
    if (hasPrimitives) { head.push('Values'); columns.push(primitives); }
    return emit('log', renderTable(head, columns));
  }

  // ---- the console object ----------------------------------------------------------

  let groupIndent = '';
  const counts = new Map(), timers = new Map();

  function emit(level, text) {
    if (text.length > MAX_OUTPUT) text = `${text.slice(0, MAX_OUTPUT)}... [output truncated]`;
    if (groupIndent) text = groupIndent + text.replace(/\n/g, `\n${groupIndent}`);
    log(level, text);
  }

  const writer = (level) => (...args) => { emit(level, format(args)); };

  function formatTime(ms) {
    if (ms < 1000) return `${ms}ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(3)}s`;
    const h = Math.floor(ms / 3600000), m = Math.floor((ms % 3600000) / 60000);
    const s = ((ms % 60000) / 1000).toFixed(3).padStart(6, '0');
    return h ? `${h}:${String(m).padStart(2, '0')}:${s} (h:mm:ss.mmm)` : `${m}:${s} (m:ss.mmm)`;
  }

  const console = {
    log: writer('log'),
    info: writer('info'),
    warn: writer('warn'),
    error: writer('error'),
    debug: writer('debug'),
    dirxml: writer('log'),
    trace(...args) {
      // Drop the first frame: it is this function.
      const frames = getStackString(new Error()).split('\n').filter((l) => /^\s*at /.test(l)).slice(1);
      emit('debug', [`Trace${args.length ? ': ' + format(args) : ''}`, ...frames].join('\n'));
    },
    assert(condition, ...args) {
      if (condition) return;
      args[0] = `Assertion failed${args.length ? ': ' + safeString(args[0]) : ''}`;
      emit('warn', format(args));
    },
    dir(value, options) {
      emit('log', inspect(value, Object.assign({ customInspect: false }, options)));
    },
    table,
    count(label = 'default') {
      label = `${label}`;
      const n = (counts.get(label) || 0) + 1;
      counts.set(label, n);
      emit('info', `${label}: ${n}`);
    },
    countReset(label = 'default') {
      label = `${label}`;
      if (counts.has(label)) counts.delete(label);
      else emit('warn', `Count for '${label}' does not exist`);
    },
    time(label = 'default') {
      label = `${label}`;
      if (timers.has(label)) emit('warn', `Warning: Label '${label}' already exists for console.time()`);
      else timers.set(label, Date.now());
    },
    timeEnd(label = 'default') {
      label = `${label}`;
      if (!timers.has(label)) return emit('warn', `Warning: No such label '${label}' for console.timeEnd()`);
      emit('info', `${label}: ${formatTime(Date.now() - timers.get(label))}`);
      timers.delete(label);
    },
    timeLog(label = 'default', ...data) {
      label = `${label}`;
      if (!timers.has(label)) return emit('warn', `Warning: No such label '${label}' for console.timeLog()`);
      const extra = data.length ? ' ' + format(data) : '';
      emit('info', `${label}: ${formatTime(Date.now() - timers.get(label))}${extra}`);
    },
    group(...label) {
      if (label.length) emit('log', format(label));
      groupIndent += '  ';
    },
    groupEnd() { groupIndent = groupIndent.slice(0, -2); },
  };
  console.groupCollapsed = console.group;
  return console;
})
