// Node's util: format, inspect, inherits, promisify, types, deprecate and friends.
var customInspect = Symbol.for("nodejs.util.inspect.custom");
var customPromisify = Symbol.for("nodejs.util.promisify.custom");

function isPlainKey(k) { return /^[A-Za-z_$][\w$]*$/.test(k); }

function inspect(value, options) {
  var opts = Object.assign({ depth: 2, breakLength: 80, compact: 3 }, typeof options === "object" && options ? options : {});
  var seen = [];
  function fmt(v, depth) {
    if (v === null) return "null";
    switch (typeof v) {
      case "undefined": return "undefined";
      case "string": return depth === 0 && opts.top ? v : "'" + v.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n") + "'";
      case "number": return Object.is(v, -0) ? "-0" : String(v);
      case "bigint": return v + "n";
      case "boolean": return String(v);
      case "symbol": return v.toString();
      case "function": {
        var fname = v.name ? ": " + v.name : " (anonymous)";
        var fkeys = Object.keys(v);
        var head = (/^class\s/.test(Function.prototype.toString.call(v)) ? "[class" : "[Function") + fname + "]";
        return fkeys.length && depth <= opts.depth ? head + " " + object(v, fkeys, depth) : head;
      }
    }
    if (typeof v[customInspect] === "function" && v[customInspect] !== inspect) {
      var custom = v[customInspect](opts.depth - depth, opts, inspect);
      return typeof custom === "string" ? custom : fmt(custom, depth);
    }
    if (seen.indexOf(v) !== -1) return "[Circular *1]";
    if (v instanceof Date) return isNaN(v) ? "Invalid Date" : v.toISOString();
    if (v instanceof RegExp) return String(v);
    if (v instanceof Error) return v.stack || (v.name + ": " + v.message);
    if (depth > opts.depth) return Array.isArray(v) ? "[Array]" : "[Object]";
    seen.push(v);
    try {
      if (Array.isArray(v)) {
        var items = v.slice(0, 100).map(function (x) { return fmt(x, depth + 1); });
        if (v.length > 100) items.push("... " + (v.length - 100) + " more items");
        return wrap("[", items, "]");
      }
      if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
        var name = v.constructor && v.constructor.name || "TypedArray";
        if (name === "Buffer") {
          var hex = [];
          for (var i = 0; i < Math.min(v.length, 50); i++) hex.push((v[i] < 16 ? "0" : "") + v[i].toString(16));
          return "<Buffer" + (hex.length ? " " + hex.join(" ") : "") + (v.length > 50 ? " ... " + (v.length - 50) + " more bytes" : "") + ">";
        }
        return name + "(" + v.length + ") " + wrap("[", Array.prototype.slice.call(v, 0, 100).map(String), "]");
      }
      if (v instanceof Map) {
        var entries = [];
        v.forEach(function (val, key) { entries.push(fmt(key, depth + 1) + " => " + fmt(val, depth + 1)); });
        return "Map(" + v.size + ") " + wrap("{", entries, "}");
      }
      if (v instanceof Set) {
        var members = [];
        v.forEach(function (val) { members.push(fmt(val, depth + 1)); });
        return "Set(" + v.size + ") " + wrap("{", members, "}");
      }
      if (v instanceof Promise) return "Promise { <pending> }";
      return object(v, Object.keys(v), depth);
    } finally {
      seen.pop();
    }
  }
  function object(v, keys, depth) {
    var proto = Object.getPrototypeOf(v);
    var ctor = proto && proto.constructor && proto.constructor.name;
    var prefix = proto === null ? "[Object: null prototype] " : ctor && ctor !== "Object" && typeof v !== "function" ? ctor + " " : "";
    var props = keys.map(function (k) {
      return (isPlainKey(k) ? k : "'" + k + "'") + ": " + fmt(v[k], depth + 1);
    });
    if (!props.length) return prefix + "{}";
    return prefix + wrap("{", props, "}");
  }
  function wrap(open, items, close) {
    if (!items.length) return open + close;
    var line = open + " " + items.join(", ") + " " + close;
    if (line.length <= opts.breakLength && line.indexOf("\n") === -1) return line;
    return open + "\n  " + items.join(",\n").split("\n").join("\n  ") + "\n" + close;
  }
  return fmt(value, 0);
}
inspect.custom = customInspect;
inspect.defaultOptions = { depth: 2 };

