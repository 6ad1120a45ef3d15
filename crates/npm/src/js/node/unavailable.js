// A Node built-in the isolate cannot offer (`message`, set by the host, says what to use
// instead). Loading it works, so packages that require it at the top but use it only
// on some paths keep working; calling anything in it throws.
function fail() {
  var error = new Error(message);
  error.code = "ERR_ISLET_UNAVAILABLE";
  throw error;
}
var quiet = { then: 1, __esModule: 1, default: 1, toJSON: 1, constructor: 1, prototype: 1, inspect: 1 };
module.exports = new Proxy({}, {
  get: function (target, key) {
    if (typeof key === "symbol" || quiet[key] === 1) return undefined;
    if (key === "promises" || key === "constants") return module.exports;
    return fail;
  },
  has: function () { return true; },
});
