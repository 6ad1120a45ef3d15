// Node's assert (strict comparisons for the `strict` variants and for deepStrictEqual).
var util = require("node:util");
class AssertionError extends Error {
  constructor(options) {
    super(options.message);
    this.name = "AssertionError";
    this.code = "ERR_ASSERTION";
    this.actual = options.actual;
    this.expected = options.expected;
    this.operator = options.operator;
    this.generatedMessage = !options.userMessage;
  }
}
function fail(actual, expected, message, operator, defaultMessage) {
  if (message instanceof Error) throw message;
  throw new AssertionError({
    message: message !== undefined ? message : defaultMessage,
    userMessage: message !== undefined,
    actual: actual, expected: expected, operator: operator,
  });
}
function show(v) { return util.inspect(v); }
function assert(value, message) { assert.ok(value, message); }
assert.AssertionError = AssertionError;
assert.ok = function (value, message) {
  if (!value) fail(value, true, message, "==", "The expression evaluated to a falsy value:\n\n  assert.ok(" + show(value) + ")\n");
};
assert.fail = function (message) { fail(undefined, undefined, message === undefined ? "Failed" : message, "fail"); };
assert.equal = function (a, b, m) { if (!(a == b || (a !== a && b !== b))) fail(a, b, m, "==", show(a) + " == " + show(b)); };
assert.notEqual = function (a, b, m) { if (a == b) fail(a, b, m, "!=", show(a) + " != " + show(b)); };
assert.strictEqual = function (a, b, m) { if (!Object.is(a, b)) fail(a, b, m, "strictEqual", "Expected values to be strictly equal:\n\n" + show(a) + " !== " + show(b) + "\n"); };
assert.notStrictEqual = function (a, b, m) { if (Object.is(a, b)) fail(a, b, m, "notStrictEqual", "Expected \"actual\" to be strictly unequal to: " + show(b)); };
assert.deepEqual = function (a, b, m) { if (!util._deepEqual(a, b, false, [])) fail(a, b, m, "deepEqual", "Expected values to be loosely deep-equal:\n\n" + show(a) + "\n\nshould loosely deep-equal\n\n" + show(b)); };
assert.notDeepEqual = function (a, b, m) { if (util._deepEqual(a, b, false, [])) fail(a, b, m, "notDeepEqual", "Expected \"actual\" not to be loosely deep-equal to: " + show(b)); };
assert.deepStrictEqual = function (a, b, m) { if (!util.isDeepStrictEqual(a, b)) fail(a, b, m, "deepStrictEqual", "Expected values to be strictly deep-equal:\n\n" + show(a) + "\n\nshould equal\n\n" + show(b)); };
assert.notDeepStrictEqual = function (a, b, m) { if (util.isDeepStrictEqual(a, b)) fail(a, b, m, "notDeepStrictEqual", "Expected \"actual\" not to be strictly deep-equal to: " + show(b)); };
function matches(error, expected) {
  if (expected === undefined) return true;
  if (typeof expected === "function") {
    if (expected.prototype !== undefined && error instanceof expected) return true;
    if (Error.isPrototypeOf(expected) || expected === Error) return false;
    return expected.call({}, error) === true;
  }
  if (expected instanceof RegExp) return expected.test(String(error && error.message !== undefined ? error.message : error)) || expected.test(String(error));
  if (typeof expected === "object") {
    return Object.keys(expected).every(function (k) {
      return expected[k] instanceof RegExp && typeof error[k] === "string" ? expected[k].test(error[k]) : util.isDeepStrictEqual(error[k], expected[k]);
    });
  }
  return false;
}
assert.throws = function (fn, expected, message) {
  if (typeof expected === "string") { message = expected; expected = undefined; }
  try { fn(); } catch (e) {
    if (!matches(e, expected)) throw e;
    return;
  }
  fail(undefined, expected, message, "throws", "Missing expected exception.");
};
assert.doesNotThrow = function (fn, expected, message) {
  try { fn(); } catch (e) { fail(e, expected, typeof expected === "string" ? expected : message, "doesNotThrow", "Got unwanted exception.\nActual message: \"" + (e && e.message) + "\""); }
};
assert.rejects = async function (promiseOrFn, expected, message) {
  if (typeof expected === "string") { message = expected; expected = undefined; }
  try { await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn); } catch (e) {
    if (!matches(e, expected)) throw e;
    return;
  }
  fail(undefined, expected, message, "rejects", "Missing expected rejection.");
};
assert.doesNotReject = async function (promiseOrFn, expected, message) {
  try { await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn); } catch (e) {
    fail(e, expected, typeof expected === "string" ? expected : message, "doesNotReject", "Got unwanted rejection.\nActual message: \"" + (e && e.message) + "\"");
  }
};
assert.match = function (s, re, m) { if (!re.test(s)) fail(s, re, m, "match", "The input did not match the regular expression " + re + ". Input:\n\n" + show(s) + "\n"); };
assert.doesNotMatch = function (s, re, m) { if (re.test(s)) fail(s, re, m, "doesNotMatch", "The input was expected to not match the regular expression " + re + ". Input:\n\n" + show(s) + "\n"); };
assert.ifError = function (v) { if (v !== null && v !== undefined) throw v; };
var strict = function (value, message) { assert.ok(value, message); };
Object.assign(strict, assert, {
  equal: assert.strictEqual,
  notEqual: assert.notStrictEqual,
  deepEqual: assert.deepStrictEqual,
  notDeepEqual: assert.notDeepStrictEqual,
});
strict.strict = strict;
assert.strict = strict;
module.exports = assert;