function format(first) {
  var args = Array.prototype.slice.call(arguments, 1);
  var out = "";
  if (typeof first === "string") {
    var i = 0;
    out = first.replace(/%([sdifjoOc%])/g, function (m, t) {
      if (t === "%") return "%";
      if (i >= args.length) return m;
      var a = args[i++];
      switch (t) {
        case "s": return typeof a === "string" ? a : typeof a === "bigint" ? a + "n" : typeof a === "object" && a !== null ? inspect(a, { depth: 0 }) : String(a);
        case "d": return typeof a === "bigint" ? a + "n" : typeof a === "object" ? "NaN" : String(Number(a));
        case "i": return typeof a === "bigint" ? a + "n" : String(parseInt(a, 10));
        case "f": return String(parseFloat(a));
        case "j": try { return JSON.stringify(a); } catch (e) { return "[Circular]"; }
        case "o": case "O": return inspect(a, { depth: t === "o" ? 4 : 2 });
        case "c": return "";
      }
      return m;
    });
    args = args.slice(i);
  } else {
    args.unshift(first);
    if (arguments.length === 0) args = [];
  }
  args.forEach(function (a) {
    out += (out ? " " : "") + (typeof a === "string" ? a : inspect(a));
  });
  return out;
}

function inherits(ctor, superCtor) {
  if (superCtor === undefined || superCtor === null) throw new TypeError('The "superCtor" argument must be of type function');
  Object.defineProperty(ctor, "super_", { value: superCtor, writable: true, configurable: true });
  Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
}

function promisify(original) {
  if (typeof original !== "function") throw new TypeError('The "original" argument must be of type function');
  if (original[customPromisify]) return original[customPromisify];
  function fn() {
    var self = this, args = Array.prototype.slice.call(arguments);
    return new Promise(function (resolve, reject) {
      args.push(function (err, value) {
        if (err) reject(err);
        else if (arguments.length > 2) resolve(Array.prototype.slice.call(arguments, 1));
        else resolve(value);
      });
      original.apply(self, args);
    });
  }
  Object.setPrototypeOf(fn, Object.getPrototypeOf(original));
  return Object.defineProperties(fn, Object.getOwnPropertyDescriptors(original));
}
promisify.custom = customPromisify;

function callbackify(original) {
  return function () {
    var args = Array.prototype.slice.call(arguments);
    var cb = args.pop();
    original.apply(this, args).then(function (v) { cb(null, v); }, function (e) { cb(e || new Error(String(e))); });
  };
}

var warned = {};
function deprecate(fn, message, code) {
  var key = code || message;
  return function () {
    if (!warned[key]) {
      warned[key] = true;
      console.warn("DeprecationWarning: " + message);
    }
    return fn.apply(this, arguments);
  };
}

function isDeepStrictEqual(a, b) { return deepEqual(a, b, true, []); }
function deepEqual(a, b, strict, seen) {
  if (strict ? Object.is(a, b) : a == b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof RegExp && b instanceof RegExp) return String(a) === String(b);
  for (var s = 0; s < seen.length; s++) if (seen[s][0] === a && seen[s][1] === b) return true;
  seen.push([a, b]);
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    var ok = true;
    a.forEach(function (v, k) { if (!b.has(k) || !deepEqual(v, b.get(k), strict, seen)) ok = false; });
    return ok;
  }
  if (a instanceof Set && b instanceof Set) {
    if (a.size !== b.size) return false;
    var all = true;
    a.forEach(function (v) { if (!b.has(v)) all = false; });
    return all;
  }
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  var ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (var j = 0; j < ka.length; j++) {
    if (!Object.prototype.hasOwnProperty.call(b, ka[j])) return false;
    if (!deepEqual(a[ka[j]], b[ka[j]], strict, seen)) return false;
  }
  return true;
}

