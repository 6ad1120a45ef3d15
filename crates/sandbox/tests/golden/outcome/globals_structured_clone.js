const original = { d: new Date(0), m: new Map([["k", [1, 2]]]), s: new Set(["x"]) };
original.self = original;
const copy = structuredClone(original);
return {
  distinct: copy !== original && copy.m !== original.m,
  cycleKept: copy.self === copy,
  date: copy.d instanceof Date && copy.d.getTime(),
  map: [...copy.m],
  set: [...copy.s],
};
