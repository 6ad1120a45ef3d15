// Node's url: the WHATWG URL of the isolate, plus the legacy parse/format/resolve and the
// file-URL helpers.
var querystring = require("node:querystring");
var path = require("node:path");
function Url() {
  this.protocol = null; this.slashes = null; this.auth = null; this.host = null; this.port = null;
  this.hostname = null; this.hash = null; this.search = null; this.query = null;
  this.pathname = null; this.path = null; this.href = null;
}
function parse(input, parseQuery) {
  if (input instanceof Url) return input;
  var u = new Url();
  var s = String(input).trim();
  var m = /^([a-z][a-z0-9+.-]*:)?(\/\/)?/i.exec(s);
  var parsed = null;
  try { parsed = m && m[1] ? new URL(s) : null; } catch (e) { parsed = null; }
  if (parsed) {
    u.protocol = parsed.protocol;
    u.slashes = !!m[2];
    u.auth = parsed.username ? decodeURIComponent(parsed.username) + (parsed.password ? ":" + decodeURIComponent(parsed.password) : "") : null;
    u.host = parsed.host || (u.slashes ? "" : null);
    u.port = parsed.port || null;
    u.hostname = parsed.hostname || (u.slashes ? "" : null);
    u.hash = parsed.hash || null;
    u.search = parsed.search || null;
    u.pathname = parsed.pathname || (u.slashes ? "/" : null);
  } else {
    var hashAt = s.indexOf("#");
    if (hashAt >= 0) { u.hash = s.slice(hashAt); s = s.slice(0, hashAt); }
    var queryAt = s.indexOf("?");
    if (queryAt >= 0) { u.search = s.slice(queryAt); s = s.slice(0, queryAt); }
    u.pathname = s || null;
  }
  u.query = u.search ? u.search.slice(1) : (parseQuery ? "" : null);
  if (parseQuery) u.query = querystring.parse(u.query || "");
  u.path = (u.pathname || "") + (u.search || "") || null;
  u.href = format(u);
  return u;
}
function format(obj) {
  if (typeof obj === "string") obj = parse(obj);
  if (obj instanceof URL) return obj.href;
  var protocol = obj.protocol || "";
  if (protocol && protocol.slice(-1) !== ":") protocol += ":";
  var host = obj.host || (obj.hostname ? obj.hostname + (obj.port ? ":" + obj.port : "") : "");
  var auth = obj.auth ? encodeURIComponent(obj.auth).replace(/%3A/i, ":") + "@" : "";
  var search = obj.search || (obj.query && typeof obj.query === "object" ? "?" + querystring.stringify(obj.query) : obj.query ? "?" + obj.query : "");
  if (search && search[0] !== "?") search = "?" + search;
  var hash = obj.hash || "";
  if (hash && hash[0] !== "#") hash = "#" + hash;
  var slashes = obj.slashes || /^(https?|ftp|file|wss?):$/.test(protocol) ? "//" : "";
  return protocol + (host || protocol === "file:" ? slashes + auth + host : "") + (obj.pathname || "") + search + hash;
}
function resolve(from, to) { return new URL(to, new URL(from, "resolve://")).href.replace(/^resolve:\/\//, ""); }
function fileURLToPath(url) {
  var u = typeof url === "string" ? new URL(url) : url;
  if (u.protocol !== "file:") throw new TypeError("The URL must be of scheme file");
  return decodeURIComponent(u.pathname);
}
function pathToFileURL(p) { return new URL("file://" + encodeURI(path.resolve(p))); }
module.exports = {
  URL: globalThis.URL,
  URLSearchParams: globalThis.URLSearchParams,
  Url: Url,
  parse: parse,
  format: format,
  resolve: resolve,
  fileURLToPath: fileURLToPath,
  pathToFileURL: pathToFileURL,
  domainToASCII: function (d) { return new URL("http://" + d).hostname; },
  domainToUnicode: function (d) { return d; },
};