var toString = Object.prototype.toString;
var AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
var GeneratorFunction = Object.getPrototypeOf(function* () {}).constructor;
var types = {
  isDate: function (v) { return v instanceof Date; },
  isRegExp: function (v) { return v instanceof RegExp; },
  isPromise: function (v) { return v instanceof Promise; },
  isMap: function (v) { return v instanceof Map; },
  isSet: function (v) { return v instanceof Set; },
  isWeakMap: function (v) { return v instanceof WeakMap; },
  isWeakSet: function (v) { return v instanceof WeakSet; },
  isNativeError: function (v) { return v instanceof Error; },
  isArrayBuffer: function (v) { return v instanceof ArrayBuffer; },
  isSharedArrayBuffer: function (v) { return typeof SharedArrayBuffer !== "undefined" && v instanceof SharedArrayBuffer; },
  isAnyArrayBuffer: function (v) { return v instanceof ArrayBuffer || types.isSharedArrayBuffer(v); },
  isArrayBufferView: function (v) { return ArrayBuffer.isView(v); },
  isTypedArray: function (v) { return ArrayBuffer.isView(v) && !(v instanceof DataView); },
  isUint8Array: function (v) { return v instanceof Uint8Array; },
  isDataView: function (v) { return v instanceof DataView; },
  isAsyncFunction: function (v) { return v instanceof AsyncFunction; },
  isGeneratorFunction: function (v) { return v instanceof GeneratorFunction; },
  isGeneratorObject: function (v) { return toString.call(v) === "[object Generator]"; },
  isBoxedPrimitive: function (v) { return v instanceof Number || v instanceof String || v instanceof Boolean; },
  isProxy: function () { return false; },
  isSymbolObject: function (v) { return typeof v === "object" && toString.call(v) === "[object Symbol]"; },
};

module.exports = {
  format: format,
  formatWithOptions: function (options) { return format.apply(null, Array.prototype.slice.call(arguments, 1)); },
  inspect: inspect,
  inherits: inherits,
  promisify: promisify,
  callbackify: callbackify,
  deprecate: deprecate,
  debuglog: function () { var f = function () {}; f.enabled = false; return f; },
  debug: function () { var f = function () {}; f.enabled = false; return f; },
  isDeepStrictEqual: isDeepStrictEqual,
  types: types,
  TextEncoder: globalThis.TextEncoder,
  TextDecoder: globalThis.TextDecoder,
  isArray: Array.isArray,
  isBoolean: function (v) { return typeof v === "boolean"; },
  isNull: function (v) { return v === null; },
  isNullOrUndefined: function (v) { return v === null || v === undefined; },
  isNumber: function (v) { return typeof v === "number"; },
  isString: function (v) { return typeof v === "string"; },
  isSymbol: function (v) { return typeof v === "symbol"; },
  isUndefined: function (v) { return v === undefined; },
  isRegExp: types.isRegExp,
  isObject: function (v) { return v !== null && typeof v === "object"; },
  isDate: types.isDate,
  isError: types.isNativeError,
  isFunction: function (v) { return typeof v === "function"; },
  isPrimitive: function (v) { return v === null || (typeof v !== "object" && typeof v !== "function"); },
  isBuffer: function (v) { return require("node:buffer").Buffer.isBuffer(v); },
  stripVTControlCharacters: function (s) { return String(s).replace(/\u001b\[[0-9;]*[A-Za-z]/g, ""); },
  toUSVString: function (s) { return String(s).toWellFormed ? String(s).toWellFormed() : String(s); },
  _deepEqual: deepEqual,
};
