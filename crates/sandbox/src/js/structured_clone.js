// structured_clone.js: HTML structuredClone() for ECMAScript values, in plain
// ECMAScript. Evaluates to { structuredClone }. Messages follow V8/Node.
(() => {
  'use strict';
  const getter = (C, p) => Object.getOwnPropertyDescriptor(C.prototype, p).get;
  // Brand checks call an internal-slot accessor: prototype spoofing
  // (Object.create(Map.prototype)) fails them, as it fails in the spec.
  const has = (fn, v) => { try { fn.call(v); return true; } catch { return false; } };
  const TA = Object.getPrototypeOf(Uint8Array);
  const taName = getter(TA, Symbol.toStringTag), taBuf = getter(TA, 'buffer');
  const taOff = getter(TA, 'byteOffset'), taLen = getter(TA, 'length');
  const dvBuf = getter(DataView, 'buffer'), dvOff = getter(DataView, 'byteOffset'), dvLen = getter(DataView, 'byteLength');
  const abLen = getter(ArrayBuffer, 'byteLength'), abSlice = ArrayBuffer.prototype.slice;
  const mapSize = getter(Map, 'size'), mapEach = Map.prototype.forEach;
  const setSize = getter(Set, 'size'), setEach = Set.prototype.forEach;
  const reSource = getter(RegExp, 'source'), reFlags = getter(RegExp, 'flags');
  const dateTime = Date.prototype.getTime, tag = Object.prototype.toString;
  const hasOwn = Object.prototype.hasOwnProperty, define = Object.defineProperty;
  const WRAPPERS = [Boolean, Number, String, BigInt];
  const ARRAYS = Object.create(null);
  for (const C of [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
    Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array,
    typeof Float16Array === 'function' ? Float16Array : Int8Array]) ARRAYS[C.name] = C;
  const ERRORS = Object.create(null);
  for (const C of [Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError]) ERRORS[C.name] = C;
  // Objects with internal state the algorithm cannot copy.
  const UNCLONEABLE = /^\[object (Promise|Weak\w*|FinalizationRegistry|\w*Generator|.* Iterator|Iterator Helper|Arguments|Module)\]$/;

  function dataCloneError(what) {
    const e = new Error(`${what} could not be cloned.`);
    e.name = 'DataCloneError';
    e.code = 25;
    return e;
  }

  // Non-enumerable own data property, like the ones Error constructors create.
  const hidden = (o, k, value) => define(o, k, { value, writable: true, enumerable: false, configurable: true });

  function clone(v, memo) {
    const t = typeof v;
    if (t === 'symbol') throw dataCloneError(String(v));
    if (t === 'function') {
      let src;
      try { src = Function.prototype.toString.call(v); } catch { src = 'function'; }
      throw dataCloneError(src);
    }
    if (t !== 'object' || v === null) return v;
    let out = memo.get(v);
    if (out !== undefined) return out;

    for (const W of WRAPPERS) {
      let p;
      try { p = W.prototype.valueOf.call(v); } catch { continue; }
      memo.set(v, out = Object(p));
      return out;
    }
    if (has(Symbol.prototype.valueOf, v)) throw dataCloneError('#<Symbol>');
    if (has(dateTime, v)) { memo.set(v, out = new Date(dateTime.call(v))); return out; }
    if (has(reSource, v) && v !== RegExp.prototype) {
      memo.set(v, out = new RegExp(reSource.call(v), reFlags.call(v)));
      return out;
    }
    if (has(abLen, v)) { memo.set(v, out = abSlice.call(v, 0)); return out; }
    if (ArrayBuffer.isView(v)) {
      const name = taName.call(v);
      // The buffer goes through the memo so views sharing a buffer still share one.
      out = name
        ? new ARRAYS[name](clone(taBuf.call(v), memo), taOff.call(v), taLen.call(v))
        : new DataView(clone(dvBuf.call(v), memo), dvOff.call(v), dvLen.call(v));
      memo.set(v, out);
      return out;
    }
    if (has(mapSize, v)) {
      const entries = [];
      mapEach.call(v, (val, key) => { entries.push(key, val); });
      memo.set(v, out = new Map());
      for (let i = 0; i < entries.length; i += 2) out.set(clone(entries[i], memo), clone(entries[i + 1], memo));
      return out;
    }
    if (has(setSize, v)) {
      const items = [];
      setEach.call(v, (val) => { items.push(val); });
      memo.set(v, out = new Set());
      for (const item of items) out.add(clone(item, memo));
      return out;
    }
    const kind = tag.call(v);
    if (kind === '[object Error]') {
      const n = v.name;
      out = new (typeof n === 'string' && ERRORS[n] || Error)();
      memo.set(v, out);
      if (hasOwn.call(v, 'message')) hidden(out, 'message', String(v.message));
      const stack = v.stack;
      if (typeof stack === 'string') hidden(out, 'stack', stack);
      else delete out.stack;
      if (hasOwn.call(v, 'cause')) hidden(out, 'cause', clone(v.cause, memo));
      return out;
    }
    if (UNCLONEABLE.test(kind)) throw dataCloneError(`#<${kind.slice(8, -1)}>`);
    // Arrays keep their length (holes stay holes); everything else, class
    // instances included, becomes a plain object of own enumerable string keys.
    out = Array.isArray(v) ? new Array(v.length) : {};
    memo.set(v, out);
    for (const k of Object.keys(v)) {
      const c = clone(v[k], memo);
      // Assigning '__proto__' would set the prototype instead of a property.
      if (k === '__proto__') define(out, k, { value: c, writable: true, enumerable: true, configurable: true });
      else out[k] = c;
    }
    return out;
  }

  function structuredClone(value, options) {
    // `options.transfer` is accepted and ignored: there is nothing to detach
    // to, and a copy is observably the same to the receiving side.
    if (arguments.length === 0) throw new TypeError('The value argument must be specified');
    return clone(value, new Map());
  }

  return { structuredClone };
})()
