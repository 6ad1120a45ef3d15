// The `spec` that `search` code reads, built in the isolate from the compact form the host
// compiled into this prelude (see server/spec_view.rs).
//
// Operations and path items hold their summary fields (operationId, summary, tags,
// deprecated) as their own properties. Every other member (parameters, requestBody,
// responses, description, …) is a getter on their prototype: it returns the member, `$ref`s
// resolved, when the host sent it; otherwise it records the member as missing and returns an
// empty value of its type so the code runs on. When a pass of the code ends with members
// missing, `run` asks the host for them and calls the code again, in the same isolate, on a
// spec built afresh (what one pass changed is not seen by the next; building it again costs
// a fraction of a new isolate, which also loads the prelude). Search code has no effects, so
// only the last pass's result and console output count.
function runtime(opKeys, itemKeys, opMasks, itemMasks, docJson) {
  const PART = Symbol("part");
  const host = globalThis.__codemode;
  const hasOwn = Object.prototype.hasOwnProperty;
  const missing = new Set();
  const parts = {};

  const empty = (type) =>
    type === "a" ? [] : type === "o" ? {} : type === "s" ? "" : type === "n" ? 0 : type === "b" ? false : null;
  // Masks are integers below 2^53: one bit per member, in `keys` order.
  const has = (mask, bit) => Math.floor(mask / 2 ** bit) % 2 === 1;

  function proto(keys, prefix, masks) {
    const p = {};
    keys.forEach(([key, type], bit) => {
      Object.defineProperty(p, key, {
        configurable: true,
        get() {
          const index = this[PART];
          if (index === undefined || !has(masks[index], bit)) return undefined;
          const id = prefix + index + "." + key;
          if (hasOwn.call(parts, id)) return parts[id];
          missing.add(id);
          return empty(type);
        },
      });
    });
    // What JSON.stringify and the host's result conversion see: every member.
    Object.defineProperty(p, "toJSON", {
      configurable: true,
      writable: true,
      value() {
        const out = {};
        for (const key of Object.keys(this)) out[key] = this[key];
        for (const [key] of keys) {
          const value = this[key];
          if (value !== undefined) out[key] = value;
        }
        return out;
      },
    });
    return p;
  }

  // Console calls of a pass, replayed on the real console only for the last pass.
  const CONSOLE_METHODS = [
    "log", "info", "warn", "error", "debug", "trace", "dir", "dirxml", "table", "group",
    "groupCollapsed", "groupEnd", "time", "timeEnd", "timeLog", "count", "countReset", "assert",
  ];
  function recorder(calls) {
    const console = {};
    for (const name of CONSOLE_METHODS) console[name] = (...args) => void calls.push([name, args]);
    return console;
  }

  let build = () => ({});
  globalThis.__isletSearch = {
    // The prelude's last statement: how to build `spec.paths`.
    paths(builder) {
      build = builder;
    },
    async run(code) {
      // Taken as a descriptor: the sandbox installs `console` lazily, on first read.
      const real = Object.getOwnPropertyDescriptor(globalThis, "console");
      for (;;) {
        const calls = [];
        Object.defineProperty(globalThis, "console", {
          configurable: true,
          writable: true,
          value: recorder(calls),
        });
        const spec = JSON.parse(docJson);
        spec.paths = build();
        let result;
        let failure;
        let failed = false;
        try {
          result = await code(spec);
          // Read the result as the host will (toJSON included), so members it holds count.
          try {
            JSON.stringify(result);
          } catch {}
        } catch (error) {
          failed = true;
          failure = error;
        }
        if (real) Object.defineProperty(globalThis, "console", real);
        else delete globalThis.console;
        // What the host adds for the next pass: nothing when the code read nothing new.
        let added = {};
        if (missing.size > 0) {
          const ids = [...missing];
          missing.clear();
          added = await host.parts(ids);
        }
        if (Object.keys(added).length === 0) {
          for (const [name, args] of calls) globalThis.console[name](...args);
          if (failed) throw failure;
          return result;
        }
        Object.assign(parts, added);
      }
    },
  };
  return { O: proto(opKeys, "o", opMasks), I: proto(itemKeys, "i", itemMasks), S: PART };
}
