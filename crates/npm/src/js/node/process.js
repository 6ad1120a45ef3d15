// `process` for packages: an environment with NODE_ENV=production and nothing else, no
// exit, no I/O beyond writing to the console.
var start = Date.now();
var listeners = {};
function writer(log) {
  return {
    isTTY: false,
    write: function (chunk) {
      log(String(chunk).replace(/\n$/, ""));
      return true;
    },
    on: function () { return this; },
    once: function () { return this; },
  };
}
var process = {
  title: "islet",
  env: { NODE_ENV: "production" },
  argv: ["islet"],
  argv0: "islet",
  execArgv: [],
  execPath: "/islet",
  pid: 1,
  ppid: 0,
  platform: "linux",
  arch: "x64",
  version: "v22.0.0",
  versions: { node: "22.0.0" },
  release: { name: "node" },
  exitCode: undefined,
  cwd: function () { return "/"; },
  chdir: function () { throw new Error("process.chdir is not available in the sandbox"); },
  umask: function () { return 18; },
  getuid: function () { return 0; },
  getgid: function () { return 0; },
  exit: function (code) {
    throw new Error("process.exit(" + (code === undefined ? "" : code) + ") is not available in the sandbox: return the result (or throw) instead");
  },
  abort: function () { throw new Error("process.abort is not available in the sandbox"); },
  kill: function () { throw new Error("process.kill is not available in the sandbox: run processes in the Linux sandbox"); },
  nextTick: function (fn) {
    var args = Array.prototype.slice.call(arguments, 1);
    queueMicrotask(function () { fn.apply(undefined, args); });
  },
  hrtime: Object.assign(function (previous) {
    var ms = Date.now() - start;
    var s = Math.floor(ms / 1000), ns = (ms % 1000) * 1e6;
    if (previous) {
      s -= previous[0]; ns -= previous[1];
      if (ns < 0) { s -= 1; ns += 1e9; }
    }
    return [s, ns];
  }, {
    bigint: function () { return BigInt(Date.now() - start) * 1000000n; },
  }),
  uptime: function () { return (Date.now() - start) / 1000; },
  memoryUsage: function () { return { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }; },
  cpuUsage: function () { return { user: 0, system: 0 }; },
  emitWarning: function (warning) { console.warn(String(warning && warning.message || warning)); },
  stdout: writer(function (s) { console.log(s); }),
  stderr: writer(function (s) { console.error(s); }),
  stdin: { isTTY: false, on: function () { return this; } },
  on: function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); return process; },
  once: function (name, fn) { return process.on(name, fn); },
  off: function () { return process; },
  removeListener: function () { return process; },
  removeAllListeners: function () { return process; },
  addListener: function (name, fn) { return process.on(name, fn); },
  emit: function (name) {
    var args = Array.prototype.slice.call(arguments, 1);
    (listeners[name] || []).forEach(function (fn) { fn.apply(process, args); });
    return !!listeners[name];
  },
  listeners: function (name) { return (listeners[name] || []).slice(); },
  listenerCount: function (name) { return (listeners[name] || []).length; },
  binding: function () { throw new Error("process.binding is not available in the sandbox"); },
  features: {},
  config: { variables: {} },
};
module.exports = process;
