// Node's timers on the isolate's own (setImmediate runs as a zero-delay timeout).
exports.setTimeout = function () { return setTimeout.apply(undefined, arguments); };
exports.clearTimeout = function (t) { return clearTimeout(t); };
exports.setInterval = function () { return setInterval.apply(undefined, arguments); };
exports.clearInterval = function (t) { return clearInterval(t); };
exports.setImmediate = function (fn) {
  var args = Array.prototype.slice.call(arguments, 1);
  return setTimeout(function () { fn.apply(undefined, args); }, 0);
};
exports.clearImmediate = function (t) { return clearTimeout(t); };
exports.promises = {
  setTimeout: function (ms, value) {
    return new Promise(function (resolve) { setTimeout(function () { resolve(value); }, ms); });
  },
  setImmediate: function (value) {
    return new Promise(function (resolve) { setTimeout(function () { resolve(value); }, 0); });
  },
  scheduler: {
    wait: function (ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); },
    yield: function () { return new Promise(function (resolve) { setTimeout(resolve, 0); }); },
  },
};
