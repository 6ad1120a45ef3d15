// The `spec` that `search` code reads, built in the isolate from the compact form the host
// compiled into this prelude (see mcp/spec_view.rs).
//
// Operations and path items hold their summary fields (operationId, summary, tags,
// deprecated) as their own properties. Every other member (parameters, requestBody,
// responses, description, …) is a getter on their prototype: on first read it asks the host
// for the member, `$ref`s resolved, with a blocking call (`__codemode.part`, answered from
// the catalog the host holds once per spec) and keeps it, so a later read is the same value.
// The code runs once; nothing is recorded or replayed.
function runtime(opKeys, itemKeys, opMasks, itemMasks, docJson) {
  const PART = Symbol("part");
  // Taken now: code that replaces `__codemode.part` cannot change what the getters call.
  const part = globalThis.__codemode.part;
  const hasOwn = Object.prototype.hasOwnProperty;
  const parts = {};

  // Masks are integers below 2^53: one bit per member, in `keys` order.
  const has = (mask, bit) => Math.floor(mask / 2 ** bit) % 2 === 1;

  function proto(keys, prefix, masks) {
    const p = {};
    keys.forEach(([key], bit) => {
      Object.defineProperty(p, key, {
        configurable: true,
        get() {
          const index = this[PART];
          if (index === undefined || !has(masks[index], bit)) return undefined;
          const id = prefix + index + "." + key;
          if (!hasOwn.call(parts, id)) parts[id] = part(id);
          return parts[id];
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

  let build = () => ({});
  globalThis.__isletSearch = {
    // The prelude's last statement: how to build `spec.paths`.
    paths(builder) {
      build = builder;
    },
    run(code) {
      const spec = JSON.parse(docJson);
      spec.paths = build();
      return code(spec);
    },
  };
  return { O: proto(opKeys, "o", opMasks), I: proto(itemKeys, "i", itemMasks), S: PART };
}
