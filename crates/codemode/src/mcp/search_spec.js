// The `spec` that `search` code reads, built in the isolate from the compact form the host
// compiled into this prelude (see server/spec_view.rs).
//
// Operations and path items hold their summary fields (operationId, summary, tags,
// deprecated) as their own properties. Every other member (parameters, requestBody,
// responses, description, …) is a getter on their prototype: it returns the member, `$ref`s
// resolved, when the host sent it for this run; otherwise it records the member as missing
// and returns an empty value of its type so the code runs on. When a run ends with members
// missing, the host runs the code again with them: search code has no effects, so only the
// last run's result and logs count.
function runtime(opKeys, itemKeys, opMasks, itemMasks, docJson) {
  const PART = Symbol("part");
  const host = globalThis.__codemode;
  const hasOwn = Object.prototype.hasOwnProperty;
  const missing = new Set();
  let parts = {};

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

  async function flush() {
    if (missing.size === 0) return;
    const ids = [...missing];
    missing.clear();
    await host.missing(ids);
  }

  const spec = JSON.parse(docJson);
  globalThis.__isletSearch = {
    spec(given) {
      parts = given ?? {};
      return spec;
    },
    async finish(run) {
      let result;
      try {
        result = await run();
      } catch (error) {
        await flush();
        throw error;
      }
      // Read the result as the host will (toJSON included), so members it holds count.
      try {
        JSON.stringify(result);
      } catch {}
      await flush();
      return result;
    },
  };
  return { O: proto(opKeys, "o", opMasks), I: proto(itemKeys, "i", itemMasks), S: PART, spec };
}
