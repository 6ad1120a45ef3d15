// console output reads like Node's util.inspect, which models know.
console.log({ a: 1, nested: { deep: { deeper: { deepest: 1 } } }, list: [1, 2, 3], s: "str" });
console.log("%s is %d years", "Ada", 36.5, "extra");
console.log(new Map([["k", 1]]), new Set([1, 2]), [undefined, null, 10n, -0, Symbol("x")]);
console.log(Array.from({ length: 120 }, (_, i) => i));
const cyclic = { name: "c" };
cyclic.self = cyclic;
console.log(cyclic);
console.log(function named() {}, class K {}, async () => {}, new Date(0), /re/g);
const e = new TypeError("bad input");
e.code = "E_BAD";
console.error(e.name, e.message, { code: e.code });
console.log(new Proxy({}, { get() { throw new Error("trap"); }, ownKeys() { throw new Error("trap"); } }));
return null;
