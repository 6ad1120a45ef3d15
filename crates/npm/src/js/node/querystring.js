// Node's querystring.
function escape(s) { return encodeURIComponent(s); }
function unescape(s) { try { return decodeURIComponent(s); } catch (e) { return s; } }
function stringifyPrimitive(v) {
  if (typeof v === "string") return v;
  if ((typeof v === "number" && isFinite(v)) || typeof v === "bigint" || typeof v === "boolean") return String(v);
  return "";
}
exports.escape = escape;
exports.unescape = unescape;
exports.stringify = exports.encode = function (obj, sep, eq) {
  sep = sep || "&"; eq = eq || "=";
  if (obj === null || typeof obj !== "object") return "";
  return Object.keys(obj).map(function (k) {
    var v = obj[k], key = escape(k) + eq;
    if (Array.isArray(v)) return v.map(function (x) { return key + escape(stringifyPrimitive(x)); }).join(sep);
    return key + escape(stringifyPrimitive(v));
  }).filter(Boolean).join(sep);
};
exports.parse = exports.decode = function (qs, sep, eq, options) {
  sep = sep || "&"; eq = eq || "=";
  var obj = Object.create(null);
  if (typeof qs !== "string" || qs.length === 0) return obj;
  var max = options && typeof options.maxKeys === "number" ? options.maxKeys : 1000;
  var parts = qs.split(sep);
  if (max > 0 && parts.length > max) parts = parts.slice(0, max);
  parts.forEach(function (part) {
    var i = part.indexOf(eq);
    var k = unescape((i >= 0 ? part.slice(0, i) : part).replace(/\+/g, " "));
    var v = i >= 0 ? unescape(part.slice(i + eq.length).replace(/\+/g, " ")) : "";
    if (!(k in obj)) obj[k] = v;
    else if (Array.isArray(obj[k])) obj[k].push(v);
    else obj[k] = [obj[k], v];
  });
  return obj;
};
