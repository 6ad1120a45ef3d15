// POSIX path functions (the isolate's "filesystem" is rooted at `/`, its cwd).
function assertPath(p) {
  if (typeof p !== "string") throw new TypeError('The "path" argument must be of type string. Received ' + typeof p);
}
function normalizeParts(parts, absolute) {
  var out = [];
  for (var i = 0; i < parts.length; i++) {
    var p = parts[i];
    if (p === "" || p === ".") continue;
    if (p === "..") {
      if (out.length && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
    } else out.push(p);
  }
  return out;
}
var path = {
  sep: "/",
  delimiter: ":",
  normalize: function (p) {
    assertPath(p);
    if (p === "") return ".";
    var absolute = p.charAt(0) === "/";
    var trailing = p.charAt(p.length - 1) === "/";
    var out = normalizeParts(p.split("/"), absolute).join("/");
    if (!out && !absolute) out = ".";
    if (out && trailing) out += "/";
    return (absolute ? "/" : "") + out;
  },
  join: function () {
    var parts = [];
    for (var i = 0; i < arguments.length; i++) {
      assertPath(arguments[i]);
      if (arguments[i]) parts.push(arguments[i]);
    }
    return parts.length ? path.normalize(parts.join("/")) : ".";
  },
  resolve: function () {
    var resolved = "", absolute = false;
    for (var i = arguments.length - 1; i >= -1 && !absolute; i--) {
      var p = i >= 0 ? arguments[i] : "/";
      assertPath(p);
      if (!p) continue;
      resolved = p + "/" + resolved;
      absolute = p.charAt(0) === "/";
    }
    var out = normalizeParts(resolved.split("/"), true).join("/");
    return "/" + out;
  },
  isAbsolute: function (p) { assertPath(p); return p.charAt(0) === "/"; },
  relative: function (from, to) {
    from = path.resolve(from).split("/").filter(Boolean);
    to = path.resolve(to).split("/").filter(Boolean);
    var i = 0;
    while (i < from.length && i < to.length && from[i] === to[i]) i++;
    var up = [];
    for (var j = i; j < from.length; j++) up.push("..");
    return up.concat(to.slice(i)).join("/");
  },
  dirname: function (p) {
    assertPath(p);
    if (p === "") return ".";
    var trimmed = p.replace(/\/+$/, "");
    if (trimmed === "") return "/";
    var i = trimmed.lastIndexOf("/");
    if (i === -1) return ".";
    if (i === 0) return "/";
    return trimmed.slice(0, i).replace(/\/+$/, "") || "/";
  },
  basename: function (p, ext) {
    assertPath(p);
    var trimmed = p.replace(/\/+$/, "");
    var base = trimmed.slice(trimmed.lastIndexOf("/") + 1);
    if (ext && base !== ext && base.slice(-ext.length) === ext) base = base.slice(0, -ext.length);
    return base;
  },
  extname: function (p) {
    var base = path.basename(p);
    var i = base.lastIndexOf(".");
    return i <= 0 ? "" : base.slice(i);
  },
  parse: function (p) {
    var root = p.charAt(0) === "/" ? "/" : "";
    var base = path.basename(p), ext = path.extname(p);
    var dir = path.dirname(p);
    if (dir === "." && p.indexOf("/") === -1) dir = "";
    return { root: root, dir: dir, base: base, ext: ext, name: ext ? base.slice(0, -ext.length) : base };
  },
  format: function (o) {
    var dir = o.dir || o.root || "";
    var base = o.base || (o.name || "") + (o.ext || "");
    if (!dir) return base;
    return dir === o.root ? dir + base : dir + "/" + base;
  },
  toNamespacedPath: function (p) { return p; },
  matchesGlob: function () { throw new Error("path.matchesGlob is not available in the sandbox"); },
};
path.posix = path;
path.win32 = path;
module.exports = path;
