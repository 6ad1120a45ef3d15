// structured_clone.js: HTML structuredClone() for ECMAScript values; evaluates
// to { structuredClone }. Error messages follow V8/Node.
(() => {
'use strict';
const getter = (C, p) => Object.getOwnPropertyDescriptor(C.prototype, p).get;
// Brand checks call an internal-slot accessor, so Object.create(Map.prototype)
// is no Map here, as in the spec.
const has = (fn, v) => { try { fn.call(v); return true; } catch { return false; } };
const TA = Object.getPrototypeOf(Uint8Array);
const taName = getter(TA, Symbol.toStringTag), taBuf = getter(TA, 'buffer'), taOff = getter(TA, 'byteOffset');
const taLen = getter(TA, 'length'), dvBuf = getter(DataView, 'buffer'), dvOff = getter(DataView, 'byteOffset');
const dvLen = getter(DataView, 'byteLength'), abLen = getter(ArrayBuffer, 'byteLength');
const mapSize = getter(Map, 'size'), setSize = getter(Set, 'size');
const reSource = getter(RegExp, 'source'), reFlags = getter(RegExp, 'flags');
const dateTime = Date.prototype.getTime, tag = Object.prototype.toString, hasOwn = Object.prototype.hasOwnProperty;
// Objects with internal state the algorithm cannot copy.
const UNCLONEABLE = /^\[object (Promise|Weak\w*|FinalizationRegistry|\w*Generator|.* Iterator|Iterator Helper|Arguments|Module)\]$/;

function dataCloneError(what) {
  const e = new Error(`${what} could not be cloned.`);
  e.name = 'DataCloneError';
  e.code = 25;
  return e;
}

// An own data property; `enumerable` false is how Error constructors make them.
const define = (o, k, value, enumerable) => Object.defineProperty(o, k, { value, writable: true, enumerable, configurable: true });

function clone(v, memo) {
  if (typeof v === 'symbol') throw dataCloneError(String(v));
  if (typeof v === 'function') {
    let src = 'function';
    try { src = Function.prototype.toString.call(v); } catch {}
    throw dataCloneError(src);
  }
  if (typeof v !== 'object' || v === null) return v;
  let out = memo.get(v);
  if (out !== undefined) return out;

  const kind = tag.call(v);
  // Brand checks throw, slowly, for objects of other types: plain objects and
  // arrays (the bulk of data) skip them; only a spoofed toStringTag could hide
  // a type behind their tags.
  if (kind !== '[object Object]' && kind !== '[object Array]') {
    const keep = (o) => (memo.set(v, o), o);
    for (const W of [Boolean, Number, String, BigInt]) {
      try { return keep(Object(W.prototype.valueOf.call(v))); } catch {}
    }
    if (has(Symbol.prototype.valueOf, v)) throw dataCloneError('#<Symbol>');
    if (has(dateTime, v)) return keep(new Date(dateTime.call(v)));
    if (has(reSource, v) && v !== RegExp.prototype) return keep(new RegExp(reSource.call(v), reFlags.call(v)));
    if (has(abLen, v)) return keep(ArrayBuffer.prototype.slice.call(v, 0));
    if (ArrayBuffer.isView(v)) {
      const name = taName.call(v);
      // The buffer goes through the memo: views sharing one keep sharing one.
      return keep(name
        ? new globalThis[name](clone(taBuf.call(v), memo), taOff.call(v), taLen.call(v))
        : new DataView(clone(dvBuf.call(v), memo), dvOff.call(v), dvLen.call(v)));
    }
    if (has(mapSize, v)) {
      const entries = Array.from(Map.prototype.entries.call(v));
      out = keep(new Map());
      for (const [key, val] of entries) out.set(clone(key, memo), clone(val, memo));
      return out;
    }
    if (has(setSize, v)) {
      const items = Array.from(Set.prototype.values.call(v));
      out = keep(new Set());
      for (const item of items) out.add(clone(item, memo));
      return out;
    }
    if (kind === '[object Error]') {
      const n = v.name;
      out = keep(new (/^(Eval|Range|Reference|Syntax|Type|URI)?Error$/.test(n) ? globalThis[n] : Error)());
      if (hasOwn.call(v, 'message')) define(out, 'message', String(v.message), false);
      const stack = v.stack;
      if (typeof stack === 'string') define(out, 'stack', stack, false);
      else delete out.stack;
      if (hasOwn.call(v, 'cause')) define(out, 'cause', clone(v.cause, memo), false);
      return out;
    }
    if (UNCLONEABLE.test(kind)) throw dataCloneError(`#<${kind.slice(8, -1)}>`);
  }
  // Arrays keep their length (holes stay holes); anything else, class
  // instances included, becomes a plain object of own enumerable string keys.
  out = Array.isArray(v) ? new Array(v.length) : {};
  memo.set(v, out);
  for (const k of Object.keys(v)) {
    const c = clone(v[k], memo);
    // Assigning "__proto__" would set the prototype instead.
    if (k === '__proto__') define(out, k, c, true);
    else out[k] = c;
  }
  return out;
}

function structuredClone(value, options) {
  // `options.transfer` is accepted and ignored: nothing here can be detached,
  // and a copy looks the same to the receiver.
  if (arguments.length === 0) throw new TypeError('The value argument must be specified');
  return clone(value, new Map());
}

return { structuredClone };
})()
